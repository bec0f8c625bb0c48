#!/usr/bin/env bash
# Interop: p2pnode's BEP 15 UDP tracker with two real clients on loopback.
#   1. p2pnode --tracker on 127.0.0.1, ephemeral port.
#   2. Forward: python3-libtorrent seeds a 2 MiB random file; aria2c downloads it, finding the seed only through
#      the tracker (DHT on because aria2 needs it for UDP trackers, but it has no bootstrap nodes; no LPD, no PEX).
#   3. Reverse: aria2c seeds a second 2 MiB file; libtorrent downloads it through the tracker.
#   4. cmp both copies; `p2pnode --scrape` for each info hash shows completed >= 1 and seeders >= 1.
# aria2 seeds 3 s after finishing (--seed-time=0.05 min): with 0 it sends only "stopped", never "completed".
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE has no --tracker), other fail. Total limit 120 s.
# TRACKER_IMPL=opentracker runs the same checks against Debian's opentracker (to validate the test itself).
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-120}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3
IMPL=${TRACKER_IMPL:-p2pnode}

skip() { echo "SKIP: $*"; exit 77; }
for tool in aria2c mktorrent cmp; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
"$PY" -c 'import libtorrent' 2>/dev/null || skip "python3-libtorrent not installed for $PY"
if [[ $IMPL == opentracker ]]; then command -v opentracker >/dev/null || skip "opentracker not installed"; fi

W=$(mktemp -d /tmp/p2p-lt-aria2.XXXXXX)
chmod 755 "$W"   # opentracker drops to nobody and chroots here
PIDS=()
PASSED=0

dump_logs() {
    local f
    for f in "$W"/*.log "$W"/*.out "$W"/*.err; do
        [[ -s $f ]] || continue
        echo "----- $(basename "$f") (last 60 lines) -----"
        tail -n 60 "$f"
    done
}
cleanup() {
    local rc=$? pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
    if [[ $PASSED != 1 && $rc != 77 ]]; then
        echo "FAIL (rc=$rc); logs from $W:"
        dump_logs
        [[ $rc == 0 ]] && rc=1
    fi
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT
fail() { echo "FAIL: $*"; exit 1; }

free_port() {  # $1 = tcp|udp; prints a port that was free a moment ago
    "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

# ---- helpers in Python (stdlib + libtorrent), written next to the data ----
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
               lt.peer_connect_alert, lt.peer_disconnected_alert, lt.torrent_finished_alert, lt.listen_failed_alert,
               lt.listen_succeeded_alert, lt.hash_failed_alert, lt.scrape_failed_alert)
last = 0.0
while True:
    for a in ses.pop_alerts():
        if isinstance(a, interesting):
            print(time.strftime('%H:%M:%S'), type(a).__name__, a.message(), flush=True)
    st = h.status()
    if time.time() - last > 2:
        last = time.time()
        print('state', st.state, 'progress %.3f' % st.progress, 'peers', st.num_peers, 'seeding', st.is_seeding,
              flush=True)
    if mode == 'download' and st.is_seeding:
        # Let the "completed" announce go out before leaving.
        h.force_reannounce()
        time.sleep(1.0)
        for a in ses.pop_alerts():
            print(type(a).__name__, a.message(), flush=True)
        print('DOWNLOAD COMPLETE', flush=True)
        sys.exit(0)
    time.sleep(0.2)
EOF

cat >"$W/bep15.py" <<'EOF'
# bep15.py scrape HOST PORT HEX...: a minimal BEP 15 scrape (stdlib only), printing
# "HEX seeders=S completed=C leechers=L" per hash. Used to cross-check the tracker on the wire.
import random, socket, struct, sys
PROTOCOL_ID = 0x41727101980  # BEP 15 magic constant
def txn(sock, req, action):
    for attempt in range(4):
        sock.settimeout(1.0 * (attempt + 1))
        tid = random.getrandbits(32)
        sock.send(req(tid))
        try:
            while True:
                data = sock.recv(65536)
                if len(data) >= 8 and struct.unpack('>II', data[:8])[1] == tid:
                    break
        except socket.timeout:
            continue
        act = struct.unpack('>I', data[:4])[0]
        if act == 3:
            raise SystemExit('tracker error: %r' % data[8:])
        if act != action:
            raise SystemExit('unexpected action %d' % act)
        return data
    raise SystemExit('no answer from tracker')
_, cmd, host, port, *hexes = sys.argv
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, int(port)))
r = txn(s, lambda t: struct.pack('>QII', PROTOCOL_ID, 0, t), 0)
conn = struct.unpack('>Q', r[8:16])[0]
r = txn(s, lambda t: struct.pack('>QII', conn, 2, t) + b''.join(bytes.fromhex(h) for h in hexes), 2)
for i, h in enumerate(hexes):
    se, co, le = struct.unpack('>III', r[8 + 12 * i:20 + 12 * i])
    print('%s seeders=%d completed=%d leechers=%d' % (h, se, co, le))
EOF

cat >"$W/parse_scrape.py" <<'EOF'
# parse_scrape.py < text: find seeders/leechers/completed numbers in free-form scrape output; prints
# "S C L" (-1 when a field is not found). Accepts "seeders: 3", "seeders=3", "3 seeders", "complete 3"...
import re, sys
text = sys.stdin.read().lower()
def find(words):
    alt = '|'.join(words)
    m = re.search(r'\b(?:%s)\b\s*[:=]?\s*(\d+)' % alt, text) or re.search(r'(\d+)\s+(?:%s)\b' % alt, text)
    return int(m.group(1)) if m else -1
print(find(['seeders', 'seeds', 'seeding', 'complete']), find(['completed', 'downloaded', 'snatches', 'downloads']),
      find(['leechers', 'leeches', 'leeching', 'incomplete']))
EOF

# ---- tracker ----
mkfifo "$W/console"
exec 9<>"$W/console"   # the tracker's console: held open so it never sees EOF
TRACKER_PID=
TPORT=

start_tracker() {
    if [[ $IMPL == opentracker ]]; then
        cat "$W"/*.hash >"$W/whitelist"
        opentracker -i 127.0.0.1 -P "$TPORT" -p "$(free_port tcp)" -w whitelist -u nobody -d "$W" \
            >"$W/tracker.out" 2>"$W/tracker.err" <&9 &
        TRACKER_PID=$!
        PIDS+=("$TRACKER_PID")
        sleep 0.5
        kill -0 "$TRACKER_PID" 2>/dev/null || fail "opentracker did not start"
        return
    fi
    [[ -x $P2PNODE ]] || skip "$P2PNODE not built"
    "$P2PNODE" --tracker --bind 127.0.0.1 --port 0 --state "$W/tracker.state" \
        >"$W/tracker.out" 2>"$W/tracker.err" <&9 &
    TRACKER_PID=$!
    PIDS+=("$TRACKER_PID")
    local line="" t
    for ((t = 0; t < 100; t++)); do
        line=$(grep -m1 -o 'tracker listening on udp://[^ ]*' "$W/tracker.out" || true)
        [[ -n $line ]] && break
        if ! kill -0 "$TRACKER_PID" 2>/dev/null; then
            if ! "$P2PNODE" --help 2>&1 | grep -q -- '--tracker' ||
                grep -q 'not available in this build' "$W/tracker.err"; then
                skip "$P2PNODE has no --tracker mode yet"
            fi
            fail "p2pnode --tracker exited without listening"
        fi
        sleep 0.1
    done
    [[ -n $line ]] || fail "p2pnode --tracker printed no 'tracker listening on' line within 10 s"
    TPORT=${line##*:}
    TPORT=${TPORT%%/*}
    [[ $TPORT =~ ^[0-9]+$ && $TPORT != 0 ]] || fail "bad port in '$line'"
}

make_torrent() {  # $1 = name; makes $W/src-$1/$1 (2 MiB random), $W/$1.torrent, $W/$1.hash
    mkdir -p "$W/src-$1"
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$W/src-$1/$1"
    mktorrent -a "udp://127.0.0.1:$TPORT" -l 16 -o "$W/$1.torrent" "$W/src-$1/$1" >/dev/null
    "$PY" -c 'import libtorrent as lt,sys; print(str(lt.torrent_info(sys.argv[1]).info_hash()))' \
        "$W/$1.torrent" >"$W/$1.hash"
}

# opentracker only serves whitelisted hashes, so it must know them (and so its port) before it starts;
# p2pnode tells its ephemeral port only once it runs.
if [[ $IMPL == opentracker ]]; then
    TPORT=$(free_port udp)
    make_torrent fwd
    make_torrent rev
    start_tracker
else
    start_tracker
    make_torrent fwd
    make_torrent rev
fi
echo "tracker ($IMPL) on udp://127.0.0.1:$TPORT; fwd=$(cat "$W/fwd.hash") rev=$(cat "$W/rev.hash")"

scrape_counts() {  # $1 = hex info hash; prints "S C L" as the tracker reports them
    if [[ $IMPL == opentracker ]]; then
        timeout 15 "$PY" "$W/bep15.py" scrape 127.0.0.1 "$TPORT" "$1" | "$PY" "$W/parse_scrape.py"
    else
        timeout 15 "$P2PNODE" --scrape "$1" --tracker "udp://127.0.0.1:$TPORT" --timeout 5 \
            >"$W/scrape.out" 2>&1 || true
        "$PY" "$W/parse_scrape.py" <"$W/scrape.out"
    fi
}

# expect_scrape HASH MIN_SEEDERS MIN_COMPLETED: poll (announces are asynchronous) up to 20 s.
expect_scrape() {
    local h=$1 min_s=$2 min_c=$3 s c l t
    for ((t = 0; t < 20; t++)); do
        read -r s c l < <(scrape_counts "$h")
        if ((s >= min_s && c >= min_c)); then
            echo "scrape $h: seeders=$s completed=$c leechers=$l (ok)"
            # The wire answer must agree with what the CLI printed.
            local wire
            wire=$(timeout 15 "$PY" "$W/bep15.py" scrape 127.0.0.1 "$TPORT" "$h" | "$PY" "$W/parse_scrape.py")
            read -r ws wc _ <<<"$wire"
            ((ws >= min_s && wc >= min_c)) || fail "wire scrape disagrees: $wire"
            return 0
        fi
        sleep 1
    done
    [[ -f $W/scrape.out ]] && cat "$W/scrape.out"
    fail "scrape $h: seeders=$s completed=$c leechers=$l, wanted seeders>=$min_s completed>=$min_c"
}

aria2_common=(--no-conf=true --enable-dht=true --bt-enable-lpd=false --enable-peer-exchange=false
    --dht-file-path="$W/dht.dat" --file-allocation=none --summary-interval=0 --console-log-level=warn
    --log-level=info --bt-tracker-connect-timeout=10 --bt-tracker-timeout=10 --disable-ipv6=true)

# ---- forward: libtorrent seeds, aria2 downloads ----
"$PY" "$W/lt_node.py" seed "$W/fwd.torrent" "$W/src-fwd" >"$W/lt-seed.log" 2>&1 &
PIDS+=("$!")
mkdir -p "$W/dl-fwd"
echo "forward: aria2c downloading from the libtorrent seed"
timeout 60 aria2c "${aria2_common[@]}" --seed-time=0.05 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/dl-fwd" --log="$W/aria2-download.log" "$W/fwd.torrent" \
    >"$W/aria2-download.out" 2>&1 || fail "aria2c download failed or timed out (rc=$?)"
cmp "$W/src-fwd/fwd" "$W/dl-fwd/fwd" || fail "forward copy differs"
echo "forward: bytes match"
expect_scrape "$(cat "$W/fwd.hash")" 1 1

# ---- reverse: aria2 seeds, libtorrent downloads ----
echo "reverse: libtorrent downloading from the aria2 seed"
timeout 100 aria2c "${aria2_common[@]}" --check-integrity=true --seed-ratio=0.0 \
    --listen-port="$(free_port tcp)" --dht-listen-port="$(free_port udp)" --dir="$W/src-rev" \
    --log="$W/aria2-seed.log" "$W/rev.torrent" >"$W/aria2-seed.out" 2>&1 &
PIDS+=("$!")
mkdir -p "$W/dl-rev"
timeout 60 "$PY" "$W/lt_node.py" download "$W/rev.torrent" "$W/dl-rev" >"$W/lt-download.log" 2>&1 \
    || fail "libtorrent download failed or timed out"
cmp "$W/src-rev/rev" "$W/dl-rev/rev" || fail "reverse copy differs"
echo "reverse: bytes match"
expect_scrape "$(cat "$W/rev.hash")" 1 1

PASSED=1
echo "PASS"
