#!/usr/bin/python3
# Hostile datagrams at a seed's uTP socket (BEP 29 on the UDP port of its --port number), 127.0.0.1, ephemeral
# ports, a p2pnode tracker:
#  1. a SYN flood: 30 000 SYNs with random connection ids from 16 source ports, in bursts, that never send a
#     byte after the SYN; and 30 000 garbage datagrams (random bytes and lengths, half of them made to look like
#     uTP headers with a bad type or extension chain). The seed answers, crashes nothing, and its peak RSS
#     (VmHWM) grows by at most MARGIN.
#  2. while the flood runs, a real p2pnode leecher with --no-tcp (uTP only) downloads the seed's 8 MiB file by
#     its info hash: the half-open flood is evicted oldest-first, so a real peer (which sends its first bytes one
#     round trip after the SYN) gets through. The copy must compare equal.
#  3. after the flood the seed still serves: a second uTP-only leecher completes too.
# Exit 0 pass, 77 skip (no p2pnode), 1 fail. Stops itself after 150 s.
import hashlib, os, random, re, shutil, signal, socket, struct, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
P2PNODE = os.path.abspath(os.environ.get('P2PNODE', os.path.join(ROOT, 'build', 'p2pnode')))
FILE_SIZE = 8 << 20
MARGIN_KIB = 8 * 1024  # allowed VmHWM growth besides the file read into the cache (x4 under a sanitizer, below)
SYNS = 30000
GARBAGE = 30000
LIMIT_S = 150

procs, W = [], None


def say(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


def fail(why):
    raise SystemExit('FAIL: ' + why)


def spawn(name, args):
    out, err = open(os.path.join(W, name + '.out'), 'w'), open(os.path.join(W, name + '.err'), 'w')
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=4').lstrip(':')
    p = subprocess.Popen([P2PNODE] + args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    procs.append((name, p))
    return p


def wait_for(name, p, pattern, secs=30):
    end = time.time() + secs
    while time.time() < end:
        m = re.search(pattern, open(os.path.join(W, name + '.out')).read(), re.M)
        if m:
            return m
        if p.poll() is not None:
            fail('%s exited (rc=%s) before printing %r' % (name, p.returncode, pattern))
        time.sleep(0.1)
    fail('%s did not print %r within %d s' % (name, pattern, secs))


def sanitized():
    # make check-asan's build: ASan's redzones, allocator caches and quarantine make every allocation of the flood
    # cost several times what it costs p2pnode (the normal build's pass holds the real bound).
    try:
        out = subprocess.run(['ldd', P2PNODE], capture_output=True, text=True).stdout
    except OSError:
        return False
    return 'libasan' in out or 'libubsan' in out


def vmhwm(pid):
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
    return 0


def utp_header(ptype, conn_id, seq, ack=0, ext=0, wnd=1 << 20):
    # BEP 29 header: type<<4 | version 1, extension, connection_id, timestamp, timestamp_difference, wnd_size,
    # seq_nr, ack_nr (big-endian).
    return struct.pack('>BBHIIIHH', (ptype << 4) | 1, ext, conn_id, random.getrandbits(32), 0, wnd, seq, ack)


def flood(port, stop):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
        s.setblocking(False)
    sent = resets = 0
    rng = random.Random(7)
    i = 0
    while i < SYNS + GARBAGE and not stop.is_set():
        for _ in range(500):
            if i >= SYNS + GARBAGE:
                break
            s = socks[i % len(socks)]
            if i % 2 == 0 and i // 2 < SYNS:
                d = utp_header(4, rng.getrandbits(16), rng.getrandbits(16))  # ST_SYN
            elif rng.random() < 0.5:
                d = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 1500)))
            else:  # uTP-looking: a type above ST_SYN, or an extension chain running past the end
                d = utp_header(rng.choice([5, 9, 15, 0, 1, 2]), rng.getrandbits(16), rng.getrandbits(16),
                               ext=rng.choice([0, 1, 3, 7])) + bytes([rng.getrandbits(8), 200])
            try:
                s.sendto(d, ('127.0.0.1', port))
                sent += 1
            except (BlockingIOError, OSError):
                pass
            i += 1
        for s in socks:  # drain the RESETs and STATEs the seed answers with
            while True:
                try:
                    r = s.recv(2048)
                except (BlockingIOError, OSError):
                    break
                if r and (r[0] >> 4) == 3:
                    resets += 1
        time.sleep(0.01)
    for s in socks:
        s.close()
    return sent, resets


def download(name, turl, info_hash, into, secs):
    os.makedirs(into, exist_ok=True)
    p = spawn(name, ['--peer', '--get', info_hash, '--into', into, '--tracker', turl, '--bind', '127.0.0.1',
                     '--port', '0', '--no-console', '--no-tcp', '--exit-when-done', '--timeout', str(secs)])
    try:
        rc = p.wait(secs + 15)
    except subprocess.TimeoutExpired:
        fail('%s did not exit within %d s' % (name, secs + 15))
    if rc != 0:
        fail('%s exited %d: %s' % (name, rc, open(os.path.join(W, name + '.err')).read()[-2000:]))


def main():
    global W
    if not os.access(P2PNODE, os.X_OK):
        print('SKIP: %s not built' % P2PNODE)
        return 77
    signal.signal(signal.SIGALRM, lambda *_: fail('time limit of %d s reached' % LIMIT_S))
    signal.alarm(LIMIT_S)
    W = tempfile.mkdtemp(prefix='p2p-hostile-utp.')
    share = os.path.join(W, 'share')
    os.makedirs(share)
    data = random.Random(3).randbytes(FILE_SIZE + 12345)
    with open(os.path.join(share, 'data.bin'), 'wb') as f:
        f.write(data)
    tr = spawn('tracker', ['--tracker', '--bind', '127.0.0.1', '--port', '0', '--no-console'])
    turl = wait_for('tracker', tr, r'listening on (udp://[0-9.]+:\d+)').group(1)
    seed = spawn('seed', ['--peer', '--share', share, '--tracker', turl, '--bind', '127.0.0.1', '--port', '0',
                          '--no-console'])
    port = int(wait_for('seed', seed, r'peer listening on [0-9.]+:(\d+)').group(1))
    info_hash = wait_for('seed', seed, r'^sharing data\.bin ([0-9a-f]{40})').group(1)
    time.sleep(1)
    before = vmhwm(seed.pid)
    say('seed pid %d port %d, VmHWM %d KiB before the flood' % (seed.pid, port, before))

    stop = threading.Event()
    result = {}
    t = threading.Thread(target=lambda: result.update(zip(('sent', 'resets'), flood(port, stop))))
    t0 = time.time()
    t.start()
    time.sleep(0.5)
    say('leecher 1 (uTP only) downloading during the flood')
    download('leech1', turl, info_hash, os.path.join(W, 'dl1'), 60)
    during = time.time() - t0
    t.join(90)
    if t.is_alive():
        stop.set()
        t.join(10)
    say('flood: %d datagrams sent, %d RESETs back; leecher 1 done %.1f s after the flood began' %
        (result.get('sent', 0), result.get('resets', 0), during))
    if seed.poll() is not None:
        fail('the seed died under the flood (rc=%s)' % seed.returncode)
    if hashlib.sha1(open(os.path.join(W, 'dl1', 'data.bin'), 'rb').read()).digest() != hashlib.sha1(data).digest():
        fail('leecher 1 copy differs')
    say('leecher 2 (uTP only) after the flood')
    download('leech2', turl, info_hash, os.path.join(W, 'dl2'), 60)
    if open(os.path.join(W, 'dl2', 'data.bin'), 'rb').read() != data:
        fail('leecher 2 copy differs')
    after = vmhwm(seed.pid)
    margin = MARGIN_KIB * (4 if sanitized() else 1)
    say('seed VmHWM %d KiB after (+%d KiB; allowed %d KiB plus the file read into the cache%s)' %
        (after, after - before, margin, ', sanitizer build' if margin != MARGIN_KIB else ''))
    if after - before > margin + FILE_SIZE // 1024:
        fail('seed peak RSS grew by %d KiB' % (after - before))
    seed.send_signal(signal.SIGTERM)
    try:
        rc = seed.wait(20)
    except subprocess.TimeoutExpired:
        fail('the seed did not exit within 20 s of SIGTERM')
    if rc != 0:
        fail('the seed exited %d after SIGTERM' % rc)
    say('PASS')
    return 0


if __name__ == '__main__':
    rc = 1
    try:
        rc = main()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, flush=True)
            rc = 1
        else:
            rc = e.code
    finally:
        for name, p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if W and rc == 0:
            shutil.rmtree(W, ignore_errors=True)
        elif W:
            print('logs kept in', W)
    sys.exit(rc)
