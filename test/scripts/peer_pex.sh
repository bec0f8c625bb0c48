#!/usr/bin/env bash
# Peer exchange (BEP 11) between three p2pnode peers on 127.0.0.1, where one peer can learn of another only
# through PEX:
#   T1, T2     two p2pnode trackers.
#   S          seeds a random file, announces only to T1 (upload limited so the download takes a while).
#   L2         downloads, announces only to T2.
#   L1         downloads, announces to both: it meets S (T1) and L2 (T2) and tells each about the other.
# The .torrent names a tracker that does not exist, so the command-line trackers are the only ones that answer.
# Checks: a "pex: N new candidates" line on L2 (or on S, if S dialled L2 first); then L1 is killed, and L2 must
# still complete byte-identical: with L1 gone, S is its only source, and L2 knows S only through PEX.
# P2P_KEEP_WORKDIR=1 keeps the work dir after the run.
# Exit 0 pass, 77 skip ($P2PNODE not built), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
t_need_tools cmp
t_init p2p-pex 60 stamp

SIZE=$((8 * 1024 * 1024 + 999))
random_file "$W/s/pex.bin" "$SIZE"
mkdir -p "$W/l1" "$W/l2"

tracker_start t1 --bind 127.0.0.1 --port 0 --no-console || fail "tracker T1 did not start"
T1=$TURL
tracker_start t2 --bind 127.0.0.1 --port 0 --no-console || fail "tracker T2 did not start"
T2=$TURL
DEAD="udp://127.0.0.1:$(free_port udp)/announce" # nothing listens there
HEX=$(make_torrent "$W/s/pex.bin" "$W/pex.torrent" "$DEAD")
[[ $HEX =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
say "T1=$T1 T2=$T2 hash=$HEX"

# S: 256 KiB/s, so neither leecher is done before PEX (first message ~5 s after the handshakes) has run.
start S --peer --share "$W/s" --tracker "$T1" --bind 127.0.0.1 --port 0 --no-console --max-upload-rate 256K
wait_sharing S pex.bin "$HEX" 60
start L2 --peer --get "$W/pex.torrent" --into "$W/l2" --tracker "$T2" --bind 127.0.0.1 --port 0 --no-console
sleep 1 # L2's first announce reaches T2 before L1's, so T2 tells L1 about L2
start L1 --peer --get "$W/pex.torrent" --into "$W/l1" --tracker "$T1" --tracker "$T2" --bind 127.0.0.1 --port 0 \
    --no-console
say "S, L2, L1 started"

# PEX must bring S and L2 together: L2 hears of S, or S hears of L2 (whichever message is first).
PEX_RE='pex: .*: [0-9]+ new candidates from'
found=""
for ((t = 0; t < 60; t++)); do
    found=$(grep -l -E "$PEX_RE" "$W/L2.err" "$W/S.err" 2>/dev/null | head -n1 || true)
    [[ -n $found ]] && break
    alive L2 || fail "L2 exited early"
    sleep 1
done
[[ -n $found ]] || fail "no 'pex: N new candidates' line on L2 or S within 60 s"
say "PEX: $(grep -m1 -h -E "$PEX_RE" "$found") (on $(basename "$found" .err))"
grep -q "^complete pex.bin" "$W/L2.out" && fail "L2 was complete before L1 left: nothing proven (S too fast?)"

# Give the new connection a moment to form, then take L1 away: L2 can only finish from S.
sleep 3
kill9 L1
say "L1 killed; L2 must finish from S alone"
wait_line "$W/L2.out" "^complete pex.bin $HEX" "$PID_L2" 120 >/dev/null || fail "L2 did not complete from S"
same_bytes L2 "$W/s/pex.bin" "$W/l2/pex.bin"

PASSED=1
echo "PASS"
