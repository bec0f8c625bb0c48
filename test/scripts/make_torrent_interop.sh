#!/usr/bin/env bash
# --make-torrent agrees with mktorrent and python3-libtorrent on the info hash (single file and folder), and its
# output loads in libtorrent and transmission-show with the expected name, size and piece count.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT" || exit 1
t_need_tools mktorrent transmission-show
t_need_libtorrent
t_init p2p-mktorrent
work=$W

# A folder with nested files, an odd-sized file, an empty file; and a single file.
mkdir -p "$work/data/share/sub/deeper"
head -c 1234567 /dev/urandom > "$work/data/share/big.bin"
head -c 70000 /dev/urandom > "$work/data/share/sub/mid.dat"
echo "hello" > "$work/data/share/sub/deeper/note.txt"
: > "$work/data/share/sub/empty"
head -c 300001 /dev/urandom > "$work/data/single.bin"

lt_hash() { # path piece_size
  "$PY" - "$1" "$2" <<'PYEOF'
import sys, libtorrent as lt
path, ps = sys.argv[1], int(sys.argv[2])
fs = lt.file_storage()
import os
if os.path.isdir(path):
    # libtorrent's add_files keeps readdir order; give it the files in the documented sorted order so the
    # comparison is of the info dict encoding, not of directory iteration order.
    base = os.path.dirname(os.path.abspath(path))
    rels = []
    for root, dirs, files in os.walk(path):
        for f in files:
            rels.append(os.path.relpath(os.path.join(root, f), base))
    for rel in sorted(rels, key=lambda r: r.encode()):
        fs.add_file(rel, os.path.getsize(os.path.join(base, rel)))
else:
    lt.add_files(fs, path)
ct = lt.create_torrent(fs, ps, flags=lt.create_torrent.v1_only)
import os
lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
e = ct.generate()
print(str(lt.torrent_info(e).info_hash()))
PYEOF
}

for target in "$work/data/share" "$work/data/single.bin"; do
  ours=$("$P2PNODE" --make-torrent "$target" --tracker udp://127.0.0.1:6969 --piece-size 256K -o "$work/ours.torrent" --force --quiet \
         | sed -n 's/^info hash: *//p')
  [ ${#ours} -eq 40 ] || fail "no info hash printed for $target"
  (cd "$work" && rm -f mk.torrent && mktorrent -l 18 -a udp://127.0.0.1:6969 -o mk.torrent "$target" >/dev/null 2>&1) || fail "mktorrent failed"
  mk=$(transmission-show "$work/mk.torrent" | sed -n 's/^ *Hash: *//p')
  lt=$(lt_hash "$target" 262144)
  echo "$(basename "$target"): p2pnode=$ours mktorrent=$mk libtorrent=$lt"
  [ "$ours" = "$mk" ] || fail "info hash differs from mktorrent for $target"
  [ "$ours" = "$lt" ] || fail "info hash differs from libtorrent for $target"
done

# Default piece size, multiple trackers: loads in libtorrent and transmission-show with the expected facts.
"$P2PNODE" --make-torrent "$work/data/share" --tracker udp://127.0.0.1:1 --tracker udp://127.0.0.1:2 \
  -o "$work/multi.torrent" --quiet >/dev/null || fail "make-torrent with default piece size"
total=$((1234567 + 70000 + 6 + 0))
"$PY" - "$work/multi.torrent" "$total" <<'PYEOF' || fail "libtorrent disagrees"
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
total = int(sys.argv[2])
assert ti.name() == "share", ti.name()
assert ti.total_size() == total, ti.total_size()
assert ti.piece_length() == 16384, ti.piece_length()
assert ti.num_pieces() == (total + 16383) // 16384, ti.num_pieces()
assert ti.num_files() == 4, ti.num_files()
assert [t.url for t in ti.trackers()] == ["udp://127.0.0.1:1", "udp://127.0.0.1:2"], [t.url for t in ti.trackers()]
print("libtorrent: ok", ti.num_pieces(), "pieces")
PYEOF
show=$(transmission-show "$work/multi.torrent")
echo "$show" | grep -q "Name: share" || fail "transmission-show name: $show"
echo "$show" | grep -q "Piece Count: $(( (total + 16383) / 16384 ))" || fail "transmission-show piece count: $show"
echo "$show" | grep -q "sub/deeper/note.txt" || fail "transmission-show file list: $show"

# Deterministic: the same input twice gives byte-identical .torrent files.
"$P2PNODE" --make-torrent "$work/data/share" --tracker udp://127.0.0.1:1 --tracker udp://127.0.0.1:2 \
  -o "$work/again.torrent" --quiet >/dev/null
cmp -s "$work/multi.torrent" "$work/again.torrent" || fail "two runs differ"

# Errors: a missing path and an empty folder give a clear message and exit 1.
mkdir "$work/empty"
out=$("$P2PNODE" --make-torrent "$work/empty" --tracker udp://x:1 --quiet 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "folder has no files" || fail "empty folder: rc=$rc $out"
out=$("$P2PNODE" --make-torrent "$work/nope" --tracker udp://x:1 --quiet 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "No such file" || fail "missing path: rc=$rc $out"
PASSED=1
echo ok
