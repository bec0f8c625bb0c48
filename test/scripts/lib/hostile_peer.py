# hostile_peer.py: BitTorrent wire framing for the hostile-peer tests (test/scripts/peer_hostile_*), stdlib only.
# Import it (sys.path.insert(0, LIB)); not a test itself. It knows just enough of BEP 3 (handshake, length-prefixed
# messages), BEP 6 (the fast bit) and .torrent files (a tiny bencode decoder) to misbehave on purpose, plus the
# /proc readings the tests assert on.
import hashlib, os, select, socket, struct, time

PSTR = b'BitTorrent protocol'                       # BEP 3 protocol string (length 19)
BLOCK = 16 * 1024                                   # BEP 3: the de facto request size
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)  # BEP 3 ids
HAVE_ALL, HAVE_NONE, REJECT = 0x0E, 0x0F, 0x10      # BEP 6 ids
FAST_BIT = (7, 0x04)                                # BEP 6: reserved byte 7, bit 0x04
EXT_BIT = (5, 0x10)                                 # BEP 10: reserved byte 5, bit 0x10


def reserved(fast=False, ext=False):
    r = bytearray(8)
    for on, (byte, bit) in ((fast, FAST_BIT), (ext, EXT_BIT)):
        if on:
            r[byte] |= bit
    return bytes(r)


def handshake_bytes(info_hash, peer_id=None, fast=False):
    # A fresh peer id per connection: a node may drop a second connection that claims an id already connected.
    peer_id = peer_id or b'-HP0001-' + os.urandom(6).hex().encode()
    return bytes([len(PSTR)]) + PSTR + reserved(fast) + info_hash + peer_id[:20].ljust(20, b'x')


def msg(mid, payload=b''):
    return struct.pack('>IB', 1 + len(payload), mid) + payload


def request(index, begin, length=BLOCK):
    return msg(REQUEST, struct.pack('>III', index, begin, length))


# ---- .torrent files (BEP 3 bencode) ----
def bdecode(data, i=0):
    c = data[i:i + 1]
    if c == b'i':
        end = data.index(b'e', i)
        return int(data[i + 1:end]), end + 1
    if c in (b'l', b'd'):
        out, i = ([] if c == b'l' else {}), i + 1
        while data[i:i + 1] != b'e':
            if isinstance(out, list):
                v, i = bdecode(data, i)
                out.append(v)
            else:
                k, i = bdecode(data, i)
                v, i = bdecode(data, i)
                out[k] = v
        return out, i + 1
    colon = data.index(b':', i)
    n = int(data[i:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


def info_span(data):
    """(start, end) of the raw bencoded info dict inside a .torrent (its SHA-1 is the info hash)."""
    key = b'4:info'
    start = data.index(key) + len(key)
    _, end = bdecode(data, start)
    return start, end


class Torrent:
    def __init__(self, path):
        data = open(path, 'rb').read()
        meta, _ = bdecode(data)
        s, e = info_span(data)
        self.info_hash = hashlib.sha1(data[s:e]).digest()
        info = meta[b'info']
        self.piece_length = info[b'piece length']
        self.length = info.get(b'length') or sum(f[b'length'] for f in info[b'files'])
        self.num_pieces = len(info[b'pieces']) // 20

    def piece_size(self, i):
        return min(self.piece_length, self.length - i * self.piece_length)

    def blocks(self):
        """Every (index, begin, length) block of the torrent, in order."""
        for i in range(self.num_pieces):
            size = self.piece_size(i)
            for b in range(0, size, BLOCK):
                yield i, b, min(BLOCK, size - b)


# ---- a connection ----
class Peer:
    """One TCP connection to the node under test. recv_msg() frames messages; closed() tells whether the other
    side has hung up (EOF or reset)."""

    def __init__(self, host, port, rcvbuf=None, src=None, timeout=10):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the window is small from the start
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b''

    def send(self, data):
        self.s.sendall(data)

    def handshake(self, info_hash, fast=False):
        self.send(handshake_bytes(info_hash, fast=fast))
        hs = self.recv_exact(68)
        if hs[1:20] != PSTR or hs[28:48] != info_hash:
            raise RuntimeError('bad handshake answer %r' % hs[:48])
        return hs

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError('closed by the node')
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_msg(self):
        """(id, payload); id None for a keep-alive."""
        (n,) = struct.unpack('>I', self.recv_exact(4))
        if n == 0:
            return None, b''
        body = self.recv_exact(n)
        return body[0], body[1:]

    def wait_for(self, mid, secs=20):
        end = time.time() + secs
        while time.time() < end:
            self.s.settimeout(max(0.1, end - time.time()))
            m, _ = self.recv_msg()
            if m == mid:
                return True
        raise TimeoutError('no message %d within %ss' % (mid, secs))

    def closed(self, wait=0.0):
        """True once the node has closed the connection (EOF or RST); drains whatever it sent meanwhile."""
        end = time.time() + wait
        while True:
            r, _, _ = select.select([self.s], [], [], max(0.0, end - time.time()))
            if r:
                try:
                    if not self.s.recv(1 << 20):
                        return True
                except (ConnectionResetError, BrokenPipeError):
                    return True
                except (BlockingIOError, socket.timeout):
                    pass
                continue
            if time.time() >= end:
                return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


# ---- /proc readings of the node under test ----
def proc_status_kib(pid, field):
    """VmHWM / VmRSS ... of PID in KiB."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def open_tcp_count(pid):
    """Sockets PID holds open (a rough count of its connections plus listener)."""
    n = 0
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            if os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith('socket:'):
                n += 1
        except OSError:
            pass
    return n


# ---- command line, for the shell tests ----
#   hostile_peer.py slowloris HOST PORT HEX SECS_PER_BYTE LIMIT
#       sends a valid handshake one byte every SECS_PER_BYTE; prints "closed after T s, N bytes sent" once the
#       node hangs up (exit 0), or "still open after LIMIT s" (exit 1).
#   hostile_peer.py many HOST PORT HEX N HOLD
#       opens N connections one after another, each sending a full handshake and waiting (5 s) for the node's;
#       prints "accepted A refused R"; then holds them idle HOLD s and prints "still open S of A".
#   hostile_peer.py lt-fetch TORRENT HOST PORT INTO SECS
#       python3-libtorrent downloads TORRENT from HOST:PORT only (connect_peer, no tracker, DHT...); prints
#       "DONE <payload bytes>" and exits 0, or exits 1 after SECS.
def _slowloris(host, port, ih, every, limit):
    hs = handshake_bytes(ih)
    p = Peer(host, port)
    t0, sent = time.time(), 0
    while time.time() - t0 < limit:
        if sent < len(hs):
            try:
                p.send(hs[sent:sent + 1])
                sent += 1
            except OSError:
                pass
        if p.closed(every):
            print('closed after %.1f s, %d bytes sent' % (time.time() - t0, sent), flush=True)
            return 0
    print('still open after %d s, %d bytes sent' % (limit, sent), flush=True)
    return 1


def _many(host, port, ih, n, hold):
    live, refused = [], 0
    for _ in range(n):
        try:
            p = Peer(host, port, timeout=5)
            p.handshake(ih)
            live.append(p)
        except (OSError, ConnectionError, RuntimeError):
            refused += 1
    print('accepted %d refused %d' % (len(live), refused), flush=True)
    time.sleep(hold)
    still = sum(1 for p in live if not p.closed(0))
    print('still open %d of %d' % (still, len(live)), flush=True)
    return 0


def _lt_fetch(torrent, host, port, into, secs):
    import libtorrent as lt
    ses = lt.session({'listen_interfaces': '0.0.0.0:0', 'enable_dht': False, 'enable_lsd': False,
                      'enable_upnp': False, 'enable_natpmp': False, 'enable_outgoing_utp': False,
                      'enable_incoming_utp': False, 'allow_multiple_connections_per_ip': True})
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = into
    h = ses.add_torrent(atp)
    end, last = time.time() + secs, 0.0
    while time.time() < end:
        st = h.status()
        if st.is_seeding:
            print('DONE %d' % st.total_payload_download, flush=True)
            return 0
        if st.num_peers == 0 and time.time() - last > 2:
            last = time.time()
            h.connect_peer((host, port))
        time.sleep(0.2)
    print('TIMEOUT progress %.3f peers %d' % (h.status().progress, h.status().num_peers), flush=True)
    return 1


if __name__ == '__main__':
    import sys
    a = sys.argv[1:]
    if a[:1] == ['slowloris'] and len(a) == 6:
        sys.exit(_slowloris(a[1], int(a[2]), bytes.fromhex(a[3]), float(a[4]), float(a[5])))
    if a[:1] == ['many'] and len(a) == 6:
        sys.exit(_many(a[1], int(a[2]), bytes.fromhex(a[3]), int(a[4]), float(a[5])))
    if a[:1] == ['lt-fetch'] and len(a) == 6:
        sys.exit(_lt_fetch(a[1], a[2], int(a[3]), a[4], float(a[5])))
    sys.exit('usage: hostile_peer.py slowloris|many|lt-fetch ... (see the comment above)')
