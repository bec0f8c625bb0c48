# A minimal HTTPS BitTorrent tracker (stdlib only) for the scripted tests: BEP 3 announce with BEP 23 compact
# answers and BEP 48 scrape, over TLS with the certificate and key given, on 127.0.0.1.
#   https_tracker.py CERT KEY    -> "listening on 127.0.0.1:PORT" (an ephemeral port), then one line per event:
#   announce IP:PORT HEX event=EVENT left=N -> P peers     (what a client announced and how many peers it got)
#   scrape HEX...                                          (a BEP 48 scrape)
#   tls-error IP: REASON                                   (a connection whose handshake or request failed)
import http.server, socketserver, ssl, sys, threading, urllib.parse

INTERVAL, MIN_INTERVAL = 30, 5
swarms = {}  # info hash (bytes) -> {(ip, port): left}
completed = {}  # info hash (bytes) -> announces with event=completed (BEP 48 "downloaded")
lock = threading.Lock()


def say(line):
    with lock:
        print(line, flush=True)


def bencode(v):
    if isinstance(v, int):
        return b'i%de' % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b'%d:%s' % (len(v), v)
    if isinstance(v, dict):
        return b'd' + b''.join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b'e'
    raise TypeError(v)


def counts(ih):
    peers = swarms.get(ih, {})
    seeders = sum(1 for left in peers.values() if left == 0)
    return seeders, len(peers) - seeders


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        # latin-1 keeps the percent-encoded bytes of info_hash and peer_id as they are
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True, encoding='latin-1')
        if url.path == '/announce':
            try:
                ih = q['info_hash'][0].encode('latin-1')
                port, left = int(q['port'][0]), int(q['left'][0])
            except (KeyError, ValueError):
                return self.reply(400, bencode({'failure reason': 'bad announce'}))
            event = q.get('event', [''])[0]
            me = (self.client_address[0], port)
            with lock:
                swarm = swarms.setdefault(ih, {})
                others = [p for p in swarm if p != me]
                if event == 'completed':
                    completed[ih] = completed.get(ih, 0) + 1
                if event == 'stopped':
                    swarm.pop(me, None)
                else:
                    swarm[me] = left
                seeders, leechers = counts(ih)
            compact = b''.join(bytes(int(x) for x in ip.split('.')) + p.to_bytes(2, 'big') for ip, p in others)
            say('announce %s:%d %s event=%s left=%d -> %d peers' % (me[0], port, ih.hex(), event or 'none', left,
                                                                    len(others)))
            return self.reply(200, bencode({'interval': INTERVAL, 'min interval': MIN_INTERVAL, 'complete': seeders,
                                            'incomplete': leechers, 'peers': compact}))
        if url.path == '/scrape':
            files = {}
            with lock:
                for raw in q.get('info_hash', []):
                    ih = raw.encode('latin-1')
                    s, l = counts(ih)
                    files[ih] = {'complete': s, 'incomplete': l, 'downloaded': completed.get(ih, 0)}
            say('scrape ' + ' '.join('%s complete=%d incomplete=%d downloaded=%d' %
                                     (h.hex(), f['complete'], f['incomplete'], f['downloaded'])
                                     for h, f in files.items()))
            return self.reply(200, bencode({'files': files}))
        self.reply(404, b'not found')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        say('tls-error %s: %s' % (client_address[0], sys.exc_info()[1]))


def main():
    cert, key = sys.argv[1], sys.argv[2]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd = Server(('127.0.0.1', 0), Handler)
    # The handshake runs in the connection's thread (on its first read), not in accept(): a client that stalls
    # or refuses the certificate holds up no one else, and its failure lands in handle_error.
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    say('listening on 127.0.0.1:%d' % httpd.server_address[1])
    httpd.serve_forever()


if __name__ == '__main__':
    main()
