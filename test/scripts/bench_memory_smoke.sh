#!/usr/bin/env bash
# Smoke: tools/bench-memory runs every scenario at tiny sizes (idle seeders of 1 and of 20 files, a 16 MiB
# transfer, and -- as root with the cgroup v1 memory controller -- a 16 MiB download inside a 32 MiB memory
# cgroup) and writes sane JSON: every figure present and positive, RSS = anon + file + shmem, the copies
# byte-identical, no OOM kill, and the cgroup removed afterwards. No speed or memory thresholds beyond a generous
# sanity bound (an idle seeder under 256 MiB). The real clients (transmission-daemon, python3-libtorrent) are
# compared when installed and their figures checked the same way.
# Exit 0 pass, 77 skip (p2pnode not built), other fail. Total limit 240 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 240 "$@"
t_need_p2pnode peer
t_init p2p-bench-memory 60

scenarios=(idle1 idle1000 transfer)
cgroup=0 cgroup_limit=32M
if [[ $(id -u) == 0 && -w /sys/fs/cgroup/memory ]]; then scenarios+=(cgroup); cgroup=1; fi
# A sanitizer build (make check-asan) is ~80 MiB resident before it does anything (shadow memory, allocator
# quarantine): give its cgroup room. This smoke test checks the tool's cgroup path, not the 32 MiB figure.
[[ -n $(sanitizer_runtime) ]] && cgroup_limit=1G
others=()
command -v transmission-daemon >/dev/null && command -v transmission-remote >/dev/null && others+=(transmission)
"$PY" -c 'import libtorrent' 2>/dev/null && others+=(libtorrent)
say "scenarios: ${scenarios[*]}; real clients: ${others[*]:-none}"

spawn_log bench "$PY" "$ROOT/tools/bench-memory" --p2pnode "$P2PNODE" --files 20 --settle 0.5 --size 16M \
    --cgroup-size 16M --cgroup-limit "$cgroup_limit" --others "$(IFS=,; echo "${others[*]}")" --timeout 120 --workdir "$W" --json "$W/bench.json" \
    "${scenarios[@]}"
await bench
# shellcheck disable=SC2154 # RC_bench is set by await
((RC_bench == 0)) || fail "tools/bench-memory exited $RC_bench"
[[ -s $W/bench.json ]] || fail "no JSON written"
grep -q '^idle1: idle seeder of 1 file' "$W/bench.log" || fail "no idle1 table on stdout"

"$PY" - "$W/bench.json" "$cgroup" "${others[@]}" <<'EOF' || fail "JSON content check failed"
import json, sys
r = json.load(open(sys.argv[1]))
want_cgroup, others = sys.argv[2] == "1", sys.argv[3:]
sc = r["scenarios"]
assert r["binary_bytes"] > 0
for name, files in (("idle1", 1), ("idle1000", 20)):
    s = sc[name]
    assert s["files"] == files, s["files"]
    want = {"p2pnode cold", "p2pnode warm"} | set(others)
    assert set(s["clients"]) == want, (name, sorted(s["clients"]))
    for client, m in s["clients"].items():
        for k in ("VmRSS", "RssAnon", "RssFile", "Pss", "VmHWM"):
            assert m[k] > 0, (name, client, k, m)
        assert m["VmRSS"] == m["RssAnon"] + m["RssFile"] + m["RssShmem"], (name, client, m)
        assert m["VmHWM"] >= m["VmRSS"] and m["Pss"] <= m["VmRSS"], (name, client, m)
        if client.startswith("p2pnode"):
            assert m["VmRSS"] < 256 * 1024, (name, client, "implausible RSS", m)
            assert m["fds"] >= files, (name, client, m)
    assert set(s["ratios"]) == set(others), (name, s["ratios"])
    for o, ratio in s["ratios"].items():
        assert abs(ratio["VmRSS"] - s["clients"]["p2pnode warm"]["VmRSS"] / s["clients"][o]["VmRSS"]) < 0.01
for name in ["transfer"] + (["cgroup"] if want_cgroup else []):
    t = sc[name]
    assert t["identical"] and t["leech_rc"] == 0, (name, t)
    for who in ("seed", "leech"):
        for k in ("VmRSS", "RssAnon"):
            st = t[f"{who}_{k}"]
            assert 0 < st["min"] <= st["median"] <= st["max"], (name, who, k, st)
            assert st["samples"] >= 1
    assert t["seconds"] > 0 and t["MB_per_s"] > 0
if want_cgroup:
    c = sc["cgroup"]["cgroup"]
    assert c["oom_kill"] in (0, None), c
    assert 0 < c["max_usage_in_bytes"] <= sc["cgroup"]["cgroup_limit"], c
print("idle1 p2pnode warm VmRSS %.2f MiB, idle1000(20) %.2f MiB" % (
    sc["idle1"]["clients"]["p2pnode warm"]["VmRSS"] / 1024, sc["idle1000"]["clients"]["p2pnode warm"]["VmRSS"] / 1024))
EOF
# Its memory cgroup must be gone (named after the tool's pid).
if [[ $cgroup == 1 && -e /sys/fs/cgroup/memory/p2pnode-bench-$(pid_of bench) ]]; then
    rmdir "/sys/fs/cgroup/memory/p2pnode-bench-$(pid_of bench)" || true
    fail "tools/bench-memory left its cgroup behind"
fi
# And its scratch dir (inside $W).
if compgen -G "$W/bench-memory.*" >/dev/null; then fail "tools/bench-memory left its scratch dir behind"; fi
PASSED=1
echo PASS
