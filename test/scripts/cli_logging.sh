#!/usr/bin/env bash
# the logging flags reach the program. A peer with --max-memory logs its derived limits at info level
# at start: on stderr by default, not with --quiet (errors only) or --log-level warn, again with --quiet
# --log-level info, and into the file (not stderr) with --log-file.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode
t_init p2p-cli-logging
mkdir -p "$W/share"
LINE='\[info\] peer: memory budget 8 MiB'

# peer NAME ARGS...: a peer sharing an empty folder until it listens, then stopped; its stderr is $W/NAME.err.
# A --quiet peer prints no "peer listening" line (only errors and the final summary): it gets 2 s to start,
# far more than the synchronous start-up that logs the memory budget.
peer() {
    local name=$1
    shift
    start "$name" --peer --share "$W/share" --bind 127.0.0.1 --port 0 --no-console --max-memory 8M "$@"
    if [[ " $* " == *" --quiet "* ]]; then
        sleep 2
        alive "$name" || fail "$name exited"
    else
        wait_lines "$name" '^peer listening on ' 1 20
    fi
    stop "$name"
}

peer plain
grep -q "$LINE" "$W/plain.err" || fail "no info line by default (so the checks below prove nothing)"
peer quiet --quiet
grep -q '\[info\]' "$W/quiet.err" && fail "--quiet still printed info lines: $(cat "$W/quiet.err")"
[[ ! -s $W/quiet.out ]] || fail "--quiet printed on stdout (wanted errors and the final summary only): $(cat "$W/quiet.out")"
peer warn --log-level warn
grep -q '\[info\]' "$W/warn.err" && fail "--log-level warn still printed info lines"
peer quiet_info --quiet --log-level info
grep -q "$LINE" "$W/quiet_info.err" || fail "--quiet --log-level info did not print the info line"
peer verbose -v
grep -q "$LINE" "$W/verbose.err" || fail "-v did not print the info line"
peer file --log-file "$W/p2p.log.txt"
grep -q "$LINE" "$W/p2p.log.txt" || fail "--log-file: the line is not in the file"
grep -q '\[info\]' "$W/file.err" && fail "--log-file: log lines still on stderr"
echo "old line" >"$W/keep.txt"
peer append --log-file "$W/keep.txt"
[[ $(head -n1 "$W/keep.txt") == "old line" ]] || fail "--log-file replaced the file instead of appending"
say "ok: default, --quiet, --log-level warn, --quiet --log-level info, -v, --log-file"
PASSED=1
echo PASS
