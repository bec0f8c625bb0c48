#!/usr/bin/env bash
# End to end: one leecher downloads from two seeds at once. The seeds share two separate copies of the
# same folder (so the same info hash), each limited to 4 MB/s upload so the ~24 MiB download takes a few seconds
# and both are used. After the leecher completes (byte-identical), both seeds get SIGTERM and both of their
# "summary" lines must show uploaded > 0.
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-twoseeds

# ---- the same folder twice
mkdir -p "$W/a/pack/sub"
head -c $((24 * 1024 * 1024 + 777)) /dev/urandom >"$W/a/pack/data.bin"
head -c 100000 /dev/urandom >"$W/a/pack/sub/extra.bin"
cp -r "$W/a" "$W/b"

local_tracker
start_seeds pack 4M seedA="$W/a" seedB="$W/b"
HEX=$(make_torrent "$W/a/pack" "$W/pack.torrent")
grep -q "^sharing pack $HEX " "$W/seedA.out" || fail "seed A does not share pack as $HEX"
grep -q "^sharing pack $HEX " "$W/seedB.out" || fail "seed B does not share pack as $HEX"
wait_seeders "$HEX" 2 30   # so the leecher's first announce returns both seeds
echo "two seeds of $HEX announced; starting the leecher"

SECONDS=0
start leech --peer --get "$W/pack.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 150
await leech
((RC_leech == 0)) || fail "the leecher exited $RC_leech"
echo "leecher done in ${SECONDS}s"
grep -q "^complete pack $HEX" "$W/leech.out" || fail "no 'complete pack' line"
for f in data.bin sub/extra.bin; do
    cmp "$W/a/pack/$f" "$W/dl/pack/$f" || fail "$f differs"
done

stop seedA
stop seedB
((RC_seedA == 0 && RC_seedB == 0)) || fail "seeds exited $RC_seedA/$RC_seedB on SIGTERM (want 0)"
UA=$(uploaded seedA)
UB=$(uploaded seedB)
echo "seed A uploaded=${UA:-?} seed B uploaded=${UB:-?}"
[[ -n $UA && -n $UB ]] || fail "a seed printed no summary line"
((UA > 0)) || fail "seed A uploaded nothing"
((UB > 0)) || fail "seed B uploaded nothing"
PASSED=1
echo "PASS"
