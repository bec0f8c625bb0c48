#!/usr/bin/env bash
# Download limits: a 4 MiB file from a seed on loopback (unlimited: well under a second) takes about 4 s at
# 1 MiB/s (no less than 85% of that: the limit holds; no more than twice: it does not throttle far below the rate,
# with room for a loaded or sanitized run, whose start-up is inside the time): once over TCP with
# --max-download-rate 1M, once over uTP with the torrent's own limit set on the console (`limit NAME 0 1M`, right
# after `get`). Both copies byte-identical.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
p2p_help_has --max-download-rate || skip "$P2PNODE has no --max-download-rate"
t_init p2p-download-limit

SIZE=4194304 # 4 MiB at 1 MiB/s: 4 s
RATE=1M
local_tracker
random_file "$W/share/a.bin" "$SIZE"
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed a.bin
make_torrent "$W/share/a.bin" "$W/a.torrent" >/dev/null

now_ms() { date +%s%3N; }
# check_time WHAT START_MS: the time since START_MS is at least 85% of SIZE/RATE (the limiter's first quarter-second
# burst is inside that margin) and at most twice it.
check_time() {
    local ms=$(($(now_ms) - $2)) lo=$((4000 * 85 / 100)) hi=$((4000 * 2))
    say "$1: 4 MiB in $ms ms (expected 4000, at least $lo, at most $hi)"
    ((ms >= lo)) || fail "$1: too fast ($ms ms): the limit did not hold"
    ((ms <= hi)) || fail "$1: too slow ($ms ms)"
}

# 1. Global limit, TCP only.
t0=$(now_ms)
start tcp --peer --get "$W/a.torrent" --into "$W/dl1" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console \
    --no-utp --max-download-rate "$RATE" --exit-when-done --timeout 20
wait_line "$W/tcp.out" '^complete a\.bin' "$PID_tcp" 20 >/dev/null || fail "the TCP leecher did not complete"
check_time "--max-download-rate over TCP" "$t0"
same_bytes a.bin "$W/share/a.bin" "$W/dl1/a.bin"
await tcp
((RC_tcp == 0)) || fail "the TCP leecher exited $RC_tcp"

# 2. The torrent's own limit from the console, uTP (the dialler's first choice).
mkfifo "$W/console"
exec 8<>"$W/console"
t0=$(now_ms)
mkdir -p "$W/empty" # a peer without --get needs a share folder
SPAWN_STDIN=$W/console start utp --peer --share "$W/empty" --into "$W/dl2" --tracker "$TURL" --bind 127.0.0.1 \
    --port 0 --no-tcp
echo "get $W/a.torrent" >&8
echo "limit a.bin 0 $RATE" >&8
wait_line "$W/utp.out" '^limits of a\.bin: up none, down 1 MiB/s' "$PID_utp" 10 >/dev/null ||
    fail "no answer to 'limit a.bin 0 $RATE'"
wait_line "$W/utp.out" '^complete a\.bin' "$PID_utp" 20 >/dev/null || fail "the uTP leecher did not complete"
check_time "limit NAME 0 1M over uTP" "$t0"
same_bytes a.bin "$W/share/a.bin" "$W/dl2/a.bin"
PASSED=1
echo PASS
