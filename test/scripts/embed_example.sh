#!/usr/bin/env bash
# The embedding API as a host program sees it (issue 18): `meson install --destdir` of the build $P2PNODE comes
# from puts the headers (p2pnode/node.hpp and the rest), the static engine and p2pnode.pc; examples/embed.cpp is
# compiled against THOSE (pkg-config --cflags --libs p2pnode, nothing from src/) and run: two p2p::Nodes on the
# example's own libuv loop, one seeding a folder of three files, the other adding it by magnet (x.pe), downloading
# it, verifying it again and stopping both; the loop must close with no handle left. The download must be
# byte-identical. The check can fail: the example exits 1 on any error event, a second `complete` missing, or a
# handle left open, and the files are compared here.
# Exit 0 pass, 77 skip (no meson build next to $P2PNODE, no pkg-config or c++), other fail. Limit 120 s.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
t_need_p2pnode
BUILD=${P2PNODE_BUILD:-$(dirname "$P2PNODE")}
[[ -f $BUILD/meson-info/intro-installed.json ]] || skip "$BUILD is not a meson build folder (nothing to install)"
t_need_tools meson pkg-config c++
t_init p2p-embed
LOG_GLOBS="*.log *.txt"
DEST=$W/root
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet >"$W/install.log" 2>&1 ||
    fail "meson install --destdir failed: $(tail -n 5 "$W/install.log")"
pc=$(find "$DEST" -name p2pnode.pc | head -n 1)
[[ -n $pc ]] || fail "no p2pnode.pc installed"
for h in p2pnode.hpp node.hpp peer.hpp tracker.hpp; do
    [[ -n $(find "$DEST" -path "*/include/p2pnode/$h") ]] || fail "p2pnode/$h is not installed"
done
# The .pc names the install prefix; point it into the DESTDIR.
prefix=$(sed -n 's/^prefix=//p' "$pc")
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$DEST$prefix" --cflags --libs p2pnode) ||
    fail "pkg-config p2pnode failed"
say "1. installed; pkg-config p2pnode: $flags"
# Only the installed headers: the source tree is not on the include path.
[[ $flags == *"$ROOT/src"* ]] && fail "the .pc points into the source tree"
c++ -O1 -o "$W/embed" "$ROOT/examples/embed.cpp" $flags >"$W/compile.log" 2>&1 ||
    fail "examples/embed.cpp does not build against the installed headers: $(tail -n 20 "$W/compile.log")"
say "2. examples/embed.cpp built against the installed headers"

mkdir -p "$W/share/album/sub" "$W/into"
head -c 3000000 /dev/urandom >"$W/share/album/big.bin"
head -c 5000 /dev/urandom >"$W/share/album/small.txt"
head -c 70000 /dev/urandom >"$W/share/album/sub/mid.bin"
timeout 60 "$W/embed" "$W/share" "$W/into" >"$W/embed.log" 2>&1
rc=$?
cat "$W/embed.log"
[[ $rc == 0 ]] || fail "the example exited $rc"
grep -qx ok "$W/embed.log" || fail "the example did not print ok"
[[ $(grep -c '^event complete album' "$W/embed.log") == 2 ]] || fail "expected complete twice (download, verify)"
for f in big.bin small.txt sub/mid.bin; do
    cmp -s "$W/share/album/$f" "$W/into/album/$f" || fail "album/$f differs from the seed's"
done
say "3. two Nodes on one host loop: downloaded, re-verified, stopped; no handle left; files identical"
PASSED=1
echo PASS
