#!/usr/bin/env bash
# A failing disk under the tracker: its state file cannot be written (EIO). p2pnode --tracker --state FILE on 127.0.0.1:
#   1. run 1 (no fault): swarm A announced (1 seeder), SIGTERM -> FILE written; a copy is kept.
#   2. run 2 with test/fault/eio_shim.c preloaded (built here with cc; EIO_DIR = FILE's folder, EIO_AFTER=0,
#      EIO_FSYNC=1): it loads A, swarm B is announced. Its periodic save (every 60 s) fails: stderr must carry a
#      clear "saving state failed ... Input/output error" warning, and the tracker must keep serving (scrape
#      answers A and B, a new announce is counted). SIGTERM: it still exits by itself (its exit save fails the
#      same way and is reported), with status 1.
#   3. FILE is byte-for-byte the copy from run 1 and no temporary file is left beside it; run 3 (no fault)
#      loads it and serves A.
# Exit 0 pass, 77 skip (no p2pnode --tracker, no cc), other fail. Limit 150 s (step 2 waits for the 60 s save).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode tracker
t_need_tools cc cmp
LOG_GLOBS="*.out *.err"
t_init p2p-tracker-eio 40 stamp
cc -shared -fPIC -O2 -o "$W/eio_shim.so" "$ROOT/test/fault/eio_shim.c" -ldl 2>"$W/cc.err" ||
    fail "cannot build test/fault/eio_shim.c"
mkdir -p "$W/state"
STATE=$W/state/tracker.state
HA=$(printf 'eio-swarm-a' | sha1sum | cut -c1-40)
HB=$(printf 'eio-swarm-b' | sha1sum | cut -c1-40)

# expect HEX SEEDERS LEECHERS: counts on the wire (lib/bep15.py), i.e. the tracker answers.
expect() {
    local got
    got=$(bep15 scrape "$1" | parse_scrape seeders leechers) || fail "no scrape answer for $1"
    [[ $got == "$2 $3" ]] || fail "swarm ${1:0:8}: seeders/leechers '$got', want '$2 $3'"
    say "  swarm ${1:0:8}: seeders/leechers $got (ok)"
}

# ---- 1. a good state file ----
tracker_start run1 --bind 127.0.0.1 --port 0 --state "$STATE" --no-console || fail "tracker run 1 did not start"
bep15 announce "$HA" 42001 0 started >/dev/null
expect "$HA" 1 0
stop run1 10
((RC_run1 == 0)) || fail "run 1 exited $RC_run1 on SIGTERM"
[[ -s $STATE ]] || fail "run 1 wrote no state file"
cp "$STATE" "$W/state.before"
say "run 1 saved $(wc -c <"$STATE") bytes"

# ---- 2. every write under $W/state fails ----
IN=(env LD_PRELOAD="$(preload_list "$W/eio_shim.so")" EIO_DIR="$W/state" EIO_AFTER=0 EIO_FSYNC=1)
tracker_start run2 --bind 127.0.0.1 --port 0 --state "$STATE" --no-console || fail "tracker run 2 did not start"
IN=()
expect "$HA" 1 0
bep15 announce "$HB" 42002 1048576 started >/dev/null
expect "$HB" 0 1
say "waiting (up to 75 s) for the periodic save to fail ..."
deadline=$((SECONDS + 75))   # by the clock: a loaded machine stretches a count of 0.1 s sleeps
until grep -q 'saving state failed' "$W/run2.err"; do
    ((SECONDS < deadline)) || fail "no 'saving state failed' warning within 75 s"
    alive run2 || fail "the tracker exited while its save was failing"
    sleep 0.5
done
warn=$(grep -m1 'saving state failed' "$W/run2.err")
say "warning: $warn"
[[ $warn == *"Input/output error"* ]] || fail "the warning does not say 'Input/output error': $warn"
grep -q '^eio_shim: injecting EIO' "$W/run2.err" || fail "the EIO shim never fired"
alive run2 || fail "the tracker died after the failed save"
expect "$HA" 1 0
bep15 announce "$HB" 42003 0 started >/dev/null
expect "$HB" 1 1
stop run2 10
say "run 2 exited $RC_run2 on SIGTERM"
((RC_run2 < 128)) || fail "run 2 died of signal $((RC_run2 - 128))"
((RC_run2 == 1)) || fail "run 2 exited $RC_run2 although its exit save failed (want 1)"
(($(grep -c 'saving state failed' "$W/run2.err") >= 2)) || fail "the failed exit save was not reported"

# ---- 3. the previous state file is intact ----
cmp "$W/state.before" "$STATE" || fail "the state file changed although every write failed"
left=$(find "$W/state" -mindepth 1 ! -name tracker.state)
[[ -z $left ]] || fail "files left beside the state file: $left"
tracker_start run3 --bind 127.0.0.1 --port 0 --state "$STATE" --no-console || fail "tracker run 3 did not start"
expect "$HA" 1 0
stop run3 10
PASSED=1
echo PASS
