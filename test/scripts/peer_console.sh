#!/usr/bin/env bash
# The peer's console on stdin (a FIFO here): share PATH, status, list, peers, scrape, a bad command, quit.
# quit must announce, save, print the summary lines and exit 0.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_init p2p-peer-console

local_tracker
random_file "$W/share/a.bin" 2000000
random_file "$W/outside/b.txt" 30000

# The console: a FIFO held open on fd 8 (read-write, so the peer never sees end of input while we write).
mkfifo "$W/pconsole"
exec 8<>"$W/pconsole"
# Upload limited, so the leecher below stays connected (seeds drop each other) long enough for `peers`.
SPAWN_STDIN=$W/pconsole start peer --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --max-upload-rate 256K
wait_sharing peer a.bin

# ask CMD REGEX [SECS]: send CMD to the console; wait for REGEX in what the peer prints after it.
ask() { console_ask peer "$@"; }

# poll CMD REGEX SECS: ask again every second until the answer matches.
poll() {
    local t
    for ((t = 0; t < $3; t++)); do
        (ask "$1" "$2" 1) >/dev/null 2>&1 && return 0
        alive peer || fail "peer exited after '$1'"
    done
    ask "$1" "$2" 2
}

ask help '^  share PATH'
ask "share $W/outside/b.txt" '^hashing .*/outside/b\.txt'
wait_sharing peer b.txt
[[ ! -e $W/share/b.txt ]] || fail "share PATH copied the data into the share folder"
ask "share $W/nowhere" '^share: .*nowhere: '
ask frobnicate '^unknown command: frobnicate \(try help\)$'
ask status '^a\.bin +seeding +100\.0%'
ask status '^b\.txt +seeding +100\.0%'
ask status '^2 torrents$'
poll trackers "^a\.bin +0 +$TURL +working +[0-9]+ s +[0-9]+ s " 10

# The catalog: both names once their first announces were answered (published then).
for ((i = 0; i < 20; i++)); do
    ask list 'catalog entries$'
    out=$(tail -n 8 "$W/peer.out")
    grep -qE '^a\.bin +1\.9 MiB ' <<<"$out" && grep -qE '^b\.txt +29\.3 KiB ' <<<"$out" && break
    sleep 0.5
done
grep -qE '^b\.txt +29\.3 KiB ' <<<"$out" || fail "list does not show both shared names: $out"
say "list: both names in the catalog"

# A leecher, so `peers` has someone to show while it downloads (~8 s at 256 KiB/s).
hash=$(make_torrent "$W/share/a.bin" "$W/a.torrent")
start leech --peer --get "$W/a.torrent" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
poll "peers a.bin" '^127\.0\.0\.1:[0-9]+ +p2pnode \(-PN0100-\) +[0-9.]+% .* U?I?O?T?E?$' 20
ask "peers $hash" '^1 peer$'
poll status '^a\.bin +seeding +100\.0% .* 1 ' 10
wait_line "$W/leech.out" '^complete a\.bin' "$PID_leech" 60 >/dev/null || fail "the leecher did not complete"
same_bytes a.bin "$W/share/a.bin" "$W/dl/a.bin"
ask "peers nothing" '^peers: nothing: not one of our torrents'
ask "scrape a.bin" '^seeders: [12]$' 15
ask "scrape $hash" "^info_hash: $hash\$" 15

from=$(wc -l <"$W/peer.out")
echo quit >&8
timeout 20 tail --pid="$PID_peer" -f /dev/null || fail "quit did not stop the peer within 20 s"
await peer
((RC_peer == 0)) || fail "peer exited $RC_peer after quit"
tail -n +"$((from + 1))" "$W/peer.out" | grep -q '^stopping' || fail "no 'stopping' answer to quit"
grep -qE "^summary a\.bin $hash uploaded=[1-9][0-9]* " "$W/peer.out" || fail "no summary line for a.bin after quit"
grep -qE '^summary b\.txt ' "$W/peer.out" || fail "no summary line for b.txt after quit"
# A shared item keeps no resume record (its files are the user's, not ours): its torrent and the stamps its files
# were hashed at are cached instead, so a restart seeds at once.
[[ -s $W/share/.p2pnode/a.bin.torrent && -s $W/share/.p2pnode/a.bin.stamp ]] || fail "no share cache saved for a.bin"
[[ ! -e $W/share/.p2pnode/$hash.resume ]] || fail "a resume record claims the user's shared a.bin"
stop leech
PASSED=1
echo PASS
