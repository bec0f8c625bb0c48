# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # IN, PASSED, RC_leech: shared with lib/common.sh and the sourcing script
# test/scripts/lib/disk_fault.sh: the scenario of peer_disk_full.sh and peer_eio.sh (source it after lib/common.sh;
# call after t_init). A leecher --get's two torrents, each from its own p2pnode seed on 127.0.0.1 via a p2pnode
# tracker, while its disk fails for the big one only: it must finish the small one (the loop keeps serving the
# other torrent, and --exit-when-done waits for it), report the big one's storage error with the
# "(torrent paused" line, and exit 1 by itself (not a signal, not a timeout). Each script brings the fault.
#
#   df_seeds BIG [SEED_ARGS...]   small.bin (1 MiB, made here) and BIG (a file or folder the caller made under
#                                 $W/s2) each shared by its own seed (seed_small; seed_big with SEED_ARGS) and
#                                 counted by the tracker; HS and HB are their info hashes, DL the leecher's folder
#   df_leech FAULT...             runs the leecher as "leech": FAULT... "$P2PNODE" --peer --get both --into $DL
#                                 (FAULT sets the fault up: a tmpfs mount, an LD_PRELOAD) and waits for it: RC_leech
#   df_stopped_by_itself          RC_leech is not a timeout's nor a signal's
#   df_failed_big NAME RE ERROR   RC_leech is 1; "complete small.bin"; no timeout; stderr names the big torrent (RE,
#                                 a grep regex for NAME) with ERROR (strerror text) and "NAME: ... (torrent paused"
#   df_finish                     both seeds still alive, stopped; PASS

df_seeds() {
    local big=$1
    shift
    random_file "$W/s1/small.bin" $((1024 * 1024))
    local_tracker
    start seed_small --peer --share "$W/s1" --tracker "$TURL" --bind 127.0.0.1 --port 0
    start seed_big --peer --share "$W/s2" --tracker "$TURL" --bind 127.0.0.1 --port 0 "$@"
    wait_sharing seed_small small.bin
    wait_sharing seed_big "$big"
    HS=$(make_torrent "$W/s1/small.bin" "$W/small.torrent")
    HB=$(make_torrent "$W/s2/$big" "$W/big.torrent")
    wait_seeders "$HS" 1 30
    wait_seeders "$HB" 1 30
    DL=$W/dl
    mkdir -p "$DL"
}

df_leech() {
    spawn leech timeout -k 5 90 "$@" \
        "$P2PNODE" --peer --get "$W/small.torrent" --get "$W/big.torrent" --into "$DL" --tracker "$TURL" \
        --bind 127.0.0.1 --port 0 --exit-when-done --timeout 60 --no-console
    await leech
    say "leecher exited $RC_leech"
}

df_stopped_by_itself() {
    ((RC_leech != 124 && RC_leech != 137)) || fail "the leecher did not stop by itself within 90 s"
    ((RC_leech < 128)) || fail "the leecher died of signal $((RC_leech - 128))"
}

df_failed_big() {
    local name=$1 re=$2 error=$3
    ((RC_leech == 1)) || fail "the leecher exited $RC_leech, want 1 (a failed torrent)"
    grep -q "^complete small.bin $HS" "$W/leech.out" || fail "no 'complete small.bin' line: the small torrent did not finish"
    if grep -q 'timed out' "$W/leech.err"; then fail "the leecher timed out instead of reporting the failing disk"; fi
    grep -E "$re.*$error" "$W/leech.err" >/dev/null || fail "stderr does not name $name with '$error'"
    grep -q "$re: .*(torrent paused" "$W/leech.err" || fail "no '$name: ... (torrent paused ...)' log line"
    say "error reported: $(grep -m1 -E "$re.*$error" "$W/leech.err")"
}

df_finish() {
    alive seed_small || fail "seed_small died"
    alive seed_big || fail "seed_big died"
    stop seed_small
    stop seed_big
    PASSED=1
    echo PASS
}
