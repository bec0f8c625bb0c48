// MetadataFetch: connections, BEP 10 handshake, BEP 9 requests and verification. See metadata_fetch.hpp.
#include "session/metadata_fetch.hpp"

#include <algorithm>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "net/tcp_transport.hpp"
#include "peer/mse_stream.hpp"
#include "session/session.hpp" // ip_of

namespace p2p {

namespace {
constexpr std::uint64_t kNever = UINT64_MAX;          // asked_at_: not asked
constexpr std::size_t kMaxMisses = 6;                 // rejects + timeouts before a peer is dropped
constexpr std::uint64_t kExtHandshakeWaitMs = 15'000; // established, no usable BEP 10 handshake by then: drop

std::string key_of(const sockaddr_storage& ss) { return format_sockaddr(reinterpret_cast<const sockaddr*>(&ss)); }
} // namespace

MetadataFetch* IncomingFetches::find(const std::string& info_hash) const {
    auto it = by_hash_.find(info_hash);
    return it == by_hash_.end() ? nullptr : it->second;
}

void IncomingFetches::remove(const std::string& info_hash, const MetadataFetch* f) {
    auto it = by_hash_.find(info_hash);
    if (it != by_hash_.end() && it->second == f) by_hash_.erase(it);
}

struct MetadataFetch::Attempt {
    std::unique_ptr<Connecting> connect; // destroying it cancels the attempt
    sockaddr_storage addr{};
    std::string key;
    ConnectionSlot slot; // passes to the Peer when the connection is made
};

MetadataFetch::MetadataFetch(Loop& loop, MetadataFetchConfig cfg, Done done)
    : loop_(loop), cfg_(std::move(cfg)), done_(std::move(done)), timer_(loop.get()) {
    // BEP 10 is the whole point of these connections; BEP 6 keeps have_none / reject cheap.
    cfg_.peer.reserved.set_extensions();
    if (!cfg_.peer.clock) {
        uv_loop_t* uv = loop_.get();
        cfg_.peer.clock = [uv] { return uv_now(uv); };
    }
    if (cfg_.max_peers == 0) cfg_.max_peers = 1;
    if (cfg_.max_outstanding_per_peer == 0) cfg_.max_outstanding_per_peer = 1;
    if (cfg_.tick_ms) timer_.start(cfg_.tick_ms, cfg_.tick_ms, [this] { tick(); });
    if (cfg_.incoming) cfg_.incoming->add(cfg_.info_hash, this);
}

MetadataFetch::~MetadataFetch() {
    if (cfg_.incoming) cfg_.incoming->remove(cfg_.info_hash, this);
    finished_ = true;
    // Connections make no callbacks once destroyed; attempts are cancelled by destruction.
    attempts_.clear();
    peers_.clear();
}

void MetadataFetch::remember(const std::string& key) {
    if (known_.size() < kMaxKnown) known_.insert(key);
}

// ---------------------------------------------------------------- connections

void MetadataFetch::add_candidates(const std::vector<sockaddr_storage>& addrs) {
    if (finished_) return;
    for (const auto& a : addrs) {
        std::string key = key_of(a);
        if (known_.count(key) || barred_.count(key)) continue;
        if (candidates_.size() >= cfg_.max_candidates) {
            known_.erase(key_of(candidates_.front())); // the oldest gives way; it may be offered again
            candidates_.pop_front();
        }
        candidates_.push_back(a);
        remember(key);
    }
    connect_more();
}

void MetadataFetch::connect_more() {
    while (!finished_ && !candidates_.empty() && peers_.size() + attempts_.size() < cfg_.max_peers) {
        auto a = std::make_unique<Attempt>();
        if (!a->slot.take(cfg_.connections)) return; // the session is at its cap: tick() tries again
        a->addr = candidates_.front();
        candidates_.pop_front();
        a->key = key_of(a->addr);
        Attempt* raw = a.get();
        attempts_.push_back(std::move(a));
        raw->connect =
            dial(raw->addr, cfg_.connect_timeout_ms, life_.bind([this, raw](Result<std::unique_ptr<Transport>> r) {
                auto it = std::find_if(attempts_.begin(), attempts_.end(), [&](auto& x) { return x.get() == raw; });
                if (it == attempts_.end()) return;
                std::unique_ptr<Attempt> keep = std::move(*it);
                attempts_.erase(it);
                Attempt& at = *keep;
                loop_.defer_delete(std::move(keep)); // the attempt is destroyed after its own callback has returned
                if (finished_) return;
                if (!r) {
                    log_debug("metadata", at.key + ": " + r.error().str());
                    known_.erase(at.key); // a later tracker answer may offer it again
                    connect_more();
                    return;
                }
                start_peer(std::move(*r), &at.addr, std::move(at.slot));
            }),
                 cfg_.transport);
    }
}

std::unique_ptr<Connecting> MetadataFetch::dial(const sockaddr_storage& addr, std::uint64_t timeout_ms,
                                                ConnectCallback cb, TransportLimits limits) {
    if (cfg_.dial) return cfg_.dial(addr, timeout_ms, std::move(cb), std::move(limits));
    return tcp_connect(loop_.get(), reinterpret_cast<const sockaddr*>(&addr), timeout_ms, std::move(cb),
                       std::move(limits));
}

std::unique_ptr<Transport> MetadataFetch::add_transport(std::unique_ptr<Transport> t) {
    if (finished_ || peers_.size() >= cfg_.max_peers) return t;
    ConnectionSlot slot;
    if (!slot.take(cfg_.connections)) return t;
    start_peer(std::move(t), nullptr, std::move(slot));
    return nullptr;
}

void MetadataFetch::start_peer(std::unique_ptr<Transport> t, const sockaddr_storage* addr, ConnectionSlot slot) {
    auto p = std::make_unique<Peer>();
    p->slot = std::move(slot);
    p->address = t->remote_address();
    p->accepted = addr == nullptr;
    if (addr) {
        p->addr = *addr;
        p->has_addr = true;
    }
    // Our own dials speak MSE as --encryption says; a peer that dialled us was unwrapped by the session's sniffer.
    if (addr) {
        const sockaddr_storage to = *addr;
        t = encrypt_outgoing(std::move(t), cfg_.peer.encryption, cfg_.info_hash, [this, to](ConnectCallback cb) {
            return dial(to, cfg_.connect_timeout_ms, std::move(cb), cfg_.transport);
        });
    }
    p->conn = PeerConnection::outgoing_without_metadata(*this, std::move(t), cfg_.peer, cfg_.info_hash);
    p->conn->set_context(p.get());
    PeerConnection* c = p->conn.get();
    peers_.push_back(std::move(p));
    ++tried_;
    c->start(); // sends our handshake; a failure here comes back through on_closed, which drops the peer
}

void MetadataFetch::drop(Peer& p, const std::string& why, bool bar) {
    if (p.dead) return;
    p.dead = true;
    log_debug("metadata", p.address + ": " + why);
    p.conn->close();
    forget_asks_of(p);
    if (bar) {
        if (barred_.size() < kMaxKnown) barred_.insert(p.address);
    } else {
        known_.erase(p.has_addr ? key_of(p.addr) : p.address); // a later tracker answer may offer it again
    }
    retire(p);
}

void MetadataFetch::retire(Peer& p) {
    auto it = std::find_if(peers_.begin(), peers_.end(), [&](auto& x) { return x.get() == &p; });
    if (it == peers_.end()) return;
    std::unique_ptr<Peer> owned = std::move(*it);
    peers_.erase(it);
    loop_.defer_delete(std::move(owned)); // we may be inside one of its connection's callbacks
}

void MetadataFetch::forget_asks_of(Peer& p) {
    // Its outstanding pieces are wanted again at once, from someone else.
    for (const auto& a : p.asked)
        if (a.piece < asked_at_.size() && asked_at_[a.piece] == a.at_ms) asked_at_[a.piece] = kNever;
    p.asked.clear();
}

void MetadataFetch::tick() {
    if (finished_) return;
    const std::uint64_t t = now();
    std::vector<Peer*> snapshot;
    for (auto& p : peers_) snapshot.push_back(p.get());
    for (Peer* p : snapshot) {
        if (p->dead) continue;
        if (!p->conn->tick()) continue; // it closed itself: on_closed dropped it
        if (p->established && p->ut_metadata == 0 && t - p->established_at >= kExtHandshakeWaitMs) {
            drop(*p, "no ut_metadata offer", false);
            continue;
        }
        auto expired = [&](const Peer::Ask& a) {
            if (t - a.at_ms < cfg_.request_timeout_ms) return false;
            p->avoid.push_back(a.piece);
            ++p->misses;
            return true;
        };
        p->asked.erase(std::remove_if(p->asked.begin(), p->asked.end(), expired), p->asked.end());
        if (p->misses >= kMaxMisses) drop(*p, "metadata requests unanswered", false);
    }
    connect_more();
    pump();
}

void MetadataFetch::give_up(const Error& why) { finish(why); }

void MetadataFetch::finish(Result<Metainfo> r) {
    if (finished_) return;
    finished_ = true;
    if (cfg_.incoming) cfg_.incoming->remove(cfg_.info_hash, this); // the torrent that follows takes them now
    timer_.stop();
    std::vector<Peer*> snapshot;
    for (auto& p : peers_) snapshot.push_back(p.get());
    for (Peer* p : snapshot) {
        p->dead = true;
        // On success the established peers go on serving the torrent (handed_peer.hpp); the rest close.
        if (r.ok() && p->established && !p->ext_handshake.empty() && p->conn->park()) {
            std::optional<sockaddr_storage> addr;
            if (p->has_addr) addr = p->addr;
            handed_.push_back(HandedPeer{std::move(p->conn), p->address, p->accepted ? std::nullopt : addr,
                                         std::move(p->ext_handshake), std::move(p->slot), p->accepted});
        } else {
            p->conn->close();
        }
        retire(*p);
    }
    // Cancel the attempts after the current callback (this may run inside a connection's callback).
    for (auto& a : attempts_) loop_.defer_delete(std::move(a));
    attempts_.clear();
    candidates_.clear();
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(r));
}

MetadataFetchStatus MetadataFetch::status() const {
    MetadataFetchStatus s;
    s.connecting = attempts_.size();
    s.peers = peers_.size();
    for (const auto& p : peers_)
        if (p->ut_metadata && p->metadata_size > 0) ++s.with_metadata;
    s.candidates = candidates_.size();
    s.metadata_size = assembler_.size();
    s.pieces_total = assembler_.piece_count();
    for (std::uint32_t i = 0; i < s.pieces_total; ++i) s.pieces_have += assembler_.have(i) ? 1 : 0;
    s.tried = tried_;
    s.verify_failures = verify_failures_;
    return s;
}

// ---------------------------------------------------------------- PeerOwner

bool MetadataFetch::on_handshake(PeerConnection& conn, const wire::Handshake& hs) {
    Peer& p = peer_of(conn);
    if (finished_) return false;
    if (hs.peer_id == cfg_.peer.peer_id) {
        // Trackers list us to ourselves (opentracker does); with incoming connections handed to us, both ends
        // would be ours. Barred, so the next tracker answer does not bring it back.
        drop(p, "connected to ourselves", true);
        return false;
    }
    if (!conn.supports_extensions()) {
        // Refusing closes the connection without on_closed: drop it here.
        drop(p, "no extension protocol (BEP 10)", false);
        return false;
    }
    return true;
}

void MetadataFetch::on_established(PeerConnection& conn) {
    Peer& p = peer_of(conn);
    p.established = true;
    p.established_at = now();
    if (p.has_addr && good_peers_.size() < kMaxKnown) good_peers_.push_back(p.addr);
    conn.send_have_none(); // BEP 6: we have no pieces (without the fast extension nothing is sent)
    ext::ExtHandshake hs;
    hs.m[std::string(ext::kUtMetadata)] = ext::kUtMetadataId;
    hs.listen_port = cfg_.listen_port;
    hs.client = cfg_.client;
    conn.send_extended(ext::kHandshakeId, ext::encode_ext_handshake(hs));
}

void MetadataFetch::on_extended(PeerConnection& conn, std::uint8_t ext_id, std::string_view payload) {
    Peer& p = peer_of(conn);
    if (finished_ || p.dead) return;
    if (ext_id == ext::kHandshakeId) {
        auto hs = ext::decode_ext_handshake(payload);
        if (!hs) return drop(p, "bad extension handshake: " + hs.error().str(), false);
        p.ut_metadata = hs->id_of(ext::kUtMetadata);
        if (payload.size() <= kMaxKeptHandshake) p.ext_handshake = std::string(payload);
        if (!p.has_addr && hs->listen_port) remember_listen_address(p, hs->listen_port);
        if (p.ut_metadata == 0) return drop(p, "no ut_metadata", false);
        // decode_ext_handshake reports an oversized size as absent; check again so the cap never depends on it.
        if (hs->metadata_size <= 0 || hs->metadata_size > ext::kMaxMetadataSize)
            return drop(p, "no metadata_size, or more than " + std::to_string(ext::kMaxMetadataSize) + " bytes", false);
        on_metadata_size(p, hs->metadata_size);
        if (!p.dead) pump();
        return;
    }
    if (ext_id != ext::kUtMetadataId) return; // an extension we did not offer: ignore (BEP 10)
    auto m = ext::decode_metadata_message(payload);
    if (!m) return drop(p, "bad ut_metadata message: " + m.error().str(), false);
    switch (m->type) {
    case ext::MetadataType::request:
        // We have nothing yet (BEP 9: reject what we cannot serve).
        if (p.ut_metadata) conn.send_extended(p.ut_metadata, ext::encode_metadata_reject(m->piece));
        return;
    case ext::MetadataType::reject: {
        auto it = std::find_if(p.asked.begin(), p.asked.end(), [&](auto& a) { return a.piece == m->piece; });
        if (it == p.asked.end()) return;
        if (it->piece < asked_at_.size() && asked_at_[it->piece] == it->at_ms) asked_at_[it->piece] = kNever;
        p.avoid.push_back(it->piece);
        p.asked.erase(it);
        if (++p.misses >= kMaxMisses) return drop(p, "rejects every metadata request", false);
        pump();
        return;
    }
    case ext::MetadataType::data: on_data(p, *m); return;
    }
}

// A peer that dialled us: its address with the port its BEP 10 handshake says it listens on ("p") is where the
// torrent can reach it once the metadata is in (good_peers), and is no candidate of ours meanwhile.
void MetadataFetch::remember_listen_address(Peer& p, std::uint16_t port) {
    sockaddr_storage ss{};
    const std::string ip = ip_of(p.address);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (uv_ip4_addr(ip.c_str(), port, v4) != 0 && uv_ip6_addr(ip.c_str(), port, v6) != 0) return;
    p.addr = ss;
    p.has_addr = true;
    remember(key_of(ss));
    if (p.established && good_peers_.size() < kMaxKnown) good_peers_.push_back(ss);
}

void MetadataFetch::on_closed(PeerConnection& conn, const Error& why) {
    drop(peer_of(conn), why.str(), false);
    connect_more();
    pump();
}

// ---------------------------------------------------------------- metadata

void MetadataFetch::on_metadata_size(Peer& p, std::int64_t size) {
    p.metadata_size = size;
    if (assembler_.initialized()) return; // a peer disagreeing with the size in use is simply not asked
    if (!assembler_.init(size)) return drop(p, "unusable metadata_size " + std::to_string(size), false);
    asked_at_.assign(assembler_.piece_count(), kNever);
}

void MetadataFetch::pump() {
    if (finished_ || !assembler_.initialized() || peers_.empty()) return;
    const std::uint64_t t = now();
    // Round-robin, one request per peer per round, so the pieces spread over the peers.
    bool progress = true;
    while (progress) {
        progress = false;
        const std::size_t n = peers_.size();
        for (std::size_t i = 0; i < n; ++i) {
            // Single source: always the oldest usable connection (no rotation), and only that one.
            Peer& p = *peers_[single_source_ ? i : (rotate_ + i) % n];
            if (p.dead || !p.established || !p.ut_metadata || p.metadata_size != assembler_.size()) continue;
            if (p.asked.size() < cfg_.max_outstanding_per_peer && ask_one(p, t)) progress = true;
            if (single_source_) break;
        }
    }
    ++rotate_;
}

bool MetadataFetch::ask_one(Peer& p, std::uint64_t t) {
    const std::uint32_t count = assembler_.piece_count();
    std::uint32_t pick = UINT32_MAX;
    for (std::uint32_t i = 0; i < count; ++i) {
        if (assembler_.have(i)) continue;
        if (std::any_of(p.asked.begin(), p.asked.end(), [&](auto& a) { return a.piece == i; })) continue;
        const bool avoided = std::find(p.avoid.begin(), p.avoid.end(), i) != p.avoid.end();
        const std::uint64_t age = asked_at_[i] == kNever ? kNever : t - asked_at_[i];
        // A piece this peer rejected or let time out goes to others first; it is asked again only when nobody
        // else delivered it in twice the timeout (so a lone slow peer still finishes).
        if (avoided) {
            if (age != kNever && age >= 2 * cfg_.request_timeout_ms && pick == UINT32_MAX) pick = i;
            continue;
        }
        if (age == kNever) {
            pick = i;
            break; // never asked: the best choice
        }
        if (pick == UINT32_MAX && age >= cfg_.request_timeout_ms) pick = i; // overdue elsewhere
    }
    if (pick == UINT32_MAX) return false;
    asked_at_[pick] = t;
    p.asked.push_back(Peer::Ask{pick, t});
    p.conn->send_extended(p.ut_metadata, ext::encode_metadata_request(pick));
    return true;
}

void MetadataFetch::on_data(Peer& p, const ext::MetadataMessage& m) {
    if (!assembler_.initialized() || p.metadata_size != assembler_.size()) return; // not asked: ignore
    if (m.total_size != assembler_.size()) return drop(p, "metadata piece with another total_size", false);
    auto it = std::find_if(p.asked.begin(), p.asked.end(), [&](auto& a) { return a.piece == m.piece; });
    if (it != p.asked.end()) p.asked.erase(it);
    // A late answer (after its ask timed out) is still welcome.
    if (m.piece < assembler_.piece_count() && assembler_.have(m.piece)) return pump();
    if (auto st = assembler_.add(m.piece, m.data); !st)
        return drop(p, "bad metadata piece: " + st.error().str(), false);
    p.sent.push_back(m.piece);
    if (assembler_.complete()) return assembled();
    pump();
}

void MetadataFetch::assembled() {
    if (assembler_.verify(cfg_.info_hash)) {
        auto meta = parse_info_dict(assembler_.bytes(), cfg_.info_hash);
        // A dictionary that hashes right but does not parse is the torrent's own fault: no peer can do better.
        finish(std::move(meta));
        return;
    }
    ++verify_failures_;
    log_warn("metadata", to_hex(cfg_.info_hash) + ": assembled metadata does not match the info hash; starting over");
    // We cannot tell which piece was bad: every peer that sent one is dropped. A sole contributor is the culprit
    // and is barred from this fetch; with several, the next attempt asks one peer at a time to find out.
    std::vector<Peer*> snapshot;
    for (auto& p : peers_)
        if (!p->dead && !p->sent.empty()) snapshot.push_back(p.get());
    const bool culprit_known = snapshot.size() == 1;
    for (Peer* p : snapshot) drop(*p, "sent metadata that does not match the info hash", culprit_known);
    if (!culprit_known) single_source_ = true;
    // Start over with a fresh size: the one in use may have been the lie.
    assembler_ = ext::MetadataAssembler{};
    asked_at_.clear();
    for (auto& p : peers_) {
        p->asked.clear();
        p->sent.clear();
    }
    snapshot.clear();
    for (auto& p : peers_) snapshot.push_back(p.get());
    for (Peer* p : snapshot)
        if (!p->dead && p->ut_metadata && p->metadata_size > 0) on_metadata_size(*p, p->metadata_size);
    connect_more();
    pump();
}

} // namespace p2p
