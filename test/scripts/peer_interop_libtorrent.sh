#!/usr/bin/env bash
# Interop (issue 4): the p2pnode peer with python3-libtorrent 2.x on 127.0.0.1, both directions, peers found
# only through a UDP tracker.
#   1. Tracker: p2pnode --tracker (default) or Debian's opentracker (TRACKER_IMPL=opentracker; whitelist mode,
#      so the info hashes are written to its whitelist before it starts, on a port picked in advance).
#   2. Forward: p2pnode --peer --share seeds a random file (3 MiB + an odd tail, so the last piece is short);
#      libtorrent downloads it; cmp.
#   3. Reverse: libtorrent seeds another random file; p2pnode --peer --get --exit-when-done downloads it; cmp.
# libtorrent: no DHT/LSD/UPnP/uTP, listens on 127.0.0.1 (ephemeral), allow_multiple_connections_per_ip.
# P2P_KEEP_WORKDIR=1 keeps the work dir (data, torrents, logs) after the run.
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE is not built), other fail. Total limit 200 s.
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-200}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3
IMPL=${TRACKER_IMPL:-p2pnode}

skip() { echo "SKIP: $*"; exit 77; }
[[ -x $P2PNODE ]] || skip "$P2PNODE not built"
command -v cmp >/dev/null || skip "cmp not installed"
"$PY" -c 'import libtorrent' 2>/dev/null || skip "python3-libtorrent not installed for $PY"
if [[ $IMPL == opentracker ]]; then command -v opentracker >/dev/null || skip "opentracker not installed"; fi

W=$(mktemp -d /tmp/p2p-peer-lt.XXXXXX)
chmod 755 "$W"   # opentracker drops to nobody and chroots here
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

cat >"$W/lt_node.py" <<'EOF'
# lt_node.py seed|download TORRENT SAVE_DIR: a libtorrent peer on 127.0.0.1 that finds peers only via the
# torrent's tracker. "download" exits 0 once the data is complete; "seed" runs until killed.
import sys, time
import libtorrent as lt
mode, torrent, save = sys.argv[1], sys.argv[2], sys.argv[3]
ses = lt.session({
    'listen_interfaces': '127.0.0.1:0', 'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': False,
    'enable_incoming_utp': False, 'alert_mask': lt.alert.category_t.all_categories,
    'user_agent': 'p2pnode-test-libtorrent'})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
if mode == 'seed':
    atp.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(atp)
print('listening on port', ses.listen_port(), flush=True)
interesting = (lt.tracker_reply_alert, lt.tracker_error_alert, lt.tracker_warning_alert, lt.tracker_announce_alert,
               lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert, lt.torrent_finished_alert,
               lt.listen_failed_alert, lt.listen_succeeded_alert, lt.hash_failed_alert, lt.torrent_error_alert,
               lt.peer_ban_alert, lt.invalid_request_alert)
last = 0.0
while True:
    for a in ses.pop_alerts():
        if isinstance(a, interesting):
            print(time.strftime('%H:%M:%S'), type(a).__name__, a.message(), flush=True)
    st = h.status()
    if time.time() - last > 2:
        last = time.time()
        print(time.strftime('%H:%M:%S'), 'state', st.state, 'progress %.3f' % st.progress, 'peers', st.num_peers,
              'up', st.total_upload, 'down', st.total_download, flush=True)
    if mode == 'download' and st.is_seeding:
        print('DOWNLOAD COMPLETE', flush=True)
        sys.exit(0)
    time.sleep(0.2)
EOF

# ---- data: a tail that is not a multiple of 16 KiB, so the last piece and last block are short ----
mkdir -p "$W/share" "$W/lt-src" "$W/lt-dl" "$W/p2p-dl"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$W/share/fwd.bin"
head -c $((2 * 1024 * 1024 + 777)) /dev/urandom >"$W/lt-src/rev.bin"

info_hash() { "$P2PNODE" --make-torrent "$1" --tracker "$2" -o "$3" 2>>"$W/make-torrent.err" | awk '/^info hash:/ {print $3}'; }

# ---- tracker ----
if [[ $IMPL == opentracker ]]; then
    TPORT=$(free_port udp)
    URL=udp://127.0.0.1:$TPORT
    FWD_HASH=$(info_hash "$W/share/fwd.bin" "$URL" "$W/fwd.torrent")
    REV_HASH=$(info_hash "$W/lt-src/rev.bin" "$URL" "$W/rev.torrent")
    printf '%s\n%s\n' "$FWD_HASH" "$REV_HASH" >"$W/whitelist"
    opentracker -i 127.0.0.1 -P "$TPORT" -p "$(free_port tcp)" -w whitelist -u nobody -d "$W" \
        >"$W/tracker.out" 2>"$W/tracker.err" </dev/null &
    TRACKER_PID=$!
    PIDS+=("$TRACKER_PID")
    sleep 0.5
    kill -0 "$TRACKER_PID" 2>/dev/null || fail "opentracker did not start"
else
    "$P2PNODE" --tracker --bind 127.0.0.1 --port 0 --no-console >"$W/tracker.out" 2>"$W/tracker.err" </dev/null &
    TRACKER_PID=$!
    PIDS+=("$TRACKER_PID")
    line=$(wait_line "$W/tracker.out" 'tracker listening on udp://[0-9.]+:[0-9]+' "$TRACKER_PID" 10) ||
        fail "p2pnode --tracker did not start"
    URL=${line#tracker listening on }
    FWD_HASH=$(info_hash "$W/share/fwd.bin" "$URL" "$W/fwd.torrent")
    REV_HASH=$(info_hash "$W/lt-src/rev.bin" "$URL" "$W/rev.torrent")
fi
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "tracker ($IMPL) at $URL; fwd=$FWD_HASH rev=$REV_HASH"

# ---- forward: p2pnode seeds, libtorrent downloads ----
"$P2PNODE" --peer --share "$W/share" --tracker "$URL" --bind 127.0.0.1 --port 0 --no-console --quiet \
    >"$W/p2p-seed.out" 2>"$W/p2p-seed.err" </dev/null &
SEED_PID=$!
PIDS+=("$SEED_PID")
line=$(wait_line "$W/p2p-seed.out" "sharing fwd.bin [0-9a-f]{40}" "$SEED_PID" 30) || fail "p2pnode seed did not start"
[[ ${line##* } == "$FWD_HASH" ]] || fail "p2pnode shares fwd.bin as ${line##* }, --make-torrent said $FWD_HASH"
say "forward: p2pnode seeding; libtorrent downloading"
timeout 90 "$PY" "$W/lt_node.py" download "$W/fwd.torrent" "$W/lt-dl" >"$W/lt-download.log" 2>&1 ||
    fail "libtorrent did not download from p2pnode (rc=$?)"
cmp "$W/share/fwd.bin" "$W/lt-dl/fwd.bin" || fail "forward copy differs"
say "forward: bytes match"

# ---- reverse: libtorrent seeds, p2pnode downloads ----
"$PY" "$W/lt_node.py" seed "$W/rev.torrent" "$W/lt-src" >"$W/lt-seed.log" 2>&1 &
PIDS+=("$!")
say "reverse: libtorrent seeding; p2pnode downloading"
timeout 100 "$P2PNODE" --peer --get "$W/rev.torrent" --into "$W/p2p-dl" --tracker "$URL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 90 --no-console --quiet >"$W/p2p-download.out" 2>"$W/p2p-download.err" </dev/null ||
    fail "p2pnode did not download from libtorrent (rc=$?)"
cmp "$W/lt-src/rev.bin" "$W/p2p-dl/rev.bin" || fail "reverse copy differs"
say "reverse: bytes match"

PASSED=1
echo "PASS"
