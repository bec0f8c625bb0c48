#!/usr/bin/env bash
# Magnet links (BEP 9 ut_metadata over BEP 10) between p2pnode and transmission-daemon 3.00, both directions, in
# three network namespaces on one bridge (lib/transmission.sh); Transmission ignores peers on 127.0.0.0/8, hence
# the hosts.
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: p2pnode --peer (serve: --share seeds srv.bin; fetch: --get MAGNET --exit-when-done downloads fet.bin)
#   host 3: transmission-daemon (own config dir: no uTP, DHT, LPD or PEX; RPC on 127.0.0.1 inside the namespace),
#           driven with transmission-remote (transmission-cli blocks on DHT lookups offline).
#   1. p2pnode serves the metadata: the seed prints "sharing srv.bin HEX MAGNET"; Transmission is given only
#      'magnet:?xt=urn:btih:HEX&dn=srv.bin&tr=udp://IP:PORT' (no .torrent anywhere it looks), must learn the info
#      dictionary from p2pnode, then download srv.bin to 100 %; its name and hash are checked, and cmp.
#   2. p2pnode fetches the metadata: Transmission verifies and seeds fet.bin (a .torrent from p2pnode
#      --make-torrent, data already in its download dir) announced to the tracker; `p2pnode --peer --get
#      'magnet:?xt=urn:btih:HEX&tr=udp://IP:PORT' --exit-when-done` must print "fetching metadata HEX", then
#      "downloading fet.bin HEX", then "complete fet.bin HEX"; cmp.
# Files are 2 MiB + an odd tail (Transmission moves ~2 MiB/s here; the tail makes the last piece short).
# Encryption stays at Transmission's default "preferred" (TR_ENCRYPTION=0|1|2 overrides). P2P_TR_DEBUG=1 adds
# Transmission's per-message log; P2P_KEEP_WORKDIR=1 keeps $W.
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE not built), other fail. Limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
# shellcheck source=lib/transmission.sh
source "$LIB/transmission.sh"
t_need_p2pnode
t_need_tools "$PY"
tr_netns_init p2p-magnet-transmission p2pm 80 stamp

random_file "$W/share/srv.bin" $((2 * 1024 * 1024 + 12345))
random_file "$W/tr-dl/fet.bin" $((2 * 1024 * 1024 + 777))   # Transmission's download dir = its seed for part 2
mkdir -p "$W/p2p-dl"

# ---- host 1: tracker ----
tr_p2p_tracker --no-console
IN=()
say "tracker at $TURL in $NS-1"

# ---- host 3: transmission ----
tr_start 3 "$W/tr-dl"

# ---- 1. p2pnode (host 2) serves the metadata; transmission (host 3) has only the magnet link ----
p2p_seed_host2 "$W/share"
line=$(wait_line "$W/p2p_seed.out" '^sharing srv.bin [0-9a-f]{40} magnet:[^ ]+' "$(pid_of p2p_seed)" 60) ||
    fail "p2pnode did not print 'sharing srv.bin HEX MAGNET'"
read -r _ _ SRV_HASH SRV_MAGNET <<<"$line"
[[ $SRV_MAGNET == *"xt=urn:btih:"* ]] || fail "p2pnode printed no magnet link: $line"
say "serve: p2pnode in $NS-2 shares srv.bin $SRV_HASH ($SRV_MAGNET)"
MAGNET="magnet:?xt=urn:btih:$SRV_HASH&dn=srv.bin&tr=$TURL"
tr_remote -a "$MAGNET" >"$W/remote-add-srv.out" 2>&1 || fail "transmission-remote -a MAGNET failed"
say "serve: transmission in $NS-3 given only $MAGNET"
tr_wait_done "$SRV_HASH" 120 "serve (magnet) download" 5
grep -q "^ *Name: srv.bin$" "$W/remote-info.out" ||
    fail "transmission's torrent is not named srv.bin: $(grep -m1 'Name:' "$W/remote-info.out" || echo none)"
grep -qi "^ *Hash: $SRV_HASH$" "$W/remote-info.out" ||
    fail "transmission's torrent hash is not $SRV_HASH: $(grep -m1 'Hash:' "$W/remote-info.out" || echo none)"
same_bytes "serve (transmission from p2pnode's magnet)" "$W/share/srv.bin" "$W/tr-dl/srv.bin"
stop p2p_seed   # part 2 must not see this process as a peer
# Drop the finished torrent so Transmission's only torrent in part 2 is the one it seeds.
tr_remote -t "$SRV_HASH" -r >>"$W/remote-add-srv.out" 2>&1 || true

# ---- 2. transmission (host 3) seeds; p2pnode (host 2) fetches the metadata from a magnet link ----
FET_HASH=$(make_torrent "$W/tr-dl/fet.bin" "$W/fet.torrent")
[[ $FET_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
tr_seed_verified "$W/fet.torrent" "$FET_HASH" "fetch: transmission's verify" "$W/remote-add-fet.out"
# Wait (up to 60 s) until the tracker counts Transmission as a seeder, so a failure below is p2pnode's.
IN=(netns_exec "$NS" 2)
seeders=0
for ((t = 0; t < 60; t++)); do
    read -r seeders _ _ < <(scrape_counts "$FET_HASH")
    ((seeders >= 1)) && break
    sleep 1
done
IN=()
((seeders >= 1)) || fail "the tracker does not count transmission as a seeder of $FET_HASH after 60 s"
say "fetch: transmission seeding fet.bin $FET_HASH; p2pnode in $NS-2 fetching by magnet"
rc=0
p2p_get_host2 p2p-fetch "magnet:?xt=urn:btih:$FET_HASH&tr=$TURL" "$W/p2p-dl" 150 || rc=$?
((rc == 0)) || fail "p2pnode did not fetch the magnet link from transmission (rc=$rc)"
a=$(grep -n -m1 "^fetching metadata $FET_HASH" "$W/p2p-fetch.out" | cut -d: -f1 || true)
b=$(grep -n -m1 "^downloading fet.bin $FET_HASH" "$W/p2p-fetch.out" | cut -d: -f1 || true)
c=$(grep -n -m1 "^complete fet.bin $FET_HASH" "$W/p2p-fetch.out" | cut -d: -f1 || true)
[[ -n $a && -n $b && -n $c ]] || fail "fetch: missing 'fetching metadata' / 'downloading' / 'complete' lines"
((a < b && b < c)) || fail "fetch: lines out of order (fetching $a, downloading $b, complete $c)"
same_bytes "fetch (p2pnode from transmission by magnet)" "$W/tr-dl/fet.bin" "$W/p2p-dl/fet.bin"

PASSED=1
echo "PASS"
