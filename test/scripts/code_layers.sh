#!/usr/bin/env bash
# The layer rule of src/ (docs/HACKING.md): tools/check_layers.py passes on this tree, and fails, naming the
# file and the arrow, on a copy with one upward include added (so the check can fail) and on a public header
# that includes a private one.
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 60 "$@"
t_init p2p-layers
"$PY" "$ROOT/tools/check_layers.py" >"$W/clean.out" 2>&1 || { cat "$W/clean.out"; fail "this tree breaks the layer rule"; }
cp -r "$ROOT/src" "$ROOT/include" "$W/"
mkdir -p "$W/tools"
printf '#include "session/session.hpp"\n' >>"$W/src/storage/storage.hpp"
if "$PY" "$ROOT/tools/check_layers.py" --root "$W" >"$W/up.out" 2>&1; then fail "an upward include passed the check"; fi
grep -q '^src/storage/storage.hpp:[0-9]*: storage -> session' "$W/up.out" || fail "unclear report: $(cat "$W/up.out")"
cp "$ROOT/src/storage/storage.hpp" "$W/src/storage/storage.hpp"
printf '#include "base/log.hpp"\n' >>"$W/include/p2pnode/peer.hpp"
if "$PY" "$ROOT/tools/check_layers.py" --root "$W" >"$W/pub.out" 2>&1; then fail "a private include in the public API passed"; fi
grep -q 'public API includes a private header' "$W/pub.out" || fail "unclear report: $(cat "$W/pub.out")"
say "layers: clean tree ok; an upward include and a private header in the API are refused"
PASSED=1
echo PASS
