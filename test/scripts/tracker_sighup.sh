#!/usr/bin/env bash
# SIGHUP does not kill the tracker (it used to: exit 129, nothing saved). p2pnode --tracker --state FILE
# --log-file LOG on 127.0.0.1, ephemeral port:
#   1. A BEP 15 client (lib/bep15.py) announces swarm A as a seeder. The periodic save is a minute away, so FILE
#      does not exist yet.
#   2. LOG is rotated (mv LOG LOG.1) and the tracker gets SIGHUP: it is still running, writes FILE (holding A)
#      within seconds, and reopens LOG (a new LOG gets the SIGHUP line, the rotated LOG.1 does not).
#   3. It still answers: `p2pnode --list` works and --scrape shows A's seeder. A second SIGHUP after another
#      announce (swarm B) saves B too.
#   4. SIGTERM still stops it with exit 0.
# Exit 0 pass, 77 skip ($P2PNODE has no --tracker or no --log-file), other fail. Limit 90 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode tracker
t_need_p2pnode log-file
t_init p2p-tracker-hup 40 stamp
LOG_GLOBS="*.out *.err *.log *.log.1"
STATE=$W/tracker.state
LOG=$W/tracker-file.log
HA=$(printf 'hup-swarm-a' | sha1sum | cut -c1-40)
HB=$(printf 'hup-swarm-b' | sha1sum | cut -c1-40)

# wait_file_has HEX SECS: until FILE names HEX (the save is in the background).
wait_file_has() {
    local t
    for ((t = 0; t < $2 * 10; t++)); do
        [[ -f $STATE ]] && grep -q "$1" "$STATE" && return 0
        alive tracker || fail "the tracker died (of SIGHUP?)"
        sleep 0.1
    done
    fail "$STATE does not hold $1 $2 s after SIGHUP"
}

# ---- 1. ----
tracker_start tracker --bind 127.0.0.1 --port 0 --no-console --state "$STATE" --log-file "$LOG" ||
    fail "the tracker did not start"
bep15 announce "$HA" 41001 0 started >/dev/null
[[ -e $STATE ]] && fail "$STATE exists before SIGHUP: this test cannot tell a SIGHUP save from the periodic one"
[[ -f $LOG ]] || fail "the tracker did not open --log-file $LOG at start"

# ---- 2. ----
mv "$LOG" "$LOG.1"
kill -HUP "$PID_tracker"
wait_file_has "$HA" 10
sleep 0.3
alive tracker || fail "the tracker exited after SIGHUP"
[[ -f $LOG ]] || fail "SIGHUP did not reopen the log file (no new $LOG)"
grep -q 'SIGHUP' "$LOG" || fail "the reopened log has no SIGHUP line"
grep -q 'SIGHUP' "$LOG.1" && fail "the SIGHUP line went to the rotated log"
say "SIGHUP: still running, $STATE written, $LOG reopened: $(grep -m1 SIGHUP "$LOG")"

# ---- 3. ----
timeout 20 "$P2PNODE" --list --tracker "$TURL" --timeout 5 >"$W/list.out" 2>&1 ||
    { cat "$W/list.out"; fail "--list fails after SIGHUP"; }
scrape_p2p "$HA" 20 || { cat "$W/scrape.out"; fail "--scrape $HA fails after SIGHUP"; }
[[ $(parse_scrape seeders <"$W/scrape.out") == 1 ]] || { cat "$W/scrape.out"; fail "swarm A lost its seeder"; }
bep15 announce "$HB" 41002 0 started >/dev/null
kill -HUP "$PID_tracker"
wait_file_has "$HB" 10
alive tracker || fail "the tracker died of the second SIGHUP"
say "a second SIGHUP saved swarm B too; the tracker answers --list and --scrape"

# ---- 4. ----
stop tracker 10
((RC_tracker == 0)) || fail "the tracker exited $RC_tracker on SIGTERM (want 0)"
grep -q "$HB" "$STATE" || fail "the exit save lost swarm B"
PASSED=1
echo PASS
