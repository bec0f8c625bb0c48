#!/usr/bin/env bash
# p2pnode-small (meson.build): the program built with every face left out that a build may leave out (TLS, the
# DHT, the RPC port; meson_options.txt), for a router's flash. It must still do the whole main job:
#   - `--version` names the three faces it lacks;
#   - its link holds none of their code (nm: no p2p::dht::, DhtHost, RpcServer, web page or mbedTLS TLS symbol),
#     and its stripped size is printed beside the full p2pnode's;
#   - a tracker, a seed and a leecher, all p2pnode-small, move a 3 MiB file and a folder on 127.0.0.1, with an
#     https:// tracker in the leecher's list (skipped with the -Dtls=false line, the download goes on);
#   - --rpc-port, the tracker's --dht-port and a magnet with no tracker (no DHT, no LSD on loopback) each fail with
#     one line and a non-zero exit.
# Exit 0 pass, 77 skip (p2pnode-small not built), other fail. Total limit 120 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
FULL=$P2PNODE
P2PNODE=$(dirname "$FULL")/p2pnode-small
t_need_p2pnode peer
t_init p2p-small

# ---- what it says it lacks
"$P2PNODE" --version >"$W/version.out"
for opt in -Dtls=false -Ddht=false -Drpc=false; do
    grep -q -- "built without .*(meson $opt)" "$W/version.out" || fail "--version does not name $opt"
done
[[ $(head -n1 "$W/version.out") == "$(head -n1 <("$FULL" --version))" ]] || fail "the first --version line differs"

# ---- and links none of it
nm -C --defined-only "$P2PNODE" >"$W/nm.out" 2>&1 || fail "nm failed on $P2PNODE"
if hits=$(grep -E 'p2p::dht::|p2p::DhtHost|p2p::RpcServer|p2p::RpcMethods|p2p::web_page|mbedtls_ssl_|mbedtls_x509_' \
    "$W/nm.out" | head -n 5) && [[ -n $hits ]]; then
    fail "p2pnode-small links code of a face it leaves out: $hits"
fi
grep -q 'p2p::Torrent::' "$W/nm.out" || fail "nm shows no p2p::Torrent:: symbol: is this p2pnode at all?"
strip -o "$W/full.stripped" "$FULL" && strip -o "$W/small.stripped" "$P2PNODE"
full=$(stat -c %s "$W/full.stripped") small=$(stat -c %s "$W/small.stripped")
say "stripped: p2pnode $full B, p2pnode-small $small B ($(((full - small) * 100 / full)) % less)"
((small < full)) || fail "p2pnode-small is not smaller than p2pnode"

# ---- the main job, every process p2pnode-small
S=$W/share
mkdir -p "$S/photos/2026"
head -c $((3 * 1024 * 1024 + 4321)) /dev/urandom >"$S/big.bin"
for i in 1 2 3; do head -c $((i * 70001)) /dev/urandom >"$S/photos/2026/img$i.jpg"; done
local_tracker
start seed --peer --share "$S" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_lines seed '^sharing ' 2 60
hex_big=$(make_torrent "$S/big.bin" "$W/big.torrent")
make_torrent "$S/photos" "$W/photos.torrent" >/dev/null
start leech --peer --get "$W/big.torrent" --get "$W/photos.torrent" --into "$W/dl" \
    --tracker https://127.0.0.1:9/announce --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 60 --no-console
await leech
((RC_leech == 0)) || fail "the leecher exited $RC_leech"
same_bytes big.bin "$S/big.bin" "$W/dl/big.bin"
for i in 1 2 3; do same_bytes "img$i.jpg" "$S/photos/2026/img$i.jpg" "$W/dl/photos/2026/img$i.jpg"; done
grep -q 'https://127.0.0.1:9/announce.*meson -Dtls=false' "$W/leech.err" "$W/leech.out" ||
    fail "the leecher did not say why it skipped the https:// tracker"
say "tracker, seed and leecher (all p2pnode-small): both items byte-identical"

# ---- each missing face: one line, a non-zero exit
one_line_failure() { # NAME PATTERN ARGS...: p2pnode-small ARGS must exit non-zero with PATTERN on stderr
    local name=$1 pattern=$2 rc=0
    shift 2
    timeout 20 "$P2PNODE" "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || rc=$?
    ((rc != 0 && rc != 124)) || fail "$name: exit $rc (expected a failure of its own)"
    grep -q -- "$pattern" "$W/$name.err" || fail "$name: stderr does not say '$pattern'"
    say "$name: exit $rc: $(grep -m1 -- "$pattern" "$W/$name.err")"
}
one_line_failure rpc 'meson -Drpc=false' --peer --bind 127.0.0.1 --port 0 --rpc-port 0 --no-console
one_line_failure dht_port 'meson -Ddht=false' --tracker --bind 127.0.0.1 --port 0 --dht-port 0 --no-console
one_line_failure magnet 'no tracker to find peers on' --peer --bind 127.0.0.1 --port 0 --no-console \
    --get "magnet:?xt=urn:btih:$hex_big" --into "$W/m" --exit-when-done --timeout 15
PASSED=1
echo "PASS"
