#!/usr/bin/env bash
# --make-torrent never replaces an existing file without --force (the file stays byte for byte), and
# refuses an existing or unwritable output before hashing anything: a missing output folder or an existing
# output next to a 16 GiB sparse file ends at once (hashing it would take a minute or more). --force replaces
# the file; --quiet prints no progress on stderr but keeps the summary on stdout.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode
t_init p2p-mk-output
T=udp://127.0.0.1:6969

head -c 100000 /dev/urandom >"$W/data.bin"
truncate -s 16G "$W/huge.bin" || skip "no sparse files in $W"
printf 'a user\047s notes\nline two\n' >"$W/notes.txt"
cp "$W/notes.txt" "$W/notes.orig"

# run RC CMD...: p2pnode in $W (limit 10 s), exit status RC; sets ERR (stderr) and OUT (stdout), and TOOK (ms).
run() {
    local want=$1 rc=0 t0
    shift
    t0=$(date +%s%N)
    (cd "$W" && timeout 10 "$P2PNODE" "$@") >"$W/cmd.out" 2>"$W/cmd.err" </dev/null || rc=$?
    TOOK=$((($(date +%s%N) - t0) / 1000000))
    OUT=$(cat "$W/cmd.out")
    ERR=$(cat "$W/cmd.err")
    [[ $rc == "$want" ]] || fail "'$*' exited $rc, want $want (stderr: $ERR)"
}
one_line() { [[ $(wc -l <"$W/cmd.err") == 1 ]] || fail "want one stderr line, got: $ERR"; }

# An existing -o FILE: refused, one line, exit 1, the file unchanged.
run 1 --make-torrent data.bin --tracker $T -o notes.txt
one_line
[[ $ERR == "p2pnode: notes.txt exists (use --force to replace it)" ]] || fail "existing -o: '$ERR'"
cmp "$W/notes.txt" "$W/notes.orig" || fail "notes.txt was changed"
[[ ! -e $W/notes.txt.part ]] || fail "a temporary file was left behind"
say "ok: existing -o refused, file unchanged"

# The default output NAME.torrent likewise.
cp "$W/notes.orig" "$W/data.bin.torrent"
run 1 --make-torrent data.bin --tracker $T
one_line
[[ $ERR == "p2pnode: data.bin.torrent exists (use --force to replace it)" ]] || fail "existing NAME.torrent: '$ERR'"
cmp "$W/data.bin.torrent" "$W/notes.orig" || fail "data.bin.torrent was changed"
say "ok: existing default output refused"

# Before hashing: next to a 16 GiB file, an existing output and a missing folder are refused at once.
cp "$W/notes.orig" "$W/huge.bin.torrent"
run 1 --make-torrent huge.bin --tracker $T
one_line
((TOOK < 3000)) || fail "refusing an existing output took ${TOOK} ms: it hashed first"
cmp "$W/huge.bin.torrent" "$W/notes.orig" || fail "huge.bin.torrent was changed"
run 1 --make-torrent huge.bin --tracker $T -o "$W/missing/dir/out.torrent"
one_line
((TOOK < 3000)) || fail "refusing a missing output folder took ${TOOK} ms: it hashed first"
[[ $ERR == "p2pnode: cannot write $W/missing/dir/out.torrent: folder $W/missing/dir: No such file or directory" ]] ||
    fail "missing folder: '$ERR'"
[[ ! -e $W/missing ]] || fail "the missing folder was created"
say "ok: refused before hashing (${TOOK} ms), reason: $ERR"

# --force replaces the file with the torrent; the summary stays with --quiet, and no progress is printed.
run 0 --make-torrent data.bin --tracker $T -o notes.txt --force --quiet
[[ -z $ERR ]] || fail "--quiet printed on stderr: $ERR"
grep -q '^info hash: [0-9a-f]\{40\}$' "$W/cmd.out" || fail "no summary with --quiet: $OUT"
grep -q '^torrent:   notes.txt$' "$W/cmd.out" || fail "summary does not name notes.txt: $OUT"
head -c 11 "$W/notes.txt" | grep -q '^d8:announce' || fail "--force did not write the torrent"
[[ ! -e $W/notes.txt.part ]] || fail "a temporary file was left behind"
# The same run without --quiet shows progress on stderr (so the check above can fail).
run 0 --make-torrent data.bin --tracker $T -o fresh.torrent
grep -q 'hashing' "$W/cmd.err" || fail "no progress without --quiet: $ERR"
cmp "$W/fresh.torrent" "$W/notes.txt" || fail "the forced and the fresh torrent differ"
say "ok: --force replaced it; --quiet kept the summary only"
PASSED=1
echo PASS
