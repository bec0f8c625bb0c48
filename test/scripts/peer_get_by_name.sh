#!/usr/bin/env bash
# Downloads without a .torrent between p2pnode peers, the metadata coming from the seed over BEP 9:
#   1. `p2pnode --peer --share DIR --tracker URL` publishes byname.bin in the tracker's catalog;
#      `p2pnode --peer --get byname.bin --tracker URL --exit-when-done --timeout 60` looks the name up,
#      fetches the metadata and the data: byte-identical.
#   2. `--get <40 hex info hash>` (the same content, a fresh folder) also works.
#   3. `--get no-such-name` exits non-zero saying the name is not in the catalog; `--get NAME` without
#      --tracker fails at once saying no tracker was given; a name on an unreachable tracker fails clearly; a
#      hash no peer has fails at --timeout saying no peer sent the metadata.
# Exit 0 pass, 77 skip ($P2PNODE not built), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
t_need_tools cmp
t_init p2p-byname 60 stamp

random_file "$W/share/byname.bin" $((1536 * 1024 + 7))
mkdir -p "$W/dl-name" "$W/dl-hash" "$W/dl-none"
local_tracker
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
LINE=$(wait_line "$W/seed.out" '^sharing byname.bin [0-9a-f]{40}' "$PID_seed" 60) || fail "seed is not sharing"
HEX=${LINE##* }
# The name is published after the seed's first announce: wait until the catalog knows it.
for ((t = 0; t < 60; t++)); do
    scrape_p2p byname.bin && grep -q "$HEX" "$W/scrape.out" && break
    sleep 0.5
done
grep -q "$HEX" "$W/scrape.out" || fail "byname.bin never appeared in the catalog"
say "seed shares byname.bin $HEX, in the catalog of $TURL"

# get NAME WHAT DIR [ARGS...]: p2pnode --get WHAT; status in RC, output in NAME.out / NAME.err.
get() {
    local name=$1 what=$2 dir=$3
    shift 3
    RC=0
    local t=(--timeout 60) # unless the call gives its own (a flag given twice is a usage error)
    [[ " $* " == *" --timeout "* ]] && t=()
    timeout 80 "$P2PNODE" --peer --get "$what" --into "$dir" --bind 127.0.0.1 --port 0 --exit-when-done \
        "${t[@]}" --no-console "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || RC=$?
}

# ---- 1. by name ----
get by_name byname.bin "$W/dl-name" --tracker "$TURL"
((RC == 0)) || fail "--get byname.bin exited with $RC"
grep -q "^fetching metadata $HEX" "$W/by_name.out" || fail "--get byname.bin did not fetch metadata $HEX"
grep -q "^complete byname.bin $HEX" "$W/by_name.out" || fail "--get byname.bin printed no complete line"
same_bytes "by name" "$W/share/byname.bin" "$W/dl-name/byname.bin"

# ---- 2. by info hash ----
get by_hash "$HEX" "$W/dl-hash" --tracker "$TURL"
((RC == 0)) || fail "--get $HEX exited with $RC"
same_bytes "by info hash" "$W/share/byname.bin" "$W/dl-hash/byname.bin"

# ---- 3. failures ----
get no_such no-such-name "$W/dl-none" --tracker "$TURL"
((RC != 0 && RC != 124)) || fail "--get no-such-name exited with $RC (wanted a prompt failure)"
grep -q "no-such-name: not in the catalog of $TURL" "$W/no_such.err" || fail "--get no-such-name: unclear message"
say "no-such-name: $(head -n1 "$W/no_such.err")"

get no_tracker byname.bin "$W/dl-none"
((RC != 0 && RC != 124)) || fail "--get NAME without --tracker exited with $RC"
grep -q "no tracker given to look up byname.bin" "$W/no_tracker.err" || fail "--get NAME without --tracker: unclear message"

DEAD=udp://127.0.0.1:$(free_port udp)
get dead_tracker byname.bin "$W/dl-none" --tracker "$DEAD" --timeout 8
((RC != 0 && RC != 124)) || fail "--get NAME on an unreachable tracker exited with $RC"
grep -q "unreachable" "$W/dead_tracker.err" || fail "--get NAME on an unreachable tracker: unclear message"
say "unreachable tracker: $(head -n1 "$W/dead_tracker.err")"
get nobody 0123456789abcdef0123456789abcdef01234567 "$W/dl-none" --tracker "$TURL" --timeout 5
((RC != 0 && RC != 124)) || fail "--get of a hash nobody has exited with $RC"
grep -q "no peer sent the metadata within 5 s" "$W/nobody.err" || fail "--get of a hash nobody has: unclear message"
say "hash nobody has: $(head -n1 "$W/nobody.err")"
[[ -z $(ls -A "$W/dl-none") ]] || fail "a failed --get left files behind"

PASSED=1
echo "PASS"
