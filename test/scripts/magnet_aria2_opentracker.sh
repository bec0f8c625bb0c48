#!/usr/bin/env bash
# As reported by a user: aria2c seeds a 24 MiB file through Debian's opentracker (UDP, whitelist mode), and
# p2pnode, started a second later with nothing but 'magnet:?xt=urn:btih:HEX&tr=udp://127.0.0.1:PORT', must fetch
# the metadata and the file, byte-identical, within 60 s. Before the fix it printed "fetching metadata ... 0 peers"
# until its deadline: its first announce reached the tracker before aria2's (0 peers) and the next one was due
# after opentracker's whole interval (30 min), and when aria2 (which learnt p2pnode's address from its own
# announce) dialled p2pnode, the session refused the connection because no torrent had that info hash yet.
# aria2c keeps its defaults (its announce interval is the tracker's too) except what it needs here: DHT on (aria2
# speaks UDP trackers only with DHT on; no bootstrap nodes, so it stays offline), no LPD (multicast beyond
# loopback), its own ports and files, and seeding without a ratio limit.
# P2P_KEEP_WORKDIR=1 keeps the work dir. Exit 0 pass, 77 skip (aria2c, opentracker or $P2PNODE missing), other
# fail. Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode
t_need_tools aria2c opentracker cmp "$PY"
t_init p2p-magnet-aria2-ot 60 stamp

random_file "$W/src/big.bin" $((24 * 1024 * 1024))
mkdir -p "$W/dl"

UPORT=$(free_port udp)
HASH=$(make_torrent "$W/src/big.bin" "$W/big.torrent" "udp://127.0.0.1:$UPORT")
[[ $HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
printf '%s\n' "$HASH" >"$W/whitelist"
opentracker_start 127.0.0.1 "$UPORT"
say "opentracker on $TURL; hash $HASH"

spawn aria2_seed aria2c --no-conf=true --enable-dht=true --bt-enable-lpd=false --dht-file-path="$W/dht.dat" \
    --dht-listen-port="$(free_port udp)" --listen-port="$(free_port tcp)" --check-integrity=true --seed-ratio=0.0 \
    --summary-interval=0 --console-log-level=warn --log="$W/aria2-seed.log" --log-level=info \
    --dir="$W/src" "$W/big.torrent"
sleep 1
alive aria2_seed || fail "aria2c exited"

say "aria2c seeding; p2pnode fetching by magnet (tracker only in the magnet)"
T0=$SECONDS
rc=0
timeout 75 "$P2PNODE" --peer --get "magnet:?xt=urn:btih:$HASH&tr=udp://127.0.0.1:$UPORT" --into "$W/dl" \
    --bind 127.0.0.1 --port 0 --exit-when-done --timeout 60 --no-console >"$W/get.out" 2>"$W/get.err" \
    </dev/null || rc=$?
((rc == 0)) || fail "p2pnode exited with $rc after $((SECONDS - T0)) s"
grep -q "^fetching metadata $HASH" "$W/get.out" || fail "no 'fetching metadata' line"
grep -q "^complete big.bin $HASH" "$W/get.out" || fail "no 'complete' line"
same_bytes "magnet from aria2c via opentracker" "$W/src/big.bin" "$W/dl/big.bin"
say "done in $((SECONDS - T0)) s"

PASSED=1
echo "PASS"
