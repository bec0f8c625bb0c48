#!/usr/bin/env bash
# The live progress line on a real terminal (tmux): a downloader of two torrents runs in a tmux window of 80
# columns, then of 150, while a seed serves them at a limited rate. The screen is captured again and again;
# every capture must show: no progress line wider than the window (no wrap), at most one live progress line and
# only as the last line (no stack of stale ones), the live line showing "+1 more" while both run, and log lines
# and console answers (a `status` typed in the window) starting at column 0, never glued to the bar.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
t_need_tools tmux
t_init p2p-terminal-tmux

SOCK=p2p-term-$$-$RANDOM # a private tmux server
tmx() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup_tmux() { tmx kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; t_cleanup' EXIT

local_tracker
random_file "$W/share/a.bin" $((3 * 1024 * 1024))
# A long UTF-8 name with wide characters: cut with an ellipsis, never wrapped.
LONG=$'\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab-with-a-rather-long-name-indeed.bin'
random_file "$W/share/$LONG" $((2 * 1024 * 1024))
# 640 KiB/s for both: about 8 s per run, so the live line shows for a while.
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --max-upload-rate 640K
wait_sharing seed a.bin
wait_sharing seed "$LONG"
make_torrent "$W/share/a.bin" "$W/a.torrent" >/dev/null
make_torrent "$W/share/$LONG" "$W/long.torrent" >/dev/null

# check_screen FILE WIDTH: the checks above on one capture (capture-pane -J: a wrapped line comes back joined).
check_screen() {
    "$PY" - "$1" "$2" <<'EOF'
import re, sys, unicodedata
path, width = sys.argv[1], int(sys.argv[2])
def cols(s):
    w = 0
    for ch in s:
        if unicodedata.combining(ch): continue
        w += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
    return w
rows = [r.rstrip() for r in open(path, encoding="utf-8", errors="replace").read().split("\n")]
while rows and not rows[-1].strip(): rows.pop()
bar = re.compile(r"\[[#.]{5,}\]")
live = []
for i, r in enumerate(rows):
    if not bar.search(r): continue
    if cols(r) > width - 1: sys.exit("progress line of %d columns in a window of %d: %r" % (cols(r), width, r))
    if re.search(r"\[(debug|info|warn|error)\]|p2pnode:|NAME|torrents?$|^(downloading|complete|status)", r):
        sys.exit("something glued to a progress line: %r" % r)
    if re.match(r"^\S.*\[[#.]+\] +100\.0%", r): continue # a final line (kept on purpose)
    live.append(i)
if len(live) > 1: sys.exit("%d live progress lines on the screen (a stale stack): %r" % (len(live), [rows[i] for i in live]))
if live and live[0] != len(rows) - 1: sys.exit("the live line is not the last line: %r" % rows[live[0]])
for r in rows:
    for tag in ("[info]", "[debug]", "[warn]", "p2pnode:"):
        if tag in r and not r.startswith(tag): sys.exit("a log line not at column 0: %r" % r)
print("more" if live and "+1 more" in rows[live[0]] else ("live" if live else "none"))
EOF
}

# run WIDTH NAME: download both torrents in a tmux window of WIDTH columns; capture the pane every 0.2 s.
run() {
    local width=$1 name=$2 out n=0 lives=0 mores=0 typed=0 t
    mkdir -p "$W/$name"
    tmx kill-server 2>/dev/null || true
    # The window stays (remain-on-exit) so its last screen can be checked after p2pnode exits.
    tmx -u new-session -d -s t -x "$width" -y 40 \
        "cd '$W/$name' && '$P2PNODE' --peer --get '$W/a.torrent' --get '$W/long.torrent' --into '$W/$name' \
        --tracker '$TURL' --bind 127.0.0.1 --port 0 --no-dht --no-lsd --exit-when-done --timeout 50 -v; \
        echo \"exit \$?\" >'$W/$name.rc'" ||
        fail "tmux did not start"
    tmx set-option -t t remain-on-exit on >/dev/null
    [[ $(tmx display -p -t t '#{window_width}') == "$width" ]] || fail "tmux window is not $width columns wide"
    for ((t = 0; t < 300; t++)); do
        tmx capture-pane -p -J -t t >"$W/$name/screen.txt" 2>/dev/null || break
        out=$(check_screen "$W/$name/screen.txt" "$width") || {
            cp "$W/$name/screen.txt" "$W/$name.screen.log"
            fail "at $width columns: $out (screen in $name.screen.log)"
        }
        ((n++))
        [[ $out == live || $out == more ]] && ((lives++))
        [[ $out == more ]] && ((mores++))
        # A command typed in the window while the bar shows: its echo and the answer must not stack stale bars.
        if ((lives == 5 && !typed)); then
            tmx send-keys -t t "status" Enter
            typed=1
        fi
        [[ -e $W/$name.rc ]] && break
        sleep 0.2
    done
    tmx capture-pane -p -J -t t >"$W/$name/screen.txt"
    cp "$W/$name/screen.txt" "$W/$name.screen.log"
    out=$(check_screen "$W/$name/screen.txt" "$width") || fail "at $width columns, at the end: $out"
    [[ -e $W/$name.rc ]] || fail "the downloader did not finish at $width columns"
    grep -q "exit 0" "$W/$name.rc" || fail "the downloader failed at $width columns: $(cat "$W/$name.rc")"
    grep -q '^NAME ' "$W/$name/screen.txt" || fail "no answer to 'status' on the screen at $width columns"
    same_bytes a.bin "$W/share/a.bin" "$W/$name/a.bin"
    ((lives >= 5)) || fail "the live line showed in only $lives of $n captures at $width columns"
    ((mores >= 2)) || fail "'+1 more' showed in only $mores of $n captures at $width columns"
    say "$width columns: $n captures, live line in $lives ('+1 more' in $mores), never wrapped, stacked or glued"
}

run 80 w80
run 150 w150
PASSED=1
echo PASS
