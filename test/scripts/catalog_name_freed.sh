#!/usr/bin/env bash
# Catalog names are freed (docs/catalog-protocol.md, "Who owns a name"): a name belongs to a torrent while that
# torrent's swarm has a seeder.
#   1. p2pnode --tracker --state FILE on 127.0.0.1; a p2pnode peer shares a folder holding notes.txt: --list
#      shows notes.txt with its info hash H1.
#   2. rm notes.txt: the peer's share watcher announces `stopped` -> --list no longer shows notes.txt, and
#      --scrape notes.txt (a catalog lookup) says there is no such name.
#   3. SIGTERM the tracker (exit 0) and restart it on the same port with the same FILE: still not listed.
#   4. A different notes.txt in the share: listed with the NEW info hash H2 (the name was free; "name taken by
#      another torrent" before this rule), and `p2pnode --peer --get notes.txt` downloads the new content (cmp).
# Exit 0 pass, 77 skip ($P2PNODE not built), other fail. Limit 240 s (step 4 waits a minute, see there).
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_need_tools cmp
t_init p2p-name-freed 60 stamp

STATE=$W/tracker.state
mkdir -p "$W/share" "$W/v1" "$W/v2" "$W/dl" # v1, v2: the two versions of notes.txt (the name is in the info hash)

# listing: --list into $W/list.out (fails the test if the tracker does not answer).
listing() {
    timeout 20 "$P2PNODE" --list --tracker "$TURL" --timeout 5 >"$W/list.out" 2>&1 ||
        { cat "$W/list.out"; fail "--list against $TURL failed"; }
}
# listed HEX: --list shows notes.txt with info hash HEX.
listed() { listing && grep -qE "^notes\.txt +[0-9.]+ [KMGT]?i?B +[0-9]+ +[0-9]+ +$1\$" "$W/list.out"; }
# wait_listed HEX SECS: until --list shows notes.txt as HEX.
wait_listed() {
    local t
    for ((t = 0; t < $2 * 2; t++)); do
        listed "$1" && return 0
        sleep 0.5
    done
    cat "$W/list.out"
    fail "--list does not show notes.txt as $1 after $2 s"
}
# wait_unlisted SECS: until --list has no notes.txt at all.
wait_unlisted() {
    local t
    for ((t = 0; t < $1 * 2; t++)); do
        listing
        grep -q '^notes\.txt ' "$W/list.out" || return 0
        sleep 0.5
    done
    cat "$W/list.out"
    fail "--list still shows notes.txt $1 s after its last seeder stopped"
}

# ---- 1. shared and listed ----
tracker_start tracker --bind 127.0.0.1 --port 0 --no-console --state "$STATE" || fail "the tracker did not start"
PORT=$TPORT
random_file "$W/v1/notes.txt" 300000
H1=$(make_torrent "$W/v1/notes.txt" "$W/notes-1.torrent")
cp "$W/v1/notes.txt" "$W/share/notes.txt"
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
wait_line "$W/seed.out" "^sharing notes\.txt $H1" "$PID_seed" 60 >/dev/null || fail "the seed does not share notes.txt as $H1"
T_CONNECT=$SECONDS # about when the seed's tracker client got its BEP 15 connection id (used for a minute)
wait_listed "$H1" 30
say "1. notes.txt shared and listed as $H1"

# ---- 2. removed: no seeder, no name ----
rm "$W/share/notes.txt"
wait_line "$W/seed.out" "^stopped sharing notes\.txt $H1" "$PID_seed" 20 >/dev/null ||
    fail "the seed did not stop sharing notes.txt after it was deleted"
wait_unlisted 20
if scrape_p2p notes.txt; then
    cat "$W/scrape.out"
    fail "--scrape notes.txt still finds the name after its last seeder stopped"
fi
grep -q "no torrent named 'notes.txt'" "$W/scrape.out" || { cat "$W/scrape.out"; fail "--scrape notes.txt: unexpected failure"; }
say "2. notes.txt removed: not listed, not found by name"

# ---- 3. restart: still free ----
stop tracker 10
((RC_tracker == 0)) || fail "the tracker exited $RC_tracker on SIGTERM"
grep -q 'notes\.txt' "$STATE" && fail "the saved state still holds notes.txt"
tracker_start tracker2 --bind 127.0.0.1 --port "$PORT" --no-console --state "$STATE" ||
    fail "the tracker did not restart on port $PORT"
listing
if grep -q '^notes\.txt ' "$W/list.out"; then
    cat "$W/list.out"
    fail "after the restart --list shows notes.txt again"
fi
say "3. after a tracker restart notes.txt is still not listed"

# ---- 4. a new notes.txt takes the name ----
# The restarted tracker refuses the connection id the seed got from the first one, and the seed's client keeps
# resending with it until it is a minute old (then 60 s more to the next resend): wait that minute out first,
# so the new torrent's first announce reconnects at once (else the name appears ~105 s later).
while ((SECONDS - T_CONNECT < 65)); do sleep 1; done
random_file "$W/v2/notes.txt" 400000
H2=$(make_torrent "$W/v2/notes.txt" "$W/notes-2.torrent")
[[ $H2 != "$H1" ]] || fail "the two versions have the same info hash"
cp "$W/v2/notes.txt" "$W/notes.txt.part"
mv "$W/notes.txt.part" "$W/share/notes.txt" # whole at once: the watcher never sees half a file
wait_line "$W/seed.out" "^sharing notes\.txt $H2" "$PID_seed" 60 >/dev/null || fail "the seed does not share the new notes.txt as $H2"
wait_listed "$H2" 120
grep -q 'name taken' "$W/seed.err" && fail "the seed was told the name is taken"
say "4. the new notes.txt is listed as $H2"
RC=0
timeout 100 "$P2PNODE" --peer --get notes.txt --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
    --exit-when-done --timeout 60 --no-console >"$W/get.out" 2>"$W/get.err" </dev/null || RC=$?
((RC == 0)) || fail "p2pnode --get notes.txt exited $RC"
same_bytes "notes.txt by name" "$W/v2/notes.txt" "$W/dl/notes.txt"

stop seed
stop tracker2 10
((RC_tracker2 == 0)) || fail "the restarted tracker exited $RC_tracker2 on SIGTERM"
PASSED=1
echo PASS
