#!/usr/bin/env bash
# A download that failed goes on after `verify`, once the user fixed what failed. The leecher downloads into a
# tmpfs of 1 MiB (its own mount namespace: the mount goes with the process, whatever happens), so a 3 MB file
# fails with "No space left on device": the console's status says failed, and the trackers heard `stopped`.
# The disk is then made larger (remount, as a user would free space) and `verify NAME` on the console hashes what
# is on disk, keeps the pieces that landed and downloads the rest: the file completes byte-identical, and the
# leecher seeds it (a second leecher gets it with the seed gone). The leecher runs with --exit-when-done and a
# second download, w.bin, whose seed comes last: once w.bin completes it exits 0, since the revived v.bin no
# longer counts as failed. Needs root (mount).
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
[[ $(id -u) == 0 ]] || skip "needs root to mount a small tmpfs"
t_need_tools unshare nsenter mount
t_init p2p-verify-failed

local_tracker
random_file "$W/share/v.bin" 3000000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed v.bin
make_torrent "$W/share/v.bin" "$W/v.torrent" >/dev/null
random_file "$W/share2/w.bin" 100000 # its seed starts at the end
make_torrent "$W/share2/w.bin" "$W/w.torrent" >/dev/null

mkdir -p "$W/small"
mkfifo "$W/console"
exec 8<>"$W/console"
# unshare -m: a private mount namespace; sh mounts the tmpfs there, then becomes p2pnode (same pid).
SPAWN_STDIN=$W/console spawn leech unshare -m --propagation private sh -c \
    'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"' sh "$W/small" \
    "$P2PNODE" --peer --get "$W/v.torrent" --get "$W/w.torrent" --into "$W/small" --tracker "$TURL" \
    --bind 127.0.0.1 --port 0 --exit-when-done
ask() { console_ask leech "$@"; }

line=$(wait_line "$W/leech.err" 'v\.bin: .*(No space left on device|space)[^"]*' "$PID_leech" 30) ||
    fail "the download into 1 MiB never failed for lack of space"
say "failed as expected: $line"
ask status '^v\.bin +failed '
ask "files v.bin" '^1 file$'
have=$(tail -n 3 "$W/leech.out" | awk '$NF == "v.bin" { print $3 }' | tail -n1)
say "bytes done when it failed: $have"
# The user makes room; verify goes on from what is on disk.
nsenter -t "$PID_leech" -m mount -o remount,size=16m "$W/small" || fail "remount failed"
ask "verify v.bin" '^verifying v\.bin [0-9a-f]{40} \(it had failed\)$'
wait_line "$W/leech.out" '^complete v\.bin' "$PID_leech" 40 >/dev/null || fail "no 'complete v.bin' after verify"
ask status '^v\.bin +seeding '
cmp -s "$W/share/v.bin" "/proc/$PID_leech/root$W/small/v.bin" || fail "v.bin differs after verify"
say "v.bin: bytes match after verify"

# It seeds again: with the seed gone, a second leecher gets the file from it.
stop seed 10
start leech2 --peer --get "$W/v.torrent" --into "$W/dl2" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_line "$W/leech2.out" '^complete v\.bin' "$PID_leech2" 40 >/dev/null || fail "leech2 never got v.bin from the verified leecher"
same_bytes v.bin "$W/share/v.bin" "$W/dl2/v.bin"
ask "verify nothing" 'not one of our torrents'

# w.bin's seed comes: the leecher completes it and, every download done and none failed any more, exits 0.
start seedw --peer --share "$W/share2" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
timeout 40 tail --pid="$PID_leech" -f /dev/null || fail "the leecher did not exit after w.bin (--exit-when-done)"
await leech
grep -q '^complete w\.bin' "$W/leech.out" || fail "the leecher exited without completing w.bin"
[[ $RC_leech == 0 ]] || fail "exit status $RC_leech after the revived download completed (want 0)"
say "exit status 0: the revived download no longer counts as failed"
PASSED=1
echo PASS
