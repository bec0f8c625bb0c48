#!/usr/bin/env bash
# Interop over uTP (BEP 29): the p2pnode peer with python3-libtorrent 2.x on 127.0.0.1, byte-identical.
#   1. uTP only, forward: p2pnode --no-tcp seeds a random file (3 MiB + an odd tail); ss must show its port bound
#      on UDP and no TCP listener. libtorrent with TCP off both ways (lt_client.py --no-tcp) finds it through the
#      tracker, dials it and downloads the file; cmp.
#   2. uTP only, reverse: libtorrent --no-tcp seeds another file (2 MiB + an odd tail) and announces; then p2pnode
#      --no-tcp --get --exit-when-done finds it through the tracker, dials it and downloads the file; cmp.
#      Neither end of 1 and 2 can send or take a TCP connection, so a transfer that completes ran over uTP; the
#      connection libtorrent logs (peer_connect_alert: outgoing in 1, incoming in 2) must also say uTP, and no
#      connection may say TCP.
#   3. libtorrent as it ships (uTP and TCP on, encryption enabled), told the address of a p2pnode seed run with its
#      defaults (TCP and uTP: ss must show the same port number on both) and nothing else (the seed announces to no
#      tracker), downloads a third file (1 MiB + an odd tail) within 30 s; the log says which transport it used.
# Encryption stays at each side's default (p2pnode prefer, libtorrent enabled), so MSE runs over uTP too.
# P2P_KEEP_WORKDIR=1 keeps the work dir (data, torrents, logs) after the run.
# Exit 0 pass, 77 skip (a client is missing, or $P2PNODE is not built or has no uTP), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode
p2p_help_has --no-tcp || skip "$P2PNODE has no uTP yet (no --no-tcp in its --help)"
t_need_tools cmp ss
t_need_libtorrent
t_init p2p-peer-utp 80 stamp

# ---- data: tails that are not a multiple of 16 KiB, so the last piece and last block are short ----
random_file "$W/share/fwd.bin" $((3 * 1024 * 1024 + 12345))
random_file "$W/lt-src/rev.bin" $((2 * 1024 * 1024 + 777))
random_file "$W/share-dflt/dflt.bin" $((1024 * 1024 + 4321))
mkdir -p "$W/lt-dl" "$W/lt-dl2" "$W/p2p-dl"

local_tracker
FWD_HASH=$(make_torrent "$W/share/fwd.bin" "$W/fwd.torrent")
REV_HASH=$(make_torrent "$W/lt-src/rev.bin" "$W/rev.torrent")
DFLT_HASH=$(make_torrent "$W/share-dflt/dflt.bin" "$W/dflt.torrent")
[[ $FWD_HASH =~ ^[0-9a-f]{40}$ && $REV_HASH =~ ^[0-9a-f]{40}$ && $DFLT_HASH =~ ^[0-9a-f]{40}$ ]] ||
    fail "p2pnode --make-torrent printed no info hash"

# seed_port NAME: the port of p2pnode NAME's "listening on IP:PORT" line.
seed_port() {
    local line
    line=$(wait_line "$W/$1.out" 'listening on [0-9.]+:[0-9]+' "$(pid_of "$1")" 10) ||
        fail "$1 printed no listening port"
    echo "${line##*:}"
}
# listeners PROTO PORT: the sockets ss lists bound to 127.0.0.1:PORT (tcp: listening ones only; udp: all).
listeners() {
    local opt=-Hltn
    [[ $1 == udp ]] && opt=-Haun
    ss "$opt" "sport = :$2" | tee -a "$W/ss.out"
}
# only_utp WHAT LOG DIRECTION PID: libtorrent's LOG names a DIRECTION (incoming|outgoing) connection over uTP from or
# to 127.0.0.1 (waiting up to 5 s while PID, the libtorrent writing LOG, runs: it polls its alerts every 0.2 s; "none"
# when it has exited), and no connection over TCP.
only_utp() {
    local line
    line=$(wait_line "$2" "127\.0\.0\.1:[0-9]+ .*\] $3 connection to peer \(uTP\)" "$4" 5) ||
        fail "$1: libtorrent logged no $3 uTP connection"
    if grep -E 'connection to peer \(TCP\)' "$2"; then fail "$1: libtorrent made or took a TCP connection"; fi
    say "$1: libtorrent's connection was uTP (${line%% *})"
}

# ---- 1. uTP only: p2pnode --no-tcp seeds, libtorrent --no-tcp downloads ----
start p2p_seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console --no-tcp
wait_sharing p2p_seed fwd.bin "$FWD_HASH" 30
SEED_PORT=$(seed_port p2p_seed)
[[ -n $(listeners udp "$SEED_PORT") ]] || fail "p2pnode --no-tcp: nothing bound on UDP port $SEED_PORT"
[[ -z $(listeners tcp "$SEED_PORT") ]] || fail "p2pnode --no-tcp listens on TCP port $SEED_PORT"
wait_seeders "$FWD_HASH" 1 10   # libtorrent announces once: the seed must be known by then
say "uTP only, forward: p2pnode --no-tcp seeding on udp 127.0.0.1:$SEED_PORT; libtorrent --no-tcp downloading"
start_s=$SECONDS
timeout 90 "$PY" "$LIB/lt_client.py" download "$W/fwd.torrent" "$W/lt-dl" --no-tcp >"$W/lt-download.log" 2>&1 ||
    fail "libtorrent (uTP only) did not download from p2pnode --no-tcp (rc=$?)"
same_bytes "uTP only, forward" "$W/share/fwd.bin" "$W/lt-dl/fwd.bin"
only_utp "uTP only, forward" "$W/lt-download.log" outgoing none
say "uTP only, forward: complete in $((SECONDS - start_s)) s"
stop p2p_seed

# ---- 2. uTP only: libtorrent --no-tcp seeds, p2pnode --no-tcp downloads ----
spawn_log lt_seed "$PY" "$LIB/lt_client.py" seed "$W/rev.torrent" "$W/lt-src" --no-tcp
# Once libtorrent has announced, only p2pnode learns of the other from the tracker (the next announce is 30 min
# away), so the connection is p2pnode's uTP dial.
wait_line "$W/lt_seed.log" 'tracker_reply_alert rev\.bin' "$(pid_of lt_seed)" 20 >/dev/null ||
    fail "the libtorrent seed did not announce"
say "uTP only, reverse: libtorrent --no-tcp seeding; p2pnode --no-tcp downloading"
start_s=$SECONDS
P2P_GET_FLAGS="--no-tcp" p2p_download_from "libtorrent (uTP only)" "$W/rev.torrent" "$W/p2p-dl"
same_bytes "uTP only, reverse" "$W/lt-src/rev.bin" "$W/p2p-dl/rev.bin"
only_utp "uTP only, reverse" "$W/lt_seed.log" incoming "$(pid_of lt_seed)"
say "uTP only, reverse: complete in $((SECONDS - start_s)) s"
stop lt_seed

# ---- 3. libtorrent as it ships, told the address of a default p2pnode seed ----
start dflt_seed --peer --share "$W/share-dflt" --bind 127.0.0.1 --port 0 --no-console
wait_sharing dflt_seed dflt.bin "$DFLT_HASH" 30
DFLT_PORT=$(seed_port dflt_seed)
[[ -n $(listeners tcp "$DFLT_PORT") ]] || fail "the default seed does not listen on TCP port $DFLT_PORT"
[[ -n $(listeners udp "$DFLT_PORT") ]] || fail "the default seed has no UDP socket on port $DFLT_PORT (uTP)"
say "libtorrent with its defaults (uTP and TCP on, encryption enabled) dialling the seed at 127.0.0.1:$DFLT_PORT"
start_s=$SECONDS
timeout 30 "$PY" "$LIB/lt_client.py" download "$W/dflt.torrent" "$W/lt-dl2" --utp --peer "127.0.0.1:$DFLT_PORT" \
    >"$W/lt-defaults.log" 2>&1 || fail "libtorrent with its defaults did not download within 30 s (rc=$?)"
same_bytes "libtorrent defaults" "$W/share-dflt/dflt.bin" "$W/lt-dl2/dflt.bin"
how=$(grep -o -E 'outgoing connection to peer \((uTP|TCP)\)' "$W/lt-defaults.log" | grep -o -E 'uTP|TCP' |
    paste -sd, || true)
seen=$(sed -n 's/^.* PEER \(127\.0\.0\.1:[0-9]* [a-z]* [a-z-]*\) .*/\1/p' "$W/lt-defaults.log" | paste -sd, || true)
say "libtorrent defaults: complete in $((SECONDS - start_s)) s (its connections: ${how:-none logged};" \
    "peer list: ${seen:-not polled in time})"

PASSED=1
echo "PASS"
