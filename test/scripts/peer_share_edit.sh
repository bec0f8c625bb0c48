#!/usr/bin/env bash
# A shared file edited in place is never served under its old hash.
#   1. notes.txt is shared and downloaded by name. It is then rewritten while seeding: the seed must say it
#      stopped sharing the old torrent ("changed on disk"), share the new content under the same name, the
#      tracker's catalog name must move to the new info hash, the old hash's swarm must lose its seeder, and a
#      new `--get notes.txt` must get the new bytes.
#   2. A file inside a shared folder (inotify on the share folder does not see it) edited right before a
#      downloader of the OLD torrent arrives: the seed must refuse to serve the changed bytes at once (the check
#      before serving), so the downloader never fails a hash check and never gets a byte of the new content;
#      then the folder is shared anew.
# Exit 0 pass, 77 skip, other fail. Limit 180 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
t_need_p2pnode peer
t_init p2p-share-edit

local_tracker
mkdir -p "$W/share/album" "$W/dl1" "$W/dl2" "$W/dl3"
random_file "$W/share/notes.txt" 200000
random_file "$W/share/album/a.bin" $((2 * 1024 * 1024))
random_file "$W/share/album/b.bin" 5000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed notes.txt
wait_sharing seed album
old=$(sed -n 's/^sharing notes\.txt \([0-9a-f]*\) .*/\1/p' "$W/seed.out")
old_album=$(sed -n 's/^sharing album \([0-9a-f]*\) .*/\1/p' "$W/seed.out")
cp "$W/share/.p2pnode/album.torrent" "$W/album-old.torrent"
cp -r "$W/share/album" "$W/album-old"

# catalog_hash NAME: the info hash the catalog names for NAME now ("" if none)
catalog_hash() { timeout 10 "$P2PNODE" --list --tracker "$TURL" --timeout 5 2>/dev/null | awk -v n="$1" '$1 == n {print $NF}'; }
for ((i = 0; i < 40; i++)); do [[ $(catalog_hash notes.txt) == "$old" ]] && break; sleep 0.25; done
[[ $(catalog_hash notes.txt) == "$old" ]] || fail "notes.txt was not published"

get() { # get WHAT INTO NAME [ARGS]: RC
    local what=$1 into=$2 name=$3
    shift 3
    RC=0
    timeout 100 "$P2PNODE" --peer --get "$what" --into "$into" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
        --exit-when-done --no-console "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || RC=$?
}
get notes.txt "$W/dl1" get1 --timeout 60
((RC == 0)) || fail "first download exited $RC"
same_bytes "notes.txt (before the edit)" "$W/share/notes.txt" "$W/dl1/notes.txt"

# ---- 1. rewrite notes.txt in place (same size, other bytes)
head -c 200000 /dev/urandom >"$W/new-notes.txt"
cat "$W/new-notes.txt" >"$W/share/notes.txt"
wait_line "$W/seed.out" "^stopped sharing notes\.txt $old \(changed on disk\)" "$PID_seed" 20 >/dev/null ||
    fail "the seed did not stop sharing the old notes.txt"
wait_lines seed '^sharing notes\.txt ' 2 30
new=$(sed -n 's/^sharing notes\.txt \([0-9a-f]*\) .*/\1/p' "$W/seed.out" | tail -n1)
[[ -n $new && $new != "$old" ]] || fail "notes.txt was not shared anew (got '$new')"
say "1. edited: $old -> $new"
for ((i = 0; i < 40; i++)); do [[ $(catalog_hash notes.txt) == "$new" ]] && break; sleep 0.25; done
[[ $(catalog_hash notes.txt) == "$new" ]] || fail "the catalog still names $(catalog_hash notes.txt) for notes.txt"
for ((i = 0; i < 20; i++)); do
    read -r s _ < <(scrape_counts "$old")
    ((s == 0)) && break
    sleep 0.5
done
((s == 0)) || fail "the old notes.txt still has $s seeders on the tracker"
get notes.txt "$W/dl2" get2 --timeout 60
((RC == 0)) || fail "download after the edit exited $RC"
same_bytes "notes.txt (after the edit)" "$W/new-notes.txt" "$W/dl2/notes.txt"

# ---- 2. an edit inside a shared folder, then at once a downloader of the old torrent
printf 'EDITED' | dd of="$W/share/album/a.bin" bs=1 seek=1000000 conv=notrunc status=none
get "$W/album-old.torrent" "$W/dl3" get3 --timeout 12
((RC != 0)) || fail "the old album downloaded completely from a seed whose file changed"
grep -q 'failed its hash check' "$W/get3.err" && fail "the seed served changed bytes under the old hash"
grep -q 'banning' "$W/get3.err" && fail "the downloader banned the seed: it was served bad data"
wait_line "$W/seed.out" "^stopped sharing album $old_album \(changed on disk\)" "$PID_seed" 20 >/dev/null ||
    fail "the seed did not stop sharing the changed album"
# What did arrive is the old content only (pieces verified before any write): compare every byte written.
if [[ -f $W/dl3/album/a.bin ]]; then
    "$PY" - "$W/dl3/album/a.bin" "$W/album-old/a.bin" <<'PYEOF' || fail "the downloader holds bytes that are not the old album's"
import sys
got = open(sys.argv[1], "rb").read(); old = open(sys.argv[2], "rb").read()
bad = [i for i in range(0, len(got), 16384) if any(got[i:i+16384]) and got[i:i+16384] != old[i:i+16384]]
sys.exit(1 if bad else 0)
PYEOF
fi
wait_lines seed '^sharing album ' 2 40
say "2. a folder edited under a downloader: refused at once, shared anew"
alive seed || fail "the seed died"
stop seed
PASSED=1
echo PASS
