#!/usr/bin/env bash
# Disk full while writing pieces (lib/disk_fault.sh has the scenario). The leecher runs in its own mount namespace
# with a 2 MiB tmpfs on its --into folder (the mount vanishes with it) and --get's two torrents, each from its own
# seed on 127.0.0.1 (via a p2pnode tracker): small.bin (1 MiB, unthrottled seed) and big.bin (8 MiB, seed limited
# to 512 KB/s so the disk fills only after the small one is done). With --exit-when-done --timeout 60 it must:
# print "complete small.bin" (the loop kept serving the other torrent), report the storage error for big.bin naming
# "No space left on device", exit 1 (not a signal, not a timeout), and leave nothing in the folder underneath the
# tmpfs. Needs root (unshare -m, mount); skips (77) if that is not permitted. Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/disk_fault.sh
source "$LIB/disk_fault.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools unshare mount
[[ $(id -u) == 0 ]] || skip "needs root for unshare -m and mount -t tmpfs"
t_init p2p-disk-full
mkdir -p "$W/probe"
# shellcheck disable=SC2016
unshare -m --propagation private sh -c 'mount -t tmpfs -o size=64k tmpfs "$1"' sh "$W/probe" 2>/dev/null ||
    skip "unshare -m / mount -t tmpfs not permitted here"

random_file "$W/s2/big.bin" $((8 * 1024 * 1024))
df_seeds big.bin --max-upload-rate 512K
# shellcheck disable=SC2016
df_leech unshare -m --propagation private sh -c 'mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"' sh "$DL"
df_stopped_by_itself
df_failed_big big.bin 'big\.bin' 'No space left on device'
left=$(find "$DL" -mindepth 1 | head -n5)
[[ -z $left ]] || fail "files written outside the tmpfs: $left"
df_finish
