#!/usr/bin/env bash
# HTTP trackers as a client (BEP 3 announce, BEP 23 compact answers): Debian's opentracker serves HTTP on its TCP
# port (whitelist mode, so the info hash is written to its whitelist before it starts, on ports picked in advance,
# bound to 127.0.0.1). The torrent names only http://127.0.0.1:PORT/announce, so every peer finds the others
# through HTTP announces:
#   1. a p2pnode seed shares a random file (3 MiB + an odd tail) and announces over HTTP;
#   2. python3-libtorrent downloads it through the same tracker; cmp;
#   3. a second p2pnode peer (--get --exit-when-done) downloads it through the same tracker; cmp;
#   4. p2pnode --scrape HASH asks opentracker's /scrape (BEP 48): at least 1 seeder (the seed runs) and at least
#      1 completed download (both downloaders sent event=completed); the same counts python's own GET of the
#      scrape URL decodes.
# Exit 0 pass, 77 skip (opentracker, libtorrent or $P2PNODE missing), other fail. Total limit 200 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 200 "$@"
t_need_p2pnode
t_need_tools opentracker cmp
t_need_libtorrent
t_init p2p-http-tracker 80 stamp

random_file "$W/share/data.bin" $((3 * 1024 * 1024 + 4321))
mkdir -p "$W/lt-dl" "$W/p2p-dl"

# ---- tracker: opentracker, HTTP on a TCP port picked in advance ----
HPORT=$(free_port tcp)
UPORT=$(free_port udp)
HURL=http://127.0.0.1:$HPORT/announce
HASH=$(make_torrent "$W/share/data.bin" "$W/data.torrent" "$HURL")
[[ $HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"
printf '%s\n' "$HASH" >"$W/whitelist"
chmod 755 "$W"
# -i comes first: it names the address the following -p / -P bind to. It drops to nobody and chroots to $W.
spawn tracker opentracker -i 127.0.0.1 -p "$HPORT" -P "$UPORT" -w whitelist -u nobody -d "$W"
for ((t = 0; t < 50; t++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$HPORT") 2>/dev/null && break
    alive tracker || fail "opentracker exited"
    sleep 0.1
done
alive tracker || fail "opentracker did not start"
say "opentracker HTTP at $HURL; hash $HASH"

# ---- p2pnode seeds, announcing over HTTP ----
# --share makes the torrent of the folder again (same info hash); its tracker is the one given here.
start seed --peer --share "$W/share" --tracker "$HURL" --bind 127.0.0.1 --port 0 --no-console
wait_sharing seed data.bin "$HASH" 30

# ---- libtorrent downloads through the HTTP tracker ----
say "libtorrent downloading"
timeout 90 "$PY" "$LIB/lt_client.py" download "$W/data.torrent" "$W/lt-dl" >"$W/lt-download.log" 2>&1 ||
    fail "libtorrent did not download from the p2pnode seed (rc=$?)"
same_bytes libtorrent "$W/share/data.bin" "$W/lt-dl/data.bin"
grep -q "tracker_reply_alert" "$W/lt-download.log" || fail "libtorrent got no HTTP tracker reply"

# ---- a second p2pnode peer downloads through the HTTP tracker ----
say "p2pnode downloading"
TURL=$HURL
p2p_download_from "the p2pnode seed" "$W/data.torrent" "$W/p2p-dl"
same_bytes p2pnode "$W/share/data.bin" "$W/p2p-dl/data.bin"
if grep -E "skipping tracker|warn.*announce" "$W/p2p-download.err"; then fail "the downloader's HTTP announces failed"; fi
if grep -E "skipping tracker|warn.*announce" "$W/seed.err"; then fail "the seed's HTTP announces failed"; fi

# ---- p2pnode scrapes opentracker over HTTP (BEP 48) ----
"$P2PNODE" --scrape "$HASH" --tracker "$HURL" --timeout 20 >"$W/scrape.out" 2>"$W/scrape.err" ||
    fail "--scrape of opentracker failed: $(cat "$W/scrape.err")"
say "scrape: $(tr '\n' ' ' <"$W/scrape.out")"
grep -qx "info_hash: $HASH" "$W/scrape.out" || fail "--scrape printed no info_hash line"
seeders=$(sed -n 's/^seeders: //p' "$W/scrape.out")
completed=$(sed -n 's/^completed: //p' "$W/scrape.out")
((seeders >= 1)) || fail "opentracker's scrape shows $seeders seeders, the seed runs"
((completed >= 1)) || fail "opentracker's scrape shows $completed completed downloads"
# The same question asked by Python: the counts must agree (the seed keeps running, nobody else announces).
want=$("$PY" - "$HPORT" "$HASH" <<'PYEOF'
import sys, urllib.parse, urllib.request
port, h = sys.argv[1], bytes.fromhex(sys.argv[2])
body = urllib.request.urlopen('http://127.0.0.1:%s/scrape?info_hash=%s' % (port, urllib.parse.quote(h)), timeout=10).read()
def dec(b, i):  # a minimal bencode reader for the test's own check
    c = b[i:i + 1]
    if c == b'i':
        e = b.index(b'e', i)
        return int(b[i + 1:e]), e + 1
    if c in (b'd', b'l'):
        i, out = i + 1, []
        while b[i:i + 1] != b'e':
            v, i = dec(b, i)
            out.append(v)
        return (dict(zip(out[::2], out[1::2])) if c == b'd' else out), i + 1
    colon = b.index(b':', i)
    n = int(b[i:colon])
    return b[colon + 1:colon + 1 + n], colon + 1 + n
f = dec(body, 0)[0][b'files'][h]
print(f[b'complete'], f[b'incomplete'], f[b'downloaded'])
PYEOF
) || fail "python could not scrape opentracker"
[[ $want == "$seeders $(sed -n 's/^leechers: //p' "$W/scrape.out") $completed" ]] ||
    fail "p2pnode's scrape ($(tr '\n' ' ' <"$W/scrape.out")) differs from python's ($want)"

PASSED=1
echo "PASS"
