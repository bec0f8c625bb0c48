# lt_client.py seed|download TORRENT SAVE_DIR [--ip IP] [--announce-completed] [--enc forced|enabled|disabled]
#              [--utp | --no-tcp] [--peer IP:PORT] [--lsd [--lsd-interval SECS]]
# lt_client.py magnet MAGNET_URI SAVE_DIR [--ip IP] [...]
# --enc: MSE/PE both ways (libtorrent's out_enc_policy/in_enc_policy; forced = RC4 only, the "require
# encryption" of qBittorrent and Deluge); without it libtorrent's default (enabled: MSE offered, plaintext too).
# --utp: uTP left on as libtorrent ships. --no-tcp: uTP only (implies --utp; TCP off both ways: enable_outgoing_tcp and
# enable_incoming_tcp False), so every connection it makes or takes is uTP. --peer: connect to this address directly as
# well (no tracker needed). Each connection's transport is in its peer_connect_alert line ("... connection to peer
# (uTP)" or "(TCP)"); a "PEER IP:PORT utp|tcp rc4|mse-plaintext|plaintext CLIENT" line is printed the first time the
# peer list shows such a peer (polled, so a connection shorter than 0.2 s may have none).
# --lsd: Local Service Discovery (BEP 14) on, on the --ip interface, and libtorrent's LSD log lines ("==> LSD: ..."
# sent, "<== LSD: ..." received) printed; --lsd-interval SECS sets local_service_announce_interval (default 300 s,
# spread over the torrents: libtorrent announces a new torrent at once, again 2 s and 6 s later, then at that pace).
# A python3-libtorrent peer that finds peers only via the torrent's (or magnet link's) tracker (no DHT/LSD (unless --lsd)/UPnP/NAT-PMP/uTP; listens on IP, default 127.0.0.1,
# ephemeral port; allow_multiple_connections_per_ip). "download" exits 0 once the data is complete (with
# --announce-completed it first re-announces and waits 1 s, so the tracker hears "completed"); "seed" runs until
# killed; "magnet" fetches the info dictionary over BEP 9, prints "METADATA <name> <size> <infohash>" once it has it,
# then downloads like "download". Logs tracker/peer/metadata alerts and a status line every 2 s to stdout.
import sys, time
import libtorrent as lt
args = sys.argv[1:]
announce_completed = '--announce-completed' in args
if announce_completed:
    args.remove('--announce-completed')
ip = '127.0.0.1'
if '--ip' in args:
    i = args.index('--ip')
    ip = args[i + 1]
    del args[i:i + 2]
def take(flag):
    if flag not in args:
        return None
    i = args.index(flag)
    v = args[i + 1]
    del args[i:i + 2]
    return v
enc = take('--enc')
peer = take('--peer')
def flag(name):
    if name not in args:
        return False
    args.remove(name)
    return True
no_tcp = flag('--no-tcp')
lsd = flag('--lsd')
lsd_interval = take('--lsd-interval')
utp = flag('--utp') or no_tcp
mode, torrent, save = args
settings = {
    'listen_interfaces': ip + ':0', 'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': utp,
    'enable_incoming_utp': utp, 'alert_mask': lt.alert.category_t.all_categories,
    'user_agent': 'p2pnode-test-libtorrent'}
if no_tcp:
    settings.update({'enable_outgoing_tcp': False, 'enable_incoming_tcp': False})
if lsd:
    settings['enable_lsd'] = True
    if lsd_interval:
        settings['local_service_announce_interval'] = int(lsd_interval)
if enc:
    policy = {'forced': lt.enc_policy.forced, 'enabled': lt.enc_policy.enabled, 'disabled': lt.enc_policy.disabled}[enc]
    settings.update({'out_enc_policy': policy, 'in_enc_policy': policy,
                     'allowed_enc_level': lt.enc_level.rc4 if enc == 'forced' else lt.enc_level.both})
ses = lt.session(settings)
if mode == 'magnet':
    atp = lt.parse_magnet_uri(torrent)
else:
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
atp.save_path = save
if mode == 'seed':
    atp.flags |= lt.torrent_flags.seed_mode
h = ses.add_torrent(atp)
print('listening on port', ses.listen_port(), flush=True)
if peer:
    host, port = peer.rsplit(':', 1)
    h.connect_peer((host, int(port)))
interesting = (lt.tracker_reply_alert, lt.tracker_error_alert, lt.tracker_warning_alert, lt.tracker_announce_alert,
               lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert, lt.torrent_finished_alert,
               lt.listen_failed_alert, lt.listen_succeeded_alert, lt.hash_failed_alert, lt.torrent_error_alert,
               lt.peer_ban_alert, lt.invalid_request_alert, lt.scrape_failed_alert, lt.metadata_received_alert,
               lt.metadata_failed_alert)
UTP_SOCKET = 1 << 17   # peer_info::utp_socket (not exported by the Python binding)
last = 0.0
got_meta = False
peers_seen = set()
while True:
    for a in ses.pop_alerts():
        if isinstance(a, interesting) or (lsd and isinstance(a, (lt.log_alert, lt.lsd_error_alert)) and
                                          'LSD' in a.message()):
            print(time.strftime('%H:%M:%S'), type(a).__name__, a.message(), flush=True)
    for p in h.get_peer_info():
        flags = int(p.flags)
        crypto = ('rc4' if flags & int(lt.peer_info.rc4_encrypted) else
                  'mse-plaintext' if flags & int(lt.peer_info.plaintext_encrypted) else 'plaintext')
        key = ('%s:%d' % tuple(p.ip), 'utp' if flags & UTP_SOCKET else 'tcp', crypto)
        if key not in peers_seen:
            peers_seen.add(key)
            print(time.strftime('%H:%M:%S'), 'PEER', *key, p.client or '?', flush=True)
    st = h.status()
    if mode == 'magnet' and st.has_metadata and not got_meta:
        got_meta = True
        ti = h.torrent_file()
        print('METADATA', ti.name(), ti.total_size(), str(ti.info_hash()), flush=True)
    if time.time() - last > 2:
        last = time.time()
        print(time.strftime('%H:%M:%S'), 'state', st.state, 'progress %.3f' % st.progress, 'peers', st.num_peers,
              'up', st.total_upload, 'down', st.total_download, 'seeding', st.is_seeding, flush=True)
    if mode in ('download', 'magnet') and st.has_metadata and st.is_seeding:
        if announce_completed:
            # Let the "completed" announce go out before leaving.
            h.force_reannounce()
            time.sleep(1.0)
            for a in ses.pop_alerts():
                print(type(a).__name__, a.message(), flush=True)
        print('DOWNLOAD COMPLETE', flush=True)
        sys.exit(0)
    time.sleep(0.2)
