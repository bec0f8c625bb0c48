#!/usr/bin/env bash
# Every flag in --help is documented in man/p2pnode.1; usage errors are one line and exit 2; the man page renders.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT" || exit 1
t_init p2p-cli

help=$("$P2PNODE" --help) || fail "--help exited non-zero"
flags=$(echo "$help" | grep -oE '^  (--[a-z0-9-]+|-[a-z])' | sed 's/^  //' | sort -u)
[ "$(echo "$flags" | wc -l)" -ge 15 ] || fail "too few flags parsed from --help: $flags"
# man/groff escape hyphens as \-; compare on the unescaped source
man_text=$(sed 's/\\-/-/g' man/p2pnode.1)
for f in $flags; do
  # A here-string, not `echo | grep -q`: grep leaving at its first match fails the echo under pipefail (SIGPIPE).
  grep -qE "^\.(B|BI|TP|BR)? ?$f\b|^\.B[I]? $f( |\$)" <<<"$man_text" || fail "flag $f is in --help but not documented in man/p2pnode.1"
done
echo "all $(echo "$flags" | wc -w) flags documented"

"$P2PNODE" --version | grep -qE '^p2pnode [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version output"

check_usage_error() {
  local expect=$1; shift
  out=$("$P2PNODE" "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] || fail "'$*' exited $rc, want 2"
  [ "$(echo "$out" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $out"
  echo "$out" | grep -qF -- "$expect" || fail "'$*' said '$out', want '$expect'"
}
check_usage_error "unknown flag --frobnicate" --frobnicate
check_usage_error "--port needs a value" --tracker --port
check_usage_error "--port needs an integer in 0..65535, got 'x'" --tracker --port x
check_usage_error "--list needs --tracker URL" --list
check_usage_error "nothing to do" 
check_usage_error "--piece-size: '12Q' has an unknown suffix" --make-torrent . --tracker udp://x:1 --piece-size 12Q

MANWIDTH=80 man -l man/p2pnode.1 >"$W/man.txt" 2>&1 || fail "man -l failed: $(cat "$W/man.txt")"
grep -q "BitTorrent tracker and peer" "$W/man.txt" || fail "man page did not render its NAME section"
PASSED=1
echo ok
