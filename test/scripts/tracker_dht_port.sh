#!/usr/bin/env bash
# p2pnode --tracker --dht-port N: a Mainline DHT (BEP 5) node beside the UDP tracker, on its own UDP socket, as the
# bootstrap node of its peers. All on 127.0.0.1, ephemeral ports: the DHT's routing table keys loopback nodes by
# address AND port, so several nodes on one host each get a slot. (Its rate limit is keyed by IP only: every loopback
# sender together gets 49 packets per 10 s before 127.0.0.1 is ignored for 5 minutes. This scenario sends the
# tracker's node far fewer, and the polls below ask once a second.) A KRPC client written here (python3 stdlib,
# bencode inline) queries the tracker's node read-only (BEP 43 "ro": 1, so it never enters the node's table):
#   1. `--tracker --dht-port 0 --state FILE`: prints "dht node listening on udp port N" (N not 0, not the tracker's
#      port); a KRPC ping gets y=r, our transaction id back and a 20-byte id.
#   2. A p2pnode seed (--peer --share, --dht-bootstrap 127.0.0.1:N, --no-lsd, no --tracker) and a p2pnode downloader
#      (--get of a bare magnet without tr=, same bootstrap, --no-lsd, --exit-when-done) meet only through the
#      tracker's node: the seed's announce_peer is stored there (a get_peers returns 127.0.0.1:SEED_PORT), the
#      downloader logs "dht: first peers for HEX", completes, and its copy is byte-identical (cmp); the UDP tracker
#      still answers and never heard of the torrent (BEP 15 scrape: 0 seeders, 0 completed).
#   3. A second DHT-only peer (sharing an empty folder) joins; once the tracker's node has verified it and the seed
#      (find_node returns both: two nodes on 127.0.0.1), SIGTERM: exit 0, FILE.dht is JSON with the node id of the
#      ping reply and both nodes (address, port, id). Restart with the same --state and --dht-port N: the same port,
#      the same id in a ping reply, and both saved nodes are pinged back into the table. A second tracker asking for
#      the same DHT port meanwhile fails with one stderr line naming it, exit non-zero.
#   4. --dht-port 70000, abc, -1, and --dht-port in --peer mode: one stderr line naming --dht-port, non-zero exit,
#      nothing on stdout.
# P2PNODE_DHT_BOOTSTRAP=none (lib/common.sh, tools/run-tests) is overridden by an explicit --dht-bootstrap: each
# peer must log "1 bootstrap nodes". Runs in both passes of tools/run-tests (no NORMAL_ONLY name); a sanitizer
# report in any log fails it. Exit 0 pass, 77 skip ($P2PNODE not built or without --dht-port), other fail.
# Takes ~15 s (about the same under ASan). Limit 120 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode tracker
t_need_p2pnode dht-port
t_need_tools cmp timeout
t_init p2p-tracker-dht 40 stamp
STATE=$W/tracker.state
LOOP=127.0.0.1

# ---- the KRPC client: krpc.py ping|find_node|get_peers HOST PORT [HEX] ----
#   ping HOST PORT            -> "id HEX"
#   find_node HOST PORT       -> "id HEX", then "node HEX IP:PORT" per contact in the reply
#   get_peers HOST PORT HEX   -> "id HEX", then "peer IP:PORT" per value in the reply
# Exit 1 with a message when no valid reply comes (3 tries, 1 s apart) or the reply is malformed.
cat >"$W/krpc.py" <<'EOF'
import os, socket, sys

def benc(x):
    if isinstance(x, int):
        return b'i%de' % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b'%d:%s' % (len(x), x)
    if isinstance(x, list):
        return b'l' + b''.join(benc(v) for v in x) + b'e'
    if isinstance(x, dict):
        out = b'd'
        for k in sorted(x):
            out += benc(k) + benc(x[k])
        return out + b'e'
    raise TypeError(type(x))

def bdec(s, i=0):
    c = s[i:i + 1]
    if c == b'i':
        j = s.index(b'e', i)
        return int(s[i + 1:j]), j + 1
    if c == b'l':
        out, i = [], i + 1
        while s[i:i + 1] != b'e':
            v, i = bdec(s, i)
            out.append(v)
        return out, i + 1
    if c == b'd':
        out, i = {}, i + 1
        while s[i:i + 1] != b'e':
            k, i = bdec(s, i)
            if not isinstance(k, bytes):
                raise ValueError('dict key not a string')
            out[k], i = bdec(s, i)
        return out, i + 1
    if c.isdigit():
        j = s.index(b':', i)
        n = int(s[i:j])
        if j + 1 + n > len(s):
            raise ValueError('string runs past the end')
        return s[j + 1:j + 1 + n], j + 1 + n
    raise ValueError('bad bencode at %d' % i)

def ip_port(b):
    return '%d.%d.%d.%d:%d' % (b[0], b[1], b[2], b[3], int.from_bytes(b[4:6], 'big'))

method, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = {b'id': os.urandom(20)}
if method == 'find_node':
    args[b'target'] = os.urandom(20)
elif method == 'get_peers':
    args[b'info_hash'] = bytes.fromhex(sys.argv[4])
elif method != 'ping':
    sys.exit('unknown method ' + method)
tid = os.urandom(2)
query = benc({b't': tid, b'y': b'q', b'q': method.encode(), b'a': args, b'ro': 1})
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(('127.0.0.1', 0))
sock.settimeout(1.0)
reply = None
for attempt in range(3):
    sock.sendto(query, (host, port))
    try:
        while True:
            data, frm = sock.recvfrom(65536)
            if frm == (host, port):
                break
    except socket.timeout:
        continue
    reply = data
    break
if reply is None:
    sys.exit('krpc %s: no reply from %s:%d in 3 tries' % (method, host, port))
try:
    msg, end = bdec(reply)
except (ValueError, IndexError) as e:
    sys.exit('krpc %s: reply is not bencode (%s): %r' % (method, e, reply[:200]))
if not isinstance(msg, dict) or end != len(reply):
    sys.exit('krpc %s: reply is not one bencoded dict: %r' % (method, reply[:200]))
if msg.get(b'y') != b'r':
    sys.exit('krpc %s: y=%r, want r (reply %r)' % (method, msg.get(b'y'), msg))
if msg.get(b't') != tid:
    sys.exit('krpc %s: transaction id %r, sent %r' % (method, msg.get(b't'), tid))
r = msg.get(b'r')
if not isinstance(r, dict) or not isinstance(r.get(b'id'), bytes) or len(r[b'id']) != 20:
    sys.exit('krpc %s: no 20-byte r.id in %r' % (method, msg))
print('id', r[b'id'].hex())
if method == 'find_node':
    nodes = r.get(b'nodes', b'')
    if len(nodes) % 26:
        sys.exit('krpc find_node: nodes is %d bytes, not a multiple of 26' % len(nodes))
    for k in range(0, len(nodes), 26):
        print('node', nodes[k:k + 20].hex(), ip_port(nodes[k + 20:k + 26]))
if method == 'get_peers':
    if not isinstance(r.get(b'token'), bytes):
        sys.exit('krpc get_peers: no token in %r' % r)
    for v in r.get(b'values', []):
        if len(v) == 6:
            print('peer', ip_port(v))
EOF
# krpc METHOD PORT [HEX]: krpc.py against the tracker's node at 127.0.0.1:PORT (limit 10 s).
krpc() { timeout 10 "$PY" "$W/krpc.py" "$1" "$LOOP" "$2" "${@:3}"; }
# ping_id PORT: PING_ID = the node id in a ping reply (fails the test when there is none).
ping_id() {
    local out
    out=$(krpc ping "$1" 2>&1) || fail "KRPC ping of $LOOP:$1: $out"
    [[ $out =~ ^id\ ([0-9a-f]{40})$ ]] || fail "KRPC ping of $LOOP:$1: unexpected output '$out'"
    PING_ID=${BASH_REMATCH[1]}
}
# poll_krpc SECS WHAT REGEX METHOD PORT [HEX]: repeat the query once a second (few packets: the node's rate
# limit counts every loopback node together) until its output has a line matching REGEX.
poll_krpc() {
    local secs=$1 what=$2 re=$3 t out=
    shift 3
    for ((t = 0; t < secs; t++)); do
        out=$(krpc "$@" 2>&1) || true
        grep -qE "$re" <<<"$out" && return 0
        sleep 1
    done
    fail "$what within $secs s (last reply: $(tr '\n' ' ' <<<"$out"))"
}
# dht_port_of NAME: DHT_PORT = the N of NAME's "dht node listening on udp port N" line.
dht_port_of() {
    local line
    line=$(wait_line "$W/$1.out" '^dht node listening on udp port [0-9]+$' "$(pid_of "$1")" 10) ||
        fail "$1 printed no 'dht node listening on udp port N'"
    DHT_PORT=${line##* }
}
# stop_ok NAME: SIGTERM, must exit 0 within 20 s.
stop_ok() {
    stop "$1" 20
    local rc=RC_$1
    ((${!rc} == 0)) || fail "$1 exited ${!rc} on SIGTERM (want 0)"
}

# ---- 1. the tracker's DHT node answers ----
tracker_start tracker --bind "$LOOP" --port 0 --dht-port 0 --state "$STATE" --no-console ||
    fail "p2pnode --tracker --dht-port 0 did not start"
dht_port_of tracker
DPORT=$DHT_PORT
[[ $DPORT != 0 && $DPORT != "$TPORT" ]] || fail "DHT port $DPORT: not a port of its own (tracker on $TPORT)"
ping_id "$DPORT"
NODE_ID=$PING_ID
say "1. tracker on $TURL, its DHT node on udp port $DPORT answers ping: id $NODE_ID"

# ---- 2. a seed and a downloader meet only through that node ----
random_file "$W/share/dht.bin" $((3 * 1024 * 1024 + 777))
mkdir -p "$W/dl"
HASH=$(make_torrent "$W/share/dht.bin" "$W/dht.torrent")
[[ $HASH =~ ^[0-9a-f]{40}$ ]] || fail "--make-torrent printed no info hash"
BOOT=$LOOP:$DPORT
# start_peer NAME ARGS...: p2pnode --peer ARGS on 127.0.0.1 (ephemeral port) joining the DHT through the tracker's
# node only; sets PEER_PORT and PEER_ID (its DHT node's id; the node listens on the peer port).
start_peer() {
    local name=$1 line
    shift
    start "$name" --peer "$@" --bind "$LOOP" --port 0 --dht-bootstrap "$BOOT" --no-lsd --no-console
    line=$(wait_line "$W/$name.out" "^peer listening on $LOOP:[0-9]+" "$(pid_of "$name")" 30) ||
        fail "$name did not print 'peer listening on $LOOP:PORT'"
    PEER_PORT=${line##*:}
    line=$(wait_line "$W/$name.err" 'dht: node [0-9a-f]{40} on UDP port [0-9]+, 1 bootstrap nodes' \
        "$(pid_of "$name")" 10) ||
        fail "$name did not start its DHT node with 1 bootstrap node (--dht-bootstrap over P2PNODE_DHT_BOOTSTRAP=none)"
    read -r _ _ PEER_ID _ <<<"$line"
}
start_peer seed --share "$W/share"
SEED_PORT=$PEER_PORT SEED_ID=$PEER_ID
wait_sharing seed dht.bin "$HASH"
# The tracker's node stores the seed's announce_peer (implied_port: the seed's uTP/TCP port).
poll_krpc 30 "the tracker's DHT node has no peer $LOOP:$SEED_PORT for $HASH" "^peer $LOOP:$SEED_PORT\$" \
    get_peers "$DPORT" "$HASH"
say "2. seed $LOOP:$SEED_PORT (node $SEED_ID) shares dht.bin $HASH; the tracker's node stores its announce"

t0=$(date +%s%N)
rc=0
timeout 80 "$P2PNODE" --peer --get "magnet:?xt=urn:btih:$HASH" --into "$W/dl" --bind "$LOOP" --port 0 \
    --dht-bootstrap "$BOOT" --no-lsd --exit-when-done --timeout 70 --no-console \
    >"$W/get.out" 2>"$W/get.err" </dev/null || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
((rc == 0)) || fail "the downloader exited $rc (bare magnet, DHT bootstrap $BOOT only)"
grep -q 'dht: node [0-9a-f]\{40\} on UDP port [0-9]*, 1 bootstrap nodes' "$W/get.err" ||
    fail "the downloader did not start its DHT node with 1 bootstrap node"
grep -q "dht: first peers for $HASH" "$W/get.err" || fail "the downloader logged no 'dht: first peers for $HASH'"
grep -q "^complete dht.bin $HASH" "$W/get.out" || fail "the downloader printed no 'complete dht.bin $HASH'"
same_bytes "dht.bin (bare magnet, found through the tracker's DHT node)" "$W/share/dht.bin" "$W/dl/dht.bin"
# The UDP tracker still works, and never heard of this torrent: the peers met through the DHT alone.
wire=$(bep15 scrape "$HASH") || fail "the tracker did not answer a BEP 15 scrape: $wire"
[[ $wire == "$HASH seeders=0 completed=0 leechers=0" ]] ||
    fail "BEP 15 scrape of $HASH: '$wire' (no peer was told of the tracker: want 0 seeders 0 completed)"
say "   downloader complete in $((ms / 1000)).$((ms % 1000 / 100)) s, byte-identical; tracker scrape: $wire"

# ---- 3. the node's state is saved at SIGTERM and its id survives a restart ----
# A second DHT node on this host, started only now (during the download the only store of peers was the
# tracker's node): a peer sharing nothing. The tracker's node must keep both loopback nodes (one address, two ports).
mkdir -p "$W/empty"
start_peer idle --share "$W/empty"
IDLE_PORT=$PEER_PORT IDLE_ID=$PEER_ID
# The tracker's node pings the nodes that queried it (every 5 s); those that answered are in its find_node replies.
# wait_verified SECS WHAT: until a find_node reply of the tracker's node lists the seed and the idle peer.
wait_verified() {
    local t out=
    for ((t = 0; t < $1; t++)); do
        out=$(krpc find_node "$DPORT" 2>&1) || true
        grep -qx "node $SEED_ID $LOOP:$SEED_PORT" <<<"$out" && grep -qx "node $IDLE_ID $LOOP:$IDLE_PORT" <<<"$out" &&
            return 0
        sleep 1
    done
    fail "$2 within $1 s (last find_node reply: $(tr '\n' ' ' <<<"$out"))"
}
wait_verified 30 "the tracker's DHT node did not verify both $LOOP:$SEED_PORT and $LOOP:$IDLE_PORT"
# SIGHUP saves the table while the tracker runs (a crash later still leaves it), then SIGTERM saves it again.
[[ ! -e $STATE.dht ]] || fail "$STATE.dht exists before any save"
kill -HUP "$(pid_of tracker)"
for ((t = 0; t < 50; t++)); do [[ -s $STATE.dht ]] && break; sleep 0.1; done
[[ -s $STATE.dht ]] || fail "$STATE.dht was not written on SIGHUP"
kill -0 "$(pid_of tracker)" 2>/dev/null || fail "the tracker died of SIGHUP"
rm -f "$STATE.dht"
stop_ok tracker
[[ -s $STATE.dht ]] || fail "$STATE.dht was not written at SIGTERM"
compgen -G "$STATE.dht.tmp*" >/dev/null && fail "$(compgen -G "$STATE.dht.tmp*") left behind"
# check_state FILE ID IP:PORT:NODE_ID...: FILE is JSON with "id" ID and each node among its "nodes"; prints
# how many nodes it has.
check_state() {
    "$PY" - "$@" <<'EOF'
import json, re, sys
path, want_id, want = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    with open(path) as f:
        j = json.load(f)
except ValueError as e:
    sys.exit('%s is not JSON: %s' % (path, e))
if not isinstance(j, dict) or not re.fullmatch('[0-9a-f]{40}', str(j.get('id'))):
    sys.exit('%s: no 40-hex "id"' % path)
if j['id'] != want_id:
    sys.exit('%s: id %s, the node answered pings as %s' % (path, j['id'], want_id))
nodes = j.get('nodes')
if not isinstance(nodes, list) or not nodes:
    sys.exit('%s: no "nodes"' % path)
for w in want:
    ip, port, node_id = w.split(':')
    if not any(isinstance(n, dict) and n.get('ip') == ip and n.get('port') == int(port) and n.get('id') == node_id
               for n in nodes):
        sys.exit('%s: node %s:%s (%s) is not among its %d nodes: %s' % (path, ip, port, node_id, len(nodes), nodes))
print(len(nodes))
EOF
}
SAVED=("$LOOP:$SEED_PORT:$SEED_ID" "$LOOP:$IDLE_PORT:$IDLE_ID")
n=$(check_state "$STATE.dht" "$NODE_ID" "${SAVED[@]}") || fail "bad $STATE.dht"
say "3. SIGTERM: exit 0, $STATE.dht has id $NODE_ID and $n node(s), the seed and the idle peer among them"

tracker_start tracker2 --bind "$LOOP" --port 0 --dht-port "$DPORT" --state "$STATE" --no-console ||
    fail "the tracker did not restart with --dht-port $DPORT --state $STATE"
dht_port_of tracker2
[[ $DHT_PORT == "$DPORT" ]] || fail "restarted with --dht-port $DPORT, listens on $DHT_PORT"
ping_id "$DPORT"
id2=$PING_ID
[[ $id2 == "$NODE_ID" ]] || fail "restarted node answers as $id2, was $NODE_ID (same --state)"
# Saved nodes are pinged at start (not trusted): both answer and are back in the table.
wait_verified 20 "the restarted node did not ping the saved nodes back into its table"
say "   restarted on udp port $DPORT: same id $id2, the saved nodes answered and are back in its table"

# The port is in use now: another tracker asking for it must say so and stop.
rc=0
timeout 10 "$P2PNODE" --tracker --bind "$LOOP" --port 0 --dht-port "$DPORT" --no-console \
    >"$W/busy.out" 2>"$W/busy.err" </dev/null || rc=$?
((rc != 0 && rc != 124)) || fail "a second tracker on the busy DHT port $DPORT exited $rc (want an error exit)"
{ [[ $(grep -c . "$W/busy.err") == 1 ]] && grep -q "DHT port $DPORT" "$W/busy.err"; } ||
    fail "busy DHT port: want one stderr line naming the DHT port $DPORT, got: $(cat "$W/busy.err")"
! grep -q 'listening' "$W/busy.out" || fail "the tracker on a busy DHT port said it was listening"
say "   a second tracker on the busy DHT port: exit $rc, '$(cat "$W/busy.err")'"
stop_ok tracker2
n=$(check_state "$STATE.dht" "$NODE_ID" "${SAVED[@]}") || fail "bad $STATE.dht after the restart"
stop_ok seed
stop_ok idle

# ---- 4. bad values ----
bad_value() { # bad_value NAME ARGS...: one stderr line naming --dht-port, non-zero exit, nothing on stdout
    local name=$1 rc=0
    shift
    timeout 10 "$P2PNODE" "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || rc=$?
    ((rc != 0 && rc != 124)) || fail "p2pnode $* exited $rc (want an error exit)"
    { [[ $(grep -c . "$W/$name.err") == 1 ]] && grep -q -- '--dht-port' "$W/$name.err"; } ||
        fail "p2pnode $*: want one stderr line naming --dht-port, got: $(cat "$W/$name.err")"
    [[ ! -s $W/$name.out ]] || fail "p2pnode $* printed on stdout: $(cat "$W/$name.out")"
    say "   $*: exit $rc, '$(cat "$W/$name.err")'"
}
say "4. bad --dht-port values:"
bad_value bad_big --tracker --bind "$LOOP" --port 0 --dht-port 70000 --no-console
bad_value bad_word --tracker --bind "$LOOP" --port 0 --dht-port abc --no-console
bad_value bad_neg --tracker --bind "$LOOP" --port 0 --dht-port -1 --no-console
bad_value bad_mode --peer --share "$W/share" --bind "$LOOP" --port 0 --dht-port 6881 --no-console

# A sanitizer build (tools/run-tests with SANITIZER_PASS=1) reports to stderr; an exit code may not show it.
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W"/*.err >/dev/null 2>&1; then
    fail "sanitizer report in $(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W"/*.err | xargs)"
fi
PASSED=1
echo "PASS"
