#!/usr/bin/env bash
# Issue 4, end to end: a tracker, one seed and three leechers of p2pnode on 127.0.0.1 (ephemeral ports).
#   The seed shares a folder holding a ~16 MiB single file and a multi-file folder (nested folders, an empty
#   file, sizes that do not fall on piece boundaries). The three leechers start at the same time, each gets both
#   torrents (--get x2 --exit-when-done) and must exit 0; every file must be byte-identical (cmp) in every one.
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-240}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE

skip() { echo "SKIP: $*"; exit 77; }
[[ -x $P2PNODE ]] || skip "$P2PNODE not built"
"$P2PNODE" --help 2>&1 | grep -q -- '--peer' || skip "$P2PNODE has no --peer mode"

W=$(mktemp -d /tmp/p2p-swarm.XXXXXX)
PIDS=()
PASSED=0

cleanup() {
    local rc=$? p f
    trap - EXIT
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
    done
    if [[ $PASSED != 1 && $rc != 77 ]]; then
        echo "FAIL (rc=$rc); logs from $W:"
        for f in "$W"/*.out "$W"/*.err; do
            [[ -s $f ]] || continue
            echo "----- $(basename "$f") (last 40 lines) -----"
            tail -n 40 "$f"
        done
        [[ $rc == 0 ]] && rc=1
    fi
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT
fail() { echo "FAIL: $*"; exit 1; }
# forget PID: a process we have reaped; cleanup must not signal its (possibly reused) pid.
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# start NAME ARGS...: runs p2pnode in the background, logs to $W/NAME.out/.err; its pid goes to PID_<NAME>.
start() {
    local name=$1
    shift
    "$P2PNODE" "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}
# wait_lines NAME PATTERN COUNT SECS: until NAME's stdout has COUNT lines matching PATTERN (fails if it exits).
wait_lines() {
    local name=$1 pat=$2 count=$3 secs=$4 pidvar="PID_$1" t
    for ((t = 0; t < secs * 10; t++)); do
        (($(grep -c -- "$pat" "$W/$name.out" || true) >= count)) && return 0
        kill -0 "${!pidvar}" 2>/dev/null || fail "$name exited before printing $count x '$pat'"
        sleep 0.1
    done
    fail "$name did not print $count x '$pat' within ${secs}s"
}

# ---- data: a ~16 MiB single file and a folder with nested files and an empty file
S=$W/share
mkdir -p "$S/album/disc 1/extras" "$S/album/disc 2"
head -c $((16 * 1024 * 1024 + 12345)) /dev/urandom >"$S/big.bin"
head -c 300001 /dev/urandom >"$S/album/disc 1/track01.bin"
head -c 1048577 /dev/urandom >"$S/album/disc 1/extras/bonus.bin"
head -c 7 /dev/urandom >"$S/album/disc 2/tiny.bin"
: >"$S/album/disc 2/empty.txt"
printf 'liner notes\n' >"$S/album/notes.txt"

start tracker --tracker --bind 127.0.0.1 --port 0 --no-console
wait_lines tracker 'tracker listening on udp://' 1 10
TPORT=$(grep -m1 -o 'udp://127.0.0.1:[0-9]*' "$W/tracker.out")
TPORT=${TPORT##*:}
TURL=udp://127.0.0.1:$TPORT
echo "tracker on $TURL"

start seed --peer --share "$S" --tracker "$TURL" --bind 127.0.0.1 --port 0
wait_lines seed '^sharing ' 2 60
for item in big.bin album; do
    timeout 60 "$P2PNODE" --make-torrent "$S/$item" --tracker "$TURL" -o "$W/$item.torrent" >"$W/make-$item.log" 2>&1 ||
        { cat "$W/make-$item.log"; fail "--make-torrent $item failed"; }
    hex=$(grep -o 'info hash: [0-9a-f]*' "$W/make-$item.log" | cut -d' ' -f3)
    grep -q "^sharing $item $hex " "$W/seed.out" || fail "the seed does not share $item as $hex"
done
echo "seed shares both items; starting 3 leechers"

for i in 1 2 3; do
    start "leech$i" --peer --get "$W/big.bin.torrent" --get "$W/album.torrent" --into "$W/dl$i" \
        --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done --timeout 150 --quiet
done
for i in 1 2 3; do
    pv=PID_leech$i
    rc=0
    wait "${!pv}" || rc=$?
    forget "${!pv}"
    ((rc == 0)) || fail "leecher $i exited $rc"
    (($(grep -c '^complete ' "$W/leech$i.out") == 2)) || fail "leecher $i did not print 2 'complete' lines"
done

n=0
while IFS= read -r -d '' f; do
    rel=${f#"$S"/}
    for i in 1 2 3; do
        [[ -f $W/dl$i/$rel ]] || fail "leecher $i: missing $rel"
        cmp -s "$f" "$W/dl$i/$rel" || fail "leecher $i: $rel differs from the seed's"
    done
    n=$((n + 1))
done < <(find "$S" -path "$S/.*" -prune -o -type f -print0)
((n == 6)) || fail "compared $n files, expected 6"
echo "all 3 leechers hold $n byte-identical files"
PASSED=1
echo "PASS"
