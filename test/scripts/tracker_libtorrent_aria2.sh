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
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
IMPL=${TRACKER_IMPL:-p2pnode}
t_need_tools aria2c mktorrent cmp
t_need_libtorrent
if [[ $IMPL == opentracker ]]; then t_need_tools opentracker; fi
TRACKER_SKIP_IF_MISSING=1   # skip (77) when $P2PNODE has no --tracker mode yet
t_init p2p-lt-aria2 60

make_data() {  # $1 = name; makes $W/src-$1/$1 (2 MiB random), $W/$1.torrent, $W/$1.hash
    mkdir -p "$W/src-$1"
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$W/src-$1/$1"
    mktorrent_hash "$W/src-$1/$1" "$W/$1.torrent" "udp://127.0.0.1:$TPORT" >"$W/$1.hash"
}

# ---- tracker ----
# opentracker only serves whitelisted hashes, so it must know them (and so its port) before it starts;
# p2pnode tells its ephemeral port only once it runs.
tracker_console
if [[ $IMPL == opentracker ]]; then
    TPORT=$(free_port udp)
    make_data fwd
    make_data rev
    cat "$W"/*.hash >"$W/whitelist"
    opentracker_start 127.0.0.1 "$TPORT"
    # opentracker mode has no p2pnode --scrape: read the counts on the wire.
    scrape_counts() { bep15 scrape "$1" | parse_scrape; }
else
    t_need_p2pnode
    tracker_start tracker --bind 127.0.0.1 --port 0 --state "$W/tracker.state" || fail "p2pnode --tracker did not start"
    make_data fwd
    make_data rev
fi
echo "tracker ($IMPL) on udp://127.0.0.1:$TPORT; fwd=$(cat "$W/fwd.hash") rev=$(cat "$W/rev.hash")"
WIRE_CHECK=1   # expect_scrape: the wire answer must agree with what the CLI printed
aria2_args

# ---- forward: libtorrent seeds, aria2 downloads ----
spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/fwd.torrent" "$W/src-fwd"
mkdir -p "$W/dl-fwd"
echo "forward: aria2c downloading from the libtorrent seed"
timeout 60 aria2c "${ARIA2[@]}" --seed-time=0.05 --listen-port="$(free_port tcp)" \
    --dht-listen-port="$(free_port udp)" --dir="$W/dl-fwd" --log="$W/aria2-download.log" "$W/fwd.torrent" \
    >"$W/aria2-download.out" 2>&1 || fail "aria2c download failed or timed out (rc=$?)"
same_bytes forward "$W/src-fwd/fwd" "$W/dl-fwd/fwd"
expect_scrape "$(cat "$W/fwd.hash")" 1 1

# ---- reverse: aria2 seeds, libtorrent downloads ----
echo "reverse: libtorrent downloading from the aria2 seed"
spawn aria2_seed timeout 100 aria2c "${ARIA2[@]}" --check-integrity=true --seed-ratio=0.0 \
    --listen-port="$(free_port tcp)" --dht-listen-port="$(free_port udp)" --dir="$W/src-rev" \
    --log="$W/aria2-seed.log" "$W/rev.torrent"
mkdir -p "$W/dl-rev"
timeout 60 "$PY" "$LIB/lt_client.py" download --announce-completed "$W/rev.torrent" "$W/dl-rev" \
    >"$W/lt-download.log" 2>&1 || fail "libtorrent download failed or timed out"
same_bytes reverse "$W/src-rev/rev" "$W/dl-rev/rev"
expect_scrape "$(cat "$W/rev.hash")" 1 1

PASSED=1
echo "PASS"
