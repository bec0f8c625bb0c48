#!/usr/bin/env bash
# End to end: resuming a download, and noticing a changed file.
#   1. A leecher downloads ~16 MiB from a seed limited to 2 MB/s and gets kill -9 partway (measured by the blocks
#      allocated on disk: downloads are preallocated sparse files).
#   2. Restarted with the same --into, it must find the pieces already there ("N/T pieces present" with 0<N<T),
#      download only the rest (its summary's downloaded= is well under the size) and end byte-identical.
#   3. One byte of the completed file is flipped; a third run (--get, --exit-when-done) must notice (the saved
#      resume data no longer matches the file, so it re-verifies: T-1 pieces present), fetch the bad piece again
#      and end byte-identical.
# Exit 0 pass, 77 skip (p2pnode not built or no --peer mode), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-resume

SIZE=$((16 * 1024 * 1024 + 999))
random_file "$W/share/video.bin" $SIZE

local_tracker
start_seeds video.bin 2M seed="$W/share"
HEX=$(make_torrent "$W/share/video.bin" "$W/video.torrent")
wait_seeders "$HEX" 1 30
GET=(--peer --get "$W/video.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --exit-when-done
    --timeout 150)
# present NAME: "N T" from NAME's "N/T pieces present" log line.
present() { sed -n 's/.*: \([0-9]*\)\/\([0-9]*\) pieces present.*/\1 \2/p' "$W/$1.err" | head -n1; }

# ---- 1. partway, then kill -9
start run1 "${GET[@]}"
wait_blocks run1 "$W/dl/video.bin" $((SIZE / 4)) "a quarter of the data"
got=$GOT
! grep -q '^complete ' "$W/run1.out" || fail "run 1 completed before it could be killed"
kill9 run1   # quiet: no "Killed" notice
echo "1. run 1 killed (-9) with $got of $SIZE bytes on disk"

# ---- 2. resume
start run2 "${GET[@]}"
await run2
((RC_run2 == 0)) || fail "run 2 exited $RC_run2"
read -r N T <<<"$(present run2)" || true
[[ -n ${N:-} && -n ${T:-} ]] || fail "run 2 logged no 'N/T pieces present' line"
((N > 0 && N < T)) || fail "run 2 started with $N/$T pieces present (want 0 < N < T)"
cmp "$W/share/video.bin" "$W/dl/video.bin" || fail "run 2: the download differs"
D=$(downloaded run2)
((${D:-$SIZE} < SIZE * 9 / 10)) || fail "run 2 downloaded ${D:-?} bytes of $SIZE: it did not resume"
echo "2. run 2 resumed with $N/$T pieces, downloaded $D more bytes; byte-identical"

# ---- 3. a flipped byte in the completed file
sleep 0.1   # a distinct mtime from run 2's last write, even on coarse clocks
OFF=$((SIZE / 2 + 12345))
"$PY" - "$W/dl/video.bin" "$OFF" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x5a]))
PY
cmp -s "$W/share/video.bin" "$W/dl/video.bin" && fail "the byte was not flipped"
start run3 "${GET[@]}"
await run3
((RC_run3 == 0)) || fail "run 3 exited $RC_run3"
read -r N T <<<"$(present run3)" || true
[[ -n ${N:-} && -n ${T:-} ]] || fail "run 3 logged no 'N/T pieces present' line"
((N == T - 1)) || fail "run 3 started with $N/$T pieces present (want $((T - 1)): exactly the flipped piece missing)"
cmp "$W/share/video.bin" "$W/dl/video.bin" || fail "run 3: the file still differs"
echo "3. run 3 found $N/$T pieces (the flipped one re-verified bad), re-downloaded $(downloaded run3) bytes; byte-identical"
stop seed
PASSED=1
echo "PASS"
