#!/usr/bin/python3
# Hostile clients against the tracker's HTTP port: a real `p2pnode --tracker --http-port 0` on 127.0.0.1.
#  (a) slow-loris: 20 connections each sending one byte of a request every 0.5 s are all closed by the server within
#      the fixed request time (10 s, http::Limits::header_timeout_ms) plus the timer's slack, however long the
#      request would take to arrive (~2 min at that pace).
#  (b) oversized: a 64 KiB header gets 431 and the connection closes; a request line of 16 KiB likewise.
#  (c) garbage: 1 MiB of random bytes gets 400 (or a reset) and the connection closes.
#  (d) a body on GET /announce gets 413.
#  (e) through all of it a well-behaved announce is answered at once (< 1 s), the tracker's VmHWM grows by at most
#      MARGIN, and /stats counts the timeouts and the refusals.
# Exit 0 pass, 77 skip (no p2pnode or no --http-port), 1 fail. Stops itself after 90 s.
import json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
P2PNODE = os.path.abspath(os.environ.get('P2PNODE', os.path.join(ROOT, 'build', 'p2pnode')))
HEADER_TIMEOUT_S = 10  # http::Limits::header_timeout_ms (src/http/server.hpp)
LORIS = 20
MARGIN_KIB = 8 * 1024
LIMIT_S = 90

W = tempfile.mkdtemp(prefix='p2p-http-hostile.')
proc = None
passed = False


def say(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


def fail(why):
    raise SystemExit('FAIL: ' + why)


def vmhwm(pid):
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
    return 0


def connect(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    return s


def read_all(s, limit_s=5):
    s.settimeout(limit_s)
    got = b''
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    return got


def good_announce(port):
    h = ''.join('%%%02X' % b for b in bytes(range(20)))
    t0 = time.time()
    body = urllib.request.urlopen('http://127.0.0.1:%d/announce?info_hash=%s&peer_id=%s&port=6881&left=0&compact=1'
                                  % (port, h, 'p' * 20), timeout=5).read()
    took = time.time() - t0
    if not body.startswith(b'd8:complete'):
        fail('announce answer: %r' % body[:80])
    if took > 1:
        fail('a good announce took %.2f s under attack' % took)


def main():
    global proc, passed
    if not os.access(P2PNODE, os.X_OK):
        print('SKIP: no p2pnode at', P2PNODE)
        sys.exit(77)
    if '--http-port' not in subprocess.run([P2PNODE, '--help'], capture_output=True, text=True).stdout:
        print('SKIP: this p2pnode has no --http-port')
        sys.exit(77)
    signal.signal(signal.SIGALRM, lambda *_: fail('took over %d s' % LIMIT_S))
    signal.alarm(LIMIT_S)
    out = open(os.path.join(W, 'tracker.out'), 'w')
    proc = subprocess.Popen([P2PNODE, '--tracker', '--bind', '127.0.0.1', '--port', '0', '--http-port', '0',
                             '--no-console'], stdout=out, stderr=open(os.path.join(W, 'tracker.err'), 'w'),
                            stdin=subprocess.DEVNULL)
    port = None
    for _ in range(100):
        m = re.search(r'tracker listening on http://127\.0\.0\.1:(\d+)', open(os.path.join(W, 'tracker.out')).read())
        if m:
            port = int(m.group(1))
            break
        if proc.poll() is not None:
            fail('the tracker exited: ' + open(os.path.join(W, 'tracker.err')).read())
        time.sleep(0.1)
    if not port:
        fail('no "tracker listening on http://" line')
    good_announce(port)
    base = vmhwm(proc.pid)
    say('tracker http port', port, 'VmHWM', base, 'KiB')

    # (a) slow-loris
    req = b'GET /announce?info_hash=' + b'a' * 20 + b' HTTP/1.1\r\nHost: x\r\nX-Pad: ' + b'z' * 100 + b'\r\n\r\n'
    loris = [connect(port) for _ in range(LORIS)]
    for s in loris:
        s.setblocking(False)
    open_ = set(range(LORIS))
    sent = 0
    t0 = time.time()
    while open_ and time.time() - t0 < HEADER_TIMEOUT_S + 5:
        for i in list(open_):
            try:
                loris[i].send(req[sent:sent + 1])
                if loris[i].recv(1) == b'':
                    open_.discard(i)
            except BlockingIOError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                open_.discard(i)
        sent += 1
        if sent % 4 == 0:
            good_announce(port)  # (e) served meanwhile
        time.sleep(0.5)
    took = time.time() - t0
    if open_:
        fail('%d slow-loris connections still open after %.1f s' % (len(open_), took))
    if sent >= len(req):
        fail('a slow-loris request got through whole')
    say('(a) %d slow-loris connections closed after %.1f s (%d of %d bytes sent)' % (LORIS, took, sent, len(req)))

    # (b) oversized header and request line
    for what, data in (('header', b'GET / HTTP/1.1\r\nX-Big: ' + b'a' * 65536 + b'\r\n\r\n'),
                       ('request line', b'GET /' + b'u' * 16384 + b' HTTP/1.1\r\n\r\n')):
        s = connect(port)
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        got = read_all(s)
        if not got.startswith(b'HTTP/1.1 431'):
            fail('oversized %s: %r' % (what, got[:60]))
        say('(b) oversized %s: 431, closed' % what)

    # (c) garbage
    s = connect(port)
    try:
        s.sendall(random.randbytes(1 << 20))
    except (ConnectionResetError, BrokenPipeError):
        pass
    got = read_all(s)
    if got and not got.startswith(b'HTTP/1.1 400'):
        fail('garbage: %r' % got[:60])
    say('(c) garbage: %s, closed' % (got.split(b'\r\n')[0].decode() if got else 'reset'))

    # (d) a body
    s = connect(port)
    s.sendall(b'GET /announce HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789')
    got = read_all(s)
    if not got.startswith(b'HTTP/1.1 413'):
        fail('body: %r' % got[:60])
    say('(d) a request body: 413, closed')

    # (e)
    good_announce(port)
    grown = vmhwm(proc.pid) - base
    if grown > MARGIN_KIB:
        fail('VmHWM grew by %d KiB' % grown)
    stats = json.load(urllib.request.urlopen('http://127.0.0.1:%d/stats' % port, timeout=5))['http']
    say('(e) VmHWM +%d KiB; stats %s' % (grown, json.dumps(stats)))
    if stats['timed_out'] < LORIS or stats['bad_requests'] < 3:
        fail('stats do not count the attack: %s' % stats)
    passed = True
    print('PASS')


try:
    main()
finally:
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not passed:
        for f in ('tracker.out', 'tracker.err'):
            p = os.path.join(W, f)
            if os.path.exists(p):
                print('--', f, '--')
                print(open(p).read()[-3000:])
    shutil.rmtree(W, ignore_errors=True)
