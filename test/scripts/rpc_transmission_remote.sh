#!/usr/bin/env bash
# Debian's transmission-remote drives `p2pnode --peer --rpc-port 0` (the Transmission RPC). A p2pnode tracker and
# a p2pnode seed share a.bin (8 MiB, upload limited to 2 MiB/s) and b.bin; the RPC peer shares its own m.bin.
# With transmission-remote: -l lists m.bin seeding; -a adds a.torrent (sent as base64 metainfo); -t ID -d sets a
# download limit (-i shows it); -i and -f show the torrent and its file; -S stops it (no byte arrives for 2 s,
# state Stopped); -s starts it and it completes byte-identical; --remove-and-delete removes it with its file (the
# seed's files untouched, checked by sha1); -a with a magnet link fetches b.bin byte-identical. /stats and
# /metrics answer on the same port; a foreign Host header gets 421. With --rpc-auth-file, no password is a 401.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools transmission-remote
p2p_help_has --rpc-port || skip "$P2PNODE has no --rpc-port"
t_init p2p-rpc-transmission-remote

local_tracker
random_file "$W/share/a.bin" 8388608
random_file "$W/share/b.bin" 300000
random_file "$W/mine/m.bin" 200000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console --max-upload-rate 2M
wait_sharing seed a.bin
wait_sharing seed b.bin
hash=$(make_torrent "$W/share/a.bin" "$W/a.torrent")
bhash=$(grep -o -E '^sharing b\.bin [0-9a-f]{40}' "$W/seed.out" | cut -d' ' -f3)
(cd "$W/share" && sha1sum a.bin b.bin >"$W/share.sum")

start node --peer --share "$W/mine" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --rpc-port 0 \
    --no-console
line=$(wait_line "$W/node.out" '^rpc http://127\.0\.0\.1:[0-9]+/transmission/rpc$' "$PID_node" 20) ||
    fail "no 'rpc http://...' line"
url=${line#rpc }
hostport=${url#http://}
hostport=${hostport%%/*}
say "RPC at $url"
wait_sharing node m.bin

# TR ARGS...: transmission-remote against the node; its output in $W/tr.last (and appended to tr.log).
TR() {
    timeout 30 transmission-remote "$hostport" "$@" >"$W/tr.last" 2>&1
    local rc=$?
    { echo "\$ transmission-remote $*"; cat "$W/tr.last"; } >>"$W/tr.log"
    return $rc
}
# rpc METHOD ARGS_JSON: one raw RPC call (the session-id handshake done by hand); prints the answer.
rpc() {
    "$PY" - "$url" "$1" "$2" <<'EOF'
import json, sys, urllib.request, urllib.error
url, method, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
body = json.dumps({"method": method, "arguments": args}).encode()
sid = ""
for _ in range(2):
    req = urllib.request.Request(url, data=body, headers={"X-Transmission-Session-Id": sid})
    try:
        print(urllib.request.urlopen(req, timeout=10).read().decode())
        sys.exit(0)
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise
        sid = e.headers["X-Transmission-Session-Id"]
sys.exit(1)
EOF
}
# have ID: haveValid of torrent ID, in bytes.
have() {
    rpc torrent-get "{\"ids\":[$1],\"fields\":[\"haveValid\"]}" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["arguments"]["torrents"][0]["haveValid"])'
}
# id_of NAME: the ID column of NAME in `transmission-remote -l`.
id_of() {
    TR -l || fail "transmission-remote -l failed"
    awk -v n="$1" '$NF == n { sub(/\*$/, "", $1); print $1 }' "$W/tr.last"
}

# -l: the node's own share, complete and seeding (or idle: no peer wants it).
TR -l || fail "transmission-remote -l failed"
grep -E '^ +1 +100% .*(Seeding|Idle) +m\.bin$' "$W/tr.last" >/dev/null || fail "-l does not list m.bin as seeding"

# -a a.torrent: added; limited to 1000 kB/s so that it takes a few seconds.
TR -a "$W/a.torrent" || fail "-a a.torrent failed"
grep -q 'responded: "success"' "$W/tr.last" || fail "-a a.torrent: no success"
id=$(id_of a.bin)
[[ -n $id ]] || fail "a.bin not listed after -a"
TR -t "$id" -d 1000 || fail "-t $id -d 1000 failed"
TR -t "$id" -i || fail "-t $id -i failed"
grep -q "^  Name: a.bin$" "$W/tr.last" || fail "-i: no Name: a.bin"
grep -q "^  Hash: $hash$" "$W/tr.last" || fail "-i: no Hash: $hash"
grep -q "^  Location: $W/dl$" "$W/tr.last" || fail "-i: no Location: $W/dl"
grep -q -E "^  Download Limit: (1000 kB/s|1\.00 MB/s)$" "$W/tr.last" || fail "-i: the download limit is not shown"
TR -t "$id" -f || fail "-t $id -f failed"
grep -q '^a.bin (1 files):$' "$W/tr.last" || fail "-f: no 'a.bin (1 files):'"
grep -E '^ +0: +[0-9]+% Normal +Yes +8\.39 MB +a\.bin$' "$W/tr.last" >/dev/null || fail "-f: no row for a.bin"
TR -a "$W/a.torrent" || fail "a second -a of a.torrent failed"
TR -t "$id" -it || fail "-t $id -it failed"
grep -q "^  Tracker 0: ${TURL#udp://}" "$W/tr.last" || fail "-it: no tracker ${TURL#udp://}"
TR -t "$id" -pi || fail "-t $id -pi failed"
grep -q '^Address ' "$W/tr.last" || fail "-pi: no peer table"

# -S mid-way: no byte arrives while stopped.
for ((i = 0; i < 150; i++)); do
    d=$(have "$id")
    ((d > 0)) && break
    sleep 0.1
done
((d > 0 && d < 8388608)) || fail "no partial progress to stop at (have: $d)"
TR -t "$id" -S || fail "-t $id -S failed"
sleep 0.5 # a piece being hashed or written may still land
before=$(have "$id")
sleep 2
after=$(have "$id")
say "stopped at $before bytes; 2 s later: $after"
((after == before)) || fail "bytes kept arriving while stopped ($before -> $after)"
TR -t "$id" -i || fail "-t $id -i failed"
grep -q '^  State: Stopped$' "$W/tr.last" || fail "-i after -S: not Stopped"

# -s: it completes, byte-identical.
TR -t "$id" -s || fail "-t $id -s failed"
wait_line "$W/node.out" '^complete a\.bin' "$PID_node" 40 >/dev/null || fail "no 'complete a.bin' after -s"
same_bytes a.bin "$W/share/a.bin" "$W/dl/a.bin"
TR -l || fail "-l failed"
grep -E "^ +$id +100% .* a\\.bin\$" "$W/tr.last" >/dev/null || fail "-l does not show a.bin at 100%"

# --remove-and-delete: the downloaded file goes, the seed's stay.
TR -t "$id" --remove-and-delete || fail "--remove-and-delete failed"
wait_line "$W/node.out" "^deleted a\\.bin $hash" "$PID_node" 10 >/dev/null || fail "no 'deleted a.bin' line"
[[ ! -e $W/dl/a.bin ]] || fail "--remove-and-delete left the downloaded file"
[[ -z $(id_of a.bin) ]] || fail "a.bin still listed after --remove-and-delete"
(cd "$W/share" && sha1sum -c --quiet "$W/share.sum") || fail "the seed's share folder changed"
# The node's own share may not be deleted through the RPC either.
TR -t 1 --remove-and-delete && fail "--remove-and-delete of a shared item succeeded"
grep -q 'never deleted' "$W/tr.last" || fail "no reason given for refusing to delete m.bin"
[[ -f $W/mine/m.bin ]] || fail "m.bin is gone"

# A magnet link: metadata from the seed, then the file.
TR -a "magnet:?xt=urn:btih:$bhash&dn=b.bin" || fail "-a magnet failed"
wait_line "$W/node.out" '^complete b\.bin' "$PID_node" 40 >/dev/null || fail "no 'complete b.bin' after the magnet"
same_bytes b.bin "$W/share/b.bin" "$W/dl/b.bin"
TR -l || fail "-l failed"
grep -E '100% .* b\.bin$' "$W/tr.last" >/dev/null || fail "-l does not show b.bin at 100%"

# A magnet nobody has: listed while it fetches; -S stops the fetch (Stopped), -s starts it again, -r removes it.
lonely=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
TR -a "magnet:?xt=urn:btih:$lonely&dn=lonely" || fail "-a of a magnet nobody has failed"
lid=$(id_of lonely)
[[ -n $lid ]] || fail "the lonely magnet is not listed"
TR -t "$lid" -S || fail "-t $lid -S of a magnet fetching its metadata failed"
TR -t "$lid" -i || fail "-t $lid -i failed"
grep -q '^  State: Stopped$' "$W/tr.last" || fail "-i after -S of a fetching magnet: not Stopped"
TR -t "$lid" -s || fail "-t $lid -s of a stopped magnet failed"
TR -t "$lid" -i || fail "-t $lid -i failed"
grep -q '^  State: Stopped$' "$W/tr.last" && fail "-i after -s of the magnet: still Stopped"
TR -t "$lid" -r || fail "-t $lid -r of a magnet fetching its metadata failed"
TR -l || fail "-l failed"
grep -q ' lonely$' "$W/tr.last" && fail "the removed magnet is still listed"

# Honest refusals, and the counters on the same port.
# -v: every piece hashed again (the node's log says so), and the torrent is whole again afterwards.
TR -t 1 -v || fail "-v (verify) failed"
wait_line "$W/node.err" ': verified$' "$PID_node" 20 >/dev/null || fail "-v: the node did not verify the torrent"
"$PY" - "$hostport" <<'EOF' || fail "/stats or /metrics"
import json, sys, urllib.request
base = "http://" + sys.argv[1]
stats = json.loads(urllib.request.urlopen(base + "/stats", timeout=10).read())
assert stats["torrents"]["total"] == 2, stats
assert stats["rpc"]["calls"] > 0, stats
metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
assert "p2pnode_peer_torrents{state=\"seeding\"} 2" in metrics, metrics
EOF
rc=$("$PY" - "$hostport" <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request("http://" + sys.argv[1] + "/stats", headers={"Host": "rebind.example"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
)
[[ $rc == 421 ]] || fail "a foreign Host header got $rc, not 421"

stop node

# --rpc-auth-file: transmission-remote without the password gets 401, with it (-n) the list.
echo "alice:s3cret" >"$W/auth"
start locked --peer --share "$W/mine" --bind 127.0.0.1 --port 0 --rpc-port 0 --rpc-auth-file "$W/auth" --no-console
line=$(wait_line "$W/locked.out" '^rpc http://127\.0\.0\.1:[0-9]+/transmission/rpc$' "$PID_locked" 20) ||
    fail "no 'rpc http://...' line with --rpc-auth-file"
hostport=${line#rpc http://}
hostport=${hostport%%/*}
TR -l && fail "-l without the password succeeded"
grep -q '401' "$W/tr.last" || fail "-l without the password: no 401"
TR -n alice:wrong -l && fail "-l with a wrong password succeeded"
TR -n alice:s3cret -l || fail "-l with the password failed"
grep -q '^Sum:' "$W/tr.last" || fail "-l with the password: no list"
stop locked
PASSED=1
echo PASS
