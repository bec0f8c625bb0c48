#!/usr/bin/env bash
# A file name that is not valid UTF-8 must not kill the peer (`share/album/caf\xe9.txt` made the share
# cache's JSON dump throw and the peer abort with exit 134). Such names are shared under a UTF-8-safe name (each
# bad byte becomes '_', as libtorrent does) and still read from their real path: a top-level file
# "caf\xe9.txt" is shared as "caf_.txt", a folder holding "men\xfa.txt" as that folder with "men_.txt".
# A downloader gets both by name, byte for byte; the seed stays up, restarts from its share cache.
# Exit 0 pass, 77 skip, other fail. Limit 120 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode peer
t_init p2p-utf8

local_tracker
mkdir -p "$W/share/album" "$W/dl"
random_file "$W/share/caf"$'\xe9'".txt" 70000
random_file "$W/share/album/men"$'\xfa'".txt" 90000
random_file "$W/share/album/ok.txt" 1000

for run in 1 2; do # the second run seeds from the share cache written by the first
    start "seed$run" --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
    wait_sharing "seed$run" 'caf_\.txt'
    wait_sharing "seed$run" album
    alive "seed$run" || fail "the seed died (run $run)"
    grep -q 'terminate called' "$W/seed$run.err" && fail "the seed threw (run $run)"
    ((run == 1)) && stop seed1
done
for ((i = 0; i < 40; i++)); do
    n=$(timeout 10 "$P2PNODE" --list --tracker "$TURL" --timeout 5 2>/dev/null | grep -cE '^(caf_\.txt|album) ')
    ((n == 2)) && break
    sleep 0.25
done
((n == 2)) || fail "the catalog does not list caf_.txt and album"
timeout 100 "$P2PNODE" --peer --get caf_.txt --get album --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 90 --no-console >"$W/get.out" 2>"$W/get.err" </dev/null || fail "download exited $?"
same_bytes "caf_.txt" "$W/share/caf"$'\xe9'".txt" "$W/dl/caf_.txt"
same_bytes "album/men_.txt" "$W/share/album/men"$'\xfa'".txt" "$W/dl/album/men_.txt"
same_bytes "album/ok.txt" "$W/share/album/ok.txt" "$W/dl/album/ok.txt"
stop seed2
((RC_seed2 == 0)) || fail "the seed exited $RC_seed2"
PASSED=1
echo PASS
