#!/usr/bin/env bash
# BEP 9 fetch side against real clients: p2pnode downloads from a magnet link alone (no .torrent), fetching the
# info dictionary with ut_metadata from the seed, then the data; byte-identical.
#   1. python3-libtorrent seeds lt.bin, announced to a p2pnode --tracker on 127.0.0.1;
#      `p2pnode --peer --get 'magnet:?xt=urn:btih:HEX&tr=udp%3A%2F%2F...'` (the tracker only in the magnet).
#   2. aria2c seeds ar.bin (DHT on without nodes: aria2 needs it for UDP trackers);
#      `p2pnode --peer --get 'magnet:?xt=urn:btih:BASE32&dn=ar.bin' --tracker URL` (base32 hash, --tracker).
# Both runs use --exit-when-done --timeout 120 and must print "fetching metadata HEX" before "downloading".
# Exit 0 pass, 77 skip (libtorrent/aria2c missing or $P2PNODE not built), other fail. Total limit 300 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 300 "$@"
t_need_p2pnode
t_need_tools cmp aria2c
t_need_libtorrent
t_init p2p-magnet 60 stamp

random_file "$W/lt-src/lt.bin" $((2 * 1024 * 1024 + 4321))
random_file "$W/ar-src/ar.bin" $((1024 * 1024 + 99))
mkdir -p "$W/dl-lt" "$W/dl-ar"
local_tracker
LT_HASH=$(make_torrent "$W/lt-src/lt.bin" "$W/lt.torrent")
AR_HASH=$(make_torrent "$W/ar-src/ar.bin" "$W/ar.torrent")
[[ $LT_HASH =~ ^[0-9a-f]{40}$ && $AR_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"

# magnet_get NAME MAGNET DIR [ARGS...]: p2pnode downloads MAGNET into DIR; logs NAME.out / NAME.err.
magnet_get() {
    local name=$1 magnet=$2 dir=$3
    shift 3
    timeout 130 "$P2PNODE" --peer --get "$magnet" --into "$dir" --bind 127.0.0.1 --port 0 --exit-when-done \
        --timeout 120 --no-console "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null ||
        fail "$name: p2pnode exited with $? for $magnet"
}
# check_order NAME HEX FILE: the run fetched the metadata first, then downloaded and completed FILE.
check_order() {
    local f=$W/$1.out a b c
    a=$(grep -n -m1 "^fetching metadata $2" "$f" | cut -d: -f1 || true)
    b=$(grep -n -m1 "^downloading $3 $2 into " "$f" | cut -d: -f1 || true)
    c=$(grep -n -m1 "^complete $3 $2" "$f" | cut -d: -f1 || true)
    [[ -n $a && -n $b && -n $c ]] || fail "$1: missing fetching/downloading/complete lines for $3 $2"
    ((a < b && b < c)) || fail "$1: lines out of order (fetching $a, downloading $b, complete $c)"
}

# ---- 1. libtorrent seed, tracker given only in the magnet (percent-encoded) ----
spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/lt.torrent" "$W/lt-src"
wait_seeders "$LT_HASH" 1 30
TR_ENC=$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$TURL")
say "libtorrent seeding $LT_HASH; p2pnode fetching by magnet"
magnet_get get_lt "magnet:?xt=urn:btih:$LT_HASH&tr=$TR_ENC" "$W/dl-lt"
check_order get_lt "$LT_HASH" lt.bin
same_bytes "magnet from libtorrent" "$W/lt-src/lt.bin" "$W/dl-lt/lt.bin"
kill9 lt_seed

# ---- 2. aria2c seed, base32 info hash, tracker from --tracker ----
aria2_args
ARIA2+=(--bt-tracker-interval=5 --follow-torrent=false --auto-save-interval=0)
spawn aria2_seed aria2c "${ARIA2[@]}" --check-integrity=true --seed-ratio=0.0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/ar-src" --log="$W/aria2-seed.log" "$W/ar.torrent"
wait_seeders "$AR_HASH" 1 60
AR_B32=$("$PY" -c 'import sys, base64; print(base64.b32encode(bytes.fromhex(sys.argv[1])).decode())' "$AR_HASH")
say "aria2c seeding $AR_HASH; p2pnode fetching by magnet with base32 hash $AR_B32"
magnet_get get_ar "magnet:?xt=urn:btih:$AR_B32&dn=ar.bin" "$W/dl-ar" --tracker "$TURL"
check_order get_ar "$AR_HASH" ar.bin
same_bytes "magnet from aria2c" "$W/ar-src/ar.bin" "$W/dl-ar/ar.bin"

PASSED=1
echo "PASS"
