#!/usr/bin/env bash
# Interop over uTP (BEP 29) across hosts: the p2pnode peer with transmission-daemon 3.00 as installed (uTP on,
# encryption "preferred"), both directions, then both directions again with Transmission requiring encryption, in
# three network namespaces on one bridge (lib/transmission.sh; Transmission ignores peers on 127.0.0.0/8):
#   host 1: p2pnode --tracker bound to its 10.77.x address (ephemeral port)
#   host 2: p2pnode --peer with its defaults (TCP and uTP on the same port number, dials uTP first, --encryption
#           allow: a plaintext handshake first, and MSE on a second dial when the peer closes on it, which
#           Transmission requiring encryption does in round 2's reverse): forward --share seeds fwdN.bin, reverse
#           --get --exit-when-done downloads revN.bin
#   host 3: transmission-daemon (lib/transmission.sh's config with TR_UTP=true: no DHT, LPD or PEX)
#   Round 1: Transmission's encryption "preferred" (as shipped). Round 2: Transmission restarted with a fresh
#   config and encryption "required" (TR_ENCRYPTION=2), so the transfers can only run RC4 over MSE.
#   Each round: forward (p2pnode seeds, Transmission downloads to 100 %; cmp), then reverse (Transmission
#   verifies and seeds, p2pnode downloads; cmp).
# Transport: Transmission dials tracker peers over uTP first when uTP is on, and p2pnode dials uTP first. During
# each transfer Transmission's peer list (transmission-remote -pi, every 0.5 s) goes to $W/peers_*.log; every row
# for the p2pnode peer must carry the "T" (uTP) flag, and in round 2 the "E" (encrypted) flag as well. In reverse,
# p2pnode starts once Transmission has announced, so the connection is p2pnode's uTP dial: the rows must carry "I"
# (incoming) too. In forward, Transmission dials the p2pnode seed (which is listening on uTP and TCP).
# Reverse takes ~10-12 s, forward ~23-25 s (~10-14 s over TCP): Transmission 3.00 acts on a peer only on its own
# 10 s pulses, and over uTP it leaves the messages that came in the same packet as the peer's handshake (p2pnode's
# HAVE_ALL, extension handshake) unparsed until the peer's next packet, which p2pnode sends only after Transmission's
# unchoke on the next pulse; so it sends "interested" a pulse later than over TCP. Files are 2 MiB + an odd tail.
# Whole run ~80 s.
# P2P_TR_DEBUG=1 adds Transmission's per-message log; P2P_KEEP_WORKDIR=1 keeps $W.
# Exit 0 pass, 77 skip (not root, a client missing, or $P2PNODE not built or without uTP), other fail. Limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
# shellcheck source=lib/transmission.sh
source "$LIB/transmission.sh"
t_need_p2pnode
p2p_help_has --no-tcp || skip "$P2PNODE has no uTP yet (no --no-tcp in its --help)"
t_need_tools "$PY"
TR_UTP=true
tr_netns_init p2p-peer-tr-utp p2pu 80 stamp

for n in 1 2; do
    random_file "$W/share$n/fwd$n.bin" $((2 * 1024 * 1024 + 12345 * n))
    random_file "$W/tr-dl$n/rev$n.bin" $((2 * 1024 * 1024 + 777 * n))   # Transmission's download dir = its seed
    mkdir -p "$W/p2p-dl$n"
done

# ---- host 1: tracker ----
tr_p2p_tracker --no-console
for n in 1 2; do
    printf -v "FWD_HASH$n" '%s' "$(make_torrent "$W/share$n/fwd$n.bin" "$W/fwd$n.torrent")"
    printf -v "REV_HASH$n" '%s' "$(make_torrent "$W/tr-dl$n/rev$n.bin" "$W/rev$n.torrent")"
done
for h in "$FWD_HASH1" "$REV_HASH1" "$FWD_HASH2" "$REV_HASH2"; do
    [[ $h =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
done
say "tracker at $TURL in $NS-1; p2pnode in $NS-2 at $PIP; transmission in $NS-3"

# tr_peer_poll HASH: Transmission's peer list of HASH every 0.5 s (until killed); a list that differs from the one
# before is printed under a "== TIME" line.
tr_peer_poll() {
    local now last=""
    while :; do
        now=$(tr_remote -t "$1" -pi 2>&1 || true)
        [[ $now == "$last" ]] || printf '== %s\n%s\n' "$(date +%T.%N | cut -c1-12)" "$now"
        last=$now
        sleep 0.5
    done
}
# peer_flags LOG: the flags of each row for the p2pnode peer ($PIP) in a tr_peer_poll LOG, one per line (a row
# with no flags at all gives "-").
peer_flags() { awk -v ip="$PIP" '$1 == ip { print ($2 ~ /^[A-Za-z?]+$/ ? $2 : "-") }' "$1"; }
# check_transport WHAT LOG NEED: every row for p2pnode in LOG has each flag letter of NEED (T: uTP, E: encrypted,
# I: incoming, i.e. p2pnode dialled).
check_transport() {
    local flags bad f c
    flags=$(peer_flags "$2" | sort | uniq -c | awk '{printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1}')
    [[ -n $flags ]] || fail "$1: Transmission never listed p2pnode ($PIP) as a peer (see $(basename "$2"))"
    bad=""
    for ((c = 0; c < ${#3}; c++)); do
        f=${3:c:1}
        if peer_flags "$2" | grep -v -q -- "$f"; then bad+=$f; fi
    done
    [[ -z $bad ]] ||
        fail "$1: Transmission's rows for p2pnode lack flag(s) '$bad' (T uTP, E encrypted, I incoming): $flags"
    say "$1: Transmission's flags for p2pnode: $flags"
}

# tr_wait_announced HASH WHAT: until Transmission has its tracker's answer for HASH (up to 20 s). A p2pnode started
# after that is then known to Transmission only at its next announce (30 min away), so the connection between them
# is p2pnode's dial.
tr_wait_announced() {
    local t
    for ((t = 0; t < 40; t++)); do
        tr_remote -t "$1" -it >"$W/remote-trackers.out" 2>&1 || true
        grep -q 'Got a list of' "$W/remote-trackers.out" && return 0
        sleep 0.5
    done
    cat "$W/remote-trackers.out"
    fail "$2: Transmission has no answer from the tracker after 20 s"
}

# one_round N ENCRYPTION NEED: Transmission with "encryption": ENCRYPTION; forward fwdN.bin, reverse revN.bin; each
# checked with check_transport NEED (the reverse one with I too: the connection is p2pnode's dial).
one_round() {
    local n=$1 need=$3 fwd_hash rev_hash start_s
    fwd_hash=FWD_HASH$n
    fwd_hash=${!fwd_hash}
    rev_hash=REV_HASH$n
    rev_hash=${!rev_hash}

    # ---- host 3: transmission ----
    TR_ENCRYPTION=$2 tr_start 3 "$W/tr-dl$n"
    say "round $n: transmission up (utp-enabled $TR_UTP, encryption $2)"

    # ---- forward: p2pnode (host 2) seeds, transmission (host 3) downloads ----
    p2p_seed_host2 "$W/share$n"
    wait_sharing p2p_seed "fwd$n.bin" "$fwd_hash" 30
    spawn_log "peers_fwd$n" tr_peer_poll "$fwd_hash"
    tr_remote -a "$W/fwd$n.torrent" >"$W/remote-add-fwd$n.out" 2>&1 ||
        fail "transmission-remote -a fwd$n.torrent failed"
    say "round $n forward: p2pnode seeding in $NS-2; transmission downloading in $NS-3"
    start_s=$SECONDS
    tr_wait_done "$fwd_hash" 90 "round $n forward download"
    stop "peers_fwd$n"
    same_bytes "round $n forward" "$W/share$n/fwd$n.bin" "$W/tr-dl$n/fwd$n.bin"
    say "round $n forward: complete in $((SECONDS - start_s)) s"
    check_transport "round $n forward" "$W/peers_fwd$n.log" "$need"
    stop p2p_seed   # the reverse download must not see this process as a peer
    mv "$W/p2p_seed.out" "$W/p2p_seed$n.out"
    mv "$W/p2p_seed.err" "$W/p2p_seed$n.err"

    # ---- reverse: transmission (host 3) verifies and seeds, p2pnode (host 2) downloads ----
    tr_seed_verified "$W/rev$n.torrent" "$rev_hash" "round $n reverse seed verify" "$W/remote-add-rev$n.out"
    tr_wait_announced "$rev_hash" "round $n reverse seed"
    spawn_log "peers_rev$n" tr_peer_poll "$rev_hash"
    say "round $n reverse: transmission seeding; p2pnode downloading"
    start_s=$SECONDS
    p2p_get_host2 "p2p-download$n" "$W/rev$n.torrent" "$W/p2p-dl$n" 60 --tracker "$TURL" ||
        fail "round $n: p2pnode did not download from transmission (rc=$?)"
    stop "peers_rev$n"
    same_bytes "round $n reverse" "$W/tr-dl$n/rev$n.bin" "$W/p2p-dl$n/rev$n.bin"
    say "round $n reverse: complete in $((SECONDS - start_s)) s"
    check_transport "round $n reverse" "$W/peers_rev$n.log" "${need}I"

    stop transmission 30
    mv "$W/transmission.log" "$W/transmission$n.log"
    rm -rf "$W/tr-config"   # the next round starts from a fresh config, without this round's torrents
}

one_round 1 1 T    # as shipped: encryption preferred (p2pnode prefers it too, but plaintext would be allowed)
one_round 2 2 TE   # encryption required

PASSED=1
echo "PASS"
