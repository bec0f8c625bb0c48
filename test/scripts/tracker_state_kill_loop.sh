#!/usr/bin/env bash
# A crash never costs the tracker its state: kill -9 during the state save, 500 times in a loop (120 times for a
# sanitizer build, whose tracker takes ~10x longer to start and save), and the state file always parses (old or
# new). A tracker on 127.0.0.1 (ephemeral port) with --state FILE gets SWARMS swarms (lib/announce_many.py) and
# is stopped with SIGTERM, which saves FILE. Then lib/state_kill_loop.py runs KILL_LOOPS times: start the tracker
# on FILE, wait until it listens, SIGTERM (starts the exit save), SIGKILL 0-20 ms later; FILE must parse as JSON
# with all SWARMS swarms, and FILE.corrupt must never appear. It reports how many kills left a FILE.tmp.PID behind
# (landed mid-write). Every loop must run: the test fails if they take longer than KILL_BUDGET seconds (default
# 120; a release build needs ~25 s for 500, a sanitizer build ~60 s for 120). Exit 0 pass, 77 skip, other fail.
# Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode
TRACKER_SKIP_IF_MISSING=1
t_init p2p-kill-loop
LOOPS=${KILL_LOOPS:-500}
if [[ -z ${KILL_LOOPS:-} && -n $(sanitizer_runtime) ]]; then LOOPS=120; fi
SWARMS=${KILL_SWARMS:-3000}
STATE=$W/tracker.state

tracker_start tracker --bind 127.0.0.1 --port 0 --state "$STATE" --no-console || fail "p2pnode --tracker did not start"
timeout 60 "$PY" "$LIB/announce_many.py" "$THOST" "$TPORT" "$SWARMS" kill-loop- >"$W/announce.out" 2>&1 ||
    fail "announce_many.py failed: $(cat "$W/announce.out")"
stop tracker 10
((RC_tracker == 0)) || fail "tracker exited $RC_tracker on SIGTERM"
[[ -s $STATE ]] || fail "no state file after SIGTERM"
say "populated: $(cat "$W/announce.out"); state file $(stat -c %s "$STATE") bytes"

spawn loop "$PY" "$LIB/state_kill_loop.py" "$P2PNODE" "$STATE" "$SWARMS" "$LOOPS" "${KILL_BUDGET:-120}"
await loop
cat "$W/loop.out"
((RC_loop == 0)) || fail "kill loop: $(tail -n3 "$W/loop.err")"
PASSED=1
echo PASS
