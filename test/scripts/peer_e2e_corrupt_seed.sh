#!/usr/bin/env bash
# End to end: one of two seeds serves corrupt data. Seeds A and B share separate copies of one ~24 MiB
# file (4 MB/s upload limit each, so the leecher uses both). After both have hashed their copy and printed
# "sharing", a quarter of seed B's file (in the middle) is overwritten on disk: B verified it at start and
# reads pieces from disk only when asked, so it now serves bad data for those pieces. The leecher must end with
# the GOOD bytes; its log should show a failed hash check and/or a ban (a note is printed if, by chance, it got
# every corrupt-range piece from A).
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-corrupt

MIB=$((1024 * 1024))
mkdir -p "$W/a"
head -c $((24 * MIB)) /dev/urandom >"$W/a/image.iso"
cp -r "$W/a" "$W/b"

local_tracker
start_seeds image.iso 4M seedA="$W/a" seedB="$W/b"
# Corrupt MiB 9..15 (a quarter of the file) of B's copy, in place, and put its modification time back: a seed
# notices an edit by size and mtime (and stops serving the file), so this is bit rot, which only the
# leecher's hash checks can catch.
touch -r "$W/b/image.iso" "$W/b.stamp"
head -c $((6 * MIB)) /dev/urandom | dd of="$W/b/image.iso" bs=$MIB seek=9 conv=notrunc status=none
touch -r "$W/b.stamp" "$W/b/image.iso"
cmp -s "$W/a/image.iso" "$W/b/image.iso" && fail "seed B's copy was not changed"
HEX=$(make_torrent "$W/a/image.iso" "$W/image.torrent")
wait_seeders "$HEX" 2 30
echo "seed B's copy corrupted (6 MiB from 9 MiB); starting the leecher"

start leech --peer --get "$W/image.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 180
await leech
((RC_leech == 0)) || fail "the leecher exited $RC_leech"
cmp "$W/a/image.iso" "$W/dl/image.iso" || fail "the download differs from the good data"
bad=$(grep -c 'failed its hash check' "$W/leech.err" || true)
ban=$(grep -c 'banning' "$W/leech.err" || true)
echo "leecher: byte-identical to the good data; $bad failed hash check line(s), $ban ban line(s)"
grep -m3 -E 'failed its hash check|banning' "$W/leech.err" | sed 's/^/  /' || true
if ((bad + ban == 0)); then
    echo "note: no corrupt piece reached the leecher (it got the whole corrupt range from seed A)"
fi
stop seedA
stop seedB
echo "seed A uploaded=$(uploaded seedA) seed B uploaded=$(uploaded seedB)"
PASSED=1
echo "PASS"
