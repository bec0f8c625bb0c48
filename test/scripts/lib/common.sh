# shellcheck shell=bash
# test/scripts/lib/common.sh: helpers shared by the scripted tests in test/scripts/ (source it; not run by
# tools/run-tests, which globs only test/scripts/*.sh and *.py). A script keeps only its scenario:
#
#   source "$(dirname "$0")/lib/common.sh"
#   t_wrap 240 "$@"                       # re-exec under `timeout` (P2P_TEST_TIMEOUT overrides the limit)
#   t_need_p2pnode                        # skip (77) when $P2PNODE is not built
#   t_init p2p-name                       # work dir $W, cleanup trap (kills every process, netns, logs on failure)
#   tracker_start tracker --bind 127.0.0.1 --port 0 --no-console    # sets TURL, THOST, TPORT
#   start seed --peer --share "$W/a" --tracker "$TURL" ...           # p2pnode in the background: PID_seed
#   ...
#   PASSED=1; echo PASS
#
# Settings a script may change after sourcing (before t_init): LOG_TAIL (lines of each log printed on failure,
# default 40), LOG_GLOBS (which files of $W are printed, default "*.log *.out *.err"), T_STAMP=1 (prefix
# say/fail lines with the time), NS (a tools/netns prefix: removed by the cleanup). P2P_KEEP_WORKDIR=1 keeps $W.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
LIB=$ROOT/test/scripts/lib
P2PNODE=${P2PNODE:-$ROOT/build/p2pnode}
[[ $P2PNODE == /* ]] || P2PNODE=$PWD/$P2PNODE
PY=/usr/bin/python3
# No test reaches the internet: a p2pnode peer without --dht-bootstrap joins no public DHT router (man p2pnode,
# ENVIRONMENT). Scripts that test the DHT name their bootstrap nodes.
export P2PNODE_DHT_BOOTSTRAP=${P2PNODE_DHT_BOOTSTRAP:-none}
LOG_TAIL=40
LOG_GLOBS="*.log *.out *.err"
T_STAMP=0
NS=
PIDS=()
PASSED=0
SPAWN_STDIN=/dev/null

# t_wrap SECS "$@": re-run the calling script under `timeout -k 5 SECS` once, so it always stops by itself.
t_wrap() {
    local secs=$1
    shift
    if [[ -z ${P2P_TEST_WRAPPED:-} ]]; then
        export P2P_TEST_WRAPPED=1
        exec timeout -k 5 "${P2P_TEST_TIMEOUT:-$secs}" "$0" "$@"
    fi
}

say() { if ((T_STAMP)); then echo "$(date +%T) $*"; else echo "$*"; fi; }
fail() { say "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# p2p_help_has FLAG: whether $P2PNODE --help lists FLAG. The text is read whole first: with `| grep -q` under
# pipefail, grep leaving at its first match makes p2pnode's next write fail (SIGPIPE) once the help is longer than
# one stdio buffer, and the check reads as "no such flag" (slow builds lose that race).
p2p_help_has() {
    local help
    help=$("$P2PNODE" --help 2>&1) || true
    [[ $help == *"$1"* ]]
}

# t_need_p2pnode [MODE]: skip unless $P2PNODE is built (and, with MODE, its --help lists --MODE).
t_need_p2pnode() {
    [[ -x $P2PNODE ]] || skip "$P2PNODE not built"
    if [[ -n ${1:-} ]]; then p2p_help_has "--$1" || skip "$P2PNODE has no --$1 mode"; fi
    return 0
}
# t_need_tools TOOL...: skip unless every TOOL is on PATH.
t_need_tools() {
    local tool
    for tool in "$@"; do command -v "$tool" >/dev/null || skip "$tool not installed"; done
}
t_need_libtorrent() { "$PY" -c 'import libtorrent' 2>/dev/null || skip "python3-libtorrent not installed for $PY"; }
t_need_root() { [[ $(id -u) == 0 ]] || skip "needs root for network namespaces"; }

# t_init NAME [LOG_TAIL] [stamp]: make the work dir $W (/tmp/NAME.XXXXXX) and install the cleanup trap;
# optionally set LOG_TAIL and T_STAMP=1.
t_init() {
    LOG_TAIL=${2:-$LOG_TAIL}
    [[ ${3:-} == stamp ]] && T_STAMP=1
    W=$(mktemp -d "/tmp/$1.XXXXXX")
    trap t_cleanup EXIT
    trap 'exit 124' TERM INT
}

# t_dump_logs: the last LOG_TAIL lines of every non-empty log in $W.
t_dump_logs() {
    local g f
    for g in $LOG_GLOBS; do
        for f in "$W"/$g; do
            [[ -s $f ]] || continue
            echo "----- $(basename "$f") (last $LOG_TAIL lines) -----"
            tail -n "$LOG_TAIL" "$f"
        done
    done
}

# The EXIT trap: SIGTERM every process still in PIDS (SIGKILL after 5 s), remove the namespaces of $NS, print
# the logs unless the script set PASSED=1 (or skipped), remove $W, exit with the script's status.
t_cleanup() {
    local rc=$? pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n $NS ]]; then netns_cleanup "$NS"; fi   # also kills anything left inside the namespaces
    if [[ $PASSED != 1 && $rc != 77 ]]; then
        echo "FAIL (rc=$rc); logs from $W:"
        t_dump_logs
        [[ $rc == 0 ]] && rc=1
    fi
    if [[ -n ${P2P_KEEP_WORKDIR:-} ]]; then echo "work dir kept: $W"; else rm -rf "$W"; fi
    exit "$rc"
}

# forget PID: a process we have reaped; the cleanup must not signal its (possibly reused) pid.
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# spawn NAME CMD...: run CMD in the background, stdout to $W/NAME.out, stderr to $W/NAME.err, stdin from
# $SPAWN_STDIN; its pid goes to PID_<NAME> and to PIDS (so the cleanup kills it). NAME: letters, digits, _.
spawn() {
    local name=$1
    shift
    "$@" >"$W/$name.out" 2>"$W/$name.err" <"$SPAWN_STDIN" &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}
# spawn_log NAME CMD...: the same, with stdout and stderr both in $W/NAME.log.
spawn_log() {
    local name=$1
    shift
    "$@" >"$W/$name.log" 2>&1 <"$SPAWN_STDIN" &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}
# start NAME ARGS...: spawn NAME "$P2PNODE" ARGS...
start() {
    local name=$1
    shift
    spawn "$name" "$P2PNODE" "$@"
}
pid_of() { local v="PID_$1"; echo "${!v}"; }

# sanitizer_runtime: the path of the sanitizer runtime $P2PNODE links (make check-asan builds), or nothing.
sanitizer_runtime() { ldd "$P2PNODE" 2>/dev/null | awk '/libasan|libclang_rt\.asan|libtsan|libubsan/ {print $3; exit}'; }

# preload_list LIB: the LD_PRELOAD value that injects LIB into $P2PNODE. A sanitizer build (make check-asan)
# links its runtime dynamically, and that runtime refuses to start unless it comes first in the preload list.
preload_list() {
    local rt
    rt=$(sanitizer_runtime)
    echo "${rt:+$rt:}$1"
}

# await NAME: wait for NAME to exit; sets RC_<NAME>.
await() {
    local pid rc=0
    pid=$(pid_of "$1")
    wait "$pid" || rc=$?
    forget "$pid"
    printf -v "RC_$1" '%s' "$rc"
}
# stop NAME [SECS]: SIGTERM, must exit within SECS (default 20) s; sets RC_<NAME>.
stop() {
    local pid rc=0 secs=${2:-20}
    pid=$(pid_of "$1")
    kill -TERM "$pid" 2>/dev/null || true
    timeout "$secs" tail --pid="$pid" -f /dev/null || fail "$1 did not exit within $secs s of SIGTERM"
    wait "$pid" || rc=$?
    forget "$pid"
    printf -v "RC_$1" '%s' "$rc"
}
# kill9 NAME: SIGKILL and reap, quietly (no "Killed" job notice).
kill9() {
    local pid
    pid=$(pid_of "$1")
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
    forget "$pid"
}
alive() { kill -0 "$(pid_of "$1")" 2>/dev/null; }

# console_ask NAME CMD REGEX [SECS]: write CMD to fd 8 (the console FIFO of the process started as NAME, held open
# read-write by the script) and wait for REGEX in what NAME prints after it; fails, showing that output, if NAME
# exits or SECS (default 10) pass.
console_ask() {
    local name=$1 cmd=$2 re=$3 secs=${4:-10} from t
    from=$(wc -l <"$W/$name.out")
    echo "$cmd" >&8
    for ((t = 0; t < secs * 10; t++)); do
        tail -n +"$((from + 1))" "$W/$name.out" | grep -qE -- "$re" && return 0
        alive "$name" || fail "$name exited after '$cmd'"
        sleep 0.1
    done
    echo "--- $name output after '$cmd':"
    tail -n +"$((from + 1))" "$W/$name.out"
    fail "no /$re/ within ${secs}s after '$cmd'"
}

# wait_line FILE REGEX PID SECS: print the first match of REGEX (grep -o -E) in FILE once it appears; return 1
# (with a message on stderr) if PID exits first or SECS pass.
wait_line() {
    local file=$1 re=$2 pid=$3 secs=$4 line t
    for ((t = 0; t < secs * 10; t++)); do
        line=$(grep -m1 -o -E "$re" "$file" 2>/dev/null || true)
        [[ -n $line ]] && { echo "$line"; return 0; }
        kill -0 "$pid" 2>/dev/null || { echo "process $pid exited before printing /$re/ in $file" >&2; return 1; }
        sleep 0.1
    done
    echo "no /$re/ in $file within $secs s" >&2
    return 1
}
# wait_lines NAME PATTERN COUNT SECS: until NAME's stdout has COUNT lines matching PATTERN (fails if it exits).
wait_lines() {
    local name=$1 pat=$2 count=$3 secs=$4 t
    for ((t = 0; t < secs * 10; t++)); do
        (($(grep -c -- "$pat" "$W/$name.out" || true) >= count)) && return 0
        alive "$name" || fail "$name exited before printing $count x '$pat'"
        sleep 0.1
    done
    fail "$name did not print $count x '$pat' within ${secs}s"
}
# wait_sharing NAME FILE [HEX] [SECS]: until p2pnode NAME prints "sharing FILE <hash>" (default 60 s); with HEX
# the hash must be HEX.
wait_sharing() {
    local line
    line=$(wait_line "$W/$1.out" "^sharing $2 [0-9a-f]{40}" "$(pid_of "$1")" "${4:-60}") ||
        fail "$1 did not print 'sharing $2'"
    [[ -z ${3:-} || ${line##* } == "$3" ]] || fail "$1 shares $2 as ${line##* }, --make-torrent said $3"
}

# tracker_start NAME [P2PNODE ARGS...]: start `p2pnode --tracker ARGS` as NAME (prefix with IN=(cmd...) to run it
# elsewhere, e.g. IN=(netns_exec "$NS" 1)); wait up to 10 s for "tracker listening on udp://HOST:PORT"; sets
# TURL, THOST, TPORT. If it exits first: return 1 (with TRACKER_SKIP_IF_MISSING=1: skip instead when this
# p2pnode has no tracker mode); no line within 10 s: return 2. Callers add `|| fail ...`.
IN=()
TRACKER_SKIP_IF_MISSING=0
tracker_start() {
    local name=$1 line
    shift
    SPAWN_STDIN=$TRACKER_STDIN spawn "$name" "${IN[@]}" "$P2PNODE" --tracker "$@"
    if ! line=$(wait_line "$W/$name.out" 'tracker listening on udp://[0-9.]+:[0-9]+' "$(pid_of "$name")" 10); then
        if ! alive "$name"; then
            forget "$(pid_of "$name")"
            if ((TRACKER_SKIP_IF_MISSING)) && { ! p2p_help_has --tracker ||
                grep -q 'not available in this build' "$W/$name.err"; }; then
                skip "$P2PNODE has no --tracker mode yet"
            fi
            echo "p2pnode --tracker ($name) exited without listening" >&2
            return 1
        fi
        echo "p2pnode --tracker ($name) printed no 'tracker listening on' line within 10 s" >&2
        return 2
    fi
    TURL=${line#tracker listening on }
    THOST=${TURL#udp://}
    THOST=${THOST%:*}
    TPORT=${TURL##*:}
    [[ $TPORT =~ ^[0-9]+$ && $TPORT != 0 ]] || fail "bad port in '$line'"
}
# tracker_console: a FIFO as the tracker's console (its stdin, instead of /dev/null), held open on fd 9 so it never
# sees EOF.
TRACKER_STDIN=/dev/null
tracker_console() {
    mkfifo "$W/console"
    exec 9<>"$W/console"
    TRACKER_STDIN=$W/console
}
# opentracker_start IP UDP_PORT [HOST]: Debian's opentracker as "tracker" (in netns host HOST of $NS if given),
# whitelist mode with the hashes in $W/whitelist (it drops to nobody and chroots to $W, hence chmod 755).
opentracker_start() {
    local in=()
    [[ -n ${3:-} ]] && in=(netns_exec "$NS" "$3")
    chmod 755 "$W"
    SPAWN_STDIN=$TRACKER_STDIN spawn tracker "${in[@]}" opentracker -i "$1" -P "$2" -p "$(free_port tcp "${3:-}")" -w whitelist -u nobody -d "$W"
    sleep 0.5
    alive tracker || fail "opentracker did not start"
    TURL=udp://$1:$2
    THOST=$1
    TPORT=$2
}

# free_port tcp|udp [HOST]: a port that was free a moment ago, on 127.0.0.1 (or 0.0.0.0 inside netns host HOST).
free_port() {
    local cmd=() addr=127.0.0.1
    if [[ -n ${2:-} ]]; then cmd=(netns_exec "$NS" "$2"); addr=0.0.0.0; fi
    "${cmd[@]}" "$PY" -c 'import socket,sys
s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=="udp" else socket.SOCK_STREAM)
s.bind((sys.argv[2],0)); print(s.getsockname()[1])' "$1" "$addr"
}

# make_torrent PATH OUT [TRACKER_URL]: p2pnode --make-torrent (announce $TURL by default); prints the info hash.
make_torrent() {
    timeout 60 "$P2PNODE" --make-torrent "$1" --tracker "${3:-$TURL}" -o "$2" >"$2.mk" 2>&1 ||
        { cat "$2.mk"; fail "--make-torrent $1 failed"; }
    grep -o 'info hash: [0-9a-f]*' "$2.mk" | cut -d' ' -f3
}
# mktorrent_hash PATH OUT URL: mktorrent with 64 KiB pieces; prints the info hash (read back by libtorrent).
mktorrent_hash() {
    mktorrent -a "$3" -l 16 -o "$2" "$1" >/dev/null
    "$PY" -c 'import libtorrent as lt,sys; print(str(lt.torrent_info(sys.argv[1]).info_hash()))' "$2"
}
# wait_seeders HEX N SECS: until the tracker at $TURL counts at least N seeders of HEX.
wait_seeders() {
    local t s
    for ((t = 0; t < $3 * 2; t++)); do
        s=$(timeout 10 "$P2PNODE" --scrape "$1" --tracker "$TURL" --timeout 5 2>/dev/null | sed -n 's/^seeders: //p')
        ((${s:-0} >= $2)) && return 0
        sleep 0.5
    done
    fail "the tracker does not count $2 seeders of $1 after ${3}s"
}
# scrape_p2p HEX_OR_NAME [SECS]: `p2pnode --scrape` against $TURL (under IN=(...) if set; limit SECS, default
# 15) into $W/scrape.out; returns its status.
scrape_p2p() {
    "${IN[@]}" timeout "${2:-15}" "$P2PNODE" --scrape "$1" --tracker "$TURL" --timeout 5 >"$W/scrape.out" 2>&1
}
# parse_scrape [FIELD...] < text: the numbers of free-form scrape output (lib/parse_scrape.py).
parse_scrape() { "$PY" "$LIB/parse_scrape.py" "$@"; }
# bep15 CMD ARGS...: the BEP 15 mini client (lib/bep15.py) against $THOST:$TPORT, limit 20 s.
bep15() { local cmd=$1; shift; timeout 20 "$PY" "$LIB/bep15.py" "$cmd" "$THOST" "$TPORT" "$@"; }
# scrape_counts HEX: "S C L" as the tracker reports them through `p2pnode --scrape` (a script may redefine it).
scrape_counts() { scrape_p2p "$1" || true; parse_scrape <"$W/scrape.out"; }
# expect_scrape HEX MIN_SEEDERS MIN_COMPLETED: poll scrape_counts (announces are asynchronous) up to 20 s; with
# WIRE_CHECK=1 the answer of lib/bep15.py on the wire must agree.
WIRE_CHECK=0
expect_scrape() {
    local h=$1 min_s=$2 min_c=$3 s=-1 c=-1 l=-1 t wire ws wc
    for ((t = 0; t < 20; t++)); do
        read -r s c l < <(scrape_counts "$h")
        if ((s >= min_s && c >= min_c)); then
            say "scrape ${h}: seeders=$s completed=$c leechers=$l (ok)"
            if ((WIRE_CHECK)); then
                wire=$(bep15 scrape "$h" | parse_scrape)
                read -r ws wc _ <<<"$wire"
                ((ws >= min_s && wc >= min_c)) || fail "wire scrape disagrees: $wire"
            fi
            return 0
        fi
        sleep 1
    done
    [[ -f $W/scrape.out ]] && cat "$W/scrape.out"
    fail "scrape $h: seeders=$s completed=$c leechers=$l, wanted seeders>=$min_s completed>=$min_c"
}

# uploaded NAME / downloaded NAME: the uploaded= / downloaded= number of NAME's (single) summary line.
uploaded() { sed -n 's/^summary .* uploaded=\([0-9]*\) .*/\1/p' "$W/$1.out" | head -n1; }
downloaded() { sed -n 's/^summary .* downloaded=\([0-9]*\) .*/\1/p' "$W/$1.out" | head -n1; }
# blocks_of FILE: bytes actually allocated on disk (downloads are preallocated sparse, so size says nothing).
blocks_of() { du -B1 "$1" 2>/dev/null | cut -f1 || echo 0; }
# wait_blocks NAME FILE MIN WHAT: until FILE has MIN bytes allocated (up to 30 s) while NAME runs; sets GOT.
wait_blocks() {
    local t
    GOT=0
    for ((t = 0; t < 600; t++)); do
        GOT=$(blocks_of "$2")
        ((GOT >= $3)) && return 0
        alive "$1" || fail "$1 exited before it had $4"
        sleep 0.05
    done
    fail "$1 did not get $4 within 30 s"
}

# aria2_args: ARIA2 = the aria2c options every test uses (no LPD/PEX; DHT on, as aria2 needs it for UDP
# trackers, but with no bootstrap nodes).
aria2_args() {
    ARIA2=(--no-conf=true --enable-dht=true --bt-enable-lpd=false --enable-peer-exchange=false
        --dht-file-path="$W/dht.dat" --file-allocation=none --summary-interval=0 --console-log-level=warn
        --log-level=info --bt-tracker-connect-timeout=10 --bt-tracker-timeout=10 --disable-ipv6=true)
}

# local_tracker: p2pnode --tracker as "tracker" on 127.0.0.1, ephemeral port, no console (sets TURL/THOST/TPORT).
local_tracker() {
    tracker_start tracker --bind 127.0.0.1 --port 0 --no-console || fail "p2pnode --tracker did not start"
    say "tracker on $TURL"
}

# start_seeds ITEM RATE NAME=DIR...: one p2pnode seed per NAME sharing DIR (127.0.0.1, ephemeral port, upload
# limited to RATE, announcing to $TURL), all started before waiting (60 s each) for their "sharing ITEM" line.
start_seeds() {
    local item=$1 rate=$2 nd
    shift 2
    for nd in "$@"; do
        start "${nd%%=*}" --peer --share "${nd#*=}" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate "$rate"
    done
    for nd in "$@"; do wait_lines "${nd%%=*}" "^sharing $item " 1 60; done
}
# same_bytes WHAT ORIGINAL COPY: cmp, fail "WHAT copy differs" or say "WHAT: bytes match".
same_bytes() {
    cmp "$2" "$3" || fail "$1 copy differs"
    say "$1: bytes match"
}
# p2p_download_from WHO TORRENT INTO: p2pnode --peer --get TORRENT --exit-when-done on 127.0.0.1 (limit 100 s,
# its own --timeout 90), logs p2p-download.out/.err; fails "p2pnode did not download from WHO". $P2P_GET_FLAGS
# (words) are added to its command line (e.g. "--encryption require").
p2p_download_from() {
    timeout 100 "$P2PNODE" --peer --get "$2" --into "$3" --tracker "$TURL" --bind 127.0.0.1 --port 0 \
        --exit-when-done --timeout 90 --no-console --quiet ${P2P_GET_FLAGS:-} \
        >"$W/p2p-download.out" 2>"$W/p2p-download.err" </dev/null ||
        fail "p2pnode did not download from $1 (rc=$?)"
}
# random_file PATH BYTES: a file of BYTES random bytes (its folder made as needed).
random_file() {
    mkdir -p "$(dirname "$1")"
    head -c "$2" /dev/urandom >"$1"
}
