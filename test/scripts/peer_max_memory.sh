#!/usr/bin/env bash
# End to end: --max-memory bounds what grows with load.
#  1. A seed and a leecher, both --max-memory 8M, on 127.0.0.1: the leecher downloads a 64 MiB file
#     byte-identical. Their VmHWM (peak resident set, /proc/PID/status) must stay under
#         idle footprint + budget + 4 MiB
#     where the idle footprint is the VmHWM of a p2pnode --peer with nothing to do (code, libraries, libuv's
#     threadpool: what the budget does not cover, ~3 MB) and the 4 MiB slack covers malloc fragmentation and the
#     work a full pool still lets through (blocks in flight, one piece per torrent, a piece being hashed).
#     Without a budget a seed serving two leechers at once peaks near 70 MB (its 64 MiB read cache fills: a
#     leecher tells a seed of no piece it got, so each piece stays cached for the other), so a control run without
#     the flag (a seed and two leechers) must exceed the bound on the seed: the check can fail. (One leecher alone
#     no longer makes either side grow: a seed drops a piece from its cache once it sent all of it to its only
#     peer, and a leecher fed by seeds alone keeps no written piece nobody can ask for.)
#  2. A tracker with --max-memory 4M (caps derived: 12417 swarms, 78643 peers) gets 20000 distinct hashes
#     announced: `stats` shows swarms <= the cap and capped > 0, and the last hash is still answered.
# Exit 0 pass, 77 skip, other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-max-memory

BUDGET_KB=$((8 * 1024))
SLACK_KB=$((4 * 1024))
CHECK_RSS=1
# Under AddressSanitizer resident memory is shadow memory and quarantine, not ours: only the rest is checked.
if ldd "$P2PNODE" 2>/dev/null | grep -q libasan; then CHECK_RSS=0; fi
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$(pid_of "$1")/status" 2>/dev/null || echo 0; }

# ---- the idle footprint
mkdir -p "$W/empty" "$W/seed" "$W/dl" "$W/dl2"
start idle --peer --share "$W/empty" --bind 127.0.0.1 --port 0 --max-memory 8M --no-console
wait_lines idle '^peer listening on ' 1 20
sleep 1
BASE_KB=$(hwm_kb idle)
stop idle
((BASE_KB > 0)) || fail "could not read the idle VmHWM"
BOUND_KB=$((BASE_KB + BUDGET_KB + SLACK_KB))
say "idle footprint ${BASE_KB} kB; bound for seed and leecher ${BOUND_KB} kB"

# ---- seed and leecher with --max-memory 8M
head -c $((64 * 1024 * 1024)) /dev/urandom >"$W/seed/big.bin"
local_tracker
start seed --peer --share "$W/seed" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-memory 8M --no-console
wait_lines seed '^sharing big.bin ' 1 90
grep -q 'memory budget 8 MiB: read cache 2 MiB, write 2 MiB, send 1 MiB' "$W/seed.err" ||
    fail "the seed did not log its derived limits"
HEX=$(make_torrent "$W/seed/big.bin" "$W/big.torrent")
wait_seeders "$HEX" 1 30

SECONDS=0
start leech --peer --get "$W/big.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --max-memory 8M --no-console
wait_lines leech "^complete big.bin $HEX" 1 150
say "leecher complete in ${SECONDS}s"
LEECH_KB=$(hwm_kb leech)
SEED_KB=$(hwm_kb seed)
stop leech
cmp "$W/seed/big.bin" "$W/dl/big.bin" || fail "the download differs"
say "VmHWM with --max-memory 8M: seed ${SEED_KB} kB, leecher ${LEECH_KB} kB (bound ${BOUND_KB} kB)"
if ((CHECK_RSS)); then
    ((LEECH_KB > 0 && LEECH_KB < BOUND_KB)) || fail "leecher VmHWM ${LEECH_KB} kB is over ${BOUND_KB} kB"
    ((SEED_KB > 0 && SEED_KB < BOUND_KB)) || fail "seed VmHWM ${SEED_KB} kB is over ${BOUND_KB} kB"
fi

# ---- control: without a budget, a seed serving two leechers goes over the bound (its read cache fills)
stop seed
start seed2 --peer --share "$W/seed" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_lines seed2 '^sharing big.bin ' 1 90
wait_seeders "$HEX" 1 30
mkdir -p "$W/dl3"
start leech2 --peer --get "$W/big.torrent" --into "$W/dl2" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --no-console
start leech3 --peer --get "$W/big.torrent" --into "$W/dl3" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --no-console
wait_lines leech2 "^complete big.bin $HEX" 1 150
wait_lines leech3 "^complete big.bin $HEX" 1 150
FREE_KB=$(hwm_kb seed2)
FREE_LEECH_KB=$(hwm_kb leech2)
stop leech2
stop leech3
stop seed2
cmp "$W/seed/big.bin" "$W/dl2/big.bin" || fail "the control download differs"
cmp "$W/seed/big.bin" "$W/dl3/big.bin" || fail "the second control download differs"
say "control without --max-memory, two leechers: VmHWM seed ${FREE_KB} kB, a leecher ${FREE_LEECH_KB} kB"
if ((CHECK_RSS)); then
    ((FREE_KB > BOUND_KB)) || fail "without a budget the seed stayed under the bound too (${FREE_KB} kB): the check proves nothing"
fi
stop tracker

# ---- the tracker under --max-memory 4M
CAP=12417 # 4 MiB * 45% / 152 bytes per swarm (memory_budget.hpp)
COUNT=20000
tracker_console
tracker_start tracker2 --bind 127.0.0.1 --port 0 --max-memory 4M || fail "p2pnode --tracker --max-memory 4M did not start"
grep -q "memory budget 4 MiB: peers 78643, swarms $CAP," "$W/tracker2.err" || fail "the tracker did not log its derived caps"
spawn flood timeout 110 "$PY" "$LIB/announce_many.py" "$THOST" "$TPORT" "$COUNT"
await flood
((RC_flood == 0)) || fail "announce_many.py exited $RC_flood: $(cat "$W/flood.out" "$W/flood.err")"
alive tracker2 || fail "the tracker died during the flood"
TR_KB=$(hwm_kb tracker2)
echo stats >&9
wait_line "$W/tracker2.out" '^catalog_size' "$(pid_of tracker2)" 10 >/dev/null || fail "no answer to 'stats'"
swarms=$(sed -n 's/^swarms[[:space:]]*\([0-9]*\)$/\1/p' "$W/tracker2.out" | tail -n1)
capped=$(sed -n 's/^capped[[:space:]]*\([0-9]*\)$/\1/p' "$W/tracker2.out" | tail -n1)
say "tracker: $(cat "$W/flood.out"); swarms=${swarms:-?} (cap $CAP) capped=${capped:-?} VmHWM ${TR_KB} kB"
[[ -n $swarms && -n $capped ]] || fail "could not read swarms/capped from the stats answer"
((swarms <= CAP)) || fail "$swarms swarms stored, cap $CAP"
((capped > 0)) || fail "capped=0 although $COUNT hashes met a cap of $CAP"
LATE=$(printf 'many-%d' $((COUNT - 1)) | sha1sum | cut -c1-40)
read -r se _ le < <(bep15 scrape "$LATE" | parse_scrape)
((se + le == 1)) || fail "the last hash announced is not answered (seeders=$se leechers=$le)"
stop tracker2 10
PASSED=1
echo PASS
