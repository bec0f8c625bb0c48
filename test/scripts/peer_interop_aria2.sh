#!/usr/bin/env bash
# Interop: the p2pnode peer with aria2c 1.36 on 127.0.0.1, both directions, peers found only through
# p2pnode's UDP tracker.
#   1. Tracker: p2pnode --tracker on 127.0.0.1, ephemeral port.
#   2. Forward: p2pnode --peer --share seeds a random file (3 MiB + an odd tail, so the last piece is short);
#      aria2c downloads it (--seed-time=0: exits once the file is complete and hash-checked); cmp.
#   3. Reverse: aria2c seeds another random file (--check-integrity, --seed-ratio=0.0: seeds until killed);
#      p2pnode --peer --get --exit-when-done downloads it; cmp.
# aria2 speaks UDP trackers only with DHT on, so DHT is on but has no bootstrap nodes; no LPD, no PEX.
# P2P_KEEP_WORKDIR=1 keeps the work dir (data, torrents, logs) after the run.
# Exit 0 pass, 77 skip (aria2c missing, or $P2PNODE is not built), other fail. Total limit 200 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 200 "$@"
t_need_p2pnode
t_need_tools aria2c cmp "$PY"
t_init p2p-peer-aria2 80 stamp

# ---- data: a tail that is not a multiple of 16 KiB, so the last piece and last block are short ----
random_file "$W/share/fwd.bin" $((3 * 1024 * 1024 + 12345))
random_file "$W/aria2-src/rev.bin" $((2 * 1024 * 1024 + 777))
mkdir -p "$W/aria2-dl" "$W/p2p-dl"

# ---- tracker ----
local_tracker
FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
REV_HASH=$(make_torrent "$W/aria2-src/rev.bin" "$W/rev.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker at $TURL; fwd=$FWD_HASH rev=$REV_HASH"

aria2_args
ARIA2+=(--bt-tracker-interval=5 --follow-torrent=false --auto-save-interval=0)

# ---- forward: p2pnode seeds, aria2 downloads ----
start p2p_seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing p2p_seed fwd.bin "$FWD_HASH" 30
say "forward: p2pnode seeding; aria2c downloading"
timeout 90 aria2c "${ARIA2[@]}" --seed-time=0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-dl" --log="$W/aria2-download.log" "$W/fwd.torrent" \
    >"$W/aria2-download.out" 2>&1 </dev/null || fail "aria2c did not download from p2pnode (rc=$?)"
same_bytes forward "$W/share/fwd.bin" "$W/aria2-dl/fwd.bin"

# ---- reverse: aria2 seeds, p2pnode downloads ----
spawn aria2_seed aria2c "${ARIA2[@]}" --check-integrity=true --seed-ratio=0.0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-src" --log="$W/aria2-seed.log" "$W/rev.torrent"
say "reverse: aria2c seeding; p2pnode downloading"
p2p_download_from aria2c "$W/rev.torrent" "$W/p2p-dl"
same_bytes reverse "$W/aria2-src/rev.bin" "$W/p2p-dl/rev.bin"

PASSED=1
echo "PASS"
