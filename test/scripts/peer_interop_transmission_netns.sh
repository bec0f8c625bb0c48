#!/usr/bin/env bash
# Interop across hosts: the p2pnode peer with transmission-daemon 3.00, both directions, in three network
# namespaces on one bridge (lib/transmission.sh); Transmission ignores peers on 127.0.0.0/8, hence the hosts.
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: p2pnode --peer (forward: --share seeds fwd.bin; reverse: --get --exit-when-done downloads rev.bin)
#   host 3: transmission-daemon (own config dir: no DHT, LPD or PEX; no uTP unless TR_UTP=true; RPC on
#           127.0.0.1 inside the namespace), driven with transmission-remote. Encryption stays at Transmission's
#           default "preferred" (TR_ENCRYPTION=0|1|2 overrides; P2P_PEER_FLAGS adds p2pnode flags such as
#           "--encryption require"). peer_interop_transmission_shipped.sh runs this as Transmission ships.
#   Forward: p2pnode seeds -> Transmission downloads to 100 %; cmp.
#   Reverse: Transmission verifies and seeds rev.bin -> p2pnode downloads it; cmp.
# Each direction takes ~10-15 s mostly waiting on Transmission's own 10 s pulses (it sends "interested" and
# unchokes only on them). P2P_TR_DEBUG=1 adds Transmission's per-message log; P2P_KEEP_WORKDIR=1 keeps $W.
# Files are 2 MiB + an odd tail (Transmission moves ~2 MiB/s here; the tail makes the last piece short).
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE not built), other fail. Limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
# shellcheck source=lib/transmission.sh
source "$LIB/transmission.sh"
t_need_p2pnode
t_need_tools "$PY"
tr_netns_init p2p-peer-transmission p2pi 80 stamp

random_file "$W/share/fwd.bin" $((2 * 1024 * 1024 + 12345))
random_file "$W/tr-dl/rev.bin" $((2 * 1024 * 1024 + 777))   # Transmission's download dir = its seed
mkdir -p "$W/p2p-dl"

# ---- host 1: tracker ----
tr_p2p_tracker --no-console
FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
REV_HASH=$(make_torrent "$W/tr-dl/rev.bin" "$W/rev.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker at $TURL in $NS-1; fwd=$FWD_HASH rev=$REV_HASH"

# ---- host 3: transmission ----
tr_start 3 "$W/tr-dl"

# ---- forward: p2pnode (host 2) seeds, transmission (host 3) downloads ----
p2p_seed_host2 "$W/share"
wait_sharing p2p_seed fwd.bin "$FWD_HASH" 30
tr_remote -a "$W/fwd.torrent" >"$W/remote-add-fwd.out" 2>&1 || fail "transmission-remote -a fwd.torrent failed"
say "forward: p2pnode seeding in $NS-2; transmission downloading in $NS-3"
tr_wait_done "$FWD_HASH" 120 "forward download"
same_bytes forward "$W/share/fwd.bin" "$W/tr-dl/fwd.bin"
kill -TERM "$PID_p2p_seed" 2>/dev/null || true   # the reverse download must not see this process as a peer

# ---- reverse: transmission (host 3) verifies and seeds, p2pnode (host 2) downloads ----
tr_seed_verified "$W/rev.torrent" "$REV_HASH" "reverse seed verify" "$W/remote-add-rev.out"
say "reverse: transmission seeding; p2pnode downloading"
p2p_get_host2 p2p-download "$W/rev.torrent" "$W/p2p-dl" 120 --tracker "$TURL" ||
    fail "p2pnode did not download from transmission (rc=$?)"
same_bytes reverse "$W/tr-dl/rev.bin" "$W/p2p-dl/rev.bin"

PASSED=1
echo "PASS"
