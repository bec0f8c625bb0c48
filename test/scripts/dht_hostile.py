#!/usr/bin/python3
# Hostile datagrams at a peer's Mainline DHT node (BEP 5, KRPC on the uTP socket's UDP port): a real
# `p2pnode --peer --share DIR --bind 127.0.0.1 --port 0 --dht-bootstrap 127.0.0.1:A --no-lsd`
# (P2PNODE_DHT_BOOTSTRAP=none) against this script's own UDP sockets on 127.0.0.0/8 (any 127/8 address is local on
# Linux, so each socket can have an address of its own), ephemeral ports. Its counters come from the console's `dht`
# command (stdin is a pipe).
#  1. forged replies. Socket A is the bootstrap node; p2pnode asks it find_node (transaction t). Before A answers,
#     (a) B1 (127.0.0.1, another port) and B2 (127.0.0.6, A's port number) answer with the right t, (b) A answers
#     with wrong ts (twice): `dht` "dropped" must grow by >= 4, and the nodes these forged replies carry (socket T2,
#     a real address) must never be queried. (c) A answers properly: its "nodes" hold unroutable entries (0.0.0.0
#     and 0/8, multicast 224/4, 240/4, broadcast, port 0) and three real nodes C1..C3 (127.0.0.2..4). Each C must be
#     queried; trap socket T must never be: the 0.0.0.0 entries carry T's port, and a datagram a socket bound on
#     127.0.0.1 sends to 0.0.0.0:P arrives at 127.0.0.1:P on Linux, so querying "this network" would show.
#  2. a query flood from one address (127.0.0.5): 20 000 find_node/get_peers/ping, sent as fast as p2pnode's socket
#     takes them (paced on its receive queue in /proc/net/udp, so the kernel drops none and all reach the node). At
#     most 50 replies (libtorrent's rule: an address sending >= 50 packets in 10 s is ignored for 5 minutes), `dht`
#     rate-limited grows by > 19 000, and a ping from 127.0.0.9 sent in the middle of the flood, and another after,
#     are answered.
#  3. many sources: first 60 addresses announce_peer one info hash H (so get_peers(H) has "values" to return and a
#     reply could be big), then 20 000 get_peers (H or random, queries of different sizes) from 2000 addresses
#     (127.0.10-17.1-250, a socket and a node id each, 10 queries each): every reply is at most max(4 x its query,
#     512) bytes (no amplification: none of these addresses ever answered a query of p2pnode, so none is verified;
#     src/dht/rate_limiter.hpp), p2pnode's VmHWM grows by at most MARGIN (x4 under a sanitizer) and a ping
#     afterwards is answered. The script's other queriers (announcers, flooder, pingers) say "ro" (BEP 43, read-only)
#     so they stay out of the routing table: its free slots (the table holds only A and C1..C3 then) go to the first
#     of the 2000 sources, which must still count as unverified.
#  4. garbage: 5000 datagrams starting with 'd' from 125 addresses (40 each, under the rate limit): random bytes,
#     truncated queries, deep nesting, broken bencode, queries with bad arguments, unknown methods, responses with
#     unknown transaction ids, oversize datagrams. No crash; every malformed query (a "t" and "y":"q") gets error
#     203 with its t, an unknown method 204, a response nothing; `d1:t2:xx1:y1:q1:q4:pinge` gets error 203, t "xx".
# Then `quit`: exit code 0 within 10 s. Exit 0 pass, 77 skip (no p2pnode, or one without a DHT), 1 fail (every
# process's log printed).
# P2P_KEEP_WORKDIR=1 keeps the work dir. Stops itself after LIMIT_S.
import os, random, re, select, shutil, signal, socket, struct, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
P2PNODE = os.path.abspath(os.environ.get('P2PNODE', os.path.join(ROOT, 'build', 'p2pnode')))
MARGIN_KIB = 8 * 1024  # allowed VmHWM growth in case 3 (x4 under a sanitizer)
FLOOD = 20000
SOURCES, PER_SOURCE = 2000, 10
ANNOUNCERS = 60
GARBAGE, GARBAGE_ADDRS = 5000, 125
MAX_REPLIES_TO_FLOODER = 50  # RateLimitConfig::max_packets (src/dht/rate_limiter.hpp)
LIMIT_S = 90

procs, W, passed = [], None, False
node = None  # the p2pnode under test: Popen


def say(*a):
    print(time.strftime('%H:%M:%S'), *a, flush=True)


def fail(why):
    raise SystemExit('FAIL: ' + why)


# ---------------------------------------------------------------- bencode / KRPC

def benc(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray)):
        return b'%d:%s' % (len(v), bytes(v))
    if isinstance(v, list):
        return b'l' + b''.join(benc(x) for x in v) + b'e'
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b'd' + b''.join(benc(k) + benc(x) for k, x in items) + b'e'
    raise TypeError(type(v))


def bdec(d):
    # Strict enough for p2pnode's replies; raises ValueError on anything else.
    def one(i, depth):
        if depth > 32:
            raise ValueError('too deep')
        c = d[i:i + 1]
        if c == b'i':
            j = d.index(b'e', i)
            return int(d[i + 1:j]), j + 1
        if c == b'l':
            i += 1
            out = []
            while d[i:i + 1] != b'e':
                if i >= len(d):
                    raise ValueError('truncated list')
                x, i = one(i, depth + 1)
                out.append(x)
            return out, i + 1
        if c == b'd':
            i += 1
            out = {}
            while d[i:i + 1] != b'e':
                if i >= len(d):
                    raise ValueError('truncated dict')
                k, i = one(i, depth + 1)
                if not isinstance(k, bytes):
                    raise ValueError('key not a string')
                out[k], i = one(i, depth + 1)
            return out, i + 1
        if c.isdigit():
            j = d.index(b':', i)
            n = int(d[i:j])
            if j + 1 + n > len(d):
                raise ValueError('truncated string')
            return d[j + 1:j + 1 + n], j + 1 + n
        raise ValueError('bad byte %r at %d' % (c, i))
    try:
        v, end = one(0, 0)
    except (IndexError, ValueError) as e:
        raise ValueError(str(e))
    if end != len(d):
        raise ValueError('trailing bytes')
    return v


def krpc(d):
    try:
        m = bdec(d)
    except ValueError:
        return None
    return m if isinstance(m, dict) and isinstance(m.get(b't'), bytes) else None


def query(t, method, my_id, ro=False, **args):
    # ro: a read-only node (BEP 43), which p2pnode answers but keeps out of its routing table.
    a = {'id': my_id}
    a.update(args)
    m = {'t': t, 'y': 'q', 'q': method, 'a': a}
    if ro:
        m['ro'] = 1
    return benc(m)


def reply(t, my_id, **r):
    body = {'id': my_id}
    body.update(r)
    return benc({'t': t, 'y': 'r', 'r': body})


def compact(ip, port):
    return socket.inet_aton(ip) + struct.pack('>H', port)


def rid():
    return os.urandom(20)


def udp(ip, port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    s.setblocking(False)
    return s


def recv_all(s, into=None):
    # Everything queued on a non-blocking socket: [(data, addr)].
    out = [] if into is None else into
    while True:
        try:
            out.append(s.recvfrom(65536))
        except (BlockingIOError, InterruptedError):
            return out


def wait_reply(s, t, secs=3.0):
    # The first message with transaction id t that arrives on s within secs (others are answered if they are
    # p2pnode's queries, else ignored); None if none.
    end = time.time() + secs
    while time.time() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.time()))
        if not r:
            break
        for data, addr in recv_all(s):
            m = krpc(data)
            if m and m[b't'] == t:
                return m
    return None


# ---------------------------------------------------------------- the node under test

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


def out_text():
    return open(os.path.join(W, 'node.out'), errors='replace').read()


def alive(what):
    if node.poll() is not None:
        fail('p2pnode exited (rc=%s) %s' % (node.returncode, what))


def ask_dht(what=''):
    # The console's `dht` answer, parsed: {'dropped': n, 'rate_limited': n, ...}.
    alive('before `dht` ' + what)
    start = len(out_text())
    try:
        node.stdin.write(b'dht\n')
        node.stdin.flush()
    except OSError as e:
        fail('cannot write to the console (%s) %s' % (e, what))
    end = time.time() + 10
    while time.time() < end:
        text = out_text()[start:]
        if re.search(r'^bucket  good', text, re.M):
            m = re.search(r'^packets in (\d+) out (\d+), bytes in (\d+) out (\d+); queries in (\d+), replies (\d+), '
                          r'timeouts (\d+), dropped (\d+), rate-limited (\d+)$', text, re.M)
            s = re.search(r'^stored (\d+) peers for (\d+) torrents$', text, re.M)
            n = re.search(r'^nodes (\d+) \((\d+) good, (\d+) questionable\)', text, re.M)
            if not (m and s and n):
                fail('`dht` answer not understood %s:\n%s' % (what, text))
            keys = ('packets_in', 'packets_out', 'bytes_in', 'bytes_out', 'queries_in', 'replies', 'timeouts',
                    'dropped', 'rate_limited')
            d = dict(zip(keys, map(int, m.groups())))
            d['stored_peers'], d['stored_torrents'] = int(s.group(1)), int(s.group(2))
            d['nodes'], d['good'] = int(n.group(1)), int(n.group(2))
            return d
        alive('after `dht` ' + what)
        time.sleep(0.05)
    fail('no answer to `dht` within 10 s %s' % what)


def rx_queue(port):
    # p2pnode's UDP socket (127.0.0.1:port) in /proc/net/udp: (bytes queued unread, datagrams dropped by the kernel).
    key = '0100007F:%04X' % port
    try:
        for line in open('/proc/net/udp').readlines()[1:]:
            f = line.split()
            if f[1] == key:
                return int(f[4].split(':')[1], 16), int(f[-1])
    except OSError:
        pass
    return 0, 0


def wait_rx_below(port, limit, secs=5.0):
    end = time.time() + secs
    while rx_queue(port)[0] > limit and time.time() < end:
        time.sleep(0.001)


def ping_ok(ip, port, what, secs=3.0):
    s = udp(ip)
    try:
        t = os.urandom(2)
        s.sendto(query(t, 'ping', rid(), ro=True), ('127.0.0.1', port))
        m = wait_reply(s, t, secs)
    finally:
        s.close()
    if not m or m.get(b'y') != b'r' or not isinstance(m.get(b'r'), dict) or len(m[b'r'].get(b'id', b'')) != 20:
        fail('no ping reply to %s %s (got %r)' % (ip, what, m))


# ---------------------------------------------------------------- case 1: forged replies

def case_forged(A, port_of_a):
    say('case 1: waiting for the bootstrap find_node at A (127.0.0.1:%d)' % port_of_a)
    end = time.time() + 15
    q = None
    while time.time() < end and not q:
        r, _, _ = select.select([A], [], [], 0.2)
        for data, addr in recv_all(A):
            m = krpc(data)
            if m and m.get(b'y') == b'q' and m.get(b'q') == b'find_node' and addr[0] == '127.0.0.1':
                q = (m, addr)
        alive('waiting for the bootstrap query')
    if not q:
        fail('p2pnode sent no find_node to its --dht-bootstrap node within 15 s')
    m, node_addr = q
    t = m[b't']
    a = m.get(b'a')
    if not isinstance(a, dict) or len(a.get(b'id', b'')) != 20 or len(a.get(b'target', b'')) != 20:
        fail('bootstrap find_node without a 20-byte id and target: %r' % m)
    port = node_addr[1]
    say('  find_node from %s:%d, t=%s' % (node_addr[0], port, t.hex()))

    T, T2 = udp('127.0.0.1'), udp('127.0.0.1')  # traps: nothing may ever reach them
    t_port, t2_port = T.getsockname()[1], T2.getsockname()[1]
    C = [udp('127.0.0.%d' % (2 + i)) for i in range(3)]
    c_ids = [rid() for _ in C]
    a_id = rid()
    before = ask_dht('before the forged replies')

    # (a) the right t from elsewhere, (b) the wrong t from A; their nodes point at trap T2 (a real address).
    bait = compact('127.0.0.1', t2_port)
    B1 = udp('127.0.0.1')
    try:
        B2 = udp('127.0.0.6', port_of_a)
    except OSError:
        B2 = udp('127.0.0.6')
    B1.sendto(reply(t, rid(), nodes=rid() + bait), node_addr)
    B2.sendto(reply(t, rid(), nodes=rid() + bait), node_addr)
    wrong = bytes([t[0] ^ 0x55]) + t[1:] if t else b'zz'
    A.sendto(reply(wrong, a_id, nodes=rid() + bait), node_addr)
    A.sendto(reply(t + b'x', a_id, nodes=rid() + bait), node_addr)
    time.sleep(0.3)
    after = ask_dht('after the forged replies')
    grew = after['dropped'] - before['dropped']
    say('  forged: 2 with the right t from elsewhere, 2 with a wrong t from A: dropped %d -> %d' %
        (before['dropped'], after['dropped']))
    if grew < 4:
        fail('forged replies: `dht` dropped grew by %d (expected >= 4: 2 from other senders, 2 with a wrong t)' % grew)

    # (c) the real reply: unroutable entries plus C1..C3.
    bad = [('0.0.0.0', t_port), ('0.1.2.3', t_port), ('0.0.0.0', t2_port), ('224.0.0.1', t_port),
           ('239.255.255.250', t_port), ('240.0.0.1', t_port), ('255.255.255.255', t_port),
           ('127.0.0.2', 0), ('127.0.0.7', 0), ('0.0.0.0', 0)]
    nodes = b''.join(rid() + compact(ip, p) for ip, p in bad)
    nodes += b''.join(i + compact(*s.getsockname()) for i, s in zip(c_ids, C))
    A.sendto(benc({'t': t, 'y': 'r', 'ip': compact(*node_addr), 'r': {'id': a_id, 'nodes': nodes}}), node_addr)
    say('  real reply from A: %d unroutable nodes and C1..C3 (127.0.0.2-4)' % len(bad))

    queried = {s.getsockname(): 0 for s in C}
    trapped = []
    ids = {s: i for s, i in zip(C, c_ids)}
    ids[A] = a_id
    end = time.time() + 8
    done_at = None
    while time.time() < end and (done_at is None or time.time() < done_at):
        r, _, _ = select.select(C + [A, T, T2, B1, B2], [], [], 0.1)
        for s in r:
            for data, addr in recv_all(s):
                if s in (T, T2):
                    trapped.append((s.getsockname(), addr, data[:80]))
                    continue
                m = krpc(data)
                if not m or m.get(b'y') != b'q':
                    continue
                if s in C:
                    queried[s.getsockname()] += 1
                if s in ids:  # answer like a small DHT that knows nobody else
                    body = {'id': ids[s]}
                    if m.get(b'q') == b'get_peers':
                        body['token'] = b'tok1'
                    s.sendto(benc({'t': m[b't'], 'y': 'r', 'r': body}), addr)
        if done_at is None and all(queried.values()):
            done_at = time.time() + 1.5  # time for any query to an unroutable address to show
        alive('after the bootstrap reply')
    say('  queries received: %s; trap: %d datagrams' %
        (', '.join('%s %d' % (a[0], n) for a, n in queried.items()), len(trapped)))
    if trapped:
        fail('p2pnode sent datagrams to an address only a forged reply or an unroutable entry named: %r' % trapped[:5])
    missing = [a[0] for a, n in queried.items() if n == 0]
    if missing:
        fail('the real nodes of the bootstrap reply were not queried within 8 s: %s' % ', '.join(missing))
    for s in (B1, B2):
        s.close()
    return port, C, (T, T2)


# ---------------------------------------------------------------- case 2: a flood from one address

def case_flood(port):
    say('case 2: %d queries from 127.0.0.5' % FLOOD)
    before = ask_dht('before the flood')
    drops0 = rx_queue(port)[1]
    F, G = udp('127.0.0.5'), udp('127.0.0.9')
    f_id = rid()
    methods = [('find_node', {'target': rid()}), ('get_peers', {'info_hash': rid()}), ('ping', {})]
    tids = set()
    got = []
    g_t = b'gm'
    t0 = time.time()
    for i in range(FLOOD):
        t = struct.pack('>I', i)[1:]
        tids.add(t)
        name, args = methods[i % 3]
        while True:
            try:
                F.sendto(query(t, name, f_id, ro=True, **args), ('127.0.0.1', port))
                break
            except (BlockingIOError, InterruptedError):
                time.sleep(0.001)
        if i % 500 == 499:
            recv_all(F, got)
            if rx_queue(port)[0] > (2 << 20):  # keep p2pnode's receive queue from overflowing (the kernel would drop)
                wait_rx_below(port, 512 << 10)
        if i == FLOOD // 2:
            G.sendto(query(g_t, 'ping', rid(), ro=True), ('127.0.0.1', port))
    send_s = time.time() - t0
    wait_rx_below(port, 0, 5)
    end = time.time() + 0.5
    while time.time() < end:
        recv_all(F, got)
        time.sleep(0.02)
    replies = [m for m in (krpc(d) for d, _ in got) if m and m.get(b'y') in (b'r', b'e') and m[b't'] in tids]
    during = wait_reply(G, g_t, 3)
    drops = rx_queue(port)[1] - drops0
    after = ask_dht('after the flood')
    limited = after['rate_limited'] - before['rate_limited']
    say('  sent in %.2f s; %d replies to the flooder; rate-limited +%d, packets in +%d; kernel drops %d' %
        (send_s, len(replies), limited, after['packets_in'] - before['packets_in'], drops))
    alive('after the flood')
    if len(replies) > MAX_REPLIES_TO_FLOODER:
        fail('the flooding address got %d replies (at most %d: ignored after 50 packets in 10 s)' %
             (len(replies), MAX_REPLIES_TO_FLOODER))
    if not replies:
        fail('the flooding address got no reply at all (its first queries should have been answered)')
    if limited <= 19000:
        fail('`dht` rate-limited grew by %d during a flood of %d queries from one address (expected > 19000; '
             'kernel drops %d)' % (limited, FLOOD, drops))
    if not during or during.get(b'y') != b'r':
        fail('a ping from 127.0.0.9 sent during the flood got no reply (got %r)' % during)
    ping_ok('127.0.0.9', port, 'after the flood')
    say('  127.0.0.9 answered during and after the flood')
    F.close()
    G.close()
    return len(replies)


# ---------------------------------------------------------------- case 3: many sources

def case_sources(port):
    say('case 3: %d announcers, then %d get_peers from %d addresses' % (ANNOUNCERS, SOURCES * PER_SOURCE, SOURCES))
    h = rid()
    ok = 0
    for i in range(ANNOUNCERS):
        s = udp('127.0.100.%d' % (i + 1))
        my = rid()
        try:
            s.sendto(query(b'g1', 'get_peers', my, ro=True, info_hash=h), ('127.0.0.1', port))
            m = wait_reply(s, b'g1', 3)
            tok = m.get(b'r', {}).get(b'token') if m else None
            if not isinstance(tok, bytes):
                fail('announcer %d: no token in the get_peers reply (%r)' % (i, m))
            s.sendto(query(b'a1', 'announce_peer', my, ro=True, info_hash=h, port=20000 + i, token=tok),
                     ('127.0.0.1', port))
            m = wait_reply(s, b'a1', 3)
            if m and m.get(b'y') == b'r':
                ok += 1
            else:
                fail('announcer %d: announce_peer not accepted (%r)' % (i, m))
        finally:
            s.close()
    st = ask_dht('after the announces')
    say('  %d announces accepted; `dht`: stored %d peers for %d torrents' % (ok, st['stored_peers'],
                                                                          st['stored_torrents']))
    if st['stored_peers'] < ANNOUNCERS:
        fail('p2pnode stored %d peers after %d accepted announces' % (st['stored_peers'], ANNOUNCERS))

    time.sleep(0.2)
    hwm0 = vmhwm(node.pid)
    rng = random.Random(17)
    sent = answered = with_values = 0
    max_ratio, max_reply, worst = 0.0, 0, None
    bad = []
    t0 = time.time()
    per_batch = 250
    for b in range(SOURCES // per_batch):
        socks = [udp('127.0.%d.%d' % (10 + b, j + 1)) for j in range(per_batch)]
        ids = [rid() for _ in socks]  # a node keeps its id
        sizes = {}
        try:
            for k in range(PER_SOURCE):
                for j, s in enumerate(socks):
                    t = struct.pack('>BH', k, j)
                    a = {'info_hash': h if (j + k) % 2 == 0 else rid()}
                    if rng.random() < 0.4:  # unknown keys are ignored (BEP 5): a bigger query may get a bigger reply
                        a['zz'] = os.urandom(rng.randrange(0, 160))
                    d = query(t, 'get_peers', ids[j], **a)
                    sizes[(j, t)] = len(d)
                    s.sendto(d, ('127.0.0.1', port))
                    sent += 1
                if rx_queue(port)[0] > (2 << 20):
                    wait_rx_below(port, 512 << 10)
            want = len(sizes)
            end, last = time.time() + 5, time.time()
            seen = set()
            while len(seen) < want and time.time() < end and time.time() - last < 1.0:
                r, _, _ = select.select(socks, [], [], 0.1)
                for s in r:
                    j = int(s.getsockname()[0].split('.')[3]) - 1
                    for data, addr in recv_all(s):
                        m = krpc(data)
                        if not m or m.get(b'y') not in (b'r', b'e') or (j, m[b't']) not in sizes:
                            continue  # p2pnode's own pings to a new node, say
                        key = (j, m[b't'])
                        if key in seen:
                            bad.append('two replies to one query from %s' % s.getsockname()[0])
                            continue
                        seen.add(key)
                        last = time.time()
                        q = sizes[key]
                        limit = max(4 * q, 512)
                        ratio = len(data) / q
                        if ratio > max_ratio:
                            max_ratio, worst = ratio, (len(data), q)
                        max_reply = max(max_reply, len(data))
                        if isinstance(m.get(b'r'), dict) and m[b'r'].get(b'values'):
                            with_values += 1
                        if len(data) > limit:
                            bad.append('%d-byte reply to a %d-byte get_peers from %s (limit %d; %d values, %d '
                                       'bytes of nodes)' % (len(data), q, s.getsockname()[0], limit,
                                                            len(m.get(b'r', {}).get(b'values', [])),
                                                            len(m.get(b'r', {}).get(b'nodes', b''))))
            answered += len(seen)
        finally:
            for s in socks:
                s.close()
        alive('during the many-sources queries')
    hwm1 = vmhwm(node.pid)
    margin = MARGIN_KIB * (4 if sanitized() else 1)
    say('  %d queries in %.1f s, %d answered (%d with values); largest reply %d bytes, max reply/query %.2f (%s)' %
        (sent, time.time() - t0, answered, with_values, max_reply, max_ratio,
         '%d/%d bytes' % worst if worst else '-'))
    say('  VmHWM %d -> %d KiB (+%d KiB; allowed %d%s)' % (hwm0, hwm1, hwm1 - hwm0, margin,
                                                          ', sanitizer build' if margin != MARGIN_KIB else ''))
    if bad:
        who = sorted({re.search(r'from (\S+)', x).group(1) for x in bad if 'from ' in x})
        fail('amplification: %d replies over max(4 x query, 512) bytes to %d addresses (%s), none of which ever '
             'answered a query of p2pnode, e.g.\n  %s' % (len(bad), len(who), ' '.join(who[:10]), '\n  '.join(bad[:8])))
    if answered < sent * 9 // 10:
        fail('only %d of %d get_peers from %d addresses were answered' % (answered, sent, SOURCES))
    if not with_values:
        fail('no get_peers reply carried values: the amplification check saw no big reply')
    if hwm1 - hwm0 > margin:
        fail('p2pnode peak RSS grew by %d KiB under %d sources (allowed %d)' % (hwm1 - hwm0, SOURCES, margin))
    ping_ok('127.0.99.1', port, 'after the many-sources queries')
    return answered, sent, max_ratio, max_reply, hwm1 - hwm0


# ---------------------------------------------------------------- case 4: garbage

def garbage(rng, i):
    # (datagram, expect): expect is 203 / 204 (an error with this datagram's t), 'none' (no reply at all) or None
    # (anything but a crash).
    kind = i % 10
    my = rng.randbytes(20)
    t = b'g' + struct.pack('>H', i)
    if kind == 0:  # random bytes after 'd'
        return b'd' + rng.randbytes(rng.randrange(0, 1400)), None
    if kind == 1:  # a valid query cut short
        q = query(t, rng.choice(['ping', 'find_node', 'get_peers']), my, target=rng.randbytes(20),
                  info_hash=rng.randbytes(20))
        return q[:rng.randrange(1, len(q))], None
    if kind == 2:  # deep nesting
        n = rng.randrange(1, 1400)
        return rng.choice([b'd' * n, b'd' + b'l' * n, b'd1:a' * (n // 4 + 1), b'd1:t2:xx1:y1:q1:a' + b'l' * n,
                           (b'd' * n) + (b'e' * n),
                           b'd1:t2:xx1:y1:q1:ad' + b'd1:ad' * (n // 5) + b'e' * (n // 5)]), None
    if kind == 3:  # broken bencode
        return rng.choice([b'd1:t99999999999:x', b'd1:t-1:x1:y1:qe', b'd1:ti01e1:y1:qe', b'd1:t2:xx1:yi-0ee',
                           b'd1:t2:xx1:y1:q1:q4:ping1:ad2:id20:' + my + b'ee' + b'trailing',
                           b'd2:id' + b'9' * 30 + b':', b'di1e2:xxe',
                           b'd1:t2:xx1:y1:q1:q4:ping1:ai99999999999999999999999ee',
                           b'd1:t2:xx1:t2:yy1:y1:qe', b'd1:y1:q1:t2:xx1:q4:pinge', b'd' + b'0:' * 600,
                           b'd1:t2:xx1:y1:qe' + b'\x00' * rng.randrange(1, 200)]), None
    if kind in (4, 5, 6):  # queries with bad arguments: "t" and "y":"q" are there, so error 203
        bad = rng.choice([
            {'t': t, 'y': 'q', 'q': 'ping'},                                         # no "a"
            {'t': t, 'y': 'q', 'q': 'ping', 'a': [1, 2]},                            # "a" not a dict
            {'t': t, 'y': 'q', 'q': 'ping', 'a': {'id': my[:19]}},                   # 19-byte id
            {'t': t, 'y': 'q', 'q': 'find_node', 'a': {'id': my}},                   # no target
            {'t': t, 'y': 'q', 'q': 'find_node', 'a': {'id': my, 'target': 7}},      # target not a string
            {'t': t, 'y': 'q', 'q': 'get_peers', 'a': {'id': my, 'info_hash': my + b'x'}},
            {'t': t, 'y': 'q', 'q': 'announce_peer', 'a': {'id': my, 'info_hash': my, 'port': 70000, 'token': b'x'}},
            {'t': t, 'y': 'q', 'q': 'announce_peer', 'a': {'id': my, 'info_hash': my, 'port': 1, 'token': b'x' * 100}},
            {'t': t, 'y': 'q', 'q': 'announce_peer', 'a': {'id': my, 'info_hash': my, 'token': b'x'}},
            {'t': t, 'y': 'q', 'q': 5, 'a': {'id': my}},                             # "q" not a string
        ])
        return benc(bad), 203
    if kind == 7:  # an unknown method
        return benc({'t': t, 'y': 'q', 'q': rng.choice(['get', 'put', 'sample_infohashes', 'x' * 40]),
                     'a': {'id': my}}), 204
    if kind == 8:  # replies and errors nobody asked for: never answered (no ping-pong)
        return rng.choice([reply(t, my, nodes=rng.randbytes(26 * rng.randrange(0, 9))),
                           benc({'t': t, 'y': 'e', 'e': [201, 'x']}), benc({'t': t, 'y': 'r', 'r': 5}),
                           benc({'t': t, 'y': 'r', 'r': {'id': my, 'nodes': b'123'}})]), 'none'
    # an oversize datagram, or a "y" that is no kind at all
    return rng.choice([b'd1:t2:xx1:y1:q1:q4:ping1:ad2:id20:' + my + b'5:zzzzz2000:' + rng.randbytes(2000) + b'ee',
                       benc({'t': t, 'y': 'z', 'q': 'ping', 'a': {'id': my}}),
                       benc({'t': t, 'y': 'q', 'q': 'ping', 'a': {'id': my}, 'x': rng.randbytes(1500)})]), None


def case_garbage(port):
    say('case 4: %d garbage datagrams from %d addresses' % (GARBAGE, GARBAGE_ADDRS))
    before = ask_dht('before the garbage')
    rng = random.Random(4)
    socks = [udp('127.0.60.%d' % (j + 1)) for j in range(GARBAGE_ADDRS)]
    expect = {}  # (socket index, t) -> 203 / 204 / 'none'
    got = [[] for _ in socks]
    try:
        for i in range(GARBAGE):
            j = i % GARBAGE_ADDRS
            d, want = garbage(rng, i)
            if want is not None:
                expect[(j, b'g' + struct.pack('>H', i))] = want
            try:
                socks[j].sendto(d, ('127.0.0.1', port))
            except (BlockingIOError, InterruptedError):
                pass
            if i % 250 == 249:
                for k, s in enumerate(socks):
                    recv_all(s, got[k])
                if rx_queue(port)[0] > (2 << 20):
                    wait_rx_below(port, 512 << 10)
        wait_rx_below(port, 0, 5)
        end = time.time() + 1.0
        while time.time() < end:
            for k, s in enumerate(socks):
                recv_all(s, got[k])
            time.sleep(0.05)
    finally:
        for s in socks:
            s.close()
    alive('after the garbage')
    errors = {203: 0, 204: 0}
    wrong = []
    answered = set()
    for k, lst in enumerate(got):
        for data, _ in lst:
            m = krpc(data)
            if not m or m.get(b'y') == b'q':
                continue  # p2pnode pinging a new node
            key = (k, m[b't'])
            want = expect.get(key)
            if want is None:
                continue  # the t of a datagram with no expectation (or "xx" of a broken one)
            answered.add(key)
            e = m.get(b'e')
            code = e[0] if isinstance(e, list) and e and isinstance(e[0], int) else None
            if want == 'none':
                wrong.append('a reply to an unsolicited %s: %r' % ('reply', data[:100]))
            elif m.get(b'y') != b'e' or code != want:
                wrong.append('expected error %d, got %r' % (want, data[:120]))
            else:
                errors[want] += 1
    missing = [key for key, want in expect.items() if want != 'none' and key not in answered]
    after = ask_dht('after the garbage')
    n203 = sum(1 for w in expect.values() if w == 203)
    n204 = sum(1 for w in expect.values() if w == 204)
    say('  error 203: %d of %d malformed queries; 204: %d of %d unknown methods; dropped +%d' %
        (errors[203], n203, errors[204], n204, after['dropped'] - before['dropped']))
    if wrong:
        fail('garbage: %d wrong answers, e.g.\n  %s' % (len(wrong), '\n  '.join(wrong[:8])))
    if missing:
        fail('garbage: %d malformed queries or unknown methods got no error reply, e.g. %r' %
             (len(missing), missing[:5]))
    if after['rate_limited'] != before['rate_limited']:
        fail('garbage from %d addresses (%d each) was rate-limited: the counts are off' %
             (GARBAGE_ADDRS, GARBAGE // GARBAGE_ADDRS))

    s = udp('127.0.61.1')
    try:
        s.sendto(b'd1:t2:xx1:y1:q1:q4:pinge', ('127.0.0.1', port))
        m = wait_reply(s, b'xx', 3)
    finally:
        s.close()
    e = m.get(b'e') if m else None
    if not m or m.get(b'y') != b'e' or not isinstance(e, list) or not e or e[0] != 203:
        fail('d1:t2:xx1:y1:q1:q4:pinge: expected error 203 with t "xx", got %r' % m)
    say('  d1:t2:xx1:y1:q1:q4:pinge -> error %r' % e)
    ping_ok('127.0.61.2', port, 'after the garbage')


# ---------------------------------------------------------------- main

def main():
    global W, node, passed
    if not os.access(P2PNODE, os.X_OK):
        print('SKIP: %s not built' % P2PNODE)
        return 77
    try:
        help_text = subprocess.run([P2PNODE, '--help'], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        help_text = ''
    if '--dht-bootstrap' not in help_text:
        print('SKIP: %s has no DHT (no --dht-bootstrap in --help)' % P2PNODE)
        return 77
    W = tempfile.mkdtemp(prefix='p2p-dht-hostile.')
    share = os.path.join(W, 'share')
    os.makedirs(share)
    A = udp('127.0.0.1')
    port_of_a = A.getsockname()[1]
    env = dict(os.environ)
    env['P2PNODE_DHT_BOOTSTRAP'] = 'none'
    env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=4').lstrip(':')
    out, err = open(os.path.join(W, 'node.out'), 'w'), open(os.path.join(W, 'node.err'), 'w')
    node = subprocess.Popen([P2PNODE, '--peer', '--share', share, '--bind', '127.0.0.1', '--port', '0',
                             '--dht-bootstrap', '127.0.0.1:%d' % port_of_a, '--no-lsd'],
                            stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
    procs.append(('node', node))
    end = time.time() + 30
    port = None
    while time.time() < end and not port:
        m = re.search(r'peer listening on [0-9.]+:(\d+)', out_text())
        port = m and int(m.group(1))
        alive('before listening')
        time.sleep(0.05)
    if not port:
        fail('p2pnode did not print "peer listening on" within 30 s')
    say('p2pnode pid %d, UDP port %d; bootstrap node A 127.0.0.1:%d' % (node.pid, port, port_of_a))
    t0 = time.time()

    qport, C, traps = case_forged(A, port_of_a)
    if qport != port:
        fail('the DHT queried from port %d, not the peer port %d' % (qport, port))
    flood_replies = case_flood(port)
    answered, sent, ratio, biggest, grown = case_sources(port)
    case_garbage(port)
    for s in traps:  # the traps still got nothing (bootstrap retries, pings, lookups since case 1)
        late = recv_all(s)
        if late:
            fail('trap %s received %d datagrams after case 1: %r' % (s.getsockname(), len(late), late[0][0][:80]))
    final = ask_dht('at the end')
    say('`dht` at the end: %s' % ', '.join('%s %d' % kv for kv in final.items()))

    node.stdin.write(b'quit\n')
    node.stdin.flush()
    try:
        rc = node.wait(10)
    except subprocess.TimeoutExpired:
        fail('p2pnode did not exit within 10 s of quit')
    if rc != 0:
        fail('p2pnode exited %d after quit' % rc)
    for s in C + [A] + list(traps):
        s.close()
    say('summary: flood replies %d (<= %d); get_peers answered %d/%d, max reply/query %.2f, largest reply %d bytes; '
        'VmHWM +%d KiB; %.1f s' % (flood_replies, MAX_REPLIES_TO_FLOODER, answered, sent, ratio, biggest, grown,
                                   time.time() - t0))
    passed = True
    say('PASS')
    return 0


def cleanup():
    for name, p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if not passed and W:
        for name in sorted(os.listdir(W)):
            if name.endswith(('.out', '.err', '.log')):
                text = open(os.path.join(W, name), errors='replace').read().splitlines()[-60:]
                print('----- %s (last 60 lines) -----' % name)
                print('\n'.join(text))
    if W and not os.environ.get('P2P_KEEP_WORKDIR'):
        shutil.rmtree(W, ignore_errors=True)
    elif W:
        print('work dir kept:', W)


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
            print(e.code, flush=True)
            rc = 1
        else:
            rc = e.code if e.code is not None else 0
    except Exception:  # a crash of the test itself is a failure too, with the logs
        import traceback
        traceback.print_exc()
        rc = 1
    finally:
        signal.alarm(0)
        cleanup()
    sys.exit(rc)
