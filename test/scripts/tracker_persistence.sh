#!/usr/bin/env bash
# Tracker state survives restarts: p2pnode --tracker --state FILE on 127.0.0.1 (ephemeral port).
#   1. A BEP 15 client written here (Python stdlib) announces: swarm A = 1 seeder + 1 leecher, swarm B = 1 leecher.
#      Catalog names are published too once docs/catalog-protocol.md documents the wire format (else skipped).
#   2. Wait until the tracker has written FILE, kill -9, restart with the same FILE: `p2pnode --scrape` shows
#      A and B with the same counts (and `--list` the name of A; B's is not listed: its swarm has no seeder).
#   3. Announce swarm C, SIGTERM: the tracker exits 0; restart: A, B and C are all back.
#   4. Garbage in FILE: the tracker still starts, moves it to FILE.corrupt and prints a warning.
# Exit 0 pass, 77 skip ($P2PNODE has no --tracker), other fail. Total limit 180 s (the kill -9 step waits
# for the periodic save, up to a minute).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
# How long the tracker may take to write its state file after an announce (it may save on a timer).
STATE_WAIT=${P2P_STATE_WAIT:-75}   # p2pnode saves every minute and on exit
t_need_p2pnode
LOG_GLOBS="*.out *.err"
TRACKER_SKIP_IF_MISSING=1   # skip (77) when $P2PNODE has no --tracker mode yet
t_init p2p-persist
STATE=$W/tracker.state
RUN=0
tracker_console

start_tracker() {  # starts p2pnode --tracker on $STATE as run<N> (logs run<N>.out/err); sets TPORT, TURL
    RUN=$((RUN + 1))
    # Bind the port the previous run had, so the clients' view does not change (fall back to 0 if taken).
    local rc=0
    tracker_start "run$RUN" --bind 127.0.0.1 --port "${TPORT:-0}" --state "$STATE" || rc=$?
    if ((rc == 1)) && [[ -n ${TPORT:-} && $RUN -gt 1 ]]; then TPORT=; start_tracker; return; fi
    ((rc == 0)) || fail "p2pnode --tracker (run $RUN) did not start"
    echo "run $RUN: tracker on udp://127.0.0.1:$TPORT (pid $(pid_of "run$RUN"))"
}

announce() { bep15 announce "$@"; }

# expect_swarm HEX SEEDERS LEECHERS: exact counts, through `p2pnode --scrape` and on the wire.
expect_swarm() {
    local h=$1 want="$2 $3" got wire
    scrape_p2p "$h" 20 || { cat "$W/scrape.out"; fail "p2pnode --scrape $h failed"; }
    got=$(parse_scrape seeders leechers <"$W/scrape.out")
    wire=$(bep15 scrape "$h" | parse_scrape seeders leechers)
    if [[ $got != "$want" || $wire != "$want" ]]; then
        cat "$W/scrape.out"
        fail "swarm $h: --scrape says (seeders leechers) '$got', wire says '$wire', want '$want'"
    fi
    echo "  swarm ${h:0:8}: seeders/leechers $got (ok)"
}

stop_tracker() {  # SIGTERM, must exit 0 within 10 s
    stop "run$RUN" 10
    local rc=RC_run$RUN
    ((${!rc} == 0)) || fail "tracker exited ${!rc} on SIGTERM (want 0)"
}

mtime() { stat -c %Y.%y "$1" 2>/dev/null || echo none; }

HA=$(printf 'swarm-a' | sha1sum | cut -c1-40)
HB=$(printf 'swarm-b' | sha1sum | cut -c1-40)
HC=$(printf 'swarm-c' | sha1sum | cut -c1-40)

# ---- 1. announce ----
start_tracker
announce "$HA" 41001 0 started
announce "$HA" 41002 1048576 started
announce "$HB" 41003 1048576 started
echo "before the crash:"
expect_swarm "$HA" 1 1
expect_swarm "$HB" 0 1

CATALOG=0
NAME_A=persist-alpha.bin
NAME_B="persist beta (2)"
# P2P_TEST_CATALOG=1 forces the catalog part on (the wire format is also in src/proto/udp_tracker.hpp).
if [[ -f $ROOT/docs/catalog-protocol.md || ${P2P_TEST_CATALOG:-0} == 1 ]]; then
    CATALOG=1
    bep15 publish "$HA" 1048576 "$NAME_A"
    bep15 publish "$HB" 2097152 "$NAME_B"
else
    echo "note: docs/catalog-protocol.md not present: catalog publish/--list part skipped"
fi

# ---- 2. kill -9 once the state is on disk ----
# Wait for a write after the announces. A save that began before them could land just after we looked, so
# when the file is JSON with hex hashes, also wait for both hashes to be in it (else accept the first write).
before=$(mtime "$STATE")
echo "waiting (up to ${STATE_WAIT}s) for the tracker to save $STATE ..."
written=0
for ((t = 0; t < STATE_WAIT * 10; t++)); do
    now=$(mtime "$STATE")
    if [[ $now != "$before" ]]; then
        written=1
        grep -qi "$HA" "$STATE" && grep -qi "$HB" "$STATE" && break
        before=$now
    fi
    sleep 0.1
done
((written)) || fail "the tracker did not write $STATE within ${STATE_WAIT}s of the announces"
sleep 0.3   # let a write in progress finish (the tracker should write atomically anyway)
kill9 "run$RUN"   # quiet: no "Killed" job notice
start_tracker
echo "after kill -9 and restart:"
expect_swarm "$HA" 1 1
expect_swarm "$HB" 0 1
if ((CATALOG)); then
    timeout 20 "$P2PNODE" --list --tracker "$TURL" --timeout 5 >"$W/list.out" 2>&1 ||
        { cat "$W/list.out"; fail "--list failed"; }
    # A name lives while its swarm has a seeder (docs/catalog-protocol.md): A has one, B only a leecher.
    if ! grep -qF "$NAME_A" "$W/list.out" || grep -qF "$NAME_B" "$W/list.out"; then
        cat "$W/list.out"
        fail "--list should show '$NAME_A' (seeded) and not '$NAME_B' (no seeder) after the restart"
    fi
    echo "  --list shows '$NAME_A', not '$NAME_B' whose swarm has no seeder (ok)"
    scrape_p2p "$NAME_A" 20 ||
        { cat "$W/scrape.out"; fail "p2pnode --scrape '$NAME_A' (by name) failed"; }
    [[ $(parse_scrape seeders leechers <"$W/scrape.out") == "1 1" ]] ||
        { cat "$W/scrape.out"; fail "--scrape by name '$NAME_A' does not show 1 seeder 1 leecher"; }
    echo "  --scrape '$NAME_A' (by name): 1 seeder 1 leecher (ok)"
fi

# ---- 3. SIGTERM saves ----
announce "$HC" 41004 0 started
stop_tracker
start_tracker
echo "after SIGTERM and restart:"
expect_swarm "$HA" 1 1
expect_swarm "$HB" 0 1
expect_swarm "$HC" 1 0

# ---- 4. garbage state ----
stop_tracker
head -c 4096 /dev/urandom >"$STATE"
printf 'not a state file\n' >>"$STATE"
cp "$STATE" "$W/garbage"
rm -f "$STATE.corrupt"
start_tracker
[[ -f $STATE.corrupt ]] || fail "$STATE.corrupt does not exist after starting on a garbage state file"
cmp -s "$STATE.corrupt" "$W/garbage" || echo "note: $STATE.corrupt differs from the garbage written (not required)"
grep -qiE 'warn|corrupt' "$W/run$RUN.out" "$W/run$RUN.err" ||
    fail "no warning about the corrupt state file on stdout/stderr"
echo "garbage state: tracker started, moved it to .corrupt, warned:"
grep -hiE 'warn|corrupt' "$W/run$RUN.out" "$W/run$RUN.err" | head -3 | sed 's/^/  /'
expect_swarm "$HA" 0 0
stop_tracker

PASSED=1
echo "PASS"
