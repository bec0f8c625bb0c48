#!/usr/bin/env bash
# Local Service Discovery (BEP 14) between two p2pnode peers, with no tracker and no DHT: only the multicast
# announces on the LAN can bring them together. Three network namespaces on one bridge (tools/netns), each with a
# route for 224.0.0.0/4 on its eth0 (a namespace has no default route to carry multicast otherwise):
#   host 1: the seed, --share with lan.bin (no --tracker, --no-dht)
#   host 2: a leecher given only the info hash (40 hex), --exit-when-done
#   host 3: a leecher given only a magnet link without tr= (BEP 9 metadata from the seed), --exit-when-done
# The seed's first announce has gone out before a leecher starts, so each leecher is found through its own announce:
# the seed's log must show "lsd: peer 10.77.93.N:PORT" for it (the seed then dials it). Each leecher must print
# "complete lan.bin HEX" and its copy must be byte-identical; the time from its start to completion is printed.
# The two leechers run one after the other, so each can only have found the seed.
# Exit 0 pass, 77 skip (not root, no ip/cmp, $P2PNODE not built), other fail. Limit 180 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 180 "$@"
t_need_p2pnode
t_need_root
t_need_tools ip cmp
# shellcheck source-path=SCRIPTDIR/../.. source=tools/netns
source "$ROOT/tools/netns"
t_init p2p-lsd-pair 60 stamp
NS=p2pl$$
netns_setup "$NS" 3 || fail "netns_setup failed"
for i in 1 2 3; do ip -n "$NS-$i" route add 224.0.0.0/4 dev eth0 || fail "no multicast route in host $i"; done
SIP=$(netns_ip "$NS" 1)

random_file "$W/share/lan.bin" $((3 * 1024 * 1024 + 4321))

# `ip netns exec` execs p2pnode, so PID_<name> is p2pnode itself (see lib/transmission.sh).
spawn seed ip netns exec "$NS-1" "$P2PNODE" --peer --share "$W/share" --bind "$SIP" --port 0 --no-dht --no-console \
    --log-level debug
line=$(wait_line "$W/seed.out" '^sharing lan.bin [0-9a-f]{40}' "$(pid_of seed)" 60) ||
    fail "the seed did not print 'sharing lan.bin HEX'"
HASH=${line##* }
grep -q "lsd: Local Service Discovery on 239.192.152.143:6771" "$W/seed.err" ||
    fail "the seed did not start LSD"
# Its first announce goes out before any leecher starts: the leechers can then only be found through their own
# announces (the seed dials them), unless one runs into the seed's next announce five minutes later.
wait_line "$W/seed.err" "lsd: announced IPv4: $HASH" "$(pid_of seed)" 10 >/dev/null ||
    fail "the seed did not announce lan.bin"
say "seed in $NS-1 ($SIP) shares lan.bin $HASH and has announced it; no tracker, no DHT"

# leech NAME HOST WHAT: p2pnode in host HOST downloads WHAT into $W/NAME by LSD alone (limit 90 s); checks the
# completion line, that the seed came from LSD, and the bytes.
leech() {
    local name=$1 host=$2 what=$3 ip t0 t1 rc=0
    ip=$(netns_ip "$NS" "$host")
    mkdir -p "$W/$name"
    t0=$(date +%s.%N)
    timeout 100 ip netns exec "$NS-$host" "$P2PNODE" --peer --get "$what" --into "$W/$name" --bind "$ip" --port 0 \
        --no-dht --exit-when-done --timeout 90 --no-console --log-level debug \
        >"$W/$name.out" 2>"$W/$name.err" </dev/null || rc=$?
    t1=$(date +%s.%N)
    ((rc == 0)) || fail "$name ($what) did not complete (rc=$rc)"
    grep -q "^complete lan.bin $HASH" "$W/$name.out" || fail "$name printed no 'complete lan.bin $HASH'"
    grep -q "lsd: peer $ip:[0-9]* for $HASH" "$W/seed.err" || fail "the seed did not hear $name's announce"
    same_bytes "$name" "$W/share/lan.bin" "$W/$name/lan.bin"
    say "$name: complete in $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s from its start (by LSD alone)"
}

leech by_hash 2 "$HASH"
leech by_magnet 3 "magnet:?xt=urn:btih:$HASH&dn=lan.bin"
grep -q "lsd: peer " "$W/by_hash.err" "$W/by_magnet.err" && say "(a leecher also heard a later announce of the seed)"
stop seed
[[ $RC_seed == 0 ]] || fail "the seed exited $RC_seed on SIGTERM"

PASSED=1
echo "PASS"
