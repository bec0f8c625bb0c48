#!/usr/bin/env bash
# End to end: a seed dies mid-download. Two seeds (separate copies of one folder, 4 MB/s upload limit
# each) and one leecher; once the leecher has some but not all of the ~32 MiB (measured by the blocks allocated
# on disk: downloads are preallocated sparse files, so their size says nothing), seed B gets kill -9. The
# leecher must still complete from seed A alone, byte-identical.
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-seedkilled

SIZE=$((32 * 1024 * 1024 + 4321))
random_file "$W/a/movie.bin" $SIZE
cp -r "$W/a" "$W/b"

local_tracker
start_seeds movie.bin 4M seedA="$W/a" seedB="$W/b"
HEX=$(make_torrent "$W/a/movie.bin" "$W/movie.torrent")
wait_seeders "$HEX" 2 30
echo "two seeds of $HEX announced; starting the leecher"

start leech --peer --get "$W/movie.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 150
# Wait until 20% .. 70% of the data is on disk, then kill seed B.
wait_blocks leech "$W/dl/movie.bin" $((SIZE / 5)) "20% of the data"
got=$GOT
((got < SIZE * 7 / 10)) || fail "the leecher already had $got of $SIZE bytes when checked (too fast to test)"
! grep -q '^complete ' "$W/leech.out" || fail "the leecher completed before seed B could be killed"
kill9 seedB   # quiet: no "Killed" notice
echo "seed B killed (-9) with $got of $SIZE bytes on the leecher's disk"

await leech
((RC_leech == 0)) || fail "the leecher exited $RC_leech after seed B died"
cmp "$W/a/movie.bin" "$W/dl/movie.bin" || fail "the download differs from the seed's file"
stop seedA
echo "completed from seed A alone (seed A uploaded=$(uploaded seedA)); byte-identical"
PASSED=1
echo "PASS"
