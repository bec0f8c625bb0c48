#!/usr/bin/env bash
# The disk returns EIO while writing pieces (lib/disk_fault.sh has the scenario; peer_disk_full.sh is its disk-full
# twin). The leecher runs with test/fault/eio_shim.c preloaded (built here with cc): every write to a file under
# $DL/big fails with EIO from the first one, so big fails while small is still downloading; writes elsewhere
# succeed. It --get's two torrents, each from its own seed on 127.0.0.1 (via a p2pnode tracker): small.bin (1 MiB
# file, lands in $DL) and big (a 2-file folder of 6 MiB, lands in $DL/big). With --exit-when-done --timeout 60 it
# must: print "complete small.bin" (the loop kept serving the other torrent and --exit-when-done waited for it: the
# run fails only once the rest are finished; the copy compares equal), report the storage error for big naming
# "Input/output error" with the "(torrent paused" line, exit 1 (not a signal, not a timeout), and the shim must have
# fired. Exit 0 pass, 77 skip (no p2pnode or no cc), other fail. Limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/disk_fault.sh
source "$LIB/disk_fault.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_need_tools cc cmp
t_init p2p-eio
cc -shared -fPIC -O2 -o "$W/eio_shim.so" "$ROOT/test/fault/eio_shim.c" -ldl 2>"$W/cc.err" ||
    fail "cannot build test/fault/eio_shim.c"

random_file "$W/s2/big/part1.bin" $((3 * 1024 * 1024))
random_file "$W/s2/big/part2.bin" $((3 * 1024 * 1024 + 999))
df_seeds big
df_leech env LD_PRELOAD="$(preload_list "$W/eio_shim.so")" EIO_DIR="$DL/big" EIO_AFTER=0
df_stopped_by_itself
grep -q '^eio_shim: injecting EIO' "$W/leech.err" || fail "the EIO shim never fired (were the writes intercepted?)"
df_failed_big big 'big' 'Input/output error'
same_bytes small.bin "$W/s1/small.bin" "$DL/small.bin"
df_finish
