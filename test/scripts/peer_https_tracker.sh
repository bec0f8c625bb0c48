#!/usr/bin/env bash
# https:// trackers: a test CA and server certificates made with openssl in the work folder (valid 100 years),
# and a small HTTPS tracker (lib/https_tracker.py: Python's http.server behind ssl, BEP 3 compact announces) on
# 127.0.0.1. The torrent names only https://127.0.0.1:PORT/announce, so the peers can only meet through it:
#   1. a p2pnode seed announces with --ca-file CA; the tracker logs its announce;
#   2. a p2pnode leecher (--get --exit-when-done, --ca-file CA) learns the seed from the tracker and downloads;
#      cmp; the tracker logs its announces;
#   3. a tracker whose certificate names another host: p2pnode prints one line naming the tracker and
#      "certificate name mismatch", and that tracker gets no announce;
#   4. no --ca-file (and no SSL_CERT_FILE): the system store does not know the test CA: one line naming the
#      tracker and "certificate not trusted", no announce.
#   5. p2pnode --scrape HASH over https (BEP 48) prints exactly the counts the tracker answered (1 completed);
#      --scrape NAME and --list on an https tracker (the catalog is a udp:// extension) and a scrape of the
#      wrong-name tracker each give one line and exit 1; the console's `scrape HASH` of a peer whose only
#      tracker is the https one prints the same counts.
# Exit 0 pass, 77 skip (openssl, Python's ssl or $P2PNODE missing, or a p2pnode built with -Dtls=false), other
# fail. Total limit 150 s.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 150 "$@"
t_need_p2pnode
t_need_tools openssl cmp
"$PY" -c 'import ssl' 2>/dev/null || skip "$PY has no ssl module"
if "$P2PNODE" --version | grep -q 'without TLS'; then skip "this p2pnode was built without TLS (-Dtls=false)"; fi
t_init p2p-https-tracker 60 stamp

# Discovery other than the tracker stays off, so the download proves the HTTPS announces worked.
NO_OTHER=()
for f in --no-dht --no-lsd; do p2p_help_has "$f" && NO_OTHER+=("$f"); done

# ---- a test CA and two server certificates (100 years: a test that starts failing in a year helps nobody) ----
P=$W/pki
mkdir -p "$P"
ssl() { openssl "$@" >>"$W/openssl.log" 2>&1 || fail "openssl $1 failed (see openssl.log)"; }
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/ca.key" -out "$P/ca.pem" \
    -days 36500 -subj "/CN=p2pnode test CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
leaf() { # NAME SAN
    ssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" \
        -subj "/CN=$1"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$P/$1.ext"
    ssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 36500 \
        -extfile "$P/$1.ext" -out "$P/$1.pem"
}
leaf good "IP:127.0.0.1,DNS:localhost"
leaf wrong "DNS:wrong.example"

# ---- trackers: TURL is set from the line the tracker prints once it listens ----
https_tracker() { # NAME CERT: sets URL_<NAME>
    local line
    spawn_log "$1" "$PY" "$LIB/https_tracker.py" "$P/$2.pem" "$P/$2.key"
    line=$(wait_line "$W/$1.log" 'listening on 127\.0\.0\.1:[0-9]+' "$(pid_of "$1")" 10) ||
        fail "the https tracker $1 did not start"
    printf -v "URL_$1" 'https://127.0.0.1:%s/announce' "${line##*:}"
}
URL_tracker='' URL_badname='' URL_untrusted=''
https_tracker tracker good
https_tracker badname wrong
https_tracker untrusted good
TURL=$URL_tracker
say "https trackers: $URL_tracker (good), $URL_badname (wrong name), $URL_untrusted (CA not given)"

random_file "$W/share/data.bin" $((2 * 1024 * 1024 + 777))
HASH=$(make_torrent "$W/share/data.bin" "$W/data.torrent")
[[ $HASH =~ ^[0-9a-f]{40}$ ]] || fail "p2pnode --make-torrent printed no info hash"

# ---- 1. the seed announces over HTTPS ----
start seed --peer --share "$W/share" --tracker "$TURL" --ca-file "$P/ca.pem" --bind 127.0.0.1 --port 0 \
    --no-console "${NO_OTHER[@]}"
wait_sharing seed data.bin "$HASH" 30
wait_line "$W/tracker.log" "^announce 127\.0\.0\.1:[0-9]+ $HASH event=started left=0 " "$(pid_of seed)" 20 >/dev/null ||
    fail "the seed's announce did not reach the https tracker"
say "the seed announced over https"

# ---- 2. a leecher finds the seed through the tracker and downloads ----
mkdir -p "$W/dl"
timeout 100 "$P2PNODE" --peer --get "$W/data.torrent" --into "$W/dl" --tracker "$TURL" --ca-file "$P/ca.pem" \
    --bind 127.0.0.1 --port 0 --exit-when-done --timeout 90 --no-console --quiet "${NO_OTHER[@]}" \
    >"$W/leecher.out" 2>"$W/leecher.err" </dev/null || fail "the leecher did not download (rc=$?)"
same_bytes leecher "$W/share/data.bin" "$W/dl/data.bin"
grep -E "^announce 127\.0\.0\.1:[0-9]+ $HASH event=started left=[1-9][0-9]* -> [1-9]" "$W/tracker.log" >/dev/null ||
    fail "the tracker did not give the leecher the seed"
if grep -E "warn.*(announce|tls)" "$W/seed.err" "$W/leecher.err"; then fail "an https announce failed"; fi
say "tracker log: $(grep -c '^announce ' "$W/tracker.log") announces"

# ---- 3 and 4: a certificate p2pnode must refuse: one clear line, and no announce ----
refused() { # NAME URL REASON [P2PNODE ARGS...]: a seed (without SSL_CERT_FILE) that must refuse URL's certificate
    local name=$1 url=$2 reason=$3 line
    shift 3
    mkdir -p "$W/$name-share"
    cp "$W/share/data.bin" "$W/$name-share/"
    spawn "$name" env -u SSL_CERT_FILE "$P2PNODE" --peer --share "$W/$name-share" --tracker "$url" --bind 127.0.0.1 \
        --port 0 --no-console "${NO_OTHER[@]}" "$@"
    line=$(wait_line "$W/$name.err" "tls (handshake|CA file) .*" "$(pid_of "$name")" 30) ||
        fail "$name printed no tls error"
    say "$name: $line"
    grep -F "$url" "$W/$name.err" | grep -F "$reason" >/dev/null ||
        fail "$name's error line does not name $url and '$reason'"
    sleep 1 # the line is printed when the handshake fails: nothing may follow it
    (($(grep -cE "tls (handshake|CA file)" "$W/$name.err") == 1)) || fail "$name printed the tls error more than once"
}
refused bad1 "$URL_badname" "certificate name mismatch (it is not for 127.0.0.1)" --ca-file "$P/ca.pem"
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
    refused bad2 "$URL_untrusted" "certificate not trusted (no CA of /etc/ssl/certs/ca-certificates.crt"
else
    refused bad2 "$URL_untrusted" "tls CA file /etc/ssl/certs/ca-certificates.crt"
fi
for t in badname untrusted; do
    if grep '^announce ' "$W/$t.log"; then fail "the $t tracker got an announce through a refused certificate"; fi
    grep -q '^tls-error ' "$W/$t.log" || fail "the $t tracker saw no refused handshake"
done
say "refused certificates: no announce reached those trackers"

# ---- 5. scrape (BEP 48) over https ----
"$P2PNODE" --scrape "$HASH" --tracker "$TURL" --ca-file "$P/ca.pem" --timeout 20 >"$W/scrape.out" 2>"$W/scrape.err" ||
    fail "--scrape over https failed: $(cat "$W/scrape.err")"
# p2pnode must print exactly what the tracker answered (its log has the counts it sent). The leecher sent
# `completed` and `stopped` back to back; this threaded tracker may apply them in either order, so seeders is 1 or 2.
answer() { # the counts of the tracker's last scrape answer, as p2pnode prints them
    sed -nE "s/^scrape $HASH complete=([0-9]+) incomplete=([0-9]+) downloaded=([0-9]+)\$/info_hash: $HASH\nseeders: \1\nleechers: \2\ncompleted: \3/p" \
        "$W/tracker.log" | tail -n 4
}
want=$(answer)
[[ -n $want ]] || fail "the tracker saw no scrape of $HASH"
[[ $(cat "$W/scrape.out") == "$want" ]] || fail "--scrape printed '$(cat "$W/scrape.out")', the tracker sent '$want'"
grep -qE '^seeders: [12]$' "$W/scrape.out" && grep -qx 'completed: 1' "$W/scrape.out" &&
    grep -qx 'leechers: 0' "$W/scrape.out" || fail "unexpected counts: $(cat "$W/scrape.out")"
say "scrape over https: $(tail -n 3 "$W/scrape.out" | tr '\n' ' ')(as the tracker answered)"
# The console's `scrape` of a peer whose only tracker is https:// asks it too.
mkdir -p "$W/empty"
{ echo "scrape $HASH"; sleep 3; echo quit; } | timeout 30 "$P2PNODE" --peer --share "$W/empty" --tracker "$TURL" \
    --ca-file "$P/ca.pem" --bind 127.0.0.1 --port 0 "${NO_OTHER[@]}" >"$W/console.out" 2>"$W/console.err" ||
    fail "the console peer failed: $(cat "$W/console.err")"
want=$(answer)
grep -qxF "$(sed -n 2p <<<"$want")" "$W/console.out" && grep -qxF "$(sed -n 4p <<<"$want")" "$W/console.out" &&
    grep -qx "info_hash: $HASH" "$W/console.out" ||
    fail "the console's scrape over https printed: $(cat "$W/console.out"), the tracker sent '$want'"
say "console scrape over https: $(grep -E '^(seeders|completed):' "$W/console.out" | tr '\n' ' ')"
one_line_fail() { # WHAT PATTERN ARGS...: p2pnode ARGS exits 1 with one stderr line matching PATTERN
    local what=$1 pat=$2 rc=0
    shift 2
    "$P2PNODE" "$@" >"$W/one.out" 2>"$W/one.err" </dev/null || rc=$?
    ((rc == 1)) || fail "$what: exit $rc, not 1"
    (($(wc -l <"$W/one.err") == 1)) || fail "$what: stderr is not one line: $(cat "$W/one.err")"
    grep -qE "$pat" "$W/one.err" || fail "$what: '$(cat "$W/one.err")' does not match '$pat'"
    say "$what: $(cat "$W/one.err")"
}
one_line_fail "scrape by name" "by name needs the catalog of a udp:// tracker" --scrape data.bin --tracker "$TURL" \
    --ca-file "$P/ca.pem" --timeout 20
one_line_fail "list on https" "catalog, an extension of udp:// trackers" --list --tracker "$TURL" --timeout 20
one_line_fail "scrape, wrong certificate name" "certificate name mismatch" --scrape "$HASH" --tracker "$URL_badname" \
    --ca-file "$P/ca.pem" --timeout 20
if grep -q '^scrape ' "$W/badname.log"; then fail "the badname tracker answered a scrape through a refused certificate"; fi

PASSED=1
echo "PASS"
