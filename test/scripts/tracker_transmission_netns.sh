#!/usr/bin/env bash
# Interop across hosts: p2pnode's UDP tracker with Transmission, in three network namespaces on one bridge
# (lib/transmission.sh). Transmission 3.00 ignores peers on 127.0.0.0/8, hence the namespaces.
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: python3-libtorrent seeding a 2 MiB random file announced to that tracker
#   host 3: transmission-daemon (own config dir: no uTP, DHT, LPD or PEX; RPC on 127.0.0.1 inside the namespace);
#           transmission-remote adds the .torrent and polls until 100 %.
# Then cmp the copy, and `p2pnode --scrape` shows completed >= 1 and seeders >= 1.
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE has no --tracker), other fail. Limit 180 s.
# TRACKER_IMPL=opentracker runs the same checks against Debian's opentracker (to validate the test itself).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
# shellcheck source=lib/transmission.sh
source "$LIB/transmission.sh"
IMPL=${TRACKER_IMPL:-p2pnode}
t_need_tools mktorrent
t_need_libtorrent
if [[ $IMPL == opentracker ]]; then t_need_tools opentracker; fi
TRACKER_SKIP_IF_MISSING=1   # skip (77) when $P2PNODE has no --tracker mode yet
tr_netns_init p2p-transmission p2pt 60

# ---- data and torrent ----
random_file "$W/seed/data.bin" $((2 * 1024 * 1024))
mkdir -p "$W/tr-dl"

# ---- host 1: tracker ----
tracker_console
if [[ $IMPL == opentracker ]]; then
    # opentracker serves only whitelisted hashes: make the torrent first, on a port chosen in advance.
    TPORT=$(free_port udp 1)
    HASH=$(mktorrent_hash "$W/seed/data.bin" "$W/data.torrent" "udp://$TIP:$TPORT")
    echo "$HASH" >"$W/whitelist"
    opentracker_start "$TIP" "$TPORT" 1
else
    t_need_p2pnode
    tr_p2p_tracker --state "$W/tracker.state"
    HASH=$(mktorrent_hash "$W/seed/data.bin" "$W/data.torrent" "$TURL")
fi
echo "tracker ($IMPL) on $TURL in $NS-1; info hash $HASH"

# ---- host 2: libtorrent seed ----
spawn_log lt_seed netns_exec "$NS" 2 "$PY" "$LIB/lt_client.py" seed "$W/data.torrent" "$W/seed" --ip "$PIP"

# ---- host 3: transmission ----
tr_start 3 "$W/tr-dl"
tr_remote -a "$W/data.torrent" >"$W/remote.out" 2>&1 || fail "transmission-remote -a failed"
echo "transmission ($NS-3) added the torrent; waiting for 100 %"
tr_wait_done "$HASH" 120 "percent done" 10
cmp "$W/seed/data.bin" "$W/tr-dl/data.bin" || fail "transmission's copy differs"
echo "transmission: 100 %, bytes match"

# ---- scrape: transmission sent "completed"; the libtorrent seed is still there ----
if [[ $IMPL == opentracker ]]; then
    echo "scrape check skipped (opentracker mode has no p2pnode --scrape)"
    PASSED=1
    echo "PASS"
    exit 0
fi
expect_scrape "$HASH" 1 1   # through IN=(host 1): the tracker's address exists only in the namespaces

PASSED=1
echo "PASS"
