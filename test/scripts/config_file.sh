#!/usr/bin/env bash
# p2pnode run from --config files, as the systemd units run it (issue 18), on loopback:
#   1. A tracker from the shipped dist/tracker.json.example (the command line overriding its port, address and
#      state file: the command line wins), a seed and a downloader from config files written here (keys, a list
#      of trackers, numbers and switches): the downloader gets the file byte for byte and exits 0 by itself.
#   2. The seed's config names a --log-file: it is moved away (as logrotate does) and the seed gets SIGHUP; the
#      SIGHUP line and the lines after it (a file added to the share, seeded) go to a new file at the old path,
#      none to the moved one.
#   3. "log-level" from the file applies, and --log-level on the command line replaces it.
#   4. Bad config files: one line on stderr naming the file (and the key), exit 2, before anything starts.
# Exit 0 pass, 77 skip, other fail. Limit 60 s (about 5 s here).
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 60 "$@"
t_need_p2pnode peer
t_need_p2pnode config
t_need_tools cmp
t_init p2p-config-file
LOG_GLOBS="*.out *.err *.log *.log.1 *.json"

# ---- 1. tracker, seed and downloader from config files
tracker_start tracker --config "$ROOT/dist/tracker.json.example" --bind 127.0.0.1 --port 0 \
    --state "$W/tracker.state" || fail "the tracker did not start from dist/tracker.json.example"
say "tracker from dist/tracker.json.example on $TURL"
mkdir -p "$W/seed" "$W/dl"
random_file "$W/seed/data.bin" $((2 * 1024 * 1024 + 333))
cat >"$W/seed.json" <<EOF
{
  // a comment, as the shipped examples have
  "peer": true,
  "share": "$W/seed",
  "tracker": ["$TURL"],
  "bind": "127.0.0.1",
  "port": 0,
  "no-dht": true,
  "no-lsd": false,
  "no-console": true,
  "max-memory": "16M",
  "log-file": "$W/seed-file.log"
}
EOF
start seed --config "$W/seed.json" --no-lsd
line=$(wait_line "$W/seed.out" '^sharing data.bin [0-9a-f]{40}' "$PID_seed" 30) || fail "the seed did not share data.bin"
HASH=${line##* }
grep -q '\[info\]' "$W/seed-file.log" || fail "the seed's log lines are not in its config's log-file"
grep -q '\[info\]' "$W/seed.err" && fail "the seed logged on stderr despite its config's log-file"

cat >"$W/get.json" <<EOF
{"peer": true, "get": ["$HASH"], "into": "$W/dl", "tracker": "$TURL", "bind": "127.0.0.1", "port": 0,
 "exit-when-done": true, "timeout": 40, "no-console": true, "no-dht": true, "no-lsd": true, "quiet": true}
EOF
rc=0
timeout 50 "$P2PNODE" --config "$W/get.json" >"$W/get.out" 2>"$W/get.err" </dev/null || rc=$?
((rc == 0)) || fail "the downloader from get.json exited $rc"
same_bytes data.bin "$W/seed/data.bin" "$W/dl/data.bin"
grep -qv '^summary ' "$W/get.out" && fail "\"quiet\": true in the file did not apply: $(cat "$W/get.out")"

# ---- 2. log rotation: mv, SIGHUP, the new file gets the lines
mv "$W/seed-file.log" "$W/seed-file.log.1"
kill -HUP "$PID_seed"
wait_line "$W/seed-file.log" 'SIGHUP: log reopened' "$PID_seed" 10 >/dev/null ||
    fail "after mv and SIGHUP the seed did not log into a new $W/seed-file.log"
grep -q 'SIGHUP' "$W/seed-file.log.1" && fail "the SIGHUP line went to the moved log"
# Later lines go there too: a file added to the share is logged when it is seeded.
random_file "$W/seed/later.bin" 40000
wait_line "$W/seed-file.log" 'later.bin: .*seeding' "$PID_seed" 20 >/dev/null ||
    fail "the seed's lines after the SIGHUP did not reach the new $W/seed-file.log"
stop seed
((RC_seed == 0)) || fail "the seed exited $RC_seed on SIGTERM"
grep -q '\[info\]' "$W/seed-file.log.1" || fail "the moved log lost its lines"
grep -q 'later.bin' "$W/seed-file.log.1" && fail "a line after the SIGHUP went to the moved log"
say "2. log rotation: $(grep -c '' "$W/seed-file.log.1") lines before the mv, $(grep -c '' "$W/seed-file.log") after"

# ---- 3. "log-level" from the file; --log-level on the command line wins
mkdir -p "$W/empty"
printf '{"peer": true, "share": "%s", "bind": "127.0.0.1", "port": 0, "no-console": true, "no-dht": true,
  "no-lsd": true, "max-memory": "8M", "log-level": "warn"}\n' "$W/empty" >"$W/warn.json"
INFO='\[info\] peer: memory budget 8 MiB'
# level NAME ARGS...: a peer from warn.json plus ARGS, given 1.5 s (the budget line is logged at start)
level() {
    local name=$1
    shift
    start "$name" --config "$W/warn.json" "$@"
    sleep 1.5
    alive "$name" || fail "$name exited: $(cat "$W/$name.err")"
    stop "$name"
}
level lvl_file
grep -q "$INFO" "$W/lvl_file.err" && fail "\"log-level\": \"warn\" in the file still printed info lines"
level lvl_cmd --log-level info
grep -q "$INFO" "$W/lvl_cmd.err" || fail "--log-level info on the command line did not replace the file's warn"
level lvl_v -v
grep -q "$INFO" "$W/lvl_v.err" || fail "-v on the command line did not replace the file's log-level"
say "3. log-level from the file, replaced by --log-level and -v on the command line"

# ---- 4. bad files: one line naming the file, exit 2
# bad NAME TEXT EXPECT [ARGS...]: $W/NAME.json holding TEXT must be refused with a line containing EXPECT.
bad() {
    local name=$1 text=$2 expect=$3 out rc=0
    shift 3
    printf '%s' "$text" >"$W/$name.json"
    out=$(timeout 10 "$P2PNODE" --config "$W/$name.json" "$@" 2>&1 >/dev/null </dev/null) || rc=$?
    ((rc == 2)) || fail "$name.json: exit $rc, want 2 ($out)"
    [[ $(grep -c '' <<<"$out") == 1 ]] || fail "$name.json: more than one line: $out"
    [[ $out == "p2pnode: "* && $out == *"$expect"* ]] || fail "$name.json: said '$out', want '$expect'"
}
bad syntax $'{\n "peer": true,\n "share" "x"\n}' "syntax.json: not JSON: parse error at line 3"
bad unknown '{"peer": true, "shar": "x"}' 'unknown key "shar" (did you mean "share"?)'
bad type '{"tracker": true, "port": "x", "interval": true}' '"interval" takes a number or a string (SECS), not a boolean'
bad mode '{"tracker": true, "share": "/srv"}' '"share" applies to --peer, not --tracker'
bad cmdmode '{"peer": true, "share": "/srv"}' '"share" applies to --peer, not --tracker' --tracker
bad nested '{"config": "other.json"}' '--config is for the command line only'
bad array '[{"peer": true}]' 'not a JSON object'
bad twice '{"peer": true, "port": 1, "port": 2}' 'key "port" given twice'
bad value '{"tracker": true, "port": 70000}' "--port needs an integer in 0..65535, got '70000'"
rc=0
out=$("$P2PNODE" --config "$W/no-such.json" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"no-such.json: No such file or directory" ]] || fail "a missing config file: exit $rc, $out"
rc=0
out=$("$P2PNODE" --config "$W/seed.json" --config "$W/seed.json" 2>&1) || rc=$?
[[ $rc == 2 && $out == *"--config given twice" ]] || fail "--config twice: exit $rc, $out"
say "4. bad files refused in one line, exit 2"
PASSED=1
echo PASS
