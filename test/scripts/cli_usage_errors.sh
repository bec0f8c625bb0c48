#!/usr/bin/env bash
# Honest messages and flags, against the real binary: each bad command line of the issue is a usage
# error (exit 2, exactly one line on stderr, nothing on stdout, the reason named); a log file that cannot be
# opened is one line and exit 1 before anything starts; --list against a tracker that never answers gives up by
# itself (default timeout) with one line and exit 1 instead of waiting through BEP 15's retransmit schedule.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode
t_init p2p-cli-usage
mkdir -p "$W/d"
echo hello >"$W/f"

# expect RC WANT_TEXT CMD...: CMD exits RC with exactly one stderr line containing WANT_TEXT and no stdout.
expect() {
    local want_rc=$1 want=$2 rc=0
    shift 2
    (cd "$W" && timeout 20 "$P2PNODE" "$@") >"$W/cmd.out" 2>"$W/cmd.err" </dev/null || rc=$?
    [[ $rc == "$want_rc" ]] || fail "'$*' exited $rc, want $want_rc (stderr: $(cat "$W/cmd.err"))"
    [[ $(wc -l <"$W/cmd.err") == 1 ]] || fail "'$*' printed $(wc -l <"$W/cmd.err") stderr lines, want 1: $(cat "$W/cmd.err")"
    [[ ! -s $W/cmd.out ]] || fail "'$*' printed on stdout: $(cat "$W/cmd.out")"
    grep -qF -- "p2pnode: $want" "$W/cmd.err" || fail "'$*' said '$(cat "$W/cmd.err")', want 'p2pnode: $want'"
    say "ok ($rc): $* -> $(cat "$W/cmd.err")"
}

# Flags are never silently dropped.
expect 2 "--share given twice" --peer --share a --share b
expect 2 "--piece-size applies to --make-torrent, not --peer" --peer --share d --piece-size 1M
expect 2 "--get applies to --peer, not --tracker" --tracker --port 0 --get foo
# A piece size the maker would refuse is a usage error too, as is a tracker URL that is not one.
expect 2 "--piece-size 3 is not a power of two in 16K..64M" --make-torrent f --tracker udp://127.0.0.1:1 --piece-size 3
expect 2 "--piece-size 3 is not a power of two" --piece-size 3 --make-torrent f --tracker udp://127.0.0.1:1
expect 2 "--tracker garbage: not a udp://HOST:PORT, http:// or https:// URL" --make-torrent f --tracker garbage
expect 2 "--tracker garbage: not a udp://HOST:PORT, http:// or https:// URL" --peer --share d --tracker garbage
expect 2 "--tracker udp://host: missing port" --list --tracker udp://host
expect 2 "--log-level loud: use debug, info, warn or error" --tracker --log-level loud
expect 2 "--log-level loud" --peer --share d --log-level loud
expect 2 "--encryption maybe: use allow, prefer, require or disable" --peer --share d --encryption maybe
expect 2 "--encryption applies to --peer" --tracker --encryption require
expect 2 "--no-utp and --no-tcp together leave no way to reach a peer" --peer --share d --no-utp --no-tcp
expect 2 "--no-utp applies to --peer" --tracker --no-utp
# A mode alone with the issue's --piece-size 3 (no --make-torrent): the size is still checked first.
expect 2 "--piece-size 3 is not a power of two" --piece-size 3
[[ ! -e $W/f.torrent ]] || fail "a refused --make-torrent wrote f.torrent"

# A log file that cannot be opened: one line, exit 1, nothing started (no tracker line on stdout).
expect 1 "log file $W/no/such/dir/p2p.log" --tracker --bind 127.0.0.1 --port 0 --no-console --log-file "$W/no/such/dir/p2p.log"

# --list against a port where nothing answers: the default timeout (10 s) ends it, one line, exit 1.
port=$(free_port udp)
start_s=$SECONDS
expect 1 "" --list --tracker "udp://127.0.0.1:$port"
took=$((SECONDS - start_s))
((took <= 15)) || fail "--list took ${took}s to give up on udp://127.0.0.1:$port (want <= 15)"
start_s=$SECONDS
expect 1 "" --list --tracker udp://127.0.0.1:1
took=$((SECONDS - start_s))
((took <= 15)) || fail "--list took ${took}s to give up on udp://127.0.0.1:1 (want <= 15)"
say "--list gave up in ${took}s"
PASSED=1
echo PASS
