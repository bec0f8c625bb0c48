#!/usr/bin/env bash
# Interop (issue 4): the p2pnode peer with aria2c 1.36 on 127.0.0.1, both directions, peers found only through
# p2pnode's UDP tracker.
#   1. Tracker: p2pnode --tracker on 127.0.0.1, ephemeral port.
#   2. Forward: p2pnode --peer --share seeds a random file (3 MiB + an odd tail, so the last piece is short);
#      aria2c downloads it (--seed-time=0: exits once the file is complete and hash-checked); cmp.
#   3. Reverse: aria2c seeds another random file (--check-integrity, --seed-ratio=0.0: seeds until killed);
#      p2pnode --peer --get --exit-when-done downloads it; cmp.
# aria2 speaks UDP trackers only with DHT on, so DHT is on but has no bootstrap nodes; no LPD, no PEX.
# P2P_KEEP_WORKDIR=1 keeps the work dir (data, torrents, logs) after the run.
# Exit 0 pass, 77 skip (aria2c missing, or $P2PNODE is not built), other fail. Total limit 200 s.
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-200}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
[[ -x $P2PNODE ]] || skip "$P2PNODE not built"
for tool in aria2c cmp "$PY"; do command -v "$tool" >/dev/null || skip "$tool not installed"; done

W=$(mktemp -d /tmp/p2p-peer-aria2.XXXXXX)
PIDS=()
PASSED=0

cleanup() {
    local rc=$? pid f
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    if [[ $PASSED != 1 && $rc != 77 ]]; then
        echo "FAIL (rc=$rc); logs from $W:"
        for f in "$W"/*.log "$W"/*.out "$W"/*.err; do
            [[ -s $f ]] || continue
            echo "----- $(basename "$f") (last 80 lines) -----"
            tail -n 80 "$f"
        done
        [[ $rc == 0 ]] && rc=1
    fi
    if [[ -n ${P2P_KEEP_WORKDIR:-} ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT
fail() { echo "$(date +%T) FAIL: $*"; exit 1; }
say() { echo "$(date +%T) $*"; }

free_port() {  # $1 = tcp|udp; prints a port that was free on 127.0.0.1 a moment ago
    "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

# wait_line FILE REGEX PID SECS: print the first match of REGEX (grep -o) in FILE once it appears; fail if PID
# exits first or SECS pass.
wait_line() {
    local file=$1 re=$2 pid=$3 secs=$4 line t
    for ((t = 0; t < secs * 10; t++)); do
        line=$(grep -m1 -o -E "$re" "$file" 2>/dev/null || true)
        [[ -n $line ]] && { echo "$line"; return 0; }
        kill -0 "$pid" 2>/dev/null || { echo "process $pid exited before printing /$re/ in $file" >&2; return 1; }
        sleep 0.1
    done
    echo "no /$re/ in $file within $secs s" >&2
    return 1
}

# ---- data: a tail that is not a multiple of 16 KiB, so the last piece and last block are short ----
mkdir -p "$W/share" "$W/aria2-src" "$W/aria2-dl" "$W/p2p-dl"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$W/share/fwd.bin"
head -c $((2 * 1024 * 1024 + 777)) /dev/urandom >"$W/aria2-src/rev.bin"

info_hash() { "$P2PNODE" --make-torrent "$1" --tracker "$2" -o "$3" 2>>"$W/make-torrent.err" | awk '/^info hash:/ {print $3}'; }

# ---- tracker ----
"$P2PNODE" --tracker --bind 127.0.0.1 --port 0 --no-console >"$W/tracker.out" 2>"$W/tracker.err" </dev/null &
TRACKER_PID=$!
PIDS+=("$TRACKER_PID")
line=$(wait_line "$W/tracker.out" 'tracker listening on udp://[0-9.]+:[0-9]+' "$TRACKER_PID" 10) ||
    fail "p2pnode --tracker did not start"
URL=${line#tracker listening on }
FWD_HASH=$(info_hash "$W/share/fwd.bin" "$URL" "$W/fwd.torrent")
REV_HASH=$(info_hash "$W/aria2-src/rev.bin" "$URL" "$W/rev.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker at $URL; fwd=$FWD_HASH rev=$REV_HASH"

aria2_common=(--no-conf=true --enable-dht=true --bt-enable-lpd=false --enable-peer-exchange=false
    --dht-file-path="$W/dht.dat" --file-allocation=none --summary-interval=0 --console-log-level=warn
    --log-level=info --bt-tracker-connect-timeout=10 --bt-tracker-timeout=10 --disable-ipv6=true
    --bt-tracker-interval=5 --follow-torrent=false --auto-save-interval=0)

# ---- forward: p2pnode seeds, aria2 downloads ----
"$P2PNODE" --peer --share "$W/share" --tracker "$URL" --bind 127.0.0.1 --port 0 --no-console --quiet \
    >"$W/p2p-seed.out" 2>"$W/p2p-seed.err" </dev/null &
SEED_PID=$!
PIDS+=("$SEED_PID")
line=$(wait_line "$W/p2p-seed.out" "sharing fwd.bin [0-9a-f]{40}" "$SEED_PID" 30) || fail "p2pnode seed did not start"
[[ ${line##* } == "$FWD_HASH" ]] || fail "p2pnode shares fwd.bin as ${line##* }, --make-torrent said $FWD_HASH"
say "forward: p2pnode seeding; aria2c downloading"
timeout 90 aria2c "${aria2_common[@]}" --seed-time=0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-dl" --log="$W/aria2-download.log" "$W/fwd.torrent" \
    >"$W/aria2-download.out" 2>&1 </dev/null || fail "aria2c did not download from p2pnode (rc=$?)"
cmp "$W/share/fwd.bin" "$W/aria2-dl/fwd.bin" || fail "forward copy differs"
say "forward: bytes match"

# ---- reverse: aria2 seeds, p2pnode downloads ----
aria2c "${aria2_common[@]}" --check-integrity=true --seed-ratio=0.0 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/aria2-src" --log="$W/aria2-seed.log" "$W/rev.torrent" \
    >"$W/aria2-seed.out" 2>&1 </dev/null &
PIDS+=("$!")
say "reverse: aria2c seeding; p2pnode downloading"
timeout 100 "$P2PNODE" --peer --get "$W/rev.torrent" --into "$W/p2p-dl" --tracker "$URL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 90 --no-console --quiet >"$W/p2p-download.out" 2>"$W/p2p-download.err" </dev/null ||
    fail "p2pnode did not download from aria2c (rc=$?)"
cmp "$W/aria2-src/rev.bin" "$W/p2p-dl/rev.bin" || fail "reverse copy differs"
say "reverse: bytes match"

PASSED=1
echo "PASS"
