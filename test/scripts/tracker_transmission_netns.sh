#!/usr/bin/env bash
# Interop across hosts: p2pnode's UDP tracker with Transmission, in three network namespaces on one bridge
# (tools/netns). Transmission 3.00 ignores peers on 127.0.0.0/8, hence the namespaces.
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: python3-libtorrent seeding a 2 MiB random file announced to that tracker
#   host 3: transmission-daemon (own config dir: no uTP, DHT, LPD or PEX; RPC on 127.0.0.1 inside the namespace);
#           transmission-remote adds the .torrent and polls until 100 %.
# Then cmp the copy, and `p2pnode --scrape` shows completed >= 1 and seeders >= 1.
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE has no --tracker), other fail. Limit 180 s.
# TRACKER_IMPL=opentracker runs the same checks against Debian's opentracker (to validate the test itself).
set -euo pipefail

if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
    export P2P_TEST_WRAPPED=1
    exec timeout -k 5 "${P2P_TEST_TIMEOUT:-180}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3
IMPL=${TRACKER_IMPL:-p2pnode}

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) == 0 ]] || skip "needs root for network namespaces"
for tool in ip transmission-daemon transmission-remote mktorrent cmp; do
    command -v "$tool" >/dev/null || skip "$tool not installed"
done
"$PY" -c 'import libtorrent' 2>/dev/null || skip "python3-libtorrent not installed for $PY"
if [[ $IMPL == opentracker ]]; then command -v opentracker >/dev/null || skip "opentracker not installed"; fi

# shellcheck source-path=SCRIPTDIR/../.. source=tools/netns
source "$ROOT/tools/netns"
NS=p2pt$$
W=$(mktemp -d /tmp/p2p-transmission.XXXXXX)
chmod 755 "$W"   # opentracker drops to nobody and chroots here
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
            echo "----- $(basename "$f") (last 60 lines) -----"
            tail -n 60 "$f"
        done
        [[ $rc == 0 ]] && rc=1
    fi
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT
fail() { echo "FAIL: $*"; exit 1; }

free_port() {  # $1 = host index, $2 = tcp|udp: a port free inside that host a moment ago
    netns_exec "$NS" "$1" "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind(("0.0.0.0",0)); print(s.getsockname()[1])' "$2"
}

netns_setup "$NS" 3
TIP=$(netns_ip "$NS" 1)
SIP=$(netns_ip "$NS" 2)

cat >"$W/lt_seed.py" <<'EOF'
# lt_seed.py TORRENT SAVE_DIR IP: a libtorrent seed on IP that finds peers only via the torrent's tracker.
import sys, time
import libtorrent as lt
torrent, save, ip = sys.argv[1:4]
ses = lt.session({
    'listen_interfaces': ip + ':0', 'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': False,
    'enable_incoming_utp': False, 'alert_mask': lt.alert.category_t.all_categories,
    'user_agent': 'p2pnode-test-libtorrent'})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
atp.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(atp)
print('listening on port', ses.listen_port(), flush=True)
interesting = (lt.tracker_reply_alert, lt.tracker_error_alert, lt.tracker_warning_alert, lt.tracker_announce_alert,
               lt.peer_connect_alert, lt.peer_disconnected_alert, lt.listen_failed_alert, lt.listen_succeeded_alert)
last = 0.0
while True:
    for a in ses.pop_alerts():
        if isinstance(a, interesting):
            print(time.strftime('%H:%M:%S'), type(a).__name__, a.message(), flush=True)
    if time.time() - last > 5:
        last = time.time()
        st = h.status()
        print('state', st.state, 'peers', st.num_peers, 'uploaded', st.total_upload, flush=True)
    time.sleep(0.2)
EOF

cat >"$W/parse_scrape.py" <<'EOF'
# parse_scrape.py < text: seeders/completed/leechers numbers in free-form scrape output -> "S C L" (-1 = absent).
import re, sys
text = sys.stdin.read().lower()
def find(words):
    alt = '|'.join(words)
    m = re.search(r'\b(?:%s)\b\s*[:=]?\s*(\d+)' % alt, text) or re.search(r'(\d+)\s+(?:%s)\b' % alt, text)
    return int(m.group(1)) if m else -1
print(find(['seeders', 'seeds', 'seeding', 'complete']), find(['completed', 'downloaded', 'snatches', 'downloads']),
      find(['leechers', 'leeches', 'leeching', 'incomplete']))
EOF

# ---- data and torrent ----
make_torrent() {
    mktorrent -a "udp://$TIP:$TPORT" -l 16 -o "$W/data.torrent" "$W/seed/data.bin" >/dev/null
    HASH=$("$PY" -c 'import libtorrent as lt,sys; print(str(lt.torrent_info(sys.argv[1]).info_hash()))' "$W/data.torrent")
}
mkdir -p "$W/seed" "$W/tr-dl" "$W/tr-config"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$W/seed/data.bin"

# ---- host 1: tracker ----
mkfifo "$W/console"
exec 9<>"$W/console"   # the tracker's console: held open so it never sees EOF
if [[ $IMPL == opentracker ]]; then
    # opentracker serves only whitelisted hashes: make the torrent first, on a port chosen in advance.
    TPORT=$(free_port 1 udp)
    make_torrent
    echo "$HASH" >"$W/whitelist"
    netns_exec "$NS" 1 opentracker -i "$TIP" -P "$TPORT" -p "$(free_port 1 tcp)" -w whitelist -u nobody -d "$W" \
        >"$W/tracker.out" 2>"$W/tracker.err" <&9 &
    PIDS+=("$!")
    sleep 0.5
else
    [[ -x $P2PNODE ]] || skip "$P2PNODE not built"
    netns_exec "$NS" 1 "$P2PNODE" --tracker --bind "$TIP" --port 0 --state "$W/tracker.state" \
        >"$W/tracker.out" 2>"$W/tracker.err" <&9 &
    TRACKER_PID=$!
    PIDS+=("$TRACKER_PID")
    line=""
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
    make_torrent
fi
echo "tracker ($IMPL) on udp://$TIP:$TPORT in $NS-1; info hash $HASH"

# ---- host 2: libtorrent seed ----
netns_exec "$NS" 2 "$PY" "$W/lt_seed.py" "$W/data.torrent" "$W/seed" "$SIP" >"$W/lt-seed.log" 2>&1 &
PIDS+=("$!")

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
    "message-level": 3
}
EOF
netns_exec "$NS" 3 transmission-daemon -f -g "$W/tr-config" >"$W/transmission.log" 2>&1 &
PIDS+=("$!")
remote() { netns_exec "$NS" 3 transmission-remote "127.0.0.1:$RPC" "$@"; }
for ((t = 0; t < 100; t++)); do
    remote -l >/dev/null 2>&1 && break
    sleep 0.2
done
remote -l >/dev/null 2>&1 || fail "transmission RPC not answering on 127.0.0.1:$RPC in $NS-3"
remote -a "$W/data.torrent" >"$W/remote.out" 2>&1 || fail "transmission-remote -a failed"
echo "transmission ($NS-3) added the torrent; waiting for 100 %"

done_pct=""
for ((t = 0; t < 120; t++)); do
    remote -t 1 -i >"$W/remote-info.out" 2>&1 || true
    done_pct=$(grep -m1 'Percent Done' "$W/remote-info.out" | awk '{print $3}' || true)
    [[ $done_pct == 100% ]] && break
    if ((t % 10 == 0)); then echo "  t=${t}s percent done: ${done_pct:-?}"; fi
    sleep 1
done
[[ $done_pct == 100% ]] || { cat "$W/remote-info.out"; fail "transmission did not finish within 120 s"; }
cmp "$W/seed/data.bin" "$W/tr-dl/data.bin" || fail "transmission's copy differs"
echo "transmission: 100 %, bytes match"

# ---- scrape: transmission sent "completed"; the libtorrent seed is still there ----
if [[ $IMPL == opentracker ]]; then
    echo "scrape check skipped (opentracker mode has no p2pnode --scrape)"
    PASSED=1
    echo "PASS"
    exit 0
fi
for ((t = 0; t < 20; t++)); do
    netns_exec "$NS" 1 timeout 15 "$P2PNODE" --scrape "$HASH" --tracker "udp://$TIP:$TPORT" --timeout 5 \
        >"$W/scrape.out" 2>&1 || true
    counts=$("$PY" "$W/parse_scrape.py" <"$W/scrape.out")
    read -r s c l <<<"$counts"
    ((s >= 1 && c >= 1)) && break
    sleep 1
done
read -r s c l <<<"$counts"
((s >= 1 && c >= 1)) || { cat "$W/scrape.out"; fail "scrape: seeders=$s completed=$c, wanted both >= 1"; }
echo "scrape: seeders=$s completed=$c leechers=$l (ok)"

PASSED=1
echo "PASS"
