#!/usr/bin/env bash
# What p2pnode --tracker says when it cannot run, and --quiet:
#   1. --state in a folder that does not exist: exit 1 at once (not at the first save or at exit) with the one
#      line "p2pnode: --state PATH: folder DIR does not exist"; nothing on stdout, nothing created.
#      --state naming a folder: exit 1, one line "p2pnode: --state PATH: is a folder, not a file".
#   2. A busy port (a UDP socket of this script holds it on 127.0.0.1, and on ::1 when the host has IPv6):
#      exit 1 with exactly one line, "p2pnode: tracker: cannot listen on UDP port N (127.0.0.1: address already
#      in use[; [::1]: address already in use])": no [info]/[warn]/[error] lines, no repeated prefixes.
#   3. --quiet: no "tracker listening" line (nothing at all on stdout or stderr), yet it serves (`p2pnode --list`
#      answers) and stops on SIGTERM with exit 0.
# Exit 0 pass, 77 skip ($P2PNODE has no --tracker), other fail. Limit 60 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 60 "$@"
t_need_p2pnode tracker
t_init p2p-tracker-start 40

# run_tracker NAME ARGS...: p2pnode --tracker ARGS, which must exit by itself within 10 s; status in RC.
run_tracker() {
    local name=$1
    shift
    RC=0
    timeout 10 "$P2PNODE" --tracker --no-console "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null || RC=$?
}
# one_line NAME WANT: NAME exited 1, printed nothing on stdout and exactly WANT on stderr.
one_line() {
    ((RC == 1)) || fail "$1: exit $RC, want 1"
    [[ ! -s $W/$1.out ]] || { cat "$W/$1.out"; fail "$1: something on stdout"; }
    local got
    got=$(cat "$W/$1.err")
    [[ $got == "$2" ]] || fail "$1: stderr is
$got
want exactly
$2"
    say "$1: $got (ok)"
}

# ---- 1. --state ----
run_tracker missing_dir --bind 127.0.0.1 --port 0 --state "$W/missing/dir/t.json"
one_line missing_dir "p2pnode: --state $W/missing/dir/t.json: folder $W/missing/dir does not exist"
[[ ! -e $W/missing ]] || fail "the tracker created $W/missing"
mkdir "$W/a-folder"
run_tracker state_is_folder --bind 127.0.0.1 --port 0 --state "$W/a-folder"
one_line state_is_folder "p2pnode: --state $W/a-folder: is a folder, not a file"

# ---- 2. busy port ----
# The holder binds 127.0.0.1 (and ::1 if it can) on one port, prints it, then waits for stdin to close.
exec 8> >("$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
six = 0
try:
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(("::1", port))
    six = 1
except OSError:
    pass
with open(sys.argv[1], "w") as f:
    f.write("%d %d\n" % (port, six))
sys.stdin.read()
' "$W/holder.port")
for ((t = 0; t < 50; t++)); do [[ -s $W/holder.port ]] && break; sleep 0.1; done
read -r PORT SIX <"$W/holder.port" || fail "the port holder did not start"
if ((SIX)); then
    run_tracker busy --bind 127.0.0.1 --bind ::1 --port "$PORT"
    one_line busy "p2pnode: tracker: cannot listen on UDP port $PORT (127.0.0.1: address already in use; [::1]: address already in use)"
else
    run_tracker busy --bind 127.0.0.1 --port "$PORT"
    one_line busy "p2pnode: tracker: cannot listen on UDP port $PORT (127.0.0.1: address already in use)"
fi
exec 8>&-

# ---- 3. --quiet ----
QPORT=$(free_port udp)
start quiet --tracker --quiet --no-console --bind 127.0.0.1 --port "$QPORT" --state "$W/quiet.state"
ok=0
for ((t = 0; t < 40; t++)); do
    if timeout 10 "$P2PNODE" --list --tracker "udp://127.0.0.1:$QPORT" --timeout 1 >"$W/list.out" 2>&1; then
        ok=1
        break
    fi
    alive quiet || fail "the --quiet tracker exited"
    sleep 0.25
done
((ok)) || { cat "$W/list.out"; fail "the --quiet tracker does not answer --list on port $QPORT"; }
stop quiet 10
((RC_quiet == 0)) || fail "the --quiet tracker exited $RC_quiet on SIGTERM"
[[ ! -s $W/quiet.out && ! -s $W/quiet.err ]] || fail "--quiet: the tracker printed something (see quiet.out/.err)"
[[ -f $W/quiet.state ]] || fail "--quiet: no state saved on exit"
say "--quiet: silent, serving, saved on SIGTERM (ok)"

PASSED=1
echo PASS
