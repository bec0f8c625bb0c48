#!/usr/bin/env bash
# The live share folder: a peer shares an empty folder; a file written into it in two steps is shared once it
# stops growing (the info hash is that of the whole file); a second peer downloads it BY NAME from the
# tracker's catalog (--get NAME); deleting the file makes the peer stop sharing it (announce stopped).
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode peer
t_init p2p-share-live

local_tracker
mkdir -p "$W/share" "$W/dl" "$W/src"
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_line "$W/seed.out" '^peer listening on ' "$PID_seed" 20 >/dev/null || fail "the seed did not start"

# The expected info hash: the whole file, made elsewhere first.
random_file "$W/src/live.bin" 1500000
want=$(make_torrent "$W/src/live.bin" "$W/live.torrent")
head -c 500000 "$W/src/live.bin" >"$W/share/live.bin"
sleep 0.7 # less than the two stable checks (2 x 1 s): still settling
grep -q '^sharing live\.bin' "$W/seed.out" && fail "live.bin was shared while it was still being written"
tail -c +500001 "$W/src/live.bin" >>"$W/share/live.bin"
wait_sharing seed live.bin "$want" 20
say "live.bin shared once complete ($want)"

# By name, from the catalog.
what=live.bin
for ((i = 0; i < 40; i++)); do # the name is published after the seed's first announce
    timeout 10 "$P2PNODE" --list --tracker "$TURL" --timeout 5 2>/dev/null | grep -q "^live\.bin " && break
    sleep 0.25
done
timeout 100 "$P2PNODE" --peer --get "$what" --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 90 --no-console >"$W/get.out" 2>"$W/get.err" </dev/null ||
    fail "p2pnode --get $what failed (rc=$?)"
same_bytes live.bin "$W/src/live.bin" "$W/dl/live.bin"

rm "$W/share/live.bin"
wait_line "$W/seed.out" "^stopped sharing live\.bin $want" "$PID_seed" 20 >/dev/null ||
    fail "the seed did not stop sharing live.bin after it was deleted"
# Its `stopped` announce reached the tracker: no seeder left (the downloader has exited too).
for ((i = 0; i < 20; i++)); do
    read -r s _ < <(scrape_counts "$want")
    ((s == 0)) && break
    sleep 0.5
done
((s == 0)) || fail "the tracker still counts $s seeders of live.bin"
say "live.bin no longer shared; the tracker counts 0 seeders"
stop seed
((RC_seed == 0)) || fail "seed exited $RC_seed"
grep -q '^summary live\.bin' "$W/seed.out" && fail "an unshared torrent is still in the seed's summary"
PASSED=1
echo PASS
