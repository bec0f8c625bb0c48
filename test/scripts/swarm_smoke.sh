#!/usr/bin/env bash
# Smoke: tools/swarm runs a tiny swarm (1 seed + 3 leechers, 8 MiB, 20 Mbit/s, p2pnode only) in network
# namespaces it makes itself, and must write a JSON whose efficiency is > 0 with every leecher done, an SVG with
# one progress polyline per leecher and the T_min line, and a one-line summary.
# Exit 0 pass, 77 skip (not root, no namespaces, p2pnode not built), other fail. Total limit 90 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 90 "$@"
t_need_p2pnode peer
t_need_root
t_init p2p-swarm-smoke 60
LOG_GLOBS="*.log *.out *.err out/*.logs/*.log"

# Can this machine make a namespace at all? (containers without CAP_SYS_ADMIN cannot.)
probe=p2ps$$
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$probe"
tc qdisc help 2>&1 | grep -q . || skip "tc not available"

# tools/swarm cleans its own namespaces on exit; its prefix is swm<its pid>, so nothing to record in NS here.
spawn_log swarm "$PY" "$ROOT/tools/swarm" --client p2pnode --leechers 3 --size 8 --rate 20 \
    --out "$W/out" --workdir "$W/data" --run-timeout 50 --p2pnode "$P2PNODE"
await swarm
# shellcheck disable=SC2154 # RC_swarm is set by await (printf -v)
((RC_swarm == 0)) || fail "tools/swarm exited $RC_swarm"

J=$W/out/n3-p2pnode.json
[[ -s $J ]] || fail "no JSON written ($J)"
[[ -s $W/out/n3-p2pnode.svg ]] || fail "no SVG written"
"$PY" - "$J" "$W/out/n3-p2pnode.svg" <<'EOF' || fail "JSON/SVG content check failed"
import json, sys
r = json.load(open(sys.argv[1]))
svg = open(sys.argv[2]).read()
assert r["all_done"], "not every leecher finished"
assert r["efficiency"] > 0, r["efficiency"]
assert r["t_min_s"] > 0 and r["t_last_s"] > 0
assert len(r["peers"]) == 3 and all(p["finish_s"] is not None for p in r["peers"])
assert all(p["peak_rss_kib"] > 0 for p in r["peers"]), "no peak RSS"
assert r["seed_upload_over_F"] > 0, "the seed uploaded nothing"
assert svg.count("<polyline") >= 4, "expected 3 progress lines and the upload line"
assert "T_min" in svg
print("efficiency %.3f, T_min %.1f s, last %.1f s, seed up/F %.2f" %
      (r["efficiency"], r["t_min_s"], r["t_last_s"], r["seed_upload_over_F"]))
EOF
grep -q '^n3-p2pnode: N=3 .*efficiency=' "$W/out/summary.txt" || fail "no one-line summary"
# Its namespaces must be gone.
if ip netns list | grep -q "^swm$(pid_of swarm)-"; then fail "tools/swarm left namespaces behind"; fi
PASSED=1
echo PASS
