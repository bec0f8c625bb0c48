#!/usr/bin/env bash
# Signals a peer gets in service: SIGHUP must not kill it (it was exit 129 with no `stopped` sent):
# the log file is reopened (logrotate moves it away first) and the share folder is looked at again at once
# (a change inside a shared subfolder, which inotify on the share folder does not report, is found within
# seconds, not at the 30 s periodic rescan). SIGPIPE is ignored. SIGTERM then still stops it cleanly: exit 0,
# summary lines, `stopped` announced (the tracker counts no seeder).
# Exit 0 pass, 77 skip, other fail. Limit 120 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode peer
t_init p2p-signals

local_tracker
mkdir -p "$W/share/album"
random_file "$W/share/album/a.txt" 30000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console --log-file "$W/peer.log"
wait_sharing seed album
h=$(sed -n 's/^sharing album \([0-9a-f]*\) .*/\1/p' "$W/seed.out")
wait_seeders "$h" 1 30

mv "$W/peer.log" "$W/peer.log.1" # what logrotate does before it signals
kill -HUP "$PID_seed"
sleep 1
alive seed || fail "SIGHUP killed the peer"
[[ -f $W/peer.log ]] || fail "SIGHUP did not reopen the log file"
grep -q 'SIGHUP' "$W/peer.log" || fail "the reopened log has no SIGHUP line"
say "SIGHUP: alive, log reopened"

head -c 45000 /dev/urandom >"$W/share/album/a.txt" # inside a subfolder: no inotify event on the share folder
kill -HUP "$PID_seed"
wait_line "$W/seed.out" "^stopped sharing album $h \(changed on disk\)" "$PID_seed" 10 >/dev/null ||
    fail "SIGHUP did not rescan the share folder (the changed album is still shared)"
wait_lines seed '^sharing album ' 2 30
say "SIGHUP: share folder rescanned, album shared anew"

kill -PIPE "$PID_seed"
sleep 0.5
alive seed || fail "SIGPIPE killed the peer"
new=$(sed -n 's/^sharing album \([0-9a-f]*\) .*/\1/p' "$W/seed.out" | tail -n1)
wait_seeders "$new" 1 30
stop seed
((RC_seed == 0)) || fail "SIGTERM: exit $RC_seed"
grep -q "^summary album $new" "$W/seed.out" || fail "no summary line after SIGTERM"
read -r s _ < <(scrape_counts "$new")
((s == 0)) || fail "the tracker still counts $s seeders after SIGTERM (no 'stopped')"
PASSED=1
echo PASS
