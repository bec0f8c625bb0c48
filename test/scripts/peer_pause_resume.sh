#!/usr/bin/env bash
# Pause, resume and remove on the peer console. A leecher (download limited to 2 MiB/s so the 8 MiB file takes a
# few seconds) pauses mid-way: no peer left, `status` says paused, and its bytes done (`files`) do not grow over
# 2 s. Resumed, it finishes byte-identical. `remove NAME delete` deletes the downloaded file and its resume
# record; the same on an item the leecher shares from its own folder is refused, and a plain remove of it keeps
# the file. The seed's share folder is untouched throughout.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
p2p_help_has --max-download-rate || skip "$P2PNODE has no --max-download-rate"
t_init p2p-pause-resume

local_tracker
random_file "$W/share/a.bin" 8388608
random_file "$W/mine/c.bin" 100000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed a.bin
hash=$(make_torrent "$W/share/a.bin" "$W/a.torrent")
(cd "$W/share" && sha1sum a.bin >"$W/share.sum")

mkfifo "$W/console"
exec 8<>"$W/console"
SPAWN_STDIN=$W/console start leech --peer --get "$W/a.torrent" --into "$W/dl" --share "$W/mine" \
    --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-download-rate 2M
wait_sharing leech c.bin

# ask CMD REGEX [SECS]: send CMD to the console; wait for REGEX in what the leecher prints after it.
ask() { console_ask leech "$@"; }
# done_bytes: bytes done of a.bin, from the `files` table.
done_bytes() {
    ask "files a.bin" '^1 file$' >/dev/null
    tail -n 3 "$W/leech.out" | awk '$NF == "a.bin" { print $3 }' | tail -n1
}

# Mid-way: some bytes in, not all.
for ((i = 0; i < 100; i++)); do
    d=$(done_bytes)
    ((d > 0)) && break
    sleep 0.1
done
((d > 0 && d < 8388608)) || fail "no partial progress to pause at (done: $d)"
ask "pause a.bin" "^paused a\.bin $hash\$"
ask status '^a\.bin +paused '
sleep 0.5 # a piece being hashed or written when we paused may still land
before=$(done_bytes)
ask "peers a.bin" '^0 peers$'
sleep 2
after=$(done_bytes)
say "paused at $before bytes; 2 s later: $after"
((after == before)) || fail "bytes kept arriving while paused ($before -> $after)"
((after < 8388608)) || fail "the download finished while paused"
ask "pause a.bin" '^already paused: a\.bin$'

ask "resume a.bin" "^resumed a\.bin $hash\$"
wait_line "$W/leech.out" '^complete a\.bin' "$PID_leech" 30 >/dev/null || fail "no 'complete' after resume"
same_bytes a.bin "$W/share/a.bin" "$W/dl/a.bin"

# Remove: the shared item's files are never deleted; the download's are.
ask "remove c.bin delete" '^remove: c\.bin: shared from your own files'
ask "remove c.bin" '^removed c\.bin '
[[ -f $W/mine/c.bin ]] || fail "remove deleted a shared item's file"
[[ -f $W/dl/.p2pnode/$hash.resume ]] || fail "no resume record for a.bin to delete (test assumption)"
ask "remove a.bin delete" "^removed a\\.bin $hash; deleting its files\$"
ask status '^no torrents$'
wait_line "$W/leech.out" "^deleted a\\.bin $hash" "$PID_leech" 10 >/dev/null || fail "no 'deleted a.bin' line"
[[ ! -e $W/dl/a.bin ]] || fail "remove ... delete left the downloaded file"
[[ ! -e $W/dl/.p2pnode/$hash.resume ]] || fail "remove ... delete left the resume record"
ask "files a.bin" '^files: a\.bin: not one of our torrents'
(cd "$W/share" && sha1sum -c --quiet "$W/share.sum") || fail "the seed's share folder changed"
[[ -f $W/mine/c.bin ]] || fail "a shared item's file is gone"
echo quit >&8
timeout 20 tail --pid="$PID_leech" -f /dev/null || fail "quit did not stop the leecher"
PASSED=1
echo PASS
