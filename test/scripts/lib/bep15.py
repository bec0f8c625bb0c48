# A minimal BEP 15 client (stdlib only), used to drive the tracker and to cross-check it on the wire.
#   bep15.py announce HOST PORT HEX PEER_PORT LEFT EVENT   (EVENT: none|completed|started|stopped)
#   bep15.py publish HOST PORT HEX SIZE NAME     (catalog extension, docs/catalog-protocol.md)
#   bep15.py scrape HOST PORT HEX...   -> "HEX seeders=S completed=C leechers=L" per hash
import random, socket, struct, sys
PROTOCOL_ID = 0x41727101980                                          # BEP 15 magic constant
ACT_CONNECT, ACT_ANNOUNCE, ACT_SCRAPE, ACT_ERROR = 0, 1, 2, 3        # BEP 15 actions
EVENTS = {'none': 0, 'completed': 1, 'started': 2, 'stopped': 3}     # BEP 15 event codes
def txn(sock, build, action):
    for attempt in range(4):                                         # BEP 15 retries, shortened for a test
        sock.settimeout(1.0 * (attempt + 1))
        tid = random.getrandbits(32)
        sock.send(build(tid))
        try:
            while True:
                data = sock.recv(65536)
                if len(data) >= 8 and struct.unpack('>I', data[4:8])[0] == tid:
                    break
        except socket.timeout:
            continue
        act = struct.unpack('>I', data[:4])[0]
        if act == ACT_ERROR:
            sys.exit('tracker error: %r' % data[8:])
        if act != action:
            sys.exit('unexpected action %d' % act)
        return data
    sys.exit('no answer from tracker')
def connect(sock):
    r = txn(sock, lambda t: struct.pack('>QII', PROTOCOL_ID, ACT_CONNECT, t), ACT_CONNECT)
    return struct.unpack('>Q', r[8:16])[0]
cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
conn = connect(s)
if cmd == 'announce':
    ih, peer_port, left, event = bytes.fromhex(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
    peer_id = b'-PT0001-' + ('%012d' % peer_port).encode()
    r = txn(s, lambda t: struct.pack('>QII20s20sQQQIIIiH', conn, ACT_ANNOUNCE, t, ih, peer_id, 0, left, 0,
                                     EVENTS[event], 0, random.getrandbits(32), 30, peer_port), ACT_ANNOUNCE)
    interval, leechers, seeders = struct.unpack('>III', r[8:20])
    print('announced port=%d left=%d: interval=%d seeders=%d leechers=%d' % (peer_port, left, interval, seeders,
                                                                             leechers))
elif cmd == 'publish':   # catalog extension (docs/catalog-protocol.md): ih, u64 total size, u16 len, name
    ih, size, name = bytes.fromhex(sys.argv[4]), int(sys.argv[5]), sys.argv[6].encode()
    txn(s, lambda t: struct.pack('>QII20sQH', conn, 0x100, t, ih, size, len(name)) + name, 0x100)
    print('published', sys.argv[6])
elif cmd == 'scrape':
    hexes = sys.argv[4:]
    r = txn(s, lambda t: struct.pack('>QII', conn, ACT_SCRAPE, t) + b''.join(bytes.fromhex(h) for h in hexes),
            ACT_SCRAPE)
    for i, h in enumerate(hexes):
        se, co, le = struct.unpack('>III', r[8 + 12 * i:20 + 12 * i])
        print('%s seeders=%d completed=%d leechers=%d' % (h, se, co, le))
else:
    sys.exit('usage: bep15.py announce|publish|scrape HOST PORT ...')
