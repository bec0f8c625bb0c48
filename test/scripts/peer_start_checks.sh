#!/usr/bin/env bash
# A peer that cannot do what it was asked says so in one line and exits 1 at start, before it listens or
# announces anything (a missing --share printed "peer listening..." first; an unreadable one ran on
# with two warnings; --into a read-only folder printed three lines). The unprivileged cases run as nobody.
#   missing --share; --share a file; unreadable --share (nobody); --into a read-only folder (nobody); a busy port.
# Exit 0 pass, 77 skip, other fail. Limit 90 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
t_need_tools setpriv
t_init p2p-start-checks
chmod 755 "$W"

# expect1 NAME WANT_REGEX CMD...: CMD exits 1 within 20 s with exactly one stderr line matching WANT_REGEX and
# nothing on stdout.
expect1() {
    local name=$1 want=$2 rc=0
    shift 2
    timeout 20 "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || rc=$?
    ((rc == 1)) || fail "$name: exit $rc, want 1 ($(cat "$W/$name.err"))"
    [[ $(wc -l <"$W/$name.err") == 1 ]] || fail "$name: not one line on stderr: $(cat "$W/$name.err")"
    grep -qE "$want" "$W/$name.err" || fail "$name: unclear message: $(cat "$W/$name.err")"
    [[ ! -s $W/$name.out ]] || fail "$name: printed on stdout before failing: $(cat "$W/$name.out")"
    say "$name: $(cat "$W/$name.err")"
}
P=("$P2PNODE" --peer --bind 127.0.0.1 --no-console)
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

expect1 missing_share 'p2pnode: --share .*/nope: no such folder$' "${P[@]}" --port 0 --share "$W/nope"
echo x >"$W/file"
expect1 share_is_file 'p2pnode: --share .*/file: not a folder$' "${P[@]}" --port 0 --share "$W/file"
mkdir -p "$W/closed" && chmod 700 "$W/closed"
expect1 share_unreadable 'p2pnode: --share .*/closed: cannot read it' "${NOBODY[@]}" "${P[@]}" --port 0 --share "$W/closed"
mkdir -p "$W/ro" && chmod 555 "$W/ro"
expect1 into_read_only 'p2pnode: --into .*/ro: cannot write into it' \
    "${NOBODY[@]}" "${P[@]}" --port 0 --get 0123456789abcdef0123456789abcdef01234567 --into "$W/ro" --tracker udp://127.0.0.1:9
busy=$(free_port tcp)
"$PY" -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$busy" &
holder=$!
PIDS+=("$holder")
sleep 0.5
mkdir -p "$W/share"
expect1 busy_port "p2pnode: cannot listen on 127.0.0.1:$busy: .*address already in use" "${P[@]}" --port "$busy" --share "$W/share"
PASSED=1
echo PASS
