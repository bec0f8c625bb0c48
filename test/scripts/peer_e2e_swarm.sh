#!/usr/bin/env bash
# End to end: a tracker, one seed and three leechers of p2pnode on 127.0.0.1 (ephemeral ports).
#   The seed shares a folder holding a ~16 MiB single file and a multi-file folder (nested folders, an empty
#   file, sizes that do not fall on piece boundaries). The three leechers start at the same time, each gets both
#   torrents (--get x2 --exit-when-done) and must exit 0; every file must be byte-identical (cmp) in every one.
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-swarm

# ---- data: a ~16 MiB single file and a folder with nested files and an empty file
S=$W/share
mkdir -p "$S/album/disc 1/extras" "$S/album/disc 2"
head -c $((16 * 1024 * 1024 + 12345)) /dev/urandom >"$S/big.bin"
head -c 300001 /dev/urandom >"$S/album/disc 1/track01.bin"
head -c 1048577 /dev/urandom >"$S/album/disc 1/extras/bonus.bin"
head -c 7 /dev/urandom >"$S/album/disc 2/tiny.bin"
: >"$S/album/disc 2/empty.txt"
printf 'liner notes\n' >"$S/album/notes.txt"

local_tracker

start seed --peer --share "$S" --tracker "$TURL" --bind 127.0.0.1 --port 0
wait_lines seed '^sharing ' 2 60
for item in big.bin album; do
    hex=$(make_torrent "$S/$item" "$W/$item.torrent")
    grep -q "^sharing $item $hex " "$W/seed.out" || fail "the seed does not share $item as $hex"
done
echo "seed shares both items; starting 3 leechers"

for i in 1 2 3; do
    start "leech$i" --peer --get "$W/big.bin.torrent" --get "$W/album.torrent" --into "$W/dl$i" \
        --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done --timeout 150
done
for i in 1 2 3; do
    await "leech$i"
    rc=RC_leech$i
    ((${!rc} == 0)) || fail "leecher $i exited ${!rc}"
    (($(grep -c '^complete ' "$W/leech$i.out") == 2)) || fail "leecher $i did not print 2 'complete' lines"
done

n=0
while IFS= read -r -d '' f; do
    rel=${f#"$S"/}
    for i in 1 2 3; do
        [[ -f $W/dl$i/$rel ]] || fail "leecher $i: missing $rel"
        cmp -s "$f" "$W/dl$i/$rel" || fail "leecher $i: $rel differs from the seed's"
    done
    n=$((n + 1))
done < <(find "$S" -path "$S/.*" -prune -o -type f -print0)
((n == 6)) || fail "compared $n files, expected 6"
echo "all 3 leechers hold $n byte-identical files"
PASSED=1
echo "PASS"
