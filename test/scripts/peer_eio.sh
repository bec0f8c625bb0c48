#!/usr/bin/env bash
# Issue 6: the disk returns EIO while writing pieces. The leecher runs with test/fault/eio_shim.c preloaded
# (built here with cc): every write to a file under $DL/big fails with EIO from the first one, so big fails
# while small is still downloading; writes elsewhere succeed. It --get's two torrents, each from its own seed on
# 127.0.0.1 (via a p2pnode tracker): small.bin (1 MiB file, lands in $DL) and big (a 2-file folder of 6 MiB, lands
# in $DL/big). With --exit-when-done --timeout 60 it must: print "complete small.bin" (the loop kept serving the
# other torrent and --exit-when-done waited for it: the run fails only once the rest are finished; the copy
# compares equal), report the storage error for big naming "Input/output error" with the
# "(torrent paused" line, exit 1 (not a signal, not a timeout), and the shim must have fired. Mirrors
# peer_disk_full.sh. Exit 0 pass, 77 skip (no p2pnode or no cc), other fail. Limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools cc cmp
t_init p2p-eio
cc -shared -fPIC -O2 -o "$W/eio_shim.so" "$ROOT/test/fault/eio_shim.c" -ldl 2>"$W/cc.err" ||
    fail "cannot build test/fault/eio_shim.c"

random_file "$W/s1/small.bin" $((1024 * 1024))
random_file "$W/s2/big/part1.bin" $((3 * 1024 * 1024))
random_file "$W/s2/big/part2.bin" $((3 * 1024 * 1024 + 999))
local_tracker
start seed_small --peer --share "$W/s1" --tracker "$TURL" --bind 127.0.0.1 --port 0
start seed_big --peer --share "$W/s2" --tracker "$TURL" --bind 127.0.0.1 --port 0
wait_sharing seed_small small.bin
wait_sharing seed_big big
HS=$(make_torrent "$W/s1/small.bin" "$W/small.torrent")
HB=$(make_torrent "$W/s2/big" "$W/big.torrent")
wait_seeders "$HS" 1 30
wait_seeders "$HB" 1 30

DL=$W/dl
mkdir -p "$DL"
spawn leech timeout -k 5 90 env LD_PRELOAD="$(preload_list "$W/eio_shim.so")" EIO_DIR="$DL/big" EIO_AFTER=0 \
    "$P2PNODE" --peer --get "$W/small.torrent" --get "$W/big.torrent" --into "$DL" --tracker "$TURL" \
    --bind 127.0.0.1 --port 0 --exit-when-done --timeout 60 --no-console
await leech
say "leecher exited $RC_leech"
((RC_leech != 124 && RC_leech != 137)) || fail "the leecher did not stop by itself within 90 s"
((RC_leech < 128)) || fail "the leecher died of signal $((RC_leech - 128))"
grep -q '^eio_shim: injecting EIO' "$W/leech.err" || fail "the EIO shim never fired (were the writes intercepted?)"
((RC_leech == 1)) || fail "the leecher exited $RC_leech, want 1 (a failed torrent)"
grep -q "^complete small.bin $HS" "$W/leech.out" || fail "no 'complete small.bin' line: the small torrent did not finish"
same_bytes small.bin "$W/s1/small.bin" "$DL/small.bin"
grep -q 'timed out' "$W/leech.err" && fail "the leecher timed out instead of reporting the I/O error"
grep -E 'big.*Input/output error' "$W/leech.err" >/dev/null || fail "stderr does not name big with 'Input/output error'"
grep -q 'big: .*(torrent paused' "$W/leech.err" || fail "no 'big: ... (torrent paused ...)' log line"
say "error reported: $(grep -m1 -E 'big.*Input/output error' "$W/leech.err")"
alive seed_small || fail "seed_small died"
alive seed_big || fail "seed_big died"
stop seed_small
stop seed_big
PASSED=1
echo PASS
