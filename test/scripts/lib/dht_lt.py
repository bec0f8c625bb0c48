# test/scripts/lib/dht_lt.py: python3-libtorrent in a private Mainline DHT (BEP 5) with no tracker anywhere, for
# test/scripts/dht_private_swarm.sh and tools/bench-dht. Run with /usr/bin/python3 inside a network namespace.
#
#   dht_lt.py nodes --ips IP,IP,... [--bootstrap IP:PORT] [--ready-min K] [--ready-timeout S] [--watch]
#       One libtorrent session per IP, each a DHT node and nothing else (no torrents), all in this process; every
#       node pings every other one at start (add_dht_node). The first IP's node is the bootstrap node for the
#       clients (--bootstrap: an outside node every node joins through instead). Prints:
#         NODE I IP:PORT                  each node's DHT (UDP) endpoint once it listens
#         BOOTSTRAP IP:PORT               the address every other client joins through
#         READY SECS min=A median=B max=C once every node has >= K nodes in its routing table (default
#                                         min(8, N-1)); "READY ... (timeout)" after --ready-timeout (default 30) s
#         ANNOUNCE HEX IP PORT            the first announce_peer for HEX from IP that any node accepted (libtorrent
#                                         checked its token), with the port it announced (or its source port if
#                                         implied_port)
#         SEEN IP:PORT                    (--watch) the first DHT packet to the bootstrap node from an address that is
#                                         not one of ours: proof that a client speaks the DHT at all
#         BANNED IP                       (--watch) the bootstrap node's rate limiter banned IP (libtorrent: more than
#                                         dht_block_ratelimit * 10 packets within 10 s)
#         STATS SECS nodes=min/median/max in=N out=N dropped_in=N dropped_out=N   every 5 s, summed over the nodes
#       and, on SIGTERM/SIGINT, a last STATS line and "ANNOUNCES HEX IP PORT nodes=K" for every announced pair.
#
#   dht_lt.py seed --ip IP --bootstrap IP:PORT [--announce-interval S] FILE...
#       Makes a v1 torrent (no tracker, libtorrent's piece size) of each FILE and seeds it from its folder (seed
#       mode: no hash check). Prints "SEEDING NAME HEX MAGNET" per file (the magnet has no tr=), then runs until
#       killed. libtorrent announces each new torrent in turn, at most 4 s apart, then one torrent every
#       --announce-interval / torrents s (default 900, libtorrent's). Each announce is also a lookup that finds the
#       leechers which announced themselves, and the seed then connects to them: a leecher that does not dial the
#       seed itself would be rescued by a short interval, so keep it long in tests.
#       --peer-log (diagnostics): also libtorrent's peer log (peer_log_alert), incoming connections, blocked peers
#       and the session log, and each disconnect's operation, error and reason, every line stamped with time.time().
#
#   dht_lt.py get --ip IP --bootstrap IP:PORT [--announce-interval S] [--timeout S] MAGNET SAVE_DIR
#       Starts a session and adds MAGNET as soon as its DHT runs (a few ms; the DHT bootstrap then runs alongside the
#       lookup and counts in the times, as for a client started with the magnet link), neither auto-managed nor
#       paused; the DHT lookup is re-run every --announce-interval s (default 5; libtorrent's is
#       900, so a lookup that ran before the seed's announce landed would otherwise wait 15 minutes). Prints, in
#       seconds since the magnet was added, with this namespace's UDP datagrams out/in (/proc/net/snmp) since
#       just before the session was made:
#         EVENT first_peer SECS udp_out=N udp_in=N    the DHT's first peers (dht_reply_alert / dht_get_peers_reply)
#         EVENT metadata SECS ...                      metadata_received_alert (BEP 9 from the peer)
#         EVENT complete SECS ...                      torrent_finished_alert
#       "DHT_STATS metadata|complete dht_messages_out=N dht_messages_in=N get_peers_out=N find_node_out=N
#       announce_peer_out=N" (libtorrent's session counters, asked for at the metadata and at the end), then
#       "DOWNLOAD COMPLETE" and exit 0. Exit 1 after --timeout (default 120) s. --dht-log adds libtorrent's DHT,
#       session and torrent logs and every DHT packet.
#
#   dht_lt.py stamp --out FILE [--send REGEX TEXT]... -- CMD...
#       Runs CMD with its stdout and stderr read line by line; each line goes to FILE as
#       "SECS UDP_OUT UDP_IN out|err LINE" (seconds since CMD was started, this namespace's UDP datagrams since
#       then); the last line is "SECS UDP_OUT UDP_IN exit RC". Exits with CMD's status. For timing a client from
#       its log lines (tools/bench-dht: p2pnode). --send: the first time a line matches REGEX, TEXT and a newline
#       go to CMD's standard input (a pipe, held open while CMD runs; /dev/null without --send), noted in FILE as
#       "SECS UDP_OUT UDP_IN in TEXT" (p2pnode's console: its "dht" command). --poll SECS TEXT REGEX: TEXT and a
#       newline go to CMD's standard input at once and then every SECS s until a line matches REGEX, each noted as
#       "SECS UDP_OUT UDP_IN poll TEXT" (tools/bench-dht: "dht" until p2pnode's table has enough good nodes; a --send
#       with the same REGEX then gives the command that starts the measured work, e.g. "get MAGNET").
#
# Settings every session here shares (a test LAN: every node in 10.77.x.0/24):
#   dht_restrict_routing_ips / dht_restrict_search_ips False: otherwise a routing-table bucket and a lookup keep at
#       most one node per /24, and every node of the test is in one /24.
#   dht_ignore_dark_internet False: it drops packets from a list of class-A networks (3, 6, 7, 9, 11, ... not 10),
#       so it would not hurt 10.x, but nothing here should depend on that list.
#   dht_prefer_verified_node_ids False: BEP 42 ids cannot be derived from private addresses (libtorrent exempts
#       local addresses anyway).
#   dht_bootstrap_nodes: the bootstrap node only (not dht.libtorrent.org); enable_lsd, enable_upnp, enable_natpmp
#       False: LSD would let peers find each other without the DHT.
#   allow_multiple_connections_per_ip True (harmless; every client has its own address anyway).
#   Torrents are added neither auto-managed nor paused, and only once the session's DHT runs (wait_dht_running):
#       otherwise the first lookup waits for the auto-manager's tick (0.5 or 1 s) or the DHT announce timer (5+ s).
#   Kept at libtorrent's defaults (as on the real DHT): dht_extended_routing_table (True), dht_block_ratelimit (5:
#   more than 50 packets within 10 s from one address get it banned for 5 minutes), dht_upload_rate_limit on the
#   clients (8000 B/s). The background nodes add each other with add_dht_node (see nodes()), so the DHT is whole
#   within ~2 s, and get dht_upload_rate_limit 1 MiB/s (DHT_NODE_UPLOAD_LIMIT): at 8000 B/s a node out of send
#   quota drops incoming queries unanswered (dht_messages_in_dropped: 23 while 50 nodes form), and 0 does not mean
#   unlimited (libtorrent 2.0.8 dies of SIGFPE).
import os
import re
import selectors
import signal
import statistics
import subprocess
import sys
import time

import libtorrent as lt

CAT = lt.alert.category_t


def udp_counts():
    """This network namespace's UDP datagrams (out, in) so far (/proc/net/snmp reflects the reader's namespace)."""
    with open('/proc/net/snmp') as f:
        lines = [l.split() for l in f if l.startswith('Udp:')]
    head, vals = lines[0], lines[1]
    d = dict(zip(head[1:], (int(v) for v in vals[1:])))
    return d['OutDatagrams'], d['InDatagrams']


def base_settings(ip, bootstrap, mask):
    return {
        'listen_interfaces': ip + ':0',
        'enable_dht': True,
        'dht_bootstrap_nodes': bootstrap or '',
        'dht_restrict_routing_ips': False,
        'dht_restrict_search_ips': False,
        'dht_ignore_dark_internet': False,
        'dht_prefer_verified_node_ids': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'allow_multiple_connections_per_ip': True,
        'alert_mask': mask,
        'user_agent': 'p2pnode-test-dht',
    }


def take(args, flag, default=None):
    if flag not in args:
        return default
    i = args.index(flag)
    v = args[i + 1]
    del args[i:i + 2]
    return v


def switch(args, flag):
    if flag not in args:
        return False
    args.remove(flag)
    return True


def out(*words):
    print(*words, flush=True)


STOP = False


def on_signal(signum, frame):
    global STOP
    STOP = True


def udp_port(ses, alerts_seen):
    """The UDP port of a session from its listen_succeeded alerts (the DHT's socket)."""
    for a in alerts_seen:
        if isinstance(a, lt.listen_succeeded_alert) and a.socket_type == lt.socket_type_t.udp:
            return a.port
    return None


def wait_udp_port(ses, secs=10):
    t_end = time.time() + secs
    keep = []
    while time.time() < t_end:
        ses.wait_for_alert(100)
        got = ses.pop_alerts()
        keep += got
        p = udp_port(ses, got)
        if p:
            return p, keep
    raise SystemExit('no UDP listen socket within %d s' % secs)


def wait_dht_running(ses, secs=10):
    """Until the session's DHT node exists. A torrent added before that is first announced (looked up) on a session
    tick 0.5 or 1 s later, or only by the DHT announce timer (dht_announce_interval) 5+ s later; one added after it is
    looked up at once."""
    t_end = time.time() + secs
    while not ses.is_dht_running():
        if time.time() > t_end:
            raise SystemExit('the DHT did not start within %d s' % secs)
        time.sleep(0.005)


# ---------------------------------------------------------------------------------------------------------------- nodes
def nodes(args):
    ips = take(args, '--ips').split(',')
    boot = take(args, '--bootstrap')
    ready_min = int(take(args, '--ready-min', str(min(8, len(ips) - 1))))
    ready_timeout = float(take(args, '--ready-timeout', '30'))
    watch = switch(args, '--watch')
    if args:
        raise SystemExit('nodes: unexpected arguments %r' % args)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.time()
    mask = CAT.error_notification | CAT.dht_notification | CAT.status_notification | CAT.stats_notification
    sessions, addrs = [], []
    for i, ip in enumerate(ips):
        s = base_settings(ip, boot, mask)
        if i == 0 and watch:
            s['alert_mask'] = mask | CAT.dht_log_notification   # dht_pkt_alert: who sends to the bootstrap node
        s.update({'aio_threads': 1, 'hashing_threads': 1, 'connections_limit': 20,
                  'dht_upload_rate_limit': int(os.environ.get('DHT_NODE_UPLOAD_LIMIT', 1 << 20))})
        ses = lt.session(s)
        port, _ = wait_udp_port(ses)
        sessions.append(ses)
        addrs.append((ip, port))
        out('NODE', i + 1, '%s:%d' % (ip, port))
        if i == 0:
            out('BOOTSTRAP', boot or '%s:%d' % (ip, port))
    # Every node pings every other one (add_dht_node), as in a DHT that has run for a while. A node that has only a
    # router to join through learns little: libtorrent keeps a router out of its routing table, and the router answers
    # find_node with confirmed nodes only, confirming the nodes that queried it one per 5 s tick.
    for i, ses in enumerate(sessions):
        for j, a in enumerate(addrs):
            if i != j:
                ses.add_dht_node(a)
    ours = set(ips)
    table = [0] * len(sessions)
    counters = [dict() for _ in sessions]
    announced = {}   # (hex, ip) -> [port, set of node indexes]
    seen = set()
    banned = set()
    ready = False
    last_stats = 0.0
    last_poll = 0.0
    pkt_re = re.compile(r'^<== \[([0-9.]+):(\d+)\]')

    def stats_line(now):
        ns = sorted(table)
        tot = lambda k: sum(c.get(k, 0) for c in counters)
        return 'STATS %.1f nodes=%d/%d/%d in=%d out=%d dropped_in=%d dropped_out=%d' % (
            now - t0, ns[0], int(statistics.median(ns)), ns[-1], tot('dht.dht_messages_in'),
            tot('dht.dht_messages_out'), tot('dht.dht_messages_in_dropped'), tot('dht.dht_messages_out_dropped'))

    while not STOP:
        now = time.time()
        if now - last_poll >= 1.0:
            last_poll = now
            for ses in sessions:
                ses.post_dht_stats()
                ses.post_session_stats()
        for i, ses in enumerate(sessions):
            for a in ses.pop_alerts():
                if isinstance(a, lt.dht_stats_alert):
                    table[i] = sum(b['num_nodes'] for b in a.routing_table)
                elif isinstance(a, lt.session_stats_alert):
                    counters[i] = {k: v for k, v in a.values.items() if k.startswith('dht.')}
                elif isinstance(a, lt.dht_announce_alert):
                    key = (str(a.info_hash), str(a.ip))
                    if key not in announced:
                        announced[key] = [a.port, set()]
                        out('ANNOUNCE', key[0], key[1], a.port)
                    announced[key][1].add(i)
                elif isinstance(a, lt.dht_pkt_alert):
                    m = pkt_re.match(a.message())
                    if m and m.group(1) not in ours and m.group(1) not in seen:
                        seen.add(m.group(1))
                        out('SEEN', '%s:%s' % (m.group(1), m.group(2)))
                elif isinstance(a, lt.dht_log_alert):
                    m = re.search(r'BANNING PEER \[ ip: ([0-9.]+)', a.message())
                    if m and m.group(1) not in banned:
                        banned.add(m.group(1))
                        out('BANNED', m.group(1))
        if not ready:
            if min(table) >= ready_min or now - t0 > ready_timeout:
                ready = True
                ns = sorted(table)
                out('READY %.1f min=%d median=%d max=%d%s' % (now - t0, ns[0], int(statistics.median(ns)), ns[-1],
                                                            '' if ns[0] >= ready_min else ' (timeout)'))
        if now - last_stats >= 5.0:
            last_stats = now
            out(stats_line(now))
        time.sleep(0.05)
    out(stats_line(time.time()))
    for (h, ip), (port, who) in sorted(announced.items()):
        out('ANNOUNCES', h, ip, port, 'nodes=%d' % len(who))
    sys.stdout.flush()
    os._exit(0)   # tearing down 50 sessions one by one takes seconds; nothing here needs saving


# ----------------------------------------------------------------------------------------------------------------- seed
def seed(args):
    ip = take(args, '--ip')
    boot = take(args, '--bootstrap')
    interval = int(take(args, '--announce-interval', '900'))
    peer_log = switch(args, '--peer-log')
    files = args
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    mask = (CAT.error_notification | CAT.dht_notification | CAT.status_notification | CAT.peer_notification |
            CAT.connect_notification | CAT.storage_notification)
    if peer_log:
        mask |= CAT.peer_log_notification | CAT.ip_block_notification | CAT.session_log_notification
    s = base_settings(ip, boot, mask)
    s['dht_announce_interval'] = interval
    ses = lt.session(s)
    port, _ = wait_udp_port(ses)
    wait_dht_running(ses)
    out('listening on %s:%d' % (ip, port))
    handles = []
    for path in files:
        path = os.path.abspath(path)
        fs = lt.file_storage()
        lt.add_files(fs, path)
        ct = lt.create_torrent(fs, 0, lt.create_torrent.v1_only)
        ct.set_creator('p2pnode-test-dht')
        lt.set_piece_hashes(ct, os.path.dirname(path))
        ti = lt.torrent_info(ct.generate())
        atp = lt.add_torrent_params()
        atp.ti = ti
        atp.save_path = os.path.dirname(path)
        atp.flags |= lt.torrent_flags.seed_mode
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        h = ses.add_torrent(atp)
        handles.append(h)
        out('SEEDING', ti.name(), str(ti.info_hash()), lt.make_magnet_uri(ti))
    last = 0.0
    while not STOP:
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if peer_log:
                # Diagnostics: every peer event with ms times; a disconnect with its operation, error and reason.
                if isinstance(a, lt.peer_disconnected_alert):
                    # (a.reason, a close_reason_t, has no Python converter in libtorrent 2.0.8: not shown)
                    try:
                        extra = '| op=%s error=%s:%d (%s) socket_type=%s' % (
                            a.op, a.error.category().name(), a.error.value(), a.error.message(), a.socket_type)
                    except Exception as e:   # a diagnostic must never stop the seed
                        extra = '| (%s)' % e
                    out('%.3f' % time.time(), 'peer_disconnected_alert', a.message(), extra)
                    continue
                if isinstance(a, (lt.peer_log_alert, lt.incoming_connection_alert, lt.peer_connect_alert,
                                  lt.peer_error_alert, lt.peer_blocked_alert, lt.log_alert)):
                    out('%.3f' % time.time(), type(a).__name__, a.message())
                    continue
            if isinstance(a, (lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert,
                              lt.torrent_error_alert, lt.dht_reply_alert, lt.listen_failed_alert)):
                out(time.strftime('%H:%M:%S'), type(a).__name__, a.message())
        if time.time() - last > 5:
            last = time.time()
            for h in handles:
                st = h.status()
                out(time.strftime('%H:%M:%S'), 'state', st.name, st.state, 'peers', st.num_peers, 'up',
                    st.total_upload)
    os._exit(0)


# ------------------------------------------------------------------------------------------------------------------ get
def get(args):
    ip = take(args, '--ip')
    boot = take(args, '--bootstrap')
    interval = int(take(args, '--announce-interval', '5'))
    timeout = float(take(args, '--timeout', '120'))
    dht_log = switch(args, '--dht-log')
    magnet, save = args
    mask = (CAT.error_notification | CAT.dht_notification | CAT.dht_operation_notification | CAT.status_notification
            | CAT.peer_notification | CAT.connect_notification | CAT.storage_notification | CAT.stats_notification)
    if dht_log:
        mask |= CAT.dht_log_notification | CAT.torrent_log_notification | CAT.session_log_notification
    s = base_settings(ip, boot, mask)
    s['dht_announce_interval'] = interval
    udp0 = udp_counts()
    t_session = time.time()
    ses = lt.session(s)
    wait_dht_running(ses)
    atp = lt.parse_magnet_uri(magnet)
    atp.save_path = save
    # Not auto-managed: an auto-managed torrent is added paused and started by the next auto-manage tick (0.5 s).
    atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    t0 = time.time()
    h = ses.add_torrent(atp)
    want_hex = str(atp.info_hashes.v1) if hasattr(atp, 'info_hashes') else str(atp.info_hash)
    out('added %s at %s, %.3f s after the session was made' % (want_hex, time.strftime('%H:%M:%S'), t0 - t_session))
    events = {}

    def event(name):
        if name in events:
            return
        t = time.time() - t0
        events[name] = t
        o, i = udp_counts()
        out('EVENT %s %.3f udp_out=%d udp_in=%d' % (name, t, o - udp0[0], i - udp0[1]))

    last = 0.0
    finished = False
    stats_for = []   # the events whose session_stats_alert is awaited, in order
    while time.time() - t0 < timeout:
        ses.wait_for_alert(50)
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_reply_alert) and a.num_peers > 0:
                event('first_peer')
            elif isinstance(a, lt.dht_get_peers_reply_alert) and a.num_peers > 0 and str(a.info_hash) == want_hex:
                event('first_peer')
            elif isinstance(a, lt.metadata_received_alert):
                event('metadata')
                stats_for.append('metadata')
                ses.post_session_stats()
            elif isinstance(a, lt.torrent_finished_alert):
                event('complete')
                finished = True
            elif isinstance(a, lt.session_stats_alert):
                v = a.values
                what = stats_for.pop(0) if stats_for else '?'
                out('DHT_STATS %s dht_messages_out=%d dht_messages_in=%d get_peers_out=%d find_node_out=%d '
                    'announce_peer_out=%d' % (what, v['dht.dht_messages_out'], v['dht.dht_messages_in'],
                                              v['dht.dht_get_peers_out'], v['dht.dht_find_node_out'],
                                              v['dht.dht_announce_peer_out']))
                if what == 'complete':
                    out('DOWNLOAD COMPLETE')
                    os._exit(0)
            if dht_log and isinstance(a, (lt.dht_log_alert, lt.dht_pkt_alert, lt.torrent_log_alert, lt.log_alert)):
                out('%.3f' % (time.time() - t0), type(a).__name__, a.message())
            if isinstance(a, (lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert,
                              lt.torrent_error_alert, lt.dht_reply_alert, lt.metadata_failed_alert,
                              lt.listen_failed_alert, lt.metadata_received_alert, lt.torrent_finished_alert)):
                out(time.strftime('%H:%M:%S'), type(a).__name__, a.message())
        st = h.status()
        if st.has_metadata and st.is_seeding and not finished:
            event('complete')
            finished = True
        if finished and 'complete' not in stats_for:
            stats_for.append('complete')
            ses.post_session_stats()
        if time.time() - last > 2:
            last = time.time()
            out(time.strftime('%H:%M:%S'), 'state', st.state, 'progress %.3f' % st.progress, 'peers', st.num_peers,
                'down', st.total_download)
    out('TIMEOUT after %.0f s (events: %s)' % (timeout, ', '.join(sorted(events)) or 'none'))
    os._exit(1)


# ---------------------------------------------------------------------------------------------------------------- stamp
def stamp(args):
    dest = take(args, '--out')
    sends = []
    while '--send' in args:
        i = args.index('--send')
        sends.append([re.compile(args[i + 1]), args[i + 2]])
        del args[i:i + 3]
    polls = []   # [interval, text, until regex, next due]
    while '--poll' in args:
        i = args.index('--poll')
        polls.append([float(args[i + 1]), args[i + 2], re.compile(args[i + 3]), 0.0])
        del args[i:i + 4]
    if args and args[0] == '--':
        args = args[1:]
    udp0 = udp_counts()
    t0 = time.time()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.PIPE if sends or polls else subprocess.DEVNULL)
    # Forward SIGTERM to the child so the cleanup of a caller ends it too.
    signal.signal(signal.SIGTERM, lambda s, f: p.terminate())
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ, 'out')
    sel.register(p.stderr, selectors.EVENT_READ, 'err')
    bufs = {'out': b'', 'err': b''}
    with open(dest, 'w') as f:
        def send(tag, text):
            # Stamped just before the write: the time a command was given is the time it went to the pipe.
            o, i = udp_counts()
            f.write('%.3f %d %d %s %s\n' % (time.time() - t0, o - udp0[0], i - udp0[1], tag, text))
            f.flush()
            try:
                p.stdin.write(text.encode() + b'\n')
                p.stdin.flush()
            except OSError:
                pass

        def emit(tag, line):
            o, i = udp_counts()
            text = line.decode('utf-8', 'replace')
            f.write('%.3f %d %d %s %s\n' % (time.time() - t0, o - udp0[0], i - udp0[1], tag, text))
            f.flush()
            for rule in polls:
                if rule[2] and rule[2].search(text):
                    rule[2] = None   # polled enough
            for rule in sends:
                if rule[0] and rule[0].search(text):
                    rule[0] = None   # once
                    send('in', rule[1])
        open_streams = 2
        while open_streams:
            timeout = None
            now = time.time()
            for rule in polls:
                if rule[2] is None:
                    continue
                if now >= rule[3]:
                    rule[3] = now + rule[0]
                    send('poll', rule[1])
                wait = max(0.0, rule[3] - now)
                timeout = wait if timeout is None else min(timeout, wait)
            for key, _ in sel.select(timeout):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    if bufs[key.data]:
                        emit(key.data, bufs[key.data])
                    continue
                bufs[key.data] += chunk
                while b'\n' in bufs[key.data]:
                    line, bufs[key.data] = bufs[key.data].split(b'\n', 1)
                    emit(key.data, line)
        rc = p.wait()
        o, i = udp_counts()
        f.write('%.3f %d %d exit %d\n' % (time.time() - t0, o - udp0[0], i - udp0[1], rc))
    sys.exit(rc if rc >= 0 else 128 - rc)


def main():
    if len(sys.argv) < 2:
        raise SystemExit('usage: dht_lt.py nodes|seed|get|stamp ...')
    mode, args = sys.argv[1], sys.argv[2:]
    {'nodes': nodes, 'seed': seed, 'get': get, 'stamp': stamp}[mode](args)


if __name__ == '__main__':
    main()
