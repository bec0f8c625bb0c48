#!/usr/bin/env bash
# Every way a download ends tells the tracker `stopped` (a failed download, a metadata timeout and
# --into a file all left ghost leechers):
#   1. a metadata fetch that times out (an info hash nobody has, --exit-when-done --timeout 5): exit 1, and the
#      tracker counts no leecher of that hash afterwards;
#   2. --get NAME --into FILE (a regular file): refused at start with one line, exit 1, nothing announced;
#   3. a download whose disk fails (EIO from test/fault/eio_shim.c, no --exit-when-done so the peer keeps
#      running): the paused torrent leaves the tracker's swarm at once while the peer goes on.
# Exit 0 pass, 77 skip, other fail. Limit 150 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools cc
t_init p2p-exit-stopped
cc -shared -fPIC -O2 -o "$W/eio_shim.so" "$ROOT/test/fault/eio_shim.c" -ldl 2>"$W/cc.err" ||
    fail "cannot build test/fault/eio_shim.c"

local_tracker
leechers() { read -r _ _ l < <(scrape_counts "$1"); echo "${l:-0}"; }

# ---- 1. metadata timeout
H=0123456789abcdef0123456789abcdef01234567
RC=0
timeout 60 "$P2PNODE" --peer --get "$H" --into "$W/dl1" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 5 --no-console >"$W/t1.out" 2>"$W/t1.err" </dev/null || RC=$?
((RC == 1)) || fail "a metadata timeout exited $RC, want 1"
grep -q 'no peer sent the metadata' "$W/t1.err" || fail "no clear message for the metadata timeout"
l=$(leechers "$H")
((l == 0)) || fail "after a metadata timeout the tracker still counts $l leecher(s) of $H"
say "1. metadata timeout: exit 1, no leecher left"

# ---- 2. --into a regular file
mkdir -p "$W/share"
random_file "$W/share/x.bin" 300000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed x.bin
HX=$(sed -n 's/^sharing x\.bin \([0-9a-f]*\) .*/\1/p' "$W/seed.out")
wait_seeders "$HX" 1 30
echo "not a folder" >"$W/afile"
RC=0
timeout 60 "$P2PNODE" --peer --get "$HX" --into "$W/afile" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 20 --no-console >"$W/t2.out" 2>"$W/t2.err" </dev/null || RC=$?
((RC == 1)) || fail "--into a file exited $RC, want 1"
[[ $(wc -l <"$W/t2.err") == 1 ]] || fail "--into a file: not one line: $(cat "$W/t2.err")"
grep -q 'not a folder' "$W/t2.err" || fail "--into a file: unclear message: $(cat "$W/t2.err")"
[[ ! -s $W/t2.out ]] || fail "--into a file started anyway: $(cat "$W/t2.out")"
l=$(leechers "$HX")
((l == 0)) || fail "--into a file left $l leecher(s) on the tracker"
say "2. --into a file: $(cat "$W/t2.err")"

# ---- 3. a download that fails on the disk, the peer running on
mkdir -p "$W/dl3"
spawn leech env LD_PRELOAD="$(preload_list "$W/eio_shim.so")" EIO_DIR="$W/dl3/x.bin" EIO_AFTER=0 \
    "$P2PNODE" --peer --get "$HX" --into "$W/dl3" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_line "$W/leech.err" 'Input/output error' "$PID_leech" 60 >/dev/null || fail "the download did not fail with EIO"
for ((i = 0; i < 20; i++)); do
    l=$(leechers "$HX")
    ((l == 0)) && break
    sleep 0.5
done
((l == 0)) || fail "a download paused by a disk error is still a leecher on the tracker ($l)"
alive leech || fail "the peer exited after one failed download"
stop leech
say "3. disk failure: the paused download left the swarm, the peer ran on"
stop seed
PASSED=1
echo PASS
