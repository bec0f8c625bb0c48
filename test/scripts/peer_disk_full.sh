#!/usr/bin/env bash
# Issue 6: disk full while writing pieces. A leecher runs in its own mount namespace with a 2 MiB tmpfs on its
# --into folder (the mount vanishes with it) and --get's two torrents, each from its own seed on 127.0.0.1 (via
# a p2pnode tracker): small.bin (1 MiB, unthrottled seed) and big.bin (8 MiB, seed limited to 512 KB/s so the
# disk fills only after the small one is done). With --exit-when-done --timeout 60 it must: print
# "complete small.bin" (the loop kept serving the other torrent), report the storage error for big.bin naming
# "No space left on device", exit 1 (not a signal, not a timeout), and leave nothing in the folder underneath
# the tmpfs. Needs root (unshare -m, mount); skips (77) if that is not permitted. Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools unshare mount
[[ $(id -u) == 0 ]] || skip "needs root for unshare -m and mount -t tmpfs"
t_init p2p-disk-full
mkdir -p "$W/probe"
# shellcheck disable=SC2016
unshare -m --propagation private sh -c 'mount -t tmpfs -o size=64k tmpfs "$1"' sh "$W/probe" 2>/dev/null ||
    skip "unshare -m / mount -t tmpfs not permitted here"

random_file "$W/s1/small.bin" $((1024 * 1024))
random_file "$W/s2/big.bin" $((8 * 1024 * 1024))
local_tracker
start seed_small --peer --share "$W/s1" --tracker "$TURL" --bind 127.0.0.1 --port 0
start seed_big --peer --share "$W/s2" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate 512K
wait_sharing seed_small small.bin
wait_sharing seed_big big.bin
HS=$(make_torrent "$W/s1/small.bin" "$W/small.torrent")
HB=$(make_torrent "$W/s2/big.bin" "$W/big.torrent")
wait_seeders "$HS" 1 30
wait_seeders "$HB" 1 30

DL=$W/dl
mkdir -p "$DL"
# shellcheck disable=SC2016
spawn leech timeout -k 5 90 unshare -m --propagation private sh -c \
    'mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"' sh "$DL" \
    "$P2PNODE" --peer --get "$W/small.torrent" --get "$W/big.torrent" --into "$DL" --tracker "$TURL" \
    --bind 127.0.0.1 --port 0 --exit-when-done --timeout 60 --no-console
await leech
say "leecher exited $RC_leech"
((RC_leech != 124 && RC_leech != 137)) || fail "the leecher did not stop by itself within 90 s"
((RC_leech < 128)) || fail "the leecher died of signal $((RC_leech - 128))"
((RC_leech == 1)) || fail "the leecher exited $RC_leech, want 1 (a failed torrent)"
grep -q "^complete small.bin $HS" "$W/leech.out" || fail "no 'complete small.bin' line: the small torrent did not finish"
grep -q 'timed out' "$W/leech.err" && fail "the leecher timed out instead of reporting the full disk"
grep -E 'big\.bin.*No space left on device' "$W/leech.err" >/dev/null ||
    fail "stderr does not name big.bin with 'No space left on device'"
grep -q 'big\.bin: .*(torrent paused' "$W/leech.err" || fail "no 'big.bin: ... (torrent paused ...)' log line"
say "error reported: $(grep -m1 -E 'big\.bin.*No space left on device' "$W/leech.err")"
left=$(find "$DL" -mindepth 1 | head -n5)
[[ -z $left ]] || fail "files written outside the tmpfs: $left"
alive seed_small || fail "seed_small died"
alive seed_big || fail "seed_big died"
stop seed_small
stop seed_big
PASSED=1
echo PASS
