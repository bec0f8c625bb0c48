#!/usr/bin/env bash
# Local Service Discovery (BEP 14) between p2pnode and python3-libtorrent (lib/lt_client.py --lsd: enable_lsd on,
# DHT off, no tracker anywhere), in network namespaces on one bridge, each with a route for 224.0.0.0/4:
#   1. p2pnode seeds lt1.bin in host 1 (--share, --no-dht, no --tracker) and has announced it; libtorrent in host 2 is
#      given only 'magnet:?xt=urn:btih:HEX&dn=lt1.bin'. libtorrent announces the torrent at once; p2pnode must hear
#      it ("lsd: peer 10.77.93.2:PORT" in its log) and dial it; libtorrent gets the metadata and the data from it.
#      A plain socket in host 3, joined to the group, prints the first datagram libtorrent sent, byte for byte.
#   2. libtorrent seeds lt2.bin in host 2 (a v1 .torrent without announce URL) and has sent its three start-up
#      announces (at once, +2 s, +6 s); then p2pnode in host 3 is given only the info hash (--get HEX). Its own
#      announce is the only way: libtorrent must hear it ("<== LSD: 10.77.93.3:PORT" in its log) and dial p2pnode.
#      LT_LSD_INTERVAL (default: libtorrent's own 300 s) may shorten libtorrent's re-announce interval to see the
#      other path (p2pnode hearing libtorrent's periodic announce).
# Both copies must be byte-identical; the time each download took from its client's start is printed.
# Exit 0 pass, 77 skip (not root, no libtorrent/ip/cmp, $P2PNODE not built), other fail. Limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
t_need_root
t_need_libtorrent
t_need_tools ip cmp bc
# shellcheck source-path=SCRIPTDIR/../.. source=tools/netns
source "$ROOT/tools/netns"
t_init p2p-lsd-libtorrent 60 stamp
NS=p2pk$$
netns_setup "$NS" 3 || fail "netns_setup failed"
for i in 1 2 3; do ip -n "$NS-$i" route add 224.0.0.0/4 dev eth0 || fail "no multicast route in host $i"; done
IP1=$(netns_ip "$NS" 1)
IP2=$(netns_ip "$NS" 2)
IP3=$(netns_ip "$NS" 3)
LT_ARGS=(--lsd)
[[ -n ${LT_LSD_INTERVAL:-} ]] && LT_ARGS+=(--lsd-interval "$LT_LSD_INTERVAL")
secs_since() { printf '%.1f' "$(echo "$(date +%s.%N) - $1" | bc)"; }

# ---- 1. p2pnode seeds, libtorrent fetches by magnet ----
random_file "$W/share/lt1.bin" $((2 * 1024 * 1024 + 999))
# A listener on the group in host 3 (nobody else there): the first datagram from libtorrent, printed as Python bytes.
spawn capture ip netns exec "$NS-3" "$PY" -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 6771))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton("239.192.152.143"),
             socket.inet_aton("0.0.0.0")))
print("listening", flush=True)
while True:
    d, a = s.recvfrom(2048)
    if a[0] == sys.argv[1]:
        print(len(d), "bytes from %s:%d" % a, repr(d), flush=True)
        break
' "$IP2"
wait_line "$W/capture.out" '^listening' "$(pid_of capture)" 10 >/dev/null || fail "the capture socket did not start"
spawn seed ip netns exec "$NS-1" "$P2PNODE" --peer --share "$W/share" --bind "$IP1" --port 0 --no-dht --no-console \
    --log-level debug
line=$(wait_line "$W/seed.out" '^sharing lt1.bin [0-9a-f]{40}' "$(pid_of seed)" 60) ||
    fail "p2pnode did not print 'sharing lt1.bin HEX'"
H1=${line##* }
wait_line "$W/seed.err" "lsd: announced IPv4: $H1" "$(pid_of seed)" 10 >/dev/null || fail "p2pnode did not announce"
say "1. p2pnode in $NS-1 seeds lt1.bin $H1 and has announced it; libtorrent in $NS-2 gets only the magnet link"
mkdir -p "$W/lt-dl"
t0=$(date +%s.%N)
timeout 90 ip netns exec "$NS-2" "$PY" "$LIB/lt_client.py" magnet "magnet:?xt=urn:btih:$H1&dn=lt1.bin" "$W/lt-dl" \
    --ip "$IP2" "${LT_ARGS[@]}" >"$W/lt-leech.log" 2>&1 || fail "libtorrent did not download lt1.bin (rc=$?)"
say "1. libtorrent complete $(secs_since "$t0") s after it started"
grep -q "lsd: peer $IP2:[0-9]* for $H1" "$W/seed.err" || fail "p2pnode did not hear libtorrent's announce"
same_bytes "1. libtorrent from p2pnode" "$W/share/lt1.bin" "$W/lt-dl/lt1.bin"
grep -m1 "==> LSD" "$W/lt-leech.log" | sed 's/^/   libtorrent: /' || true
wait_line "$W/capture.out" ' bytes from ' "$(pid_of capture)" 5 >/dev/null || fail "no datagram from libtorrent captured"
say "   on the wire: $(grep ' bytes from ' "$W/capture.out")"
stop seed
[[ $RC_seed == 0 ]] || fail "p2pnode's seed exited $RC_seed on SIGTERM"

# ---- 2. libtorrent seeds, p2pnode fetches by info hash ----
mkdir -p "$W/lt-seed" "$W/p2p-dl"
random_file "$W/lt-seed/lt2.bin" $((2 * 1024 * 1024 + 321))
H2=$("$PY" -c '
import libtorrent as lt, sys
fs = lt.file_storage(); lt.add_files(fs, sys.argv[1] + "/lt2.bin")
t = lt.create_torrent(fs, 0, lt.create_torrent.v1_only); lt.set_piece_hashes(t, sys.argv[1])
open(sys.argv[2], "wb").write(lt.bencode(t.generate()))
print(str(lt.torrent_info(sys.argv[2]).info_hash()))' "$W/lt-seed" "$W/lt2.torrent") || fail "cannot make lt2.torrent"
spawn_log ltseed ip netns exec "$NS-2" "$PY" "$LIB/lt_client.py" seed "$W/lt2.torrent" "$W/lt-seed" --ip "$IP2" \
    "${LT_ARGS[@]}"
# Its start-up announces: at once, +2 s, +6 s. p2pnode starts after the third, so only its own announce can help.
for ((t = 0; t < 200; t++)); do
    (($(grep -c "==> LSD: ih: $H2" "$W/ltseed.log" || true) >= 3)) && break
    alive ltseed || fail "libtorrent's seed exited"
    sleep 0.1
done
(($(grep -c "==> LSD: ih: $H2" "$W/ltseed.log" || true) >= 3)) || fail "libtorrent did not announce lt2.bin 3 times in 20 s"
say "2. libtorrent in $NS-2 seeds lt2.bin $H2 and has announced it 3 times; p2pnode in $NS-3 gets only the hash"
t0=$(date +%s.%N)
rc=0
timeout 200 ip netns exec "$NS-3" "$P2PNODE" --peer --get "$H2" --into "$W/p2p-dl" --bind "$IP3" --port 0 --no-dht \
    --exit-when-done --timeout 190 --no-console --log-level debug >"$W/p2p-leech.out" 2>"$W/p2p-leech.err" \
    </dev/null || rc=$?
((rc == 0)) || fail "p2pnode did not download lt2.bin from libtorrent (rc=$rc)"
say "2. p2pnode complete $(secs_since "$t0") s after it started"
grep -q "^complete lt2.bin $H2" "$W/p2p-leech.out" || fail "p2pnode printed no 'complete lt2.bin $H2'"
same_bytes "2. p2pnode from libtorrent" "$W/lt-seed/lt2.bin" "$W/p2p-dl/lt2.bin"
# libtorrent's log is written by its alert loop (lib/lt_client.py), which may not have reached the alert of
# p2pnode's announce yet when p2pnode, done in well under a second, exits: give it up to 10 s.
for ((t = 0; t < 100; t++)); do
    grep -q "<== LSD: $IP3:[0-9]* ih: $H2" "$W/ltseed.log" && break
    grep -q "lsd: peer $IP2:[0-9]* for $H2" "$W/p2p-leech.err" && break
    sleep 0.1
done
if grep -q "<== LSD: $IP3:[0-9]* ih: $H2" "$W/ltseed.log"; then
    say "   libtorrent heard p2pnode's announce: $(grep -m1 "<== LSD: $IP3" "$W/ltseed.log" | cut -d' ' -f2-)"
fi
if grep -q "lsd: peer $IP2:[0-9]* for $H2" "$W/p2p-leech.err"; then
    say "   p2pnode heard libtorrent's periodic announce too"
fi
grep -q "<== LSD: $IP3:[0-9]* ih: $H2" "$W/ltseed.log" || grep -q "lsd: peer $IP2:[0-9]* for $H2" "$W/p2p-leech.err" ||
    fail "neither side logged the other's LSD announce"

PASSED=1
echo "PASS"
