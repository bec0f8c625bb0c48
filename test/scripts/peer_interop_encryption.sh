#!/usr/bin/env bash
# Interop: MSE/PE (encryption) between p2pnode and python3-libtorrent 2.x and aria2c 1.36 on 127.0.0.1, both
# directions, byte-identical.
#   1. libtorrent with forced encryption (RC4 only, both ways: "require encryption" in qBittorrent/Deluge)
#      downloads from a p2pnode seed run with --encryption require; then seeds to p2pnode --encryption require.
#   2. libtorrent as it ships (encryption enabled, uTP on), told the p2pnode seed's address and nothing else
#      (the tracker knows only the seed), downloads from a seed on --encryption require within 30 s.
#   3. aria2c --bt-require-crypto=true (and --bt-min-crypto-level=arc4) downloads from the same seed, then seeds
#      to p2pnode --encryption require.
# A p2pnode on --encryption require refuses plaintext both ways, so each passing transfer ran RC4.
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE is not built), other fail. Total limit 280 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 280 "$@"
t_need_p2pnode
t_need_tools cmp aria2c
t_need_libtorrent
t_init p2p-peer-enc 80 stamp

random_file "$W/share/fwd.bin" $((3 * 1024 * 1024 + 12345))
random_file "$W/lt-src/rev.bin" $((2 * 1024 * 1024 + 777))
random_file "$W/aria2-src/arev.bin" $((1024 * 1024 + 4321))
mkdir -p "$W/lt-dl" "$W/lt-dl2" "$W/aria2-dl" "$W/p2p-dl" "$W/p2p-dl2"

local_tracker
FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
REV_HASH=$(make_torrent "$W/lt-src/rev.bin" "$W/rev.torrent")
AREV_HASH=$(make_torrent "$W/aria2-src/arev.bin" "$W/arev.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ && $AREV_HASH =~ ^[0-9a-f]{40}$ ]] ||
    fail "p2pnode --make-torrent printed no info hash"

start p2p_seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console \
    --encryption require
wait_sharing p2p_seed fwd.bin "$FWD_HASH" 30
line=$(wait_line "$W/p2p_seed.out" 'peer listening on [0-9.]+:[0-9]+' "$(pid_of p2p_seed)" 10) ||
    fail "the seed printed no listening port"
SEED_PORT=${line##*:}

# ---- 1. libtorrent, forced encryption ----
say "libtorrent (forced RC4) downloading from p2pnode --encryption require"
timeout 90 "$PY" "$LIB/lt_client.py" download "$W/fwd.torrent" "$W/lt-dl" --enc forced >"$W/lt-download.log" 2>&1 ||
    fail "libtorrent (forced encryption) did not download from p2pnode (rc=$?)"
same_bytes "libtorrent forced, forward" "$W/share/fwd.bin" "$W/lt-dl/fwd.bin"

spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/rev.torrent" "$W/lt-src" --enc forced
say "p2pnode --encryption require downloading from libtorrent (forced RC4)"
P2P_GET_FLAGS="--encryption require" p2p_download_from "libtorrent (forced encryption)" "$W/rev.torrent" "$W/p2p-dl"
same_bytes "libtorrent forced, reverse" "$W/lt-src/rev.bin" "$W/p2p-dl/rev.bin"
stop lt_seed

# ---- 2. libtorrent as it ships, dialling the seed by address ----
say "libtorrent with its defaults (uTP on, encryption enabled) dialling the seed at 127.0.0.1:$SEED_PORT"
start_s=$SECONDS
timeout 30 "$PY" "$LIB/lt_client.py" download "$W/fwd.torrent" "$W/lt-dl2" --utp --peer "127.0.0.1:$SEED_PORT" \
    >"$W/lt-defaults.log" 2>&1 || fail "libtorrent with its defaults did not download within 30 s (rc=$?)"
same_bytes "libtorrent defaults" "$W/share/fwd.bin" "$W/lt-dl2/fwd.bin"
say "libtorrent defaults: complete in $((SECONDS - start_s)) s"

# ---- 3. aria2c, crypto required ----
aria2_args
ARIA2+=(--bt-tracker-interval=5 --follow-torrent=false --auto-save-interval=0 --bt-require-crypto=true
    --bt-min-crypto-level=arc4)
say "aria2c --bt-require-crypto downloading from p2pnode --encryption require"
timeout 90 aria2c "${ARIA2[@]}" --seed-time=0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-dl" --log="$W/aria2-download.log" "$W/fwd.torrent" \
    >"$W/aria2-download.out" 2>&1 </dev/null || fail "aria2c (crypto required) did not download from p2pnode (rc=$?)"
same_bytes "aria2 forward" "$W/share/fwd.bin" "$W/aria2-dl/fwd.bin"

spawn aria2_seed aria2c "${ARIA2[@]}" --check-integrity=true --seed-ratio=0.0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-src" --log="$W/aria2-seed.log" "$W/arev.torrent"
say "p2pnode --encryption require downloading from aria2c --bt-require-crypto"
P2P_GET_FLAGS="--encryption require" p2p_download_from "aria2c (crypto required)" "$W/arev.torrent" "$W/p2p-dl2"
same_bytes "aria2 reverse" "$W/aria2-src/arev.bin" "$W/p2p-dl2/arev.bin"

PASSED=1
echo "PASS"
