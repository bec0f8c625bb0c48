#!/usr/bin/env bash
# torrent-add of a URL and of a catalog name through the Transmission RPC, driven by Debian's transmission-remote
# (the answers come later: the node fetches the .torrent or looks the name up first, and the HTTP server defers
# the RPC's answer). A p2pnode tracker and a p2pnode seed share u.bin and n.bin (n.bin is in the tracker's
# catalog); u.torrent is served by `python3 -m http.server` on 127.0.0.1 (ephemeral port). A second peer with
# --rpc-port: `-a http://.../u.torrent` and `-a n.bin` both download byte-identical, the name's answer carries its
# real hashString; a second add of either is a duplicate; a name added paused (--start-paused) waits Stopped
# until started. Errors are errors, each one clear line: a 404 URL, a URL
# whose body is no .torrent, a URL nothing listens on, a name no catalog has. Quitting while a URL's fetch hangs
# exits at once and the waiting client gets an error. A name whose lookup never ends gives up by its deadline
# (the test hook P2PNODE_RPC_ADD_DEADLINE_MS) with one error, and adds nothing.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools transmission-remote cmp
p2p_help_has --rpc-port || skip "$P2PNODE has no --rpc-port"
t_init p2p-rpc-add-url-name

local_tracker
random_file "$W/share/u.bin" 3000000
random_file "$W/share/n.bin" 700000
random_file "$W/share/p.bin" 900000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed u.bin
wait_sharing seed n.bin
wait_sharing seed p.bin
nhash=$(grep -o -E '^sharing n\.bin [0-9a-f]{40}' "$W/seed.out" | cut -d' ' -f3)
phash=$(grep -o -E '^sharing p\.bin [0-9a-f]{40}' "$W/seed.out" | cut -d' ' -f3)
mkdir -p "$W/web" "$W/cwd"
uhash=$(make_torrent "$W/share/u.bin" "$W/web/u.torrent")
echo "not a torrent" >"$W/web/index.txt"
# The name is published after the seed's first announce: wait until the catalog knows it.
for ((t = 0; t < 60; t++)); do
    scrape_p2p n.bin && grep -q "$nhash" "$W/scrape.out" && break
    sleep 0.5
done
grep -q "$nhash" "$W/scrape.out" || fail "n.bin never appeared in the catalog"
for ((t = 0; t < 60; t++)); do
    scrape_p2p p.bin && grep -q "$phash" "$W/scrape.out" && break
    sleep 0.5
done
grep -q "$phash" "$W/scrape.out" || fail "p.bin never appeared in the catalog"

spawn_log web "$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$W/web"
line=$(wait_line "$W/web.log" 'port [0-9]+' "$PID_web" 10) || fail "python3 -m http.server did not start"
web=http://127.0.0.1:${line#port }
say "serving u.torrent at $web/u.torrent"

start node --peer --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --rpc-port 0 --no-console
line=$(wait_line "$W/node.out" '^rpc http://127\.0\.0\.1:[0-9]+/transmission/rpc$' "$PID_node" 20) ||
    fail "no 'rpc http://...' line"
hostport=${line#rpc http://}
hostport=${hostport%%/*}

# TR ARGS...: transmission-remote against the node (from an empty folder: a bare name is never a local file);
# its output in $W/tr.last (and appended to tr.log).
TR() {
    (cd "$W/cwd" && timeout 40 transmission-remote "$hostport" "$@") >"$W/tr.last" 2>&1
    local rc=$?
    { echo "\$ transmission-remote $* (rc=$rc)"; cat "$W/tr.last"; } >>"$W/tr.log"
    return $rc
}

# (a) a URL: fetched, added like an uploaded .torrent, downloaded.
TR -a "$web/u.torrent" || fail "-a $web/u.torrent failed"
grep -q 'responded: "success"' "$W/tr.last" || fail "-a URL: no success"
wait_line "$W/node.out" '^complete u\.bin' "$PID_node" 40 >/dev/null || fail "no 'complete u.bin' after -a URL"
same_bytes u.bin "$W/share/u.bin" "$W/dl/u.bin"
grep -q "GET /u.torrent" "$W/web.log" || fail "the web server never saw GET /u.torrent"

# (b) a catalog name: looked up, fetched like a magnet; the answer names the real hash.
TR --debug -a n.bin || fail "-a n.bin failed"
grep -q 'responded: "success"' "$W/tr.last" || fail "-a n.bin: no success"
grep -q "\"torrent-added\":{[^}]*\"hashString\":\"$nhash\"" "$W/tr.last" ||
    fail "-a n.bin: the answer does not carry hashString $nhash"
grep -q '"torrent-added":{[^}]*"name":"n.bin"' "$W/tr.last" || fail "-a n.bin: the answer does not name n.bin"
wait_line "$W/node.out" '^complete n\.bin' "$PID_node" 40 >/dev/null || fail "no 'complete n.bin' after -a n.bin"
same_bytes n.bin "$W/share/n.bin" "$W/dl/n.bin"
TR -l || fail "-l failed"
grep -E '100% .* u\.bin$' "$W/tr.last" >/dev/null || fail "-l does not show u.bin at 100%"
grep -E '100% .* n\.bin$' "$W/tr.last" >/dev/null || fail "-l does not show n.bin at 100%"

# (c) a catalog name added paused (the session's start-added-torrents off: transmission-remote --start-paused):
# found and listed, Stopped, nothing downloaded; started, it completes.
TR --start-paused || fail "--start-paused failed"
TR --debug -a p.bin || fail "-a p.bin (start-added-torrents off) failed"
grep -q "\"torrent-added\":{[^}]*\"hashString\":\"$phash\"" "$W/tr.last" || fail "-a p.bin paused: no hashString $phash"
pid=$(grep -o -E '"torrent-added":\{[^}]*"id":[0-9]+' "$W/tr.last" | grep -o -E '[0-9]+$')
TR --no-start-paused || fail "--no-start-paused failed"
sleep 1.5
TR -t "$pid" -i || fail "-t $pid -i failed"
grep -q -E 'State: Stopped' "$W/tr.last" || fail "p.bin added paused is not Stopped: $(grep State "$W/tr.last")"
[[ -s $W/dl/p.bin ]] && cmp -s "$W/share/p.bin" "$W/dl/p.bin" && fail "p.bin was downloaded while paused"
grep -q '^complete p\.bin' "$W/node.out" && fail "p.bin completed while paused"
TR -t "$pid" -s || fail "-t $pid -s failed"
wait_line "$W/node.out" '^complete p\.bin' "$PID_node" 40 >/dev/null || fail "no 'complete p.bin' after -s"
same_bytes p.bin "$W/share/p.bin" "$W/dl/p.bin"

# Again: duplicates, answered as such.
TR --debug -a "$web/u.torrent" || fail "a second -a of the URL failed"
grep -q "\"torrent-duplicate\":{[^}]*\"hashString\":\"$uhash\"" "$W/tr.last" || fail "a second -a URL: no torrent-duplicate"
TR --debug -a n.bin || fail "a second -a n.bin failed"
grep -q "\"torrent-duplicate\":{[^}]*\"hashString\":\"$nhash\"" "$W/tr.last" || fail "a second -a n.bin: no torrent-duplicate"

# Errors: each is an error result, one clear line, and the node goes on.
TR -a "$web/missing.torrent" && fail "-a of a 404 URL succeeded"
grep -q -E 'Error: .*missing\.torrent.*HTTP 404' "$W/tr.last" || fail "-a of a 404 URL: no error naming HTTP 404"
TR -a "$web/index.txt" && fail "-a of a URL that is no .torrent succeeded"
grep -q -E 'Error: .*index\.txt.*not a \.torrent' "$W/tr.last" || fail "-a of a text URL: no 'not a .torrent'"
dead=$(free_port tcp)
TR -a "http://127.0.0.1:$dead/x.torrent" && fail "-a of a URL nothing listens on succeeded"
grep -q -E "Error: .*127\.0\.0\.1:$dead" "$W/tr.last" || fail "-a of a dead URL: no error naming it"
TR -a no-such-name && fail "-a of an unknown name succeeded"
grep -q -E 'Error: no-such-name: not in the catalog' "$W/tr.last" || fail "-a of an unknown name: no error naming it"
[[ $(grep -c 'Error: ' "$W/tr.log") == 4 ]] || fail "not exactly one error line per failed add"
TR -l || fail "-l after the errors failed"
[[ $(grep -c -E '100% ' "$W/tr.last") == 3 ]] || fail "the failed adds left something listed"
alive node || fail "the node died"

# A name whose lookup never ends (a tracker that never answers): the add gives up by its deadline (shortened to
# 2 s here through the test hook P2PNODE_RPC_ADD_DEADLINE_MS; 25 s by default, before the RPC's 504 at 30 s) with
# one clear error, and nothing is added.
spawn_log mute "$PY" -u -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print("port", s.getsockname()[1], flush=True)
while True: s.recvfrom(2048)'
line=$(wait_line "$W/mute.log" 'port [0-9]+' "$PID_mute" 10) || fail "the mute tracker did not start"
P2PNODE_RPC_ADD_DEADLINE_MS=2000 start node2 --peer --into "$W/dl2" --tracker "udp://127.0.0.1:${line#port }" \
    --bind 127.0.0.1 --port 0 --rpc-port 0 --no-console
line=$(wait_line "$W/node2.out" '^rpc http://127\.0\.0\.1:[0-9]+/transmission/rpc$' "$PID_node2" 20) ||
    fail "node2: no 'rpc http://...' line"
hp2=${line#rpc http://}
hp2=${hp2%%/*}
t0=$SECONDS
(cd "$W/cwd" && timeout 40 transmission-remote "$hp2" -a slow.name) >"$W/tr.mute" 2>&1 && fail "-a of a name nobody answers succeeded"
took=$((SECONDS - t0))
say "a name nobody answers: $(grep -m1 'Error' "$W/tr.mute") after $took s"
grep -q -E 'Error: slow\.name: no answer within 2 s' "$W/tr.mute" || fail "-a of a name nobody answers: no 'no answer within 2 s'"
((took <= 10)) || fail "-a of a name nobody answers took $took s"
sleep 1
(cd "$W/cwd" && timeout 40 transmission-remote "$hp2" -l) >"$W/tr.mute.l" 2>&1 || fail "node2: -l failed"
grep -q -E '^Sum:' "$W/tr.mute.l" || fail "node2: -l gave no Sum line"
grep -q 'slow.name' "$W/tr.mute.l" && fail "node2: the expired add is listed"
alive node2 || fail "node2 died"
stop node2 10

# Quitting while a URL is being fetched (a server that accepts and never answers): the node exits at once (the
# fetch let go of), and the client waiting on the add gets an error, not a hang.
spawn_log hang "$PY" -u -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8); print("port", s.getsockname()[1], flush=True)
conns = []
while True: conns.append(s.accept())'
line=$(wait_line "$W/hang.log" 'port [0-9]+' "$PID_hang" 10) || fail "the silent server did not start"
slow=http://127.0.0.1:${line#port }/slow.torrent
(cd "$W/cwd" && timeout 40 transmission-remote "$hostport" -a "$slow") >"$W/tr.slow" 2>&1 &
tr_pid=$!
wait_line "$W/node.out" "^fetching $slow" "$PID_node" 10 >/dev/null || fail "the node did not start fetching $slow"
t0=$SECONDS
stop node 10
wait "$tr_pid" && fail "-a of a URL cut short by quit succeeded"
say "quit with a fetch in flight: exited with $RC_node after $((SECONDS - t0)) s; transmission-remote: $(head -1 "$W/tr.slow")"
[[ $RC_node == 0 ]] || fail "the node exited $RC_node when told to quit during a fetch"
grep -q -E 'stopping|Couldn.t connect|Empty reply|connection' "$W/tr.slow" || fail "no error from the add cut short"
PASSED=1
echo PASS
