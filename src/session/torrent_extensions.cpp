// TorrentExtensions (BEP 10 handshake, BEP 9 serving, BEP 11 PEX) and its address helpers: see the header.
#include "session/torrent_extensions.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "net/tcp_transport.hpp"
#include "session/peer_link.hpp"
#include "session/session.hpp" // ip_of, is_loopback_ip

namespace p2p {

namespace {
// The reqq we advertise: the connection's default PeerConfig::max_incoming_requests (a peer queueing more is
// disconnected). The session's configured value is not visible from here; it is never lowered in practice.
const std::uint32_t kOurReqq = static_cast<std::uint32_t>(PeerConfig{}.max_incoming_requests);

std::uint16_t port_of(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return 0;
    unsigned long v = 0;
    for (std::size_t i = colon + 1; i < address.size(); ++i) {
        if (address[i] < '0' || address[i] > '9') return 0;
        v = v * 10 + static_cast<unsigned long>(address[i] - '0');
        if (v > 65535) return 0;
    }
    return static_cast<std::uint16_t>(v);
}

// Both handshakes done. Not "Active": a BEP 3 peer with no pieces may never send the bitfield that gets there.
bool established(const PeerLink& l) {
    auto st = l.conn->state();
    return st == PeerConnection::State::AwaitBitfield || st == PeerConnection::State::Active;
}

bool is_seed(const PeerLink& l) {
    const swarm::Bitfield& b = l.conn->peer_pieces();
    return l.has_all || (b.size() > 0 && b.all());
}
} // namespace

// ---------------------------------------------------------------- address helpers

std::optional<udp::CompactPeer> compact_peer(const std::string& ip_in, std::uint16_t port) {
    std::string ip = ip_in;
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are IPv4 peers to everyone else.
    if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) ip = ip.substr(7);
    udp::CompactPeer p;
    p.port = port;
    if (inet_pton(AF_INET, ip.c_str(), p.ip.data()) == 1) return p;
    p.v6 = true;
    if (inet_pton(AF_INET6, ip.c_str(), p.ip.data()) == 1) return p;
    return std::nullopt;
}

std::optional<udp::CompactPeer> compact_peer_of(const std::string& address) {
    if (address.find(':') == std::string::npos) return std::nullopt;
    return compact_peer(ip_of(address), port_of(address));
}

std::string ip_string(const udp::CompactPeer& p) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.ip.data(), buf, sizeof buf)) return {};
    return buf;
}

std::optional<sockaddr_storage> to_sockaddr(const udp::CompactPeer& p) {
    auto ss = make_sockaddr(ip_string(p), p.port);
    if (!ss) return std::nullopt;
    return *ss;
}

std::string address_key(const udp::CompactPeer& p) {
    auto ss = to_sockaddr(p);
    return ss ? format_sockaddr(reinterpret_cast<const sockaddr*>(&*ss)) : std::string();
}

std::string raw_ip(const std::string& ip) {
    auto p = compact_peer(ip, 0);
    if (!p) return {};
    return std::string(reinterpret_cast<const char*>(p->ip.data()), p->v6 ? 16 : 4);
}

bool pex_address_ok(const udp::CompactPeer& p, bool from_loopback) {
    if (p.port == 0) return false;
    const auto& a = p.ip;
    bool v4 = !p.v6;
    std::size_t o = 0; // offset of the IPv4 bytes
    if (p.v6) {
        static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(a.data(), mapped, 12) == 0) {
            v4 = true;
            o = 12;
        }
    }
    if (v4) {
        if (a[o] == 0) return false;   // 0.0.0.0/8: "this network" (RFC 1122)
        if (a[o] >= 224) return false; // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
        if (a[o] == 127 && !from_loopback) return false;
        return true;
    }
    static const std::uint8_t zero[16] = {};
    static const std::uint8_t loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (std::memcmp(a.data(), zero, 16) == 0) return false; // :: unspecified
    if (a[0] == 0xff) return false;                         // ff00::/8 multicast
    if (std::memcmp(a.data(), loop6, 16) == 0 && !from_loopback) return false;
    return true;
}

// ---------------------------------------------------------------- TorrentExtensions

TorrentExtensions::TorrentExtensions(ExtensionHost& host) : host_(host) {}

bool TorrentExtensions::pex_enabled() const { return !host_.meta().is_private; }

void TorrentExtensions::on_established(PeerLink& link) {
    PeerConnection& c = *link.conn;
    if (!c.supports_extensions()) return;
    ext::ExtHandshake hs;
    hs.m[std::string(ext::kUtMetadata)] = ext::kUtMetadataId;
    if (pex_enabled()) hs.m[std::string(ext::kUtPex)] = ext::kUtPexId; // BEP 27: no PEX on private torrents
    hs.listen_port = host_.listen_port();
    hs.client = host_.client_name();
    hs.metadata_size = static_cast<std::int64_t>(host_.meta().info_bytes.size());
    hs.reqq = kOurReqq;
    hs.yourip = raw_ip(ip_of(link.address));
    c.send_extended(ext::kHandshakeId, ext::encode_ext_handshake(hs));
}

void TorrentExtensions::on_extended(PeerLink& link, std::uint8_t ext_id, std::string_view payload) {
    if (link.dead) return;
    switch (ext_id) {
    case ext::kHandshakeId: return on_handshake(link, payload);
    case ext::kUtMetadataId: return on_metadata(link, payload);
    case ext::kUtPexId: return on_pex(link, payload);
    default: return; // an id we never assigned: BEP 10 says ignore what you do not understand
    }
}

void TorrentExtensions::on_handshake(PeerLink& link, std::string_view payload) {
    auto hs = ext::decode_ext_handshake(payload);
    if (!hs) return host_.drop(link, "malformed extension handshake: " + hs.error().str());
    LinkExtensions& e = link.ext;
    // BEP 10 allows later handshakes that change the ids; each one replaces the last.
    e.handshake_seen = true;
    e.ut_metadata = hs->id_of(ext::kUtMetadata);
    e.ut_pex = pex_enabled() ? hs->id_of(ext::kUtPex) : 0;
    if (hs->reqq) e.reqq = hs->reqq;
    if (hs->listen_port) {
        e.listen_port = hs->listen_port;
        // An incoming peer's listen address is where a tracker or PEX would send us: it is connected already.
        if (link.conn->direction() == PeerConnection::Direction::incoming)
            if (auto p = compact_peer(ip_of(link.address), e.listen_port)) host_.add_known_address(address_key(*p));
    }
    if ((hs->yourip.size() == 4 || hs->yourip.size() == 16) && self_ips_.size() < kMaxSelfIps)
        self_ips_.insert(hs->yourip);
    if (!e.ut_pex)
        e.pex_due_ms = 0;
    else if (!e.pex_due_ms)
        e.pex_due_ms = host_.now_ms() + kPexFirstDelayMs;
    log_debug("ext", host_.meta().name + ": " + link.address + " is " + (hs->client.empty() ? "?" : hs->client) +
                         " (ut_metadata " + std::to_string(e.ut_metadata) + ", ut_pex " + std::to_string(e.ut_pex) +
                         ", p " + std::to_string(e.listen_port) + ", reqq " + std::to_string(e.reqq) + ")");
}

// BEP 9: we always have the metadata (a Torrent is built from it), so we only serve.
void TorrentExtensions::on_metadata(PeerLink& link, std::string_view payload) {
    auto m = ext::decode_metadata_message(payload);
    if (!m) {
        log_debug("ext", host_.meta().name + ": ignoring a malformed ut_metadata message from " + link.address);
        return;
    }
    if (m->type != ext::MetadataType::request) return; // data / reject: we have the metadata already
    LinkExtensions& e = link.ext;
    if (!e.ut_metadata) return; // the peer did not advertise ut_metadata: nothing may be sent to it
    const std::string& info = host_.meta().info_bytes;
    const auto size = static_cast<std::int64_t>(info.size());
    const std::uint32_t count = ext::metadata_piece_count(size);
    // Each request gets one answer (so the peer's requests bound what we queue), and a connection gets at most
    // two full copies: a peer asking for more is wasting our upload.
    if (e.metadata_requests < UINT32_MAX) ++e.metadata_requests;
    if (m->piece >= count || e.metadata_requests > 2 * std::uint64_t{count}) {
        link.conn->send_extended(e.ut_metadata, ext::encode_metadata_reject(m->piece));
        return;
    }
    std::size_t off = std::size_t{m->piece} * ext::kMetadataPieceSize;
    std::string_view piece = std::string_view(info).substr(off, ext::metadata_piece_size(size, m->piece));
    link.conn->send_extended(e.ut_metadata, ext::encode_metadata_data(m->piece, size, piece));
}

bool TorrentExtensions::is_self(const udp::CompactPeer& p) const {
    if (p.port != host_.listen_port()) return false;
    std::string raw(reinterpret_cast<const char*>(p.ip.data()), p.v6 ? 16 : 4);
    return self_ips_.count(raw) > 0 || is_loopback_ip(ip_string(p));
}

void TorrentExtensions::on_pex(PeerLink& link, std::string_view payload) {
    if (!pex_enabled()) return; // BEP 27: private torrents learn peers from their tracker only
    LinkExtensions& e = link.ext;
    std::uint64_t now = host_.now_ms();
    if (e.pex_in_seen && now - e.last_pex_in_ms < kPexMinInboundMs) {
        log_debug("ext", host_.meta().name + ": ignoring a PEX message from " + link.address + " (too soon)");
        return;
    }
    auto m = ext::decode_pex(payload);
    if (!m) {
        log_debug("ext", host_.meta().name + ": ignoring a malformed PEX message from " + link.address + ": " +
                             m.error().str());
        return;
    }
    e.pex_in_seen = true;
    e.last_pex_in_ms = now;
    const bool from_loopback = is_loopback_ip(ip_of(link.address));
    std::vector<sockaddr_storage> addrs;
    std::set<std::string> prefers_mse;
    std::size_t fresh = 0, bogus = 0;
    for (std::size_t k = 0; k < m->added.size(); ++k) {
        const auto& p = m->added[k];
        if (!pex_address_ok(p, from_loopback) || is_self(p)) {
            ++bogus;
            continue;
        }
        auto ss = to_sockaddr(p);
        if (!ss) continue;
        std::string key = format_sockaddr(reinterpret_cast<const sockaddr*>(&*ss));
        if (!host_.knows_address(key)) ++fresh;
        // added_flags run along the IPv4 entries, which decode_pex puts first.
        if (!p.v6 && k < m->added_flags.size() && (m->added_flags[k] & kPexFlagEncryption))
            prefers_mse.insert(std::move(key));
        addrs.push_back(*ss);
    }
    // "dropped" is advice only: we keep any connection we have; a closed one fails on its own.
    if (fresh)
        log_info("pex", host_.meta().name + ": " + std::to_string(fresh) + " new candidates from " + link.address);
    if (bogus)
        log_debug("pex",
                  host_.meta().name + ": dropped " + std::to_string(bogus) + " bogus addresses from " + link.address);
    if (!addrs.empty()) host_.add_candidates(addrs, prefers_mse); // deduplicates, bounds (TorrentConfig::max_candidates)
}

std::map<std::string, TorrentExtensions::PexEntry> TorrentExtensions::connected_peers() const {
    std::map<std::string, PexEntry> out;
    for (const auto& l : host_.links()) {
        if (l->dead || !established(*l)) continue;
        bool outgoing = l->conn->direction() == PeerConnection::Direction::outgoing;
        // The address we connected to is its listen address; an incoming peer's is its IP and its "p".
        std::uint16_t port = outgoing ? port_of(l->address) : l->ext.listen_port;
        if (!port) continue;
        auto p = compact_peer(ip_of(l->address), port);
        if (!p) continue;
        std::uint8_t flags = (is_seed(*l) ? kPexFlagSeed : 0) | (outgoing ? kPexFlagReachable : 0) |
                             (l->conn->encrypted() ? kPexFlagEncryption : 0) |
                             (std::string_view(l->conn->transport_kind()) == "utp" ? kPexFlagUtp : 0);
        out[address_key(*p)] = PexEntry{*p, flags};
    }
    return out;
}

void TorrentExtensions::send_pex(PeerLink& link, const std::map<std::string, PexEntry>& current) {
    LinkExtensions& e = link.ext;
    // Never tell a peer about itself, under either of its addresses.
    std::set<std::string> self{link.address};
    if (e.listen_port)
        if (auto p = compact_peer(ip_of(link.address), e.listen_port)) self.insert(address_key(*p));
    std::vector<udp::CompactPeer> added4, added6, dropped;
    std::vector<std::uint8_t> flags4;
    std::vector<std::string> added_keys, dropped_keys;
    for (const auto& [key, entry] : current) {
        if (added_keys.size() >= kPexMaxPerMessage || e.pex_told.size() + added_keys.size() >= kMaxPexTold) break;
        if (self.count(key) || e.pex_told.count(key)) continue;
        added_keys.push_back(key);
        if (entry.peer.v6) {
            added6.push_back(entry.peer);
        } else {
            added4.push_back(entry.peer);
            flags4.push_back(entry.flags);
        }
    }
    for (const auto& key : e.pex_told) {
        if (dropped_keys.size() >= kPexMaxPerMessage) break;
        if (current.count(key) && !self.count(key)) continue;
        dropped_keys.push_back(key);
        if (auto p = compact_peer_of(key)) dropped.push_back(*p);
    }
    for (const auto& k : added_keys) e.pex_told.insert(k);
    for (const auto& k : dropped_keys) e.pex_told.erase(k);
    if (added_keys.empty() && dropped_keys.empty()) return; // nothing changed: stay quiet
    ext::PexMessage msg;
    msg.added = std::move(added4); // IPv4 first: "added.f" runs parallel to the IPv4 entries
    msg.added.insert(msg.added.end(), added6.begin(), added6.end());
    msg.added_flags = std::move(flags4);
    msg.dropped = std::move(dropped);
    log_debug("pex", host_.meta().name + ": telling " + link.address + " of " + std::to_string(added_keys.size()) +
                         " added, " + std::to_string(dropped_keys.size()) + " dropped peers");
    link.conn->send_extended(e.ut_pex, ext::encode_pex(msg));
}

void TorrentExtensions::tick(std::uint64_t now) {
    if (!pex_enabled()) return;
    bool due = false;
    for (const auto& l : host_.links())
        if (!l->dead && l->ext.ut_pex && l->ext.pex_due_ms && l->ext.pex_due_ms <= now) due = true;
    if (!due) return;
    auto current = connected_peers();
    for (const auto& l : host_.links()) {
        LinkExtensions& e = l->ext;
        if (l->dead || !e.ut_pex || !e.pex_due_ms || e.pex_due_ms > now) continue;
        if (!established(*l)) continue;
        e.pex_due_ms = now + kPexIntervalMs;
        send_pex(*l, current); // sending never calls back (connection.hpp), so links() stays as it is
    }
}

} // namespace p2p
