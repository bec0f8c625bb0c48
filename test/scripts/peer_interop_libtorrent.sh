#!/usr/bin/env bash
# Interop: the p2pnode peer with python3-libtorrent 2.x on 127.0.0.1, both directions, peers found
# only through a UDP tracker.
#   1. Tracker: p2pnode --tracker (default) or Debian's opentracker (TRACKER_IMPL=opentracker; whitelist mode,
#      so the info hashes are written to its whitelist before it starts, on a port picked in advance).
#   2. Forward: p2pnode --peer --share seeds a random file (3 MiB + an odd tail, so the last piece is short);
#      libtorrent downloads it; cmp.
#   3. Reverse: libtorrent seeds another random file; p2pnode --peer --get --exit-when-done downloads it; cmp.
# libtorrent: no DHT/LSD/UPnP/uTP, listens on 127.0.0.1 (ephemeral), allow_multiple_connections_per_ip.
# P2P_KEEP_WORKDIR=1 keeps the work dir (data, torrents, logs) after the run.
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE is not built), other fail. Total limit 200 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 200 "$@"
IMPL=${TRACKER_IMPL:-p2pnode}
t_need_p2pnode
t_need_tools cmp
t_need_libtorrent
if [[ $IMPL == opentracker ]]; then t_need_tools opentracker; fi
t_init p2p-peer-lt 80 stamp

# ---- data: a tail that is not a multiple of 16 KiB, so the last piece and last block are short ----
random_file "$W/share/fwd.bin" $((3 * 1024 * 1024 + 12345))
random_file "$W/lt-src/rev.bin" $((2 * 1024 * 1024 + 777))
mkdir -p "$W/lt-dl" "$W/p2p-dl"

# ---- tracker ----
if [[ $IMPL == opentracker ]]; then
    # opentracker serves only whitelisted hashes: make the torrents first, on a port picked in advance.
    TPORT=$(free_port udp)
    TURL=udp://127.0.0.1:$TPORT
    FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
    REV_HASH=$(make_torrent "$W/lt-src/rev.bin" "$W/rev.torrent")
    printf '%s\n%s\n' "$FWD_HASH" "$REV_HASH" >"$W/whitelist"
    opentracker_start 127.0.0.1 "$TPORT"
else
    local_tracker
    FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
    REV_HASH=$(make_torrent "$W/lt-src/rev.bin" "$W/rev.torrent")
fi
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker ($IMPL) at $TURL; fwd=$FWD_HASH rev=$REV_HASH"

# ---- forward: p2pnode seeds, libtorrent downloads ----
start p2p_seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing p2p_seed fwd.bin "$FWD_HASH" 30
say "forward: p2pnode seeding; libtorrent downloading"
timeout 90 "$PY" "$LIB/lt_client.py" download "$W/fwd.torrent" "$W/lt-dl" >"$W/lt-download.log" 2>&1 ||
    fail "libtorrent did not download from p2pnode (rc=$?)"
same_bytes forward "$W/share/fwd.bin" "$W/lt-dl/fwd.bin"

# ---- reverse: libtorrent seeds, p2pnode downloads ----
spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/rev.torrent" "$W/lt-src"
say "reverse: libtorrent seeding; p2pnode downloading"
p2p_download_from libtorrent "$W/rev.torrent" "$W/p2p-dl"
same_bytes reverse "$W/lt-src/rev.bin" "$W/p2p-dl/rev.bin"

PASSED=1
echo "PASS"
