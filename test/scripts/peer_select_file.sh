#!/usr/bin/env bash
# File selection (--select-file, the console's want/files). A seed shares a folder of four files whose sizes make
# pieces straddle every file boundary. A leecher fetches two of them (--select-file by index and by path,
# --exit-when-done): those are byte-identical, the other two do not exist, and nothing is written outside the
# download folder (the straddling pieces' bytes of unselected files are in .p2pnode/HASH.parts). Restarted with a
# console and no --select-file, the leecher keeps the selection (resume record): `files` shows it; `want` one more
# file and it completes too, the last one still absent.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
p2p_help_has --select-file || skip "$P2PNODE has no --select-file"
t_init p2p-select-file

local_tracker
random_file "$W/share/album/a.bin" 300001
random_file "$W/share/album/b.bin" 123457
random_file "$W/share/album/d.bin" 77777
random_file "$W/share/album/sub/c.bin" 200003
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed album
hash=$(make_torrent "$W/share/album" "$W/album.torrent")
(cd "$W/share" && find . -type f -exec sha1sum {} + >"$W/share.sum")

mkdir -p "$W/cwd" "$W/dl"
cd "$W/cwd" || fail "no work folder"
# Index 0 is a.bin (files are in path order); sub/c.bin by its path in the torrent.
timeout 60 "$P2PNODE" --peer --get "$W/album.torrent" --select-file 0 --select-file sub/c.bin --into "$W/dl" \
    --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done --timeout 50 --no-console \
    >"$W/leech1.out" 2>"$W/leech1.err" </dev/null || { cat "$W/leech1.out" "$W/leech1.err"; fail "download of the selection failed"; }
grep -q '^selected 2 of 4 files of album$' "$W/leech1.out" || fail "no 'selected 2 of 4 files' line"
grep -q "^complete album $hash" "$W/leech1.out" || fail "no 'complete album' line"
same_bytes a.bin "$W/share/album/a.bin" "$W/dl/album/a.bin"
same_bytes sub/c.bin "$W/share/album/sub/c.bin" "$W/dl/album/sub/c.bin"
[[ ! -e $W/dl/album/b.bin && ! -e $W/dl/album/d.bin ]] || fail "an unselected file was created"
[[ -s $W/dl/.p2pnode/$hash.parts ]] || fail "no side file for the straddling pieces"
[[ -z $(ls -A "$W/cwd") ]] || fail "something was written outside the download folder: $(ls -A "$W/cwd")"
got=$(cd "$W/dl" && find . -type f | sort | tr '\n' ' ')
want="./.p2pnode/$hash.parts ./.p2pnode/$hash.resume ./album/a.bin ./album/sub/c.bin "
[[ $got == "$want" ]] || fail "download folder holds: $got (expected: $want)"

# Restart with a console: the selection comes from the resume record.
mkfifo "$W/console"
exec 8<>"$W/console"
SPAWN_STDIN=$W/console start leech --peer --get "$W/album.torrent" --into "$W/dl" --tracker "$TURL" \
    --bind 127.0.0.1 --port 0
ask() { console_ask leech "$@"; }
wait_line "$W/leech.out" "^complete album $hash" "$PID_leech" 30 >/dev/null || fail "restarted leecher not complete"
ask "files album" '^4 files$'
table=$(tail -n 6 "$W/leech.out")
echo "$table"
idx_of() { awk -v p="$1" '$NF == p { print $1 }' <<<"$table"; }
want_of() { awk -v p="$1" '$NF == p { print $5 }' <<<"$table"; }
[[ $(want_of a.bin) == yes && $(want_of sub/c.bin) == yes ]] || fail "selected files not shown as wanted"
[[ $(want_of b.bin) == no && $(want_of d.bin) == no ]] || fail "the selection did not survive the restart"
b=$(idx_of b.bin)
[[ -n $b ]] || fail "b.bin not in the files table"
ask "want album $b" '^wanted 1 file\(s\) of album; 3 of 4 wanted$'
wait_lines leech "^complete album $hash" 2 30
same_bytes b.bin "$W/share/album/b.bin" "$W/dl/album/b.bin"
same_bytes a.bin "$W/share/album/a.bin" "$W/dl/album/a.bin"
same_bytes sub/c.bin "$W/share/album/sub/c.bin" "$W/dl/album/sub/c.bin"
[[ ! -e $W/dl/album/d.bin ]] || fail "d.bin was created though still unselected"
ask "files album" '^4 files$'
tail -n 6 "$W/leech.out" | grep -qE '^ +[0-9]+ +123457 +123457 +100\.0% +yes +b\.bin$' || fail "files does not show b.bin done"
ask "skip album 99" '^skip: .*no file 99'
echo quit >&8
timeout 20 tail --pid="$PID_leech" -f /dev/null || fail "quit did not stop the leecher"
[[ -z $(ls -A "$W/cwd") ]] || fail "something was written outside the download folder: $(ls -A "$W/cwd")"
(cd "$W/share" && sha1sum -c --quiet "$W/share.sum") || fail "the seed's share folder changed"
PASSED=1
echo PASS
