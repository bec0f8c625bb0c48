#!/usr/bin/env bash
# Files a user owns, end to end on loopback:
#   1. The reported case: clob/readme.txt holds 68 bytes of the user's own text; `--get readme.txt --into clob`
#      of a 13-byte torrent must leave it byte for byte, download into readme.1.txt, say so, and exit 0.
#   2. --overwrite: the same, but the download replaces readme.txt, which ends with exactly the torrent's bytes
#      (run with --quiet: nothing but the summary line is printed).
#   3. A partial copy of the same content is resumed from: pieces that verify are kept (the download moves fewer
#      bytes than the file), the finished file is exact.
#   4. Read-only seeding: as the unprivileged user nobody, a mode-444 file in a read-only folder is shared, and a
#      downloader gets it byte for byte (the seed never asks for write access).
# Exit 0 pass, 77 skip, other fail. Limit 180 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
t_need_p2pnode peer
t_need_tools setpriv cmp
t_init p2p-user-files

local_tracker
mkdir -p "$W/share" "$W/clob" "$W/clob2" "$W/clob3"
printf 'hello world\n!' >"$W/share/readme.txt" # 13 bytes
random_file "$W/share/big.bin" $((3 * 1024 * 1024 + 77))
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed readme.txt
wait_sharing seed big.bin
for ((i = 0; i < 40; i++)); do # names are published after the seed's first announce
    n=$(timeout 10 "$P2PNODE" --list --tracker "$TURL" --timeout 5 2>/dev/null | grep -cE '^(readme\.txt|big\.bin) ')
    ((n == 2)) && break
    sleep 0.25
done

# get NAME INTO [ARGS...]: download by name; RC, $W/get-NAME.out/.err
get() {
    local name=$1 into=$2
    shift 2
    RC=0
    timeout 100 "$P2PNODE" --peer --get "$name" --into "$into" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
        --exit-when-done --timeout 90 --no-console "$@" >"$W/get-$name.out" 2>"$W/get-$name.err" </dev/null || RC=$?
}

# ---- 1. a different file of the same name
printf 'These are my own notes about our trip. Do not lose them, p2pnode!!!\n' >"$W/clob/readme.txt"
[[ $(stat -c %s "$W/clob/readme.txt") == 68 ]] || fail "test setup: the user's file is not 68 bytes"
cp -p "$W/clob/readme.txt" "$W/mine.txt"
get readme.txt "$W/clob"
((RC == 0)) || fail "--get readme.txt into a folder holding another readme.txt exited $RC"
cmp "$W/mine.txt" "$W/clob/readme.txt" || fail "the user's readme.txt was changed"
same_bytes readme.1.txt "$W/share/readme.txt" "$W/clob/readme.1.txt"
grep -q '^saving readme.txt as readme.1.txt' "$W/get-readme.txt.out" || fail "the output does not say where it went"
grep -q '^complete readme.txt [0-9a-f]* as readme.1.txt' "$W/get-readme.txt.out" || fail "no 'complete ... as readme.1.txt'"
say "1. $(grep -m1 '^saving' "$W/get-readme.txt.out")"

# ---- 2. --overwrite
cp "$W/mine.txt" "$W/clob2/readme.txt"
get readme.txt "$W/clob2" --overwrite --quiet
((RC == 0)) || fail "--overwrite exited $RC"
# --quiet: errors and the final summary only (it printed eight result lines and [info] lines before).
grep -qv '^summary ' "$W/get-readme.txt.out" && fail "--quiet printed more than summary lines: $(cat "$W/get-readme.txt.out")"
grep -q '^summary readme.txt ' "$W/get-readme.txt.out" || fail "--quiet: no summary line"
[[ ! -s $W/get-readme.txt.err ]] || fail "--quiet printed on stderr: $(cat "$W/get-readme.txt.err")"
same_bytes "readme.txt (--overwrite)" "$W/share/readme.txt" "$W/clob2/readme.txt"
[[ ! -e $W/clob2/readme.1.txt ]] || fail "--overwrite went to a free name anyway"
say "2. --overwrite: readme.txt replaced, exactly 13 bytes"

# ---- 3. a partial copy of the same content
head -c $((1024 * 1024 + 5000)) "$W/share/big.bin" >"$W/clob3/big.bin"
get big.bin "$W/clob3"
((RC == 0)) || fail "--get big.bin over a partial copy exited $RC"
same_bytes "big.bin (resumed from a partial copy)" "$W/share/big.bin" "$W/clob3/big.bin"
[[ ! -e $W/clob3/big.1.bin ]] || fail "a partial copy of the same content was treated as another file"
got=$(downloaded "get-big.bin")
((got > 0 && got < 3 * 1024 * 1024)) || fail "downloaded $got bytes: the verified part was not kept"
say "3. partial copy kept: downloaded $got of $((3 * 1024 * 1024 + 77)) bytes"

# ---- 4. read-only seeding as nobody
chmod 755 "$W"
mkdir -p "$W/ro/share" "$W/dl4"
random_file "$W/ro/share/locked.bin" $((700 * 1024))
chmod 444 "$W/ro/share/locked.bin"
chmod 555 "$W/ro/share" "$W/ro"
spawn roseed setpriv --reuid=nobody --regid=nogroup --clear-groups "$P2PNODE" --peer --share "$W/ro/share" \
    --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing roseed locked.bin
grep -qi 'permission denied' "$W/roseed.err" && fail "the read-only seed hit 'Permission denied'"
h=$(sed -n 's/^sharing locked\.bin \([0-9a-f]*\) .*/\1/p' "$W/roseed.out")
wait_seeders "$h" 1 30
get "$h" "$W/dl4"
((RC == 0)) || fail "downloading from the read-only seed exited $RC"
same_bytes "locked.bin (seeded read-only by nobody)" "$W/ro/share/locked.bin" "$W/dl4/locked.bin"
alive roseed || fail "the read-only seed died"
stop roseed
chmod 755 "$W/ro" "$W/ro/share"
stop seed
PASSED=1
echo PASS
