#!/usr/bin/env bash
# a tracker that never answers is not silent. A p2pnode seed shares two files whose only tracker is a
# UDP socket on 127.0.0.1 that swallows every datagram (the BEP 15 client retransmits at 15, 45, 105 s ... and
# reports a failure only hours later). Within 60 s the seed must warn, exactly once for the tracker however many
# torrents use it:
#   [warn] announce: udp://127.0.0.1:PORT: no answer for 45 s (still trying)
# and it must have kept retransmitting meanwhile (the swallower counts the datagrams), and the console's
# `trackers` must show the tracker of each torrent as not working, with that error.
# Exit 0 pass, 77 skip ($P2PNODE not built), other fail. Total limit 120 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode
t_init p2p-announce-silent 40 stamp

random_file "$W/share/one.bin" 100000
random_file "$W/share/two.bin" 200000

# The tracker that never answers: binds, prints its port, counts what it receives until killed.
spawn_log swallower "$PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("port", s.getsockname()[1], flush=True)
n = 0
while True:
    s.recv(2048)
    n += 1
    print("datagram", n, flush=True)
'
PORT=$(wait_line "$W/swallower.log" 'port [0-9]+' "$PID_swallower" 10) || fail "the swallower did not start"
PORT=${PORT#port }
URL=udp://127.0.0.1:$PORT

mkfifo "$W/pconsole"
exec 8<>"$W/pconsole" # the console, held open so the peer never sees the end of its input
SPAWN_STDIN=$W/pconsole start seed --peer --share "$W/share" --tracker "$URL" --bind 127.0.0.1 --port 0
wait_sharing seed one.bin "" 30
wait_sharing seed two.bin "" 30
T0=$SECONDS
say "seeding two files; the only tracker ($URL) never answers"
line=$(wait_line "$W/seed.err" "\[warn\] announce: $URL: no answer for 45 s \(still trying\)" "$PID_seed" 60) ||
    fail "no warning about the silent tracker within 60 s"
say "warned after $((SECONDS - T0)) s: $line"
((SECONDS - T0 >= 40)) || fail "warned too early ($((SECONDS - T0)) s): the first retransmits had not failed yet"
sleep 2 # both torrents' announces are past 45 s now
count=$(grep -c "announce: $URL: no answer" "$W/seed.err" || true)
((count == 1)) || fail "$count warnings about $URL, wanted exactly 1 (one per tracker, not per torrent)"
echo trackers >&8
rows=0
for ((t = 0; t < 50 && rows < 2; t++)); do
    sleep 0.1
    rows=$(grep -cE "^(one|two)\.bin +0 +$URL +(not working|updating) .*no answer for 45 s" "$W/seed.out" || true)
done
((rows == 2)) || fail "the console's trackers command does not show the silent tracker for both torrents: $(tail -n 5 "$W/seed.out")"
say "trackers: $(grep -m1 "^one\.bin .*$URL" "$W/seed.out")"
got=$(grep -c '^datagram' "$W/swallower.log" || true)
((got >= 4)) || fail "the tracker received $got datagrams: the client stopped retransmitting"
stop seed
((RC_seed == 0)) || fail "the seed exited with $RC_seed on SIGTERM"

PASSED=1
echo "PASS"
