#!/usr/bin/env bash
# Mainline DHT (BEP 5) interop in a private DHT across network namespaces, with NO tracker anywhere: every peer is
# found through the DHT alone (LSD, PEX, UPnP off everywhere; magnet links without tr=). Hosts on one bridge
# (tools/netns), each its own address in 10.77.93.0/24:
#   host 1   DHT_NODES (default 20) python3-libtorrent DHT nodes, one session per address (.101, .102, ...), in one
#            process (lib/dht_lt.py nodes); node 1 is the bootstrap node everyone else is given
#   host 2   libtorrent seed of a.bin, a2.bin, b.bin (lib/dht_lt.py seed)
#   host 5   p2pnode seed: --peer --share of c.bin, d.bin, e.bin, --dht-bootstrap BOOT --no-lsd (no --tracker)
#   hosts 3, 4, 6, 7, 8, 9: one downloader per case, all started at once once their seed has announced:
#     a   libtorrent -> libtorrent (host 3), by magnet: proves the harness
#     a2  libtorrent seed -> aria2c (host 4), by magnet: proves the aria2 harness of case e
#     b   libtorrent seed -> p2pnode --get MAGNET --exit-when-done (host 6)
#     c   p2pnode seed -> libtorrent (host 7), by p2pnode's magnet ("sharing NAME HEX MAGNET", tr= stripped)
#     d   p2pnode seed -> p2pnode (host 8)
#     e   p2pnode seed -> aria2c (host 9): --enable-dht --dht-entry-point BOOT --dht-file-path (aria2 speaks the
#         DHT only with a dht.dat path it can write) --bt-enable-lpd=false --seed-time=0
# Each case passes when the downloader exits 0 within 60 s and its copy is byte-identical (cmp). The downloaders start
# only once a DHT node has accepted their seed's announce_peer; the libtorrent seed announces each torrent once
# (libtorrent's 15-minute interval), so no seed-side lookup finds a leecher and connects to it: every downloader must
# dial its seed. The libtorrent downloaders (lib/dht_lt.py get) repeat their lookup every 5 s. What p2pnode must do:
#   seed:     print "peer listening on IP:PORT" and "sharing NAME HEX MAGNET"; log a line containing "dht:" or send a
#             DHT packet to its --dht-bootstrap node within P2P_DHT_DETECT (10) s of starting (else the p2pnode cases
#             are SKIPPED: no DHT yet); announce_peer every shared torrent to the DHT (libtorrent nodes must accept
#             it: right token, the port it listens on, explicit or implied_port) within 30 s of "sharing".
#   leecher:  with --get MAGNET (no tr=) --dht-bootstrap BOOT --no-lsd --exit-when-done: log (stderr, info)
#             "dht: first peers for HEX", print "metadata HEX ..." and "complete NAME HEX", exit 0.
# p2pnode runs with HOME and XDG_* in its own folder of $W (the DHT nodes it saves at exit stay there).
# Env: DHT_NODES=N, DHT_CASES="a a2 b c d e" (a subset), DHT_LEECH_SECS (60), LT_GET_FLAGS=--dht-log (libtorrent
# downloaders log their DHT traffic), P2P_KEEP_WORKDIR=1.
# Exit 0: every case that could run passed, at least one of them a p2pnode case; 77: skipped (not root, a tool
# missing, or no p2pnode case could run: p2pnode not built or without a DHT; the harness cases a and a2 must have
# passed); anything else: a case failed (every log is printed). Takes ~45 s (aria2 alone needs ~25 s: its own 10 s
# pacing of DHT lookups and peer connections), at most ~2 min when p2pnode fails. Limit 180 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
# shellcheck source-path=SCRIPTDIR/../.. source=tools/netns
source "$ROOT/tools/netns"
t_need_root
t_need_tools ip cmp timeout
t_need_libtorrent
t_init p2p-dht-swarm 60 stamp

DHT_NODES=${DHT_NODES:-20}
CASES=${DHT_CASES:-a a2 b c d e}
LEECH_SECS=${DHT_LEECH_SECS:-60} # each downloader's own limit (they run at the same time)
P2P_DHT_DETECT=${P2P_DHT_DETECT:-10}
want() { [[ " $CASES " == *" $1 "* ]]; }

declare -A RESULT WHY
result() { RESULT[$1]=$2; WHY[$1]=${3:-}; say "case $1: $2${3:+ ($3)}"; }

NS=p2pd$$
netns_setup "$NS" 9 || fail "netns_setup failed"
ip_of() { netns_ip "$NS" "$1"; }
NODE_IPS=()
for ((k = 1; k <= DHT_NODES; k++)); do
    a="$NETNS_SUBNET.$((100 + k))"
    ip -n "$NS-1" addr add "$a/24" dev eth0 || fail "cannot add $a to host 1"
    NODE_IPS+=("$a")
done

# ---- host 1: the DHT ----
spawn nodes ip netns exec "$NS-1" "$PY" "$LIB/dht_lt.py" nodes --ips "$(IFS=,; echo "${NODE_IPS[*]}")" --watch
BOOT=$(wait_line "$W/nodes.out" '^BOOTSTRAP [0-9.]+:[0-9]+' "$(pid_of nodes)" 30) || fail "the DHT nodes did not start"
BOOT=${BOOT#BOOTSTRAP }
ready=$(wait_line "$W/nodes.out" '^READY .*' "$(pid_of nodes)" 40) || fail "the DHT nodes never reported READY"
say "$DHT_NODES libtorrent DHT nodes in $NS-1, bootstrap $BOOT: $ready"

# ---- files ----
SIZE=$((2 * 1024 * 1024 + 4321))
for c in a a2 b; do random_file "$W/lt-seed/$c.bin" "$SIZE"; done
for c in c d e; do random_file "$W/p2p-seed/$c.bin" "$SIZE"; done

# ---- can p2pnode take part? ----
P2P_SKIP=
if [[ ! -x $P2PNODE ]]; then
    P2P_SKIP="$P2PNODE not built"
elif ! p2p_help_has --dht-bootstrap; then
    P2P_SKIP="$P2PNODE has no --dht-bootstrap flag"
fi
ARIA_SKIP=
command -v aria2c >/dev/null || ARIA_SKIP="aria2c not installed"

# p2p_env NAME: the environment p2pnode NAME runs with (its own HOME and XDG folders).
p2p_env() {
    local h=$W/home/$1
    mkdir -p "$h"
    echo "HOME=$h XDG_CONFIG_HOME=$h/.config XDG_STATE_HOME=$h/.local/state XDG_CACHE_HOME=$h/.cache" \
        "XDG_DATA_HOME=$h/.local/share"
}
# strip_tr MAGNET: the magnet link without its tr= parameters.
strip_tr() { sed -E 's/&tr=[^&]*//g; s/\?tr=[^&]*&?/?/' <<<"$1"; }

# ---- host 2: libtorrent seed; host 5: p2pnode seed ----
spawn lt_seed ip netns exec "$NS-2" "$PY" "$LIB/dht_lt.py" seed --ip "$(ip_of 2)" --bootstrap "$BOOT" \
    "$W/lt-seed/a.bin" "$W/lt-seed/a2.bin" "$W/lt-seed/b.bin"
p2p_seed_started=0
if [[ -z $P2P_SKIP ]] && { want b || want c || want d || want e; }; then # the seed also tells whether p2pnode has a DHT
    # shellcheck disable=SC2046
    spawn p2p_seed ip netns exec "$NS-5" env $(p2p_env p2p_seed) "$P2PNODE" --peer --share "$W/p2p-seed" \
        --bind "$(ip_of 5)" --port 0 --dht-bootstrap "$BOOT" --no-lsd --no-console
    p2p_seed_started=$(date +%s)
fi
declare -A HEX MAGNET
for c in a a2 b; do
    line=$(wait_line "$W/lt_seed.out" "^SEEDING $c.bin [0-9a-f]{40} magnet:[^ ]+" "$(pid_of lt_seed)" 30) ||
        fail "the libtorrent seed did not seed $c.bin"
    read -r _ _ "HEX[$c]" "MAGNET[$c]" <<<"$line"
done
if ((p2p_seed_started)); then
    P2P_PORT=$(wait_line "$W/p2p_seed.out" '^peer listening on [0-9.]+:[0-9]+' "$(pid_of p2p_seed)" 30) ||
        fail "the p2pnode seed did not start"
    P2P_PORT=${P2P_PORT##*:}
    for c in c d e; do
        line=$(wait_line "$W/p2p_seed.out" "^sharing $c.bin [0-9a-f]{40} magnet:[^ ]+" "$(pid_of p2p_seed)" 60) ||
            fail "the p2pnode seed did not print 'sharing $c.bin HEX MAGNET'"
        read -r _ _ "HEX[$c]" "MAGNET[$c]" <<<"$line"
        MAGNET[$c]=$(strip_tr "${MAGNET[$c]}")
    done
    # A p2pnode with a DHT logs "dht:" or at least talks to its bootstrap node; one without does neither.
    seed_ip=$(ip_of 5)
    while :; do
        if grep -q 'dht:' "$W/p2p_seed.err" || grep -q "^SEEN $seed_ip:" "$W/nodes.out"; then break; fi
        if (($(date +%s) - p2p_seed_started >= P2P_DHT_DETECT)); then
            P2P_SKIP="p2pnode logged no 'dht:' line and sent no DHT packet to its --dht-bootstrap node"
            P2P_SKIP+=" within ${P2P_DHT_DETECT} s: no DHT yet"
            break
        fi
        alive p2p_seed || fail "the p2pnode seed exited"
        sleep 0.2
    done
fi
[[ -z $P2P_SKIP ]] || say "p2pnode cases skipped: $P2P_SKIP"

# wait_announce CASE IP SECS: until a DHT node accepted an announce_peer of HEX[CASE] from IP; prints its port.
wait_announce() {
    local line
    line=$(wait_line "$W/nodes.out" "^ANNOUNCE ${HEX[$1]} $2 [0-9]+" "$(pid_of nodes)" "$3") || return 1
    echo "${line##* }"
}

# ---- which cases run ----
runnable() { # runnable CASE: 0 when CASE is wanted and not skipped (records the skip otherwise)
    local c=$1
    want "$c" || return 1
    case $c in
    b | c | d) [[ -z $P2P_SKIP ]] || { result "$c" SKIP "$P2P_SKIP"; return 1; } ;;
    e) [[ -z $P2P_SKIP ]] || { result "$c" SKIP "$P2P_SKIP"; return 1; }
       [[ -z $ARIA_SKIP ]] || { result "$c" SKIP "$ARIA_SKIP"; return 1; } ;;
    a2) [[ -z $ARIA_SKIP ]] || { result "$c" SKIP "$ARIA_SKIP"; return 1; } ;;
    esac
    return 0
}
declare -A HOST=([a]=3 [a2]=4 [b]=6 [c]=7 [d]=8 [e]=9)
declare -A KIND=([a]=lt [a2]=aria2 [b]=p2p [c]=lt [d]=p2p [e]=aria2)
declare -A T0
declare -A WHO=([a]="libtorrent seed" [a2]="libtorrent seed" [b]="libtorrent seed" [c]="p2pnode seed"
    [d]="p2pnode seed" [e]="p2pnode seed")
# First every seed's announce must have landed (each lookup runs once; libtorrent repeats it every 5 s here, p2pnode
# and aria2 when they choose), then all downloaders start at once.
GO=()
ANNOUNCE_BY=$(($(date +%s) + 30)) # every seed's announces are due within 30 s from here
for c in a a2 b c d e; do
    runnable "$c" || continue
    case $c in
    a | a2 | b) seed_ip=$(ip_of 2) port= ;;
    *) seed_ip=$(ip_of 5) port=$P2P_PORT ;;
    esac
    rem=$((ANNOUNCE_BY - $(date +%s)))
    if ! got=$(wait_announce "$c" "$seed_ip" $((rem > 1 ? rem : 1))); then
        result "$c" FAIL "the ${WHO[$c]} never announced ${HEX[$c]} ($c.bin) to any DHT node within 30 s"
        continue
    fi
    if [[ -n $port && $got != "$port" ]]; then
        result "$c" FAIL "the ${WHO[$c]} announced ${HEX[$c]} with port $got but listens on $port"
        continue
    fi
    GO+=("$c")
done
declare -A A2PORTS
for c in "${GO[@]}"; do
    [[ ${KIND[$c]} == aria2 ]] && A2PORTS[$c]="$(free_port udp "${HOST[$c]}") $(free_port tcp "${HOST[$c]}")"
done
RUN=()
for c in "${GO[@]}"; do
    h=${HOST[$c]}
    hip=$(ip_of "$h")
    mkdir -p "$W/dl-$c"
    case ${KIND[$c]} in
    lt) # LT_GET_FLAGS: words for lib/dht_lt.py get (--dht-log: libtorrent's DHT log and every packet)
        # shellcheck disable=SC2086
        spawn "get_$c" ip netns exec "$NS-$h" timeout -k 5 $((LEECH_SECS + 5)) "$PY" "$LIB/dht_lt.py" get \
            --ip "$hip" --bootstrap "$BOOT" ${LT_GET_FLAGS:-} --timeout "$LEECH_SECS" "${MAGNET[$c]}" "$W/dl-$c"
        ;;
    p2p)
        # shellcheck disable=SC2046
        spawn "get_$c" ip netns exec "$NS-$h" env $(p2p_env "get_$c") timeout -k 5 $((LEECH_SECS + 5)) \
            "$P2PNODE" --peer --get "${MAGNET[$c]}" --into "$W/dl-$c" --bind "$hip" --port 0 \
            --dht-bootstrap "$BOOT" --no-lsd --exit-when-done --timeout "$LEECH_SECS" --no-console
        ;;
    aria2)
        mkdir -p "$W/aria2-$c"
        read -r uport tport <<<"${A2PORTS[$c]}"
        spawn "get_$c" ip netns exec "$NS-$h" timeout -k 5 $((LEECH_SECS + 5)) aria2c --no-conf=true \
            --enable-dht=true --dht-entry-point="$BOOT" --dht-listen-port="$uport" \
            --dht-file-path="$W/aria2-$c/dht.dat" --listen-port="$tport" --bt-enable-lpd=false \
            --enable-peer-exchange=false --seed-time=0 --file-allocation=none --summary-interval=0 \
            --console-log-level=warn --log="$W/aria2-$c.log" --log-level=info --disable-ipv6=true \
            --bt-stop-timeout="$LEECH_SECS" -d "$W/dl-$c" "${MAGNET[$c]}"
        ;;
    esac
    T0[$c]=$(date +%s%N)
    RUN+=("$c")
    say "case $c: ${KIND[$c]} in $NS-$h ($hip) downloading $c.bin ${HEX[$c]} from the ${WHO[$c]}"
done

# diagnose CASE: how far a failed downloader got, from its output (": ..." or nothing).
diagnose() {
    local c=$1 o=$W/get_$1.out e=$W/get_$1.err what=()
    case ${KIND[$c]} in
    p2p)
        grep -q "dht: first peers for ${HEX[$c]}" "$e" && what+=("DHT peers found") || what+=("no 'dht: first peers'")
        grep -q "^metadata ${HEX[$c]}" "$o" && what+=("metadata in") || what+=("no metadata")
        what+=("$(sed -n 's/^summary .* downloaded=\([0-9]*\) .*/downloaded \1 bytes/p' "$o" | head -n1)")
        what+=("$(grep -E '^p2pnode:|\[(error|warn)\]' "$e" | tail -n1)")
        ;;
    lt) what+=("$(grep -E '^TIMEOUT|^EVENT' "$o" | tail -n1)") ;;
    aria2) what+=("$(grep -E '\[(ERROR|WARN)\]' "$W/aria2-$c.log" | tail -n1 | cut -c1-160)") ;;
    esac
    local x out=
    for x in "${what[@]}"; do [[ -n $x ]] && out+="${out:+; }$x"; done
    [[ -z $out ]] || echo ": $out"
}

# ---- results, in the order the downloaders finish (each has its own time limit) ----
declare -A SECS
pending=("${RUN[@]}")
while ((${#pending[@]})); do
    left=()
    for c in "${pending[@]}"; do
        if alive "get_$c"; then left+=("$c"); continue; fi
        ms=$((($(date +%s%N) - T0[$c]) / 1000000))
        SECS[$c]=$((ms / 1000)).$((ms % 1000 / 100))
        await "get_$c"
    done
    pending=("${left[@]}")
    ((${#pending[@]})) && sleep 0.1
done
for c in "${RUN[@]}"; do
    rc_var="RC_get_$c"
    rc=${!rc_var}
    secs=${SECS[$c]}
    src=$W/lt-seed/$c.bin
    [[ $c =~ ^[cde]$ ]] && src=$W/p2p-seed/$c.bin
    if ((rc != 0)); then
        result "$c" FAIL "the ${KIND[$c]} downloader exited $rc$(diagnose "$c")"
    elif ! cmp -s "$src" "$W/dl-$c/$c.bin"; then
        result "$c" FAIL "the ${KIND[$c]} downloader's copy of $c.bin differs (or is missing)"
    elif [[ ${KIND[$c]} == p2p ]] && ! grep -q "dht: first peers for ${HEX[$c]}" "$W/get_$c.err"; then
        result "$c" FAIL "p2pnode downloaded $c.bin but logged no 'dht: first peers for ${HEX[$c]}'"
    elif [[ ${KIND[$c]} == p2p ]] && ! grep -q "^complete $c.bin ${HEX[$c]}" "$W/get_$c.out"; then
        result "$c" FAIL "p2pnode printed no 'complete $c.bin ${HEX[$c]}'"
    else
        extra=
        [[ ${KIND[$c]} == lt ]] &&
            extra=", $(grep -o 'EVENT first_peer [0-9.]*' "$W/get_$c.out" | awk '{print "first peer " $3 " s"}')"
        result "$c" PASS "byte-identical after ${secs} s$extra"
    fi
done

say "summary ($DHT_NODES DHT nodes):"
failed=() p2p_ran=0
for c in a a2 b c d e; do
    [[ -n ${RESULT[$c]:-} ]] || continue
    say "  $c ${RESULT[$c]}${WHY[$c]:+: ${WHY[$c]}}"
    [[ ${RESULT[$c]} == FAIL ]] && failed+=("$c")
    [[ ${RESULT[$c]} != SKIP && $c =~ ^[bcde]$ ]] && p2p_ran=1
done
# libtorrent bans an address that sends it more than 50 packets within 10 s (dht_block_ratelimit 5) for 5 minutes;
# only the bootstrap node is watched.
while read -r _ banned; do
    say "  note: the bootstrap node banned $banned for flooding it (over 50 packets in 10 s)"
done < <(grep '^BANNED ' "$W/nodes.out" || true)
((${#failed[@]} == 0)) || fail "case(s) ${failed[*]} failed"
if ((!p2p_ran)); then
    skip "no p2pnode case ran (${P2P_SKIP:-none selected}); the harness cases passed"
fi
PASSED=1
echo "PASS"
