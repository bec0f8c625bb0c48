# shellcheck shell=bash
# shellcheck disable=SC2034  # IN: read by lib/common.sh (tracker_start, scrape_p2p)
# test/scripts/lib/transmission.sh: the scenery of the Transmission interop tests (*_transmission_netns.sh); source
# it after lib/common.sh. Transmission 3.00 ignores peers on 127.0.0.0/8, so each test runs in three network
# namespaces on one bridge (tools/netns):
#   host 1: the tracker (p2pnode --tracker bound to TIP: tr_p2p_tracker)
#   host 2: the client under test with Transmission (p2pnode --peer on PIP: p2p_seed_host2, p2p_get_host2; or
#           python3-libtorrent)
#   host 3: transmission-daemon (tr_start), driven with transmission-remote (tr_remote, tr_wait_done,
#           tr_seed_verified)
#
#   tr_netns_init NAME PREFIX [LOG_TAIL] [stamp]   skip (77) unless root with ip, cmp and Transmission; then
#                                                  t_init NAME LOG_TAIL [stamp], the namespaces PREFIX<pid>-1..3
#                                                  (NS; removed by the cleanup), TIP and PIP

# shellcheck source-path=SCRIPTDIR/../../.. source=tools/netns
source "$ROOT/tools/netns"

tr_netns_init() {
    t_need_root
    t_need_tools ip transmission-daemon transmission-remote cmp
    t_init "$1" "${3:-$LOG_TAIL}" "${4:-}"
    NS=$2$$
    netns_setup "$NS" 3 || fail "netns_setup failed"
    TIP=$(netns_ip "$NS" 1)
    PIP=$(netns_ip "$NS" 2)
}

# tr_p2p_tracker [ARGS...]: p2pnode --tracker ARGS as "tracker" in host 1, bound to TIP on an ephemeral port (sets
# TURL, THOST, TPORT). IN stays (netns_exec "$NS" 1): the tracker's address exists only inside the namespaces, so
# scrape_p2p and expect_scrape run there too.
tr_p2p_tracker() {
    IN=(netns_exec "$NS" 1)
    tracker_start tracker --bind "$TIP" --port 0 "$@" || fail "p2pnode --tracker did not start"
}

# The background processes below are spawned as `ip netns exec NS-HOST CMD`, not through the netns_exec function: a
# function run in the background is a bash subshell whose child is CMD, so PID_<name> would be that subshell, and
# `stop NAME` would end the subshell and leave CMD running. `ip netns exec` execs CMD, so PID_<name> is CMD itself.

# tr_start HOST DOWNLOAD_DIR: transmission-daemon in netns host HOST of $NS (config in $W/tr-config: no DHT,
# LPD or PEX; no uTP unless TR_UTP=true (as shipped); RPC on 127.0.0.1 inside the namespace; encryption
# "preferred" (1, as shipped) unless TR_ENCRYPTION is set (0 tolerated, 2 required);
# P2P_TR_DEBUG=1 adds its per-message log); waits up to 20 s for its RPC. Then tr_remote ARGS... drives it.
tr_start() {
    TR_HOST=$1
    local rpc peer env=()
    rpc=$(free_port tcp "$TR_HOST")
    peer=$(free_port tcp "$TR_HOST")
    TR_RPC=$rpc
    mkdir -p "$W/tr-config"
    cat >"$W/tr-config/settings.json" <<EOF
{
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": ${TR_UTP:-false},
    "port-forwarding-enabled": false,
    "peer-port": $peer,
    "peer-port-random-on-start": false,
    "rpc-enabled": true,
    "rpc-bind-address": "127.0.0.1",
    "rpc-port": $rpc,
    "rpc-whitelist": "127.0.0.1",
    "rpc-whitelist-enabled": true,
    "rpc-host-whitelist-enabled": false,
    "rpc-authentication-required": false,
    "download-dir": "$2",
    "incomplete-dir-enabled": false,
    "start-added-torrents": true,
    "blocklist-enabled": false,
    "speed-limit-down-enabled": false,
    "speed-limit-up-enabled": false,
    "alt-speed-enabled": false,
    "ratio-limit-enabled": false,
    "idle-seeding-limit-enabled": false,
    "encryption": ${TR_ENCRYPTION:-1},
    "message-level": 3
}
EOF
    [[ -n ${P2P_TR_DEBUG:-} ]] && env=(TR_DEBUG_FD=2)
    spawn_log transmission ip netns exec "$NS-$TR_HOST" env "${env[@]}" transmission-daemon -f -g "$W/tr-config"
    local t
    for ((t = 0; t < 100; t++)); do
        tr_remote -l >/dev/null 2>&1 && break
        sleep 0.2
    done
    tr_remote -l >/dev/null 2>&1 || fail "transmission RPC not answering on 127.0.0.1:$TR_RPC in $NS-$TR_HOST"
}
tr_remote() { netns_exec "$NS" "$TR_HOST" timeout 15 transmission-remote "127.0.0.1:$TR_RPC" "$@"; }
# tr_wait_done TORRENT SECS WHAT [EVERY]: poll transmission until TORRENT is at 100 % (progress every EVERY s).
tr_wait_done() {
    local h=$1 secs=$2 what=$3 every=${4:-2} pct="" t
    for ((t = 0; t < secs; t++)); do
        tr_remote -t "$h" -i >"$W/remote-info.out" 2>&1 || true
        pct=$(grep -m1 'Percent Done' "$W/remote-info.out" | awk '{print $3}' || true)
        [[ $pct == 100% ]] && return 0
        if ((t % every == 0)); then say "  t=${t}s $what: ${pct:-?}"; fi
        sleep 1
    done
    cat "$W/remote-info.out"
    fail "$what: transmission not at 100 % within $secs s (at ${pct:-?})"
}

# tr_seed_verified TORRENT HASH WHAT LOG: Transmission adds TORRENT, whose data is already in its download folder,
# hash-checks it (up to 60 s: "WHAT" in the progress lines) and seeds it; transmission-remote's output goes to LOG.
tr_seed_verified() {
    tr_remote -a "$1" >"$4" 2>&1 || fail "transmission-remote -a $(basename "$1") failed"
    tr_remote -t "$2" --verify >>"$4" 2>&1 || true
    tr_wait_done "$2" 60 "$3"
    tr_remote -t "$2" -s >>"$4" 2>&1 || true
}

# p2p_seed_host2 DIR: p2pnode --peer --share DIR as "p2p_seed" in host 2 (bound to PIP, announcing to $TURL).
# $P2P_PEER_FLAGS (words) are added to its command line, and to p2p_get_host2's.
p2p_seed_host2() {
    # shellcheck disable=SC2086
    spawn p2p_seed ip netns exec "$NS-2" "$P2PNODE" --peer --share "$1" --tracker "$TURL" --bind "$PIP" --port 0 \
        --no-console ${P2P_PEER_FLAGS:-}
}

# p2p_get_host2 NAME WHAT INTO SECS [ARGS...]: p2pnode --peer --get WHAT --into INTO --exit-when-done --timeout SECS
# ARGS in host 2 (bound to PIP; killed SECS + 10 s after its start), output in $W/NAME.out and $W/NAME.err; returns
# its exit status.
p2p_get_host2() {
    local name=$1 what=$2 into=$3 secs=$4
    shift 4
    netns_exec "$NS" 2 timeout $((secs + 10)) "$P2PNODE" --peer --get "$what" --into "$into" --bind "$PIP" --port 0 \
        --exit-when-done --timeout "$secs" --no-console ${P2P_PEER_FLAGS:-} "$@" >"$W/$name.out" 2>"$W/$name.err" \
        </dev/null
}
