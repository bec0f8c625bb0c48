#!/usr/bin/env bash
# Issue 4, end to end: one leecher downloads from two seeds at once. The seeds share two separate copies of the
# same folder (so the same info hash), each limited to 4 MB/s upload so the ~24 MiB download takes a few seconds
# and both are used. After the leecher completes (byte-identical), both seeds get SIGTERM and both of their
# "summary" lines must show uploaded > 0.
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

W=$(mktemp -d /tmp/p2p-twoseeds.XXXXXX)
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

# start_tracker: a tracker on an ephemeral UDP port; sets TURL.
start_tracker() {
    start tracker --tracker --bind 127.0.0.1 --port 0 --no-console
    wait_lines tracker 'tracker listening on udp://' 1 10
    TURL=$(grep -m1 -o 'udp://127.0.0.1:[0-9]*' "$W/tracker.out")
    echo "tracker on $TURL"
}
# make_torrent PATH OUT: writes OUT and prints the info hash (hex).
make_torrent() {
    timeout 60 "$P2PNODE" --make-torrent "$1" --tracker "$TURL" -o "$2" >"$2.log" 2>&1 ||
        { cat "$2.log"; fail "--make-torrent $1 failed"; }
    grep -o 'info hash: [0-9a-f]*' "$2.log" | cut -d' ' -f3
}
# wait_seeders HEX N SECS: until the tracker counts at least N seeders of HEX.
wait_seeders() {
    local t s
    for ((t = 0; t < $3 * 2; t++)); do
        s=$(timeout 10 "$P2PNODE" --scrape "$1" --tracker "$TURL" --timeout 5 2>/dev/null | sed -n 's/^seeders: //p')
        ((${s:-0} >= $2)) && return 0
        sleep 0.5
    done
    fail "the tracker does not count $2 seeders of $1 after ${3}s"
}
# stop NAME: SIGTERM, must exit within 20 s; prints nothing, sets RC_<NAME>.
stop() {
    local pv="PID_$1" rc=0
    kill -TERM "${!pv}" 2>/dev/null || true
    timeout 20 tail --pid="${!pv}" -f /dev/null || fail "$1 did not exit within 20 s of SIGTERM"
    wait "${!pv}" || rc=$?
    forget "${!pv}"
    printf -v "RC_$1" '%s' "$rc"
}
# uploaded NAME: the uploaded= number of NAME's (single) summary line.
uploaded() { sed -n 's/^summary .* uploaded=\([0-9]*\) .*/\1/p' "$W/$1.out" | head -n1; }
# blocks_of FILE: bytes actually allocated on disk (downloads are preallocated sparse, so size says nothing).
blocks_of() { du -B1 "$1" 2>/dev/null | cut -f1 || echo 0; }

# ---- the same folder twice
mkdir -p "$W/a/pack/sub"
head -c $((24 * 1024 * 1024 + 777)) /dev/urandom >"$W/a/pack/data.bin"
head -c 100000 /dev/urandom >"$W/a/pack/sub/extra.bin"
cp -r "$W/a" "$W/b"

start_tracker
start seedA --peer --share "$W/a" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate 4M
start seedB --peer --share "$W/b" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate 4M
wait_lines seedA '^sharing pack ' 1 60
wait_lines seedB '^sharing pack ' 1 60
HEX=$(make_torrent "$W/a/pack" "$W/pack.torrent")
grep -q "^sharing pack $HEX " "$W/seedA.out" || fail "seed A does not share pack as $HEX"
grep -q "^sharing pack $HEX " "$W/seedB.out" || fail "seed B does not share pack as $HEX"
wait_seeders "$HEX" 2 30   # so the leecher's first announce returns both seeds
echo "two seeds of $HEX announced; starting the leecher"

SECONDS=0
start leech --peer --get "$W/pack.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 150 --quiet
rc=0
wait "$PID_leech" || rc=$?
forget "$PID_leech"
((rc == 0)) || fail "the leecher exited $rc"
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
