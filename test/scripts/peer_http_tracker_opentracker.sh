#!/usr/bin/env bash
# HTTP trackers as a client (BEP 3 announce, BEP 23 compact answers): Debian's opentracker serves HTTP on its TCP
# port (whitelist mode, so the info hash is written to its whitelist before it starts, on ports picked in advance,
# bound to 127.0.0.1). The torrent names only http://127.0.0.1:PORT/announce, so every peer finds the others
# through HTTP announces:
#   1. a p2pnode seed shares a random file (3 MiB + an odd tail) and announces over HTTP;
#   2. python3-libtorrent downloads it through the same tracker; cmp;
#   3. a second p2pnode peer (--get --exit-when-done) downloads it through the same tracker; cmp.
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

PASSED=1
echo "PASS"
