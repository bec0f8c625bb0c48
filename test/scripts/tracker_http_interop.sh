#!/usr/bin/env bash
# Interop: p2pnode's tracker over HTTP (--http-port, BEP 3 announce / BEP 48 scrape) with two real clients on
# loopback, over the same swarms as its UDP port.
#   1. p2pnode --tracker --http-port 0 on 127.0.0.1 (ephemeral UDP and TCP ports).
#   2. Forward: python3-libtorrent seeds a 2 MiB random file; aria2c downloads it, finding the seed only through
#      the HTTP tracker (no DHT bootstrap, no LPD, no PEX).
#   3. Reverse: aria2c seeds a second 2 MiB file; libtorrent downloads it through the HTTP tracker.
#   4. cmp both copies; `p2pnode --scrape HASH --tracker http://.../announce` shows seeders >= 1 and completed >= 1,
#      and the UDP port's BEP 15 scrape (lib/bep15.py) agrees: one swarm store behind both transports.
#   5. GET /stats counts the HTTP announces and scrapes; GET /metrics is Prometheus text; GET /catalog is JSON.
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE has no --tracker), other fail. Total limit 120 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_tools aria2c mktorrent cmp
t_need_libtorrent
TRACKER_SKIP_IF_MISSING=1
t_init p2p-http-tracker 60
t_need_p2pnode
p2p_help_has --http-port || skip "$P2PNODE has no --http-port"

tracker_console
tracker_start tracker --bind 127.0.0.1 --port 0 --http-port 0 --state "$W/tracker.state" ||
    fail "p2pnode --tracker did not start"
line=$(wait_line "$W/tracker.out" 'tracker listening on http://127\.0\.0\.1:[0-9]+' "$(pid_of tracker)" 10) ||
    fail "no 'tracker listening on http://' line"
HPORT=${line##*:}
HURL=http://127.0.0.1:$HPORT/announce
UDP_URL=$TURL
TURL=$HURL       # scrape_p2p (expect_scrape) asks the HTTP port; bep15 (WIRE_CHECK) still asks THOST:TPORT (UDP)
WIRE_CHECK=1
say "tracker on $UDP_URL and $HURL"

make_data() {  # $1 = name; makes $W/src-$1/$1 (2 MiB random), $W/$1.torrent announcing $HURL, $W/$1.hash
    mkdir -p "$W/src-$1"
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$W/src-$1/$1"
    mktorrent_hash "$W/src-$1/$1" "$W/$1.torrent" "$HURL" >"$W/$1.hash"
}
make_data fwd
make_data rev
aria2_args
ARIA2+=(--enable-dht=false) # the HTTP tracker is the only way to the other peer

# ---- forward: libtorrent seeds, aria2 downloads ----
spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/fwd.torrent" "$W/src-fwd"
mkdir -p "$W/dl-fwd"
say "forward: aria2c downloading from the libtorrent seed"
timeout 60 aria2c "${ARIA2[@]}" --seed-time=0.05 --listen-port="$(free_port tcp)" --dir="$W/dl-fwd" \
    --log="$W/aria2-download.log" "$W/fwd.torrent" >"$W/aria2-download.out" 2>&1 ||
    fail "aria2c download failed or timed out (rc=$?)"
same_bytes forward "$W/src-fwd/fwd" "$W/dl-fwd/fwd"
expect_scrape "$(cat "$W/fwd.hash")" 1 1

# ---- reverse: aria2 seeds, libtorrent downloads ----
say "reverse: libtorrent downloading from the aria2 seed"
spawn aria2_seed timeout 100 aria2c "${ARIA2[@]}" --check-integrity=true --seed-ratio=0.0 \
    --listen-port="$(free_port tcp)" --dir="$W/src-rev" --log="$W/aria2-seed.log" "$W/rev.torrent"
mkdir -p "$W/dl-rev"
timeout 60 "$PY" "$LIB/lt_client.py" download --announce-completed "$W/rev.torrent" "$W/dl-rev" \
    >"$W/lt-download.log" 2>&1 || fail "libtorrent download failed or timed out"
same_bytes reverse "$W/src-rev/rev" "$W/dl-rev/rev"
expect_scrape "$(cat "$W/rev.hash")" 1 1
grep -q 'tracker_reply_alert' "$W/lt-download.log" || fail "libtorrent logged no tracker reply"

# ---- the HTTP port's own pages ----
"$PY" - "$HPORT" >"$W/pages.out" 2>&1 <<'EOF' || { cat "$W/pages.out"; fail "HTTP pages"; }
import json, sys, urllib.request
base = 'http://127.0.0.1:%s' % sys.argv[1]
stats = json.load(urllib.request.urlopen(base + '/stats', timeout=5))
print('stats', json.dumps(stats['http']), 'swarms', stats['swarms'], 'peers', stats['peers'])
assert stats['http']['announces'] >= 4, stats
assert stats['http']['scrapes'] >= 2, stats
assert stats['udp']['scrapes'] >= 2, stats     # the WIRE_CHECK scrapes went to the UDP port
assert stats['swarms'] == 2, stats
m = urllib.request.urlopen(base + '/metrics', timeout=5)
assert m.headers['Content-Type'].startswith('text/plain; version=0.0.4'), m.headers
text = m.read().decode()
assert 'p2pnode_tracker_announces_total{transport="http"}' in text, text
assert '# TYPE p2pnode_tracker_peers gauge' in text, text
cat = json.load(urllib.request.urlopen(base + '/catalog', timeout=5))
assert cat['total'] == 0 and cat['entries'] == [], cat
print('pages ok')
EOF
cat "$W/pages.out"

PASSED=1
echo "PASS"
