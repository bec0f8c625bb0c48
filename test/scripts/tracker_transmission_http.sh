#!/usr/bin/env bash
# Interop across hosts: p2pnode's tracker over HTTP (--http-port, BEP 3 announce) with Transmission, in three
# network namespaces on one bridge (lib/transmission.sh; Transmission 3.00 ignores peers on 127.0.0.0/8).
#   host 1: p2pnode --tracker --http-port 0 bound to its 10.77.x address (ephemeral UDP and TCP ports)
#   host 2: p2pnode --peer --share seeding a 2 MiB (+ odd tail) random file, announcing to http://TIP:HPORT/announce
#   host 3: transmission-daemon (own config dir: no uTP, DHT, LPD or PEX: the HTTP tracker is its only way to the
#           seed), given the .torrent whose announce URL is that http:// URL; transmission-remote polls until 100 %.
# Then cmp the copy; the tracker's GET /stats counts HTTP announces (both clients') and no failure, and a BEP 48
# scrape over HTTP (`p2pnode --scrape HASH --tracker http://...`) shows seeders >= 2 (the seed and Transmission
# once complete) and completed >= 1 (Transmission's "completed" event).
# Exit 0 pass, 77 skip (not root, Transmission missing, or $P2PNODE has no --tracker/--http-port), other fail.
# Limit 90 s (a pass takes ~15 s).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
# shellcheck source=lib/transmission.sh
source "$LIB/transmission.sh"
t_need_p2pnode
p2p_help_has --http-port || skip "$P2PNODE has no --http-port"
TRACKER_SKIP_IF_MISSING=1
tr_netns_init p2p-transmission-http p2ph 60 stamp

random_file "$W/share/data.bin" $((2 * 1024 * 1024 + 4321))
mkdir -p "$W/tr-dl"

# ---- host 1: the tracker, UDP and HTTP ----
tr_p2p_tracker --http-port 0 --no-console
line=$(wait_line "$W/tracker.out" "tracker listening on http://${TIP//./\\.}:[0-9]+" "$(pid_of tracker)" 10) ||
    fail "no 'tracker listening on http://$TIP:PORT' line"
HPORT=${line##*:}
HBASE=http://$TIP:$HPORT
TURL=$HBASE/announce   # the .torrent's announce URL, the seed's --tracker, and what scrape_p2p asks
say "tracker in $NS-1: HTTP $TURL"

# ---- host 2: p2pnode seeds, announcing over HTTP ----
HASH=$(make_torrent "$W/share/data.bin" "$W/data.torrent")
[[ $HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
"$PY" - "$W/data.torrent" "$TURL" <<'EOF' || fail "the .torrent does not announce to $TURL"
import sys
data = open(sys.argv[1], 'rb').read()
url = sys.argv[2].encode()
sys.exit(0 if b'8:announce%d:%s' % (len(url), url) in data else 1)
EOF
p2p_seed_host2 "$W/share"
wait_sharing p2p_seed data.bin "$HASH" 30
say "p2pnode in $NS-2 seeds data.bin $HASH"

# ---- host 3: transmission finds the seed only through the HTTP tracker ----
tr_start 3 "$W/tr-dl"
tr_remote -a "$W/data.torrent" >"$W/remote.out" 2>&1 || fail "transmission-remote -a failed"
say "transmission in $NS-3 added the torrent; waiting for 100 %"
tr_wait_done "$HASH" 45 "download" 5
same_bytes "transmission (from p2pnode, found through the HTTP tracker)" "$W/share/data.bin" "$W/tr-dl/data.bin"

# ---- the tracker saw it over HTTP: /stats, then a BEP 48 scrape over HTTP ----
stats_ok=0
for ((t = 0; t < 20; t++)); do
    netns_exec "$NS" 1 "$PY" - "$HBASE" >"$W/stats.out" 2>&1 <<'EOF' && { stats_ok=1; break; }
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1] + '/stats', timeout=5))
print('http', json.dumps(s['http']), 'swarms', s['swarms'], 'peers', s['peers'])
# the seed's "started" and Transmission's "started" and "completed": three announces at least, all answered
assert s['http']['announces'] >= 3, s
assert s['http']['failures'] == 0, s
assert s['swarms'] >= 1 and s['peers'] >= 2, s
EOF
    sleep 1
done
((stats_ok)) || { cat "$W/stats.out"; fail "the tracker's /stats does not show the swarm"; }
say "stats: $(head -n1 "$W/stats.out")"
IN=(netns_exec "$NS" 1)   # the tracker's address exists only in the namespaces
expect_scrape "$HASH" 2 1

PASSED=1
echo "PASS"
