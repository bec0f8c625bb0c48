#!/usr/bin/env bash
# The RPC port's web page (GET /, src/node/web_page.cpp) in a real browser: headless Chromium driven through the
# Chrome DevTools Protocol (Python, python3-websocket). A p2pnode tracker and seed share w.bin (4 MiB) and m.bin;
# a second p2pnode (--rpc-port 0 --rpc-auth-file, empty download folder) is driven only through its page:
#   - without the password GET / is a 401, with it a 200 text/html page with a Content-Security-Policy and
#     X-Frame-Options: DENY; the browser loads it with the password in the URL, and the page's own fetch() calls
#     (session-id 409 dance, basic auth sent by the browser) list the (empty) torrents;
#   - w.torrent uploaded through the file input (DOM.setFileInputFiles: FileReader -> base64 -> metainfo) and
#     m.bin's magnet typed into the add form; both rows reach 100% and "seeding", the files are byte-identical;
#   - clicking w.bin's name shows its file (100%, wanted); a screenshot is kept;
#   - Pause turns the row "stopped", Resume "seeding" again; Remove with "delete its data" ticked in the dialog
#     drops m.bin's row and its file;
#   - at a phone's width nothing overflows sideways (second screenshot); no script error, no CSP violation.
# Screenshots: $P2P_TEST_OUTPUT (default BUILD/test-output)/rpc_web_chromium/{desktop,phone}.png.
# Skipped without chromium or python3-websocket, and in the sanitizer pass (a real client's interop, as the
# scripts of NORMAL_ONLY in tools/run-tests).
set -uo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
t_wrap 120 "$@"
[[ ${SANITIZER_PASS:-0} == 1 ]] && skip "a real browser's interop: the normal build's pass runs it"
t_need_p2pnode peer
p2p_help_has --rpc-port || skip "$P2PNODE has no --rpc-port"
CHROME=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    skip "chromium not installed"
"$PY" -c 'import websocket' 2>/dev/null || skip "python3-websocket not installed for $PY"
t_init p2p-rpc-web-chromium 60
out=${P2P_TEST_OUTPUT:-${P2PNODE_BUILD:-$(dirname "$P2PNODE")}/test-output}/rpc_web_chromium
mkdir -p "$out" && rm -f "$out"/*.png

# Chromium forks a zygote, renderers and a GPU process: it runs in a process group of its own, and the whole
# group goes at exit (common.sh's cleanup signals only the pids it knows).
chrome_down() {
    [[ -n ${PID_chrome:-} ]] || return 0
    kill -TERM -- "-$PID_chrome" 2>/dev/null || kill -TERM "$PID_chrome" 2>/dev/null || true
    timeout 5 tail --pid="$PID_chrome" -f /dev/null 2>/dev/null || kill -KILL -- "-$PID_chrome" 2>/dev/null || true
}
on_exit() {
    local rc=$?
    chrome_down
    (exit "$rc") # t_cleanup reads the script's status from $?
    t_cleanup
}
trap on_exit EXIT

local_tracker
random_file "$W/share/w.bin" 4194304
random_file "$W/share/m.bin" 300000
start seed --peer --share "$W/share" --tracker "$TURL" --bind 127.0.0.1 --port 0 --no-console
hash=$(make_torrent "$W/share/w.bin" "$W/w.torrent")
wait_sharing seed w.bin "$hash"
wait_sharing seed m.bin
mhash=$(grep -o -E '^sharing m\.bin [0-9a-f]{40}' "$W/seed.out" | cut -d' ' -f3)

echo "alice:s3cret" >"$W/auth"
start node --peer --into "$W/dl" --tracker "$TURL" --bind 127.0.0.1 --port 0 --rpc-port 0 \
    --rpc-auth-file "$W/auth" --no-console
line=$(wait_line "$W/node.out" '^rpc http://127\.0\.0\.1:[0-9]+/transmission/rpc$' "$PID_node" 20) ||
    fail "no 'rpc http://...' line"
hostport=${line#rpc http://}
hostport=${hostport%%/*}
say "RPC at $hostport"

# The page over plain HTTP first: its headers, and the RPC's auth in front of it.
"$PY" - "$hostport" <<'EOF' || fail "GET / is not the page behind basic auth"
import base64, sys, urllib.request, urllib.error
url = "http://" + sys.argv[1] + "/"
try:
    urllib.request.urlopen(url, timeout=10)
    sys.exit("GET / without the password answered 200")
except urllib.error.HTTPError as e:
    assert e.code == 401, e.code
auth = "Basic " + base64.b64encode(b"alice:s3cret").decode()
r = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth}), timeout=10)
body = r.read()
assert r.status == 200, r.status
assert r.headers["Content-Type"] == "text/html; charset=utf-8", r.headers["Content-Type"]
assert "default-src 'none'" in r.headers["Content-Security-Policy"], r.headers
assert r.headers["X-Frame-Options"] == "DENY", r.headers
assert body.startswith(b"<!doctype html>") and b"/transmission/rpc" in body, body[:200]
print("GET /: %d bytes, CSP: %s" % (len(body), r.headers["Content-Security-Policy"]))
EOF

mkdir -p "$W/chrome"
spawn_log chrome setsid "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --user-data-dir="$W/chrome" --remote-debugging-address=127.0.0.1 --remote-debugging-port=0 \
    --remote-allow-origins='*' --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
    --disable-background-networking --disable-component-update --window-size=1100,800 about:blank
for ((i = 0; i < 200; i++)); do
    [[ -s $W/chrome/DevToolsActivePort ]] && break
    alive chrome || fail "chromium exited at start"
    sleep 0.1
done
devtools=$(head -n1 "$W/chrome/DevToolsActivePort" 2>/dev/null)
[[ $devtools =~ ^[0-9]+$ ]] || fail "chromium wrote no DevToolsActivePort within 20 s"
say "chromium DevTools on port $devtools"

timeout 90 "$PY" - "$devtools" "$hostport" "$W" "$hash" "$mhash" "$TURL" "$out" <<'EOF' || fail "the page test"
import base64, filecmp, json, os, sys, time, urllib.request
import websocket

devtools, hostport, W, whash, mhash, turl, out = sys.argv[1:]

def fail(why):
    print("FAIL:", why)
    for e in cdp.errors:
        print("  page error:", e)
    try:
        print("  page text:", cdp.js("document.body.innerText")[:2000])
        shot("failure.png")
    except Exception as e:
        print("  (no page state:", e, ")")
    sys.exit(1)

class Cdp:
    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=30)
        self.n = 0
        self.errors = []

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == self.n:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.event(m)

    def event(self, m):
        p = m.get("params", {})
        if m.get("method") == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append("exception: " + d.get("exception", {}).get("description", d.get("text", "?")))
        elif m.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            if e.get("source") == "network" and "status of 409" in e["text"]:
                return  # the session-id handshake: Chromium logs every 409 answer, the page expects them
            self.errors.append("log: " + e["text"])

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("%s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, secs, what):
        end = time.time() + secs
        while time.time() < end:
            if self.js("!!(%s)" % expr):  # a DOM node comes back by value as {}, false in Python
                return
            time.sleep(0.2)
        fail("%s: not within %d s (%s)" % (what, secs, expr))

def shot(name):
    data = cdp.call("Page.captureScreenshot", format="png")["data"]
    path = os.path.join(out, name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))
    print("screenshot:", path)

pages = json.load(urllib.request.urlopen("http://127.0.0.1:%s/json/list" % devtools, timeout=10))
page = next(p for p in pages if p["type"] == "page")
cdp = Cdp(page["webSocketDebuggerUrl"])
cdp.call("Page.enable")
cdp.call("Runtime.enable")
cdp.call("Log.enable")
# CSP violations are no exceptions: a listener installed before the page's own script records them.
cdp.call("Page.addScriptToEvaluateOnNewDocument", source="window.__csp = []; document.addEventListener("
         "'securitypolicyviolation', e => __csp.push(e.violatedDirective + ' ' + e.blockedURI));")
t0 = time.time()
cdp.call("Page.navigate", url="http://alice:s3cret@%s/" % hostport)
cdp.wait("document.readyState === 'complete' && document.title === 'p2pnode'", 10, "the page loads")
# Only a successful torrent-get (409 dance and basic auth through fetch) shows the "no torrents" line.
cdp.wait("!document.getElementById('empty').hidden", 10, "the page's first torrent-get")
row = "document.querySelector('#list tr[data-hash=\"%s\"]')"
W_ROW, M_ROW = row % whash, row % mhash

# Add w.torrent through the file input, m.bin's magnet through the text field.
doc = cdp.call("DOM.getDocument")["root"]["nodeId"]
node = cdp.call("DOM.querySelector", nodeId=doc, selector="#file")["nodeId"]
cdp.call("DOM.setFileInputFiles", files=[os.path.join(W, "w.torrent")], nodeId=node)
cdp.js("document.querySelector('#add button').click()")
cdp.wait(W_ROW, 10, "w.bin's row after the upload")
cdp.wait("document.getElementById('msg').textContent === 'added: w.bin'", 5, "'added: w.bin'")
cdp.js("document.getElementById('uri').focus()")
cdp.call("Input.insertText", text="magnet:?xt=urn:btih:%s&dn=m.bin&tr=%s" % (mhash, turl))
cdp.js("document.querySelector('#add button').click()")
cdp.wait(M_ROW, 10, "m.bin's row after the magnet")

for r, name in ((W_ROW, "w.bin"), (M_ROW, "m.bin")):
    cdp.wait("%s.querySelector('.pt').textContent === '100%%' && %s.dataset.state === 'seeding'" % (r, r), 60,
             name + " at 100% and seeding")
print("both complete in the page after %.1f s" % (time.time() - t0))
for name in ("w.bin", "m.bin"):
    if not filecmp.cmp(os.path.join(W, "share", name), os.path.join(W, "dl", name), shallow=False):
        fail(name + ": the downloaded copy differs")
print("w.bin, m.bin: bytes match")

# The files view.
cdp.js(W_ROW + ".querySelector('.nm').click()")
cdp.wait("!document.getElementById('detail').hidden && document.getElementById('dname').textContent === 'w.bin'",
         5, "the detail panel of w.bin")
cdp.wait("[...document.querySelectorAll('#files tr')].some(tr => tr.cells[1].textContent === 'w.bin' && "
         "tr.cells[3].textContent === '100%' && tr.querySelector('input').checked)", 5, "w.bin in the files list")
shot("desktop.png")

# Pause and resume.
cdp.wait(W_ROW + ".querySelector('.toggle').textContent === 'Pause'", 3, "a Pause button")
cdp.js(W_ROW + ".querySelector('.toggle').click()")
cdp.wait(W_ROW + ".dataset.state === 'stopped' && %s.querySelector('.toggle').textContent === 'Resume'" % W_ROW,
         5, "w.bin stopped after Pause")
cdp.js(W_ROW + ".querySelector('.toggle').click()")
cdp.wait(W_ROW + ".dataset.state === 'seeding'", 10, "w.bin seeding after Resume")
print("pause and resume: ok")

# Remove m.bin with its data, through the dialog.
cdp.js(M_ROW + ".querySelector('.remove').click()")
cdp.wait("document.getElementById('rm').open", 3, "the remove dialog")
cdp.js("document.getElementById('rmdel').click(); document.getElementById('rmok').click()")
cdp.wait("!" + M_ROW, 10, "m.bin's row gone after Remove")
end = time.time() + 10
while os.path.exists(os.path.join(W, "dl", "m.bin")) and time.time() < end:
    time.sleep(0.1)
if os.path.exists(os.path.join(W, "dl", "m.bin")):
    fail("m.bin's file is still there after Remove with 'delete its data'")
if not os.path.exists(os.path.join(W, "dl", "w.bin")):
    fail("w.bin's file went too")
print("remove with data: ok")

# A phone's width: the torrent table becomes cards, nothing wider than the screen.
cdp.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
time.sleep(0.3)
cdp.wait("document.documentElement.scrollWidth <= window.innerWidth", 3, "no sideways overflow at 390 px")
shot("phone.png")

csp = cdp.js("window.__csp")
if csp:
    fail("CSP violations: %s" % csp)
if cdp.errors:
    fail("errors in the page")
cdp.call("Browser.close")
EOF
say "page test done"
stop node
PASSED=1
echo PASS
