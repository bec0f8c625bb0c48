#!/usr/bin/env bash
# Issue 4, end to end: resuming a download, and noticing a changed file.
#   1. A leecher downloads ~16 MiB from a seed limited to 2 MB/s and gets kill -9 partway (measured by the blocks
#      allocated on disk: downloads are preallocated sparse files).
#   2. Restarted with the same --into, it must find the pieces already there ("N/T pieces present" with 0<N<T),
#      download only the rest (its summary's downloaded= is well under the size) and end byte-identical.
#   3. One byte of the completed file is flipped; a third run (--get, --exit-when-done) must notice (the saved
#      resume data no longer matches the file, so it re-verifies: T-1 pieces present), fetch the bad piece again
#      and end byte-identical.
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

W=$(mktemp -d /tmp/p2p-resume.XXXXXX)
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

SIZE=$((16 * 1024 * 1024 + 999))
mkdir -p "$W/share"
head -c $SIZE /dev/urandom >"$W/share/video.bin"

start_tracker
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate 2M
wait_lines seed '^sharing video.bin ' 1 60
HEX=$(make_torrent "$W/share/video.bin" "$W/video.torrent")
wait_seeders "$HEX" 1 30
GET=(--peer --get "$W/video.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done
    --timeout 150 --quiet)
# present NAME: "N T" from NAME's "N/T pieces present" log line.
present() { sed -n 's/.*: \([0-9]*\)\/\([0-9]*\) pieces present.*/\1 \2/p' "$W/$1.err" | head -n1; }
downloaded() { sed -n 's/^summary .* downloaded=\([0-9]*\) .*/\1/p' "$W/$1.out" | head -n1; }

# ---- 1. partway, then kill -9
start run1 "${GET[@]}"
got=0
for ((t = 0; t < 600; t++)); do
    got=$(blocks_of "$W/dl/video.bin")
    ((got >= SIZE / 4)) && break
    kill -0 "$PID_run1" 2>/dev/null || fail "run 1 exited before it had a quarter of the data"
    sleep 0.05
done
((got >= SIZE / 4)) || fail "run 1 did not get a quarter of the data within 30 s"
! grep -q '^complete ' "$W/run1.out" || fail "run 1 completed before it could be killed"
{ kill -KILL "$PID_run1" && wait "$PID_run1"; } 2>/dev/null || true; forget "$PID_run1"   # quiet: no "Killed" notice
echo "1. run 1 killed (-9) with $got of $SIZE bytes on disk"

# ---- 2. resume
start run2 "${GET[@]}"
rc=0
wait "$PID_run2" || rc=$?
forget "$PID_run2"
((rc == 0)) || fail "run 2 exited $rc"
read -r N T <<<"$(present run2)" || true
[[ -n ${N:-} && -n ${T:-} ]] || fail "run 2 logged no 'N/T pieces present' line"
((N > 0 && N < T)) || fail "run 2 started with $N/$T pieces present (want 0 < N < T)"
cmp "$W/share/video.bin" "$W/dl/video.bin" || fail "run 2: the download differs"
D=$(downloaded run2)
((${D:-$SIZE} < SIZE * 9 / 10)) || fail "run 2 downloaded ${D:-?} bytes of $SIZE: it did not resume"
echo "2. run 2 resumed with $N/$T pieces, downloaded $D more bytes; byte-identical"

# ---- 3. a flipped byte in the completed file
sleep 0.1   # a distinct mtime from run 2's last write, even on coarse clocks
OFF=$((SIZE / 2 + 12345))
/usr/bin/python3 - "$W/dl/video.bin" "$OFF" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5a]))
PY
cmp -s "$W/share/video.bin" "$W/dl/video.bin" && fail "the byte was not flipped"
start run3 "${GET[@]}"
rc=0
wait "$PID_run3" || rc=$?
forget "$PID_run3"
((rc == 0)) || fail "run 3 exited $rc"
read -r N T <<<"$(present run3)" || true
[[ -n ${N:-} && -n ${T:-} ]] || fail "run 3 logged no 'N/T pieces present' line"
((N == T - 1)) || fail "run 3 started with $N/$T pieces present (want $((T - 1)): exactly the flipped piece missing)"
cmp "$W/share/video.bin" "$W/dl/video.bin" || fail "run 3: the file still differs"
echo "3. run 3 found $N/$T pieces (the flipped one re-verified bad), re-downloaded $(downloaded run3) bytes; byte-identical"
stop seed
PASSED=1
echo "PASS"
