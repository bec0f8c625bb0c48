#!/usr/bin/env bash
# Sharing more files than the open file limit allows descriptors (a NAS with a default `ulimit -n`):
#   the seed runs with a hard limit of 160 descriptors and shares a folder of 400 small files (400 torrents, each
#   with a resume file). Every one must be shared ("sharing" x 400), with no "Too many open files" anywhere, the
#   warning naming the limit and the connections left, and at most the plan's 12 descriptors on shared files at
#   any sample (files get a quarter of 160 - 48 - 64). A leecher under the same limit then fetches three of
#   them by name, byte-identical. Before the session-wide descriptor bound, ~190 of 400 were shared and the rest
#   failed with EMFILE (storage opens and resume saves).
# Exit 0 pass, 77 skip ($P2PNODE not built), other fail. Limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
t_need_tools cmp
t_init p2p-fdlimit 40 stamp

N=400
LIMIT=160
mkdir -p "$W/share" "$W/dl"
for ((i = 0; i < N; i++)); do head -c $((2000 + i * 7)) /dev/urandom >"$W/share/f$i.bin"; done
local_tracker

# The seed and the leecher get a hard limit of $LIMIT (p2pnode raises its soft limit only up to the hard one).
# `exec` twice, so PID_seed is p2pnode itself.
limited() { exec bash -c "ulimit -n $LIMIT && exec \"\$@\"" limited "$@"; }
spawn seed limited "$P2PNODE" --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
for ((t = 0; t < 50; t++)); do
    [[ $(readlink /proc/"$PID_seed"/exe 2>/dev/null) == "$P2PNODE" ]] && break
    sleep 0.1
done
grep -E "^Max open files +$LIMIT +$LIMIT " /proc/"$PID_seed"/limits >/dev/null || fail "the seed does not run under the limit"

# While it hashes and announces: sample how many of its descriptors point at shared files.
peak=0
for ((t = 0; t < 1200; t++)); do
    # find fails when a descriptor closes while it reads the folder (pipefail + set -e): the count still stands.
    n=$(find /proc/"$PID_seed"/fd -lname "$W/share/*" 2>/dev/null | wc -l || true)
    ((n > peak)) && peak=$n
    (($(grep -c '^sharing ' "$W/seed.out" || true) >= N)) && break
    alive seed || fail "the seed exited"
    sleep 0.1
done
shared=$(grep -c '^sharing ' "$W/seed.out" || true)
say "seed shares $shared of $N files; at most $peak descriptors on shared files at once"
((shared == N)) || fail "only $shared of $N files shared under a limit of $LIMIT descriptors"
if grep -i 'too many open files' "$W/seed.err"; then fail "the seed ran out of descriptors"; fi
grep -q "open file limit $LIMIT: at most .* connections" "$W/seed.err" || fail "no warning naming the open file limit"
((peak <= 12)) || fail "$peak descriptors on shared files, above the plan's 12"

# Every name in the catalog before fetching by name.
for ((t = 0; t < 120; t++)); do
    "$P2PNODE" --list --tracker "$TURL" --timeout 5 >"$W/list.out" 2>/dev/null || true
    (($(grep -c 'f[0-9]*\.bin' "$W/list.out" || true) >= N)) && break
    sleep 0.5
done
(($(grep -c 'f[0-9]*\.bin' "$W/list.out" || true) >= N)) || fail "the catalog does not list all $N names"

RC=0
timeout 100 bash -c "ulimit -n $LIMIT && exec \"\$@\"" limited "$P2PNODE" --peer --get f0.bin --get f199.bin \
    --get f399.bin --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done --timeout 90 \
    --no-console >"$W/leech.out" 2>"$W/leech.err" </dev/null || RC=$?
((RC == 0)) || fail "the leecher exited with $RC"
for f in f0.bin f199.bin f399.bin; do same_bytes "$f" "$W/share/$f" "$W/dl/$f"; done
if grep -i 'too many open files' "$W/seed.err" "$W/leech.err"; then fail "ran out of descriptors while serving"; fi

PASSED=1
echo "PASS"
