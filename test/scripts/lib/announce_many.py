# Announce COUNT distinct info hashes to a BEP 15 tracker, fast: one connect, then bursts of announces on one
# UDP socket, each burst followed by draining its answers (bounded wait), so the tracker's socket buffer is not
# flooded. Hash i is sha1(PREFIX + str(i)); each announce is one seeder (left=0, event started) from our socket.
#   announce_many.py HOST PORT COUNT [PREFIX] [BURST]
# Prints "sent=N answered=A errors=E secs=S" on stdout; exits 1 if fewer than 90 % were answered.
import hashlib, random, socket, struct, sys, time
PROTOCOL_ID = 0x41727101980                          # BEP 15 magic constant
ACT_CONNECT, ACT_ANNOUNCE, ACT_ERROR = 0, 1, 3        # BEP 15 actions
EVENT_STARTED = 2                                     # BEP 15 event code
CONN_TTL = 50                                         # reconnect well inside the 2-minute connection-id life

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prefix = (sys.argv[4] if len(sys.argv) > 4 else 'many-').encode()
burst = int(sys.argv[5]) if len(sys.argv) > 5 else 256
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.connect((host, port))

def connect():
    for attempt in range(5):
        tid = random.getrandbits(32)
        s.send(struct.pack('>QII', PROTOCOL_ID, ACT_CONNECT, tid))
        s.settimeout(1.0)
        try:
            while True:
                d = s.recv(2048)
                if len(d) >= 16 and struct.unpack('>II', d[:8]) == (ACT_CONNECT, tid):
                    return struct.unpack('>Q', d[8:16])[0]
        except socket.timeout:
            pass
    sys.exit('announce_many: no connect answer from %s:%d' % (host, port))

conn, conn_at = connect(), time.monotonic()
head = struct.Struct('>QII')
body = struct.Struct('>20s20sQQQIIIiH')
peer_id = b'-PT0001-' + b'%012d' % random.getrandbits(32)
key = random.getrandbits(32)
t0 = time.monotonic()
sent = answered = errors = 0
sha1 = hashlib.sha1
for start in range(0, count, burst):
    if time.monotonic() - conn_at > CONN_TTL:
        conn, conn_at = connect(), time.monotonic()
    n = min(burst, count - start)
    for i in range(start, start + n):
        s.send(head.pack(conn, ACT_ANNOUNCE, i & 0xffffffff) +
               body.pack(sha1(prefix + b'%d' % i).digest(), peer_id, 0, 0, 0, EVENT_STARTED, 0, key, 1, 6881))
    sent += n
    got = 0
    s.settimeout(0.5)                             # bounded: a lost answer costs at most this per burst
    try:
        while got < n:
            d = s.recv(2048)
            got += 1
            if d[:4] == b'\0\0\0\3':
                errors += 1
    except socket.timeout:
        pass
    answered += got
secs = time.monotonic() - t0
print('sent=%d answered=%d errors=%d secs=%.1f' % (sent, answered, errors, secs))
sys.exit(0 if answered >= sent * 9 // 10 else 1)
