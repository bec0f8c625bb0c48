#!/usr/bin/env bash
# The tracker under a flood of swarms: a million distinct info hashes announced to p2pnode --tracker --max-swarms 100000 (127.0.0.1,
# ephemeral port). lib/announce_many.py sends them in bursts of 256 on one UDP socket (one seeder each).
# Asserts: the tracker stays up; its VmRSS (sampled every 0.2 s) stays under RSS_MAX_KB (64 MB: at the cap it
# needs ~17 MB, while a million uncapped swarms would need well over 64 MB); `stats` on its console says
# swarms <= 100000 and capped > 0; a scrape shows the first hash evicted and the last one present.
# MANY_HASHES lowers the count (default 1000000). Exit 0 pass, 77 skip, other fail. Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode
TRACKER_SKIP_IF_MISSING=1
t_init p2p-many-hashes
COUNT=${MANY_HASHES:-1000000}
CAP=100000
RSS_MAX_KB=$((64 * 1024))
# Under AddressSanitizer RSS is dominated by shadow memory and the free quarantine, not by the tracker's own
# data, so the memory bound is only meaningful for a normal build; the sanitizer run still checks the rest.
if ldd "$P2PNODE" 2>/dev/null | grep -q libasan; then RSS_MAX_KB=$((2 * 1024 * 1024)); fi
((COUNT > 2 * CAP)) || fail "MANY_HASHES=$COUNT: needs more than $((2 * CAP)) to show eviction"
tracker_console
tracker_start tracker --bind 127.0.0.1 --port 0 --max-swarms $CAP --max-peers $((2 * CAP)) ||
    fail "p2pnode --tracker did not start"
say "tracker on $TURL (pid $PID_tracker), announcing $COUNT distinct hashes"
hash_of() { printf 'many-%d' "$1" | sha1sum | cut -c1-40; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_tracker/status" 2>/dev/null || echo 0; }

spawn flood timeout 110 "$PY" "$LIB/announce_many.py" "$THOST" "$TPORT" "$COUNT"
max_rss=0
while alive flood; do
    alive tracker || fail "the tracker died during the flood"
    r=$(rss_kb)
    ((r > max_rss)) && max_rss=$r
    sleep 0.2
done
await flood
((RC_flood == 0)) || fail "announce_many.py exited $RC_flood: $(cat "$W/flood.out" "$W/flood.err")"
alive tracker || fail "the tracker died during the flood"
r=$(rss_kb)
((r > max_rss)) && max_rss=$r
say "flood: $(cat "$W/flood.out"); tracker peak VmRSS ${max_rss} kB (bound $RSS_MAX_KB kB)"
((max_rss > 0 && max_rss < RSS_MAX_KB)) || fail "tracker VmRSS peaked at $max_rss kB (bound $RSS_MAX_KB kB)"

# The console answers on stdout: ask for stats, wait (bounded) for its "catalog_size" line (the last one).
echo stats >&9
wait_line "$W/tracker.out" '^catalog_size' "$PID_tracker" 10 >/dev/null || fail "no answer to 'stats' on the console"
swarms=$(sed -n 's/^swarms[[:space:]]*\([0-9]*\)$/\1/p' "$W/tracker.out" | tail -n1)
capped=$(sed -n 's/^capped[[:space:]]*\([0-9]*\)$/\1/p' "$W/tracker.out" | tail -n1)
say "stats: swarms=${swarms:-?} capped=${capped:-?}"
[[ -n $swarms && -n $capped ]] || fail "could not read swarms/capped from the stats answer"
((swarms <= CAP)) || fail "$swarms swarms stored, cap $CAP"
((swarms >= CAP / 2)) || fail "only $swarms swarms stored: the cap should be (nearly) full"
((capped > 0)) || fail "stats capped=0 although $COUNT hashes met a cap of $CAP"

EARLY=$(hash_of 0)
LATE=$(hash_of $((COUNT - 1)))
read -r se _ le < <(bep15 scrape "$EARLY" | parse_scrape)
((se + le == 0)) || fail "the first hash announced ($EARLY) is still stored (seeders=$se leechers=$le): not evicted"
read -r se _ le < <(bep15 scrape "$LATE" | parse_scrape)
((se + le == 1)) || fail "the last hash announced ($LATE) is not stored (seeders=$se leechers=$le)"
say "scrape: first hash evicted, last hash present (1 seeder)"
alive tracker || fail "the tracker died"
stop tracker 10
((RC_tracker == 0)) || fail "tracker exited $RC_tracker on SIGTERM"
PASSED=1
echo PASS
