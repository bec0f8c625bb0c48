#!/usr/bin/python3
# Hostile peers that flood a seed: a real `p2pnode --peer --share DIR` on 127.0.0.1 (ephemeral port, no
# tracker) against raw-socket clients (lib/hostile_peer.py):
#  (c) a length prefix of 0xFFFFFFFF after the handshake: disconnected at once (within 3 s), seed RSS flat.
#  (a) handshake, interested, unchoked, then 100 000 requests in one burst: disconnected (max_incoming_requests =
#      500), seed RSS flat.
#  (b) on a second seed: 4 clients each request 400 + 90 distinct blocks in two waves and never read their socket
#      (SO_RCVBUF 4 KiB). Meanwhile python3-libtorrent downloads the whole file from that seed (connect_peer, no
#      tracker) and the copy must compare equal. Then the bytes each stalled client cost the seed are checked:
#      what the seed queued for them (its exit summary uploaded=, minus libtorrent's payload) minus what the
#      kernel holds (/proc/net/tcp tx_queue of the seed's sockets + rx_queue of the clients') is the user-space
#      send queue, which must stay <= 4 MiB + one block per client (TorrentConfig::max_send_queue). Seed RSS flat.
#      libtorrent speaks MSE as it ships, so its connection is RC4 and its queued blocks are copies.
# "RSS flat": VmHWM (peak RSS) of the seed grows by at most MARGIN over its value before the attack. In (b) the
# read cache legitimately fills with the file while libtorrent downloads it, so the margin adds the file size, and
# the stalled clients' send queues and libtorrent's (encrypted copies).
# Exit 0 pass, 77 skip (no p2pnode / no python3-libtorrent), 1 fail. Stops itself after 150 s.
import hashlib, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'lib'))
import hostile_peer as hp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
P2PNODE = os.path.abspath(os.environ.get('P2PNODE', os.path.join(ROOT, 'build', 'p2pnode')))
FILE_SIZE = 16 << 20
MARGIN_KIB = 8 * 1024           # allowed VmHWM growth for (a) and (c)
MAX_SEND_QUEUE = 4 << 20        # TorrentConfig::max_send_queue (src/session/torrent.hpp)
MAX_INCOMING_REQUESTS = 500     # PeerConfig::max_incoming_requests (src/peer/connection.hpp)
STALLED = 4                     # clients of (b)
LIMIT_S = 150

procs, W, passed = [], None, False


def say(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


def fail(why):
    raise SystemExit('FAIL: ' + why)


def start_seed(name, share):
    out, err = open(os.path.join(W, name + '.out'), 'w'), open(os.path.join(W, name + '.err'), 'w')
    # Under AddressSanitizer (make check-asan) freed blocks wait in ASan's quarantine (256 MiB by default) and stay
    # resident, so VmHWM would measure the tool, not p2pnode: an encrypted connection (libtorrent in (b) speaks
    # MSE, and RC4 copies each block it sends) frees a 16 KiB buffer per block. Keep the quarantine small; a normal
    # build ignores ASAN_OPTIONS.
    env = dict(os.environ)
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=4').lstrip(':')
    p = subprocess.Popen([P2PNODE, '--peer', '--share', share, '--bind', '127.0.0.1', '--port', '0', '--no-console'],
                         stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    procs.append((name, p))
    port = info_hash = None
    end = time.time() + 60
    seeding = False
    while time.time() < end and not (port and info_hash and seeding):
        text = open(os.path.join(W, name + '.out')).read()
        # Incoming handshakes are refused while the torrent still checks its files.
        seeding = 'pieces present, seeding' in open(os.path.join(W, name + '.err')).read()
        m = re.search(r'peer listening on [0-9.]+:(\d+)', text)
        port = port or (m and int(m.group(1)))
        m = re.search(r'^sharing data\.bin ([0-9a-f]{40})', text, re.M)
        info_hash = info_hash or (m and bytes.fromhex(m.group(1)))
        if p.poll() is not None:
            fail('%s exited (rc=%s) before listening and sharing' % (name, p.returncode))
        time.sleep(0.1)
    if not (port and info_hash and seeding):
        fail('%s did not print its port, "sharing data.bin" and "seeding" within 60 s' % name)
    say('%s: pid %d port %d info hash %s' % (name, p.pid, port, info_hash.hex()))
    return p, port, info_hash


def stop_seed(name, p):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        fail('%s did not exit within 20 s of SIGTERM' % name)
    if rc != 0:
        fail('%s exited %d after SIGTERM' % (name, rc))
    text = open(os.path.join(W, name + '.out')).read()
    m = re.search(r'^summary data\.bin [0-9a-f]{40} uploaded=(\d+)', text, re.M)
    if not m:
        fail('%s printed no summary line' % name)
    return int(m.group(1))


def hwm(p):
    return hp.proc_status_kib(p.pid, 'VmHWM')


def unchoked_peer(port, info_hash):
    c = hp.Peer('127.0.0.1', port)
    c.handshake(info_hash, fast=True)
    c.send(hp.msg(hp.INTERESTED))
    c.wait_for(hp.UNCHOKE, 25)  # at once when an upload slot is free, else at the next 10 s rechoke
    return c


def check_alive(name, p):
    if p.poll() is not None:
        fail('%s died (rc=%s)' % (name, p.returncode))


def case_c(seed, port, info_hash):
    before = hwm(seed)
    c = hp.Peer('127.0.0.1', port)
    c.handshake(info_hash, fast=True)
    t0 = time.time()
    c.send(b'\xff\xff\xff\xff')
    if not c.closed(3.0):
        fail('(c) a 0xFFFFFFFF length prefix did not get the connection closed within 3 s')
    c.close()
    check_alive('seed', seed)
    grown = hwm(seed) - before
    say('(c) 0xFFFFFFFF length: disconnected after %.2f s; VmHWM +%d KiB' % (time.time() - t0, grown))
    if grown > MARGIN_KIB:
        fail('(c) seed VmHWM grew by %d KiB (> %d)' % (grown, MARGIN_KIB))


def case_a(seed, port, info_hash, tor):
    before = hwm(seed)
    c = unchoked_peer(port, info_hash)
    blocks = list(tor.blocks())
    burst = b''.join(hp.request(*blocks[i % len(blocks)]) for i in range(100000))
    t0 = time.time()
    try:
        c.send(burst)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending: that is the point
    if not c.closed(10.0):
        fail('(a) 100 000 requests did not get the connection closed within 10 s')
    c.close()
    check_alive('seed', seed)
    grown = hwm(seed) - before
    say('(a) 100 000 requests (%d bytes): disconnected after %.2f s; VmHWM %d -> %d KiB (+%d)' %
        (len(burst), time.time() - t0, before, before + grown, grown))
    if grown > MARGIN_KIB:
        fail('(a) seed VmHWM grew by %d KiB (> %d)' % (grown, MARGIN_KIB))
    err = open(os.path.join(W, 'seed.err')).read()
    return err


def tcp_queues(port):
    """{(local_port, remote_port): (tx_queue, rx_queue)} of every 127.0.0.1 TCP socket touching `port`."""
    out = {}
    for line in open('/proc/net/tcp').read().splitlines()[1:]:
        f = line.split()
        lport, rport = int(f[1].split(':')[1], 16), int(f[2].split(':')[1], 16)
        if port in (lport, rport):
            tx, rx = (int(x, 16) for x in f[4].split(':'))
            out[(lport, rport)] = (tx, rx)
    return out


def lt_download(torrent, port, into):
    """python3-libtorrent fetches the torrent from 127.0.0.1:port; returns its payload bytes downloaded."""
    log = open(os.path.join(W, 'libtorrent.log'), 'w')
    r = subprocess.run(['/usr/bin/python3', os.path.join(HERE, 'lib', 'hostile_peer.py'), 'lt-fetch', torrent,
                        '127.0.0.1', str(port), into, '60'], stdout=subprocess.PIPE, stderr=log, timeout=75, text=True)
    log.write(r.stdout)
    m = re.search(r'^DONE (\d+)', r.stdout, re.M)
    if r.returncode != 0 or not m:
        fail('(b) libtorrent did not download the file while the stalled clients hung on: %s' % r.stdout.strip())
    return int(m.group(1))


def case_b(seed, port, info_hash, tor, torrent_path, original):
    before = hwm(seed)
    blocks = list(tor.blocks())
    per = len(blocks) // STALLED
    stalled = []
    for k in range(STALLED):
        c = hp.Peer('127.0.0.1', port, rcvbuf=4096)
        c.handshake(info_hash, fast=True)
        c.send(hp.msg(hp.INTERESTED))
        stalled.append(c)
    # Unchoke comes at once for the first upload slots; we cannot wait for it without reading, so read just the
    # handful of bytes before the first piece (bitfield/have-all, unchoke...) and then stop reading for good.
    for c in stalled:
        c.wait_for(hp.UNCHOKE, 25)
    wave1, wave2 = 400, 90   # the second wave fits under max_incoming_requests even if nothing was served
    for k, c in enumerate(stalled):
        mine = blocks[k * per:(k + 1) * per]
        c.send(b''.join(hp.request(*b) for b in mine[:wave1]))
    time.sleep(2)
    for k, c in enumerate(stalled):
        mine = blocks[k * per:(k + 1) * per]
        c.send(b''.join(hp.request(*b) for b in mine[wave1:wave1 + wave2]))
    time.sleep(2)
    into = os.path.join(W, 'lt')
    os.makedirs(into)
    t0 = time.time()
    lt_bytes = lt_download(torrent_path, port, into)
    copy = os.path.join(into, 'data.bin')
    if open(copy, 'rb').read() != original:
        fail('(b) libtorrent\'s copy differs from the original')
    say('(b) libtorrent downloaded %d payload bytes in %.1f s while %d clients stalled; bytes match' %
        (lt_bytes, time.time() - t0, STALLED))
    for c in stalled:
        if c.closed(0):
            fail('(b) the seed dropped a stalled client (it should only stop serving it)')
    check_alive('seed2', seed)
    time.sleep(1)
    q = tcp_queues(port)
    kernel = 0
    for c in stalled:
        cport = c.s.getsockname()[1]
        kernel += q.get((port, cport), (0, 0))[0] + q.get((cport, port), (0, 0))[1]
    grown = hwm(seed) - before
    uploaded = stop_seed('seed2', seed)
    for c in stalled:
        c.close()
    to_stalled = uploaded - lt_bytes
    user_queue = to_stalled - kernel
    cap = STALLED * (MAX_SEND_QUEUE + hp.BLOCK)
    asked = STALLED * (wave1 + wave2) * hp.BLOCK
    say('(b) stalled clients asked for %d bytes; the seed queued %d for them: %d in kernel buffers, %d in its own '
        'send queues (cap %d); VmHWM %d -> %d KiB (+%d)' %
        (asked, to_stalled, kernel, user_queue, cap, before, before + grown, grown))
    if user_queue > cap:
        fail('(b) the seed queued %d bytes in user space for %d stalled clients (> %d: send queue not capped)' %
             (user_queue, STALLED, cap))
    # libtorrent's connection runs RC4 (MSE, its default): each block it is sent is an encrypted copy, so its send
    # queue holds up to one more MAX_SEND_QUEUE of copies where a plaintext queue references the read cache.
    limit = MARGIN_KIB + FILE_SIZE // 1024 + (STALLED + 1) * MAX_SEND_QUEUE // 1024
    if grown > limit:
        fail('(b) seed VmHWM grew by %d KiB (> %d)' % (grown, limit))


def main():
    global W, passed
    if not os.access(P2PNODE, os.X_OK):
        print('SKIP: %s not built' % P2PNODE)
        return 77
    try:
        import libtorrent  # noqa: F401
    except ImportError:
        print('SKIP: python3-libtorrent not installed for /usr/bin/python3')
        return 77
    W = tempfile.mkdtemp(prefix='p2p-flood.')
    share = os.path.join(W, 'share')
    os.makedirs(share)
    original = os.urandom(FILE_SIZE)
    with open(os.path.join(share, 'data.bin'), 'wb') as f:
        f.write(original)
    torrent_path = os.path.join(W, 'data.torrent')
    mk = subprocess.run([P2PNODE, '--make-torrent', os.path.join(share, 'data.bin'), '--tracker',
                         'udp://127.0.0.1:9/announce', '-o', torrent_path], capture_output=True, text=True, timeout=60)
    if mk.returncode != 0:
        fail('--make-torrent failed: ' + mk.stdout + mk.stderr)
    tor = hp.Torrent(torrent_path)

    seed, port, ih = start_seed('seed', share)
    if ih != tor.info_hash:
        fail('the seed shares data.bin as %s, --make-torrent made %s' % (ih.hex(), tor.info_hash.hex()))
    case_c(seed, port, ih)
    case_a(seed, port, ih, tor)
    check_alive('seed', seed)
    stop_seed('seed', seed)

    seed2, port2, _ = start_seed('seed2', share)
    case_b(seed2, port2, ih, tor, torrent_path, original)
    passed = True
    print('PASS')
    return 0


def cleanup():
    for name, p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if not passed and W:
        for name in sorted(os.listdir(W)):
            if name.endswith(('.out', '.err', '.log')):
                text = open(os.path.join(W, name), errors='replace').read().splitlines()[-40:]
                print('----- %s (last 40 lines) -----' % name)
                print('\n'.join(text))
    if W and not os.environ.get('P2P_KEEP_WORKDIR'):
        shutil.rmtree(W, ignore_errors=True)


def on_alarm(*_):
    raise SystemExit('FAIL: the test did not finish within %d s' % LIMIT_S)


if __name__ == '__main__':
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    signal.alarm(LIMIT_S)
    rc = 1
    try:
        rc = main()
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code)
            rc = 1
        else:
            rc = e.code if e.code is not None else 0
    except Exception as e:  # a crash of the test itself is a failure too, with the logs
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        signal.alarm(0)
        cleanup()
    sys.exit(rc)
