#!/usr/bin/env bash
# Interop (issue 4) across hosts: the p2pnode peer with transmission-daemon 3.00, both directions, in three
# network namespaces on one bridge (tools/netns); Transmission ignores peers on 127.0.0.0/8, hence the hosts.
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: p2pnode --peer (forward: --share seeds fwd.bin; reverse: --get --exit-when-done downloads rev.bin)
#   host 3: transmission-daemon (own config dir: no uTP, DHT, LPD or PEX; RPC on 127.0.0.1 inside the
#           namespace), driven with transmission-remote. Encryption stays at Transmission's default "preferred"
#           (TR_ENCRYPTION=0|1|2 overrides): its outgoing MSE handshake fails against p2pnode (no MSE) and it
#           retries in plaintext, which this exercises.
#   Forward: p2pnode seeds -> Transmission downloads to 100 %; cmp.
#   Reverse: Transmission verifies and seeds rev.bin -> p2pnode downloads it; cmp.
# Each direction takes ~10-15 s mostly waiting on Transmission's own 10 s pulses (it sends "interested" and
# unchokes only on them). P2P_TR_DEBUG=1 adds Transmission's per-message log; P2P_KEEP_WORKDIR=1 keeps $W.
# Files are 2 MiB + an odd tail (Transmission moves ~2 MiB/s here; the tail makes the last piece short).
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE not built), other fail. Limit 240 s.
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-240}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root for network namespaces"
[[ -x $P2PNODE ]] || skip "$P2PNODE not built"
for tool in ip transmission-daemon transmission-remote cmp "$PY"; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
done

# shellcheck source-path=SCRIPTDIR/../.. source=tools/netns
source "$ROOT/tools/netns"
NS=p2pi$$
W=$(mktemp -d /tmp/p2p-peer-transmission.XXXXXX)
PIDS=()
PASSED=0

cleanup() {
    local rc=$? pid f
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    netns_cleanup "$NS"   # also kills anything left inside the namespaces
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

free_port() {  # $1 = host index, $2 = tcp|udp: a port free inside that host a moment ago
    netns_exec "$NS" "$1" "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind(("0.0.0.0",0)); print(s.getsockname()[1])' "$2"
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

netns_setup "$NS" 3 || fail "netns_setup failed"
TIP=$(netns_ip "$NS" 1)
PIP=$(netns_ip "$NS" 2)

mkdir -p "$W/share" "$W/tr-dl" "$W/tr-config" "$W/p2p-dl"
head -c $((2 * 1024 * 1024 + 12345)) /dev/urandom >"$W/share/fwd.bin"
head -c $((2 * 1024 * 1024 + 777)) /dev/urandom >"$W/tr-dl/rev.bin"   # Transmission's download dir = its seed

# ---- host 1: tracker ----
netns_exec "$NS" 1 "$P2PNODE" --tracker --bind "$TIP" --port 0 --no-console \
    >"$W/tracker.out" 2>"$W/tracker.err" </dev/null &
TRACKER_PID=$!
PIDS+=("$TRACKER_PID")
line=$(wait_line "$W/tracker.out" 'tracker listening on udp://[0-9.]+:[0-9]+' "$TRACKER_PID" 10) ||
    fail "p2pnode --tracker did not start"
URL=${line#tracker listening on }

info_hash() { "$P2PNODE" --make-torrent "$1" --tracker "$2" -o "$3" 2>>"$W/make-torrent.err" | awk '/^info hash:/ {print $3}'; }
FWD_HASH=$(info_hash "$W/share/fwd.bin" "$URL" "$W/fwd.torrent")
REV_HASH=$(info_hash "$W/tr-dl/rev.bin" "$URL" "$W/rev.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker at $URL in $NS-1; fwd=$FWD_HASH rev=$REV_HASH"

# ---- host 3: transmission ----
RPC=$(free_port 3 tcp)
PEER=$(free_port 3 tcp)
cat >"$W/tr-config/settings.json" <<EOF
{
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": false,
    "port-forwarding-enabled": false,
    "peer-port": $PEER,
    "peer-port-random-on-start": false,
    "rpc-enabled": true,
    "rpc-bind-address": "127.0.0.1",
    "rpc-port": $RPC,
    "rpc-whitelist": "127.0.0.1",
    "rpc-whitelist-enabled": true,
    "rpc-host-whitelist-enabled": false,
    "rpc-authentication-required": false,
    "download-dir": "$W/tr-dl",
    "incomplete-dir-enabled": false,
    "start-added-torrents": true,
    "blocklist-enabled": false,
    "speed-limit-down-enabled": false,
    "speed-limit-up-enabled": false,
    "alt-speed-enabled": false,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "encryption": ${TR_ENCRYPTION:-1},
    "message-level": 3
}
EOF
# P2P_TR_DEBUG=1: Transmission's deep log (every peer message) goes to transmission.log as well.
TR_ENV=()
[[ -n ${P2P_TR_DEBUG:-} ]] && TR_ENV=(TR_DEBUG_FD=2)
netns_exec "$NS" 3 env "${TR_ENV[@]}" transmission-daemon -f -g "$W/tr-config" >"$W/transmission.log" 2>&1 </dev/null &
PIDS+=("$!")
remote() { netns_exec "$NS" 3 timeout 15 transmission-remote "127.0.0.1:$RPC" "$@"; }
for ((t = 0; t < 100; t++)); do
    remote -l >/dev/null 2>&1 && break
    sleep 0.2
done
remote -l >/dev/null 2>&1 || fail "transmission RPC not answering on 127.0.0.1:$RPC in $NS-3"

# wait_done HASH SECS WHAT: poll transmission until the torrent is at 100 %.
wait_done() {
    local h=$1 secs=$2 what=$3 pct="" t
    for ((t = 0; t < secs; t++)); do
        remote -t "$h" -i >"$W/remote-info.out" 2>&1 || true
        pct=$(grep -m1 'Percent Done' "$W/remote-info.out" | awk '{print $3}' || true)
        [[ $pct == 100% ]] && return 0
        if ((t % 2 == 0)); then say "  t=${t}s $what: ${pct:-?}"; fi
        sleep 1
    done
    cat "$W/remote-info.out"
    fail "$what: transmission not at 100 % within $secs s (at ${pct:-?})"
}

# ---- forward: p2pnode (host 2) seeds, transmission (host 3) downloads ----
netns_exec "$NS" 2 "$P2PNODE" --peer --share "$W/share" --tracker "$URL" --bind "$PIP" --port 0 --no-console --quiet \
    >"$W/p2p-seed.out" 2>"$W/p2p-seed.err" </dev/null &
SEED_PID=$!
PIDS+=("$SEED_PID")
line=$(wait_line "$W/p2p-seed.out" "sharing fwd.bin [0-9a-f]{40}" "$SEED_PID" 30) || fail "p2pnode seed did not start"
[[ ${line##* } == "$FWD_HASH" ]] || fail "p2pnode shares fwd.bin as ${line##* }, --make-torrent said $FWD_HASH"
remote -a "$W/fwd.torrent" >"$W/remote-add-fwd.out" 2>&1 || fail "transmission-remote -a fwd.torrent failed"
say "forward: p2pnode seeding in $NS-2; transmission downloading in $NS-3"
wait_done "$FWD_HASH" 120 "forward download"
cmp "$W/share/fwd.bin" "$W/tr-dl/fwd.bin" || fail "forward copy differs"
say "forward: bytes match"
kill -TERM "$SEED_PID" 2>/dev/null || true   # the reverse download must not see this process as a peer

# ---- reverse: transmission (host 3) verifies and seeds, p2pnode (host 2) downloads ----
remote -a "$W/rev.torrent" >"$W/remote-add-rev.out" 2>&1 || fail "transmission-remote -a rev.torrent failed"
remote -t "$REV_HASH" --verify >>"$W/remote-add-rev.out" 2>&1 || true
wait_done "$REV_HASH" 60 "reverse seed verify"
remote -t "$REV_HASH" -s >>"$W/remote-add-rev.out" 2>&1 || true
say "reverse: transmission seeding; p2pnode downloading"
netns_exec "$NS" 2 timeout 130 "$P2PNODE" --peer --get "$W/rev.torrent" --into "$W/p2p-dl" --tracker "$URL" \
    --bind "$PIP" --port 0 --exit-when-done --timeout 120 --no-console \
    >"$W/p2p-download.out" 2>"$W/p2p-download.err" </dev/null || fail "p2pnode did not download from transmission (rc=$?)"
cmp "$W/tr-dl/rev.bin" "$W/p2p-dl/rev.bin" || fail "reverse copy differs"
say "reverse: bytes match"

PASSED=1
echo "PASS"
