// Torrent's connections: candidates and dialling them, admitting incoming peers, the handshake checks (ourselves,
// duplicates, simultaneous opens) and dropping a link. A dropped link is closed and marked dead at once, and
// destroyed only after the current callback (retire_link, peer_link.hpp): callers may be inside its callbacks.
#include <algorithm>

#include "session/torrent.hpp"

#include "base/log.hpp"
#include "peer/mse_stream.hpp"
#include "session/session.hpp"

namespace p2p {

namespace {
constexpr std::uint64_t kConnectTimeoutMs = 10'000;

std::string addr_key(const sockaddr_storage& ss) { return format_sockaddr(reinterpret_cast<const sockaddr*>(&ss)); }
} // namespace

void Torrent::add_candidates(const std::vector<sockaddr_storage>& addrs, const std::set<std::string>& prefers_mse) {
    for (const auto& a : addrs) {
        std::string key = addr_key(a);
        if (known_addresses_.count(key) || banned_.count(ban_key(key))) continue;
        if (candidates_.size() >= cfg_.max_candidates) {
            prefers_mse_.erase(addr_key(candidates_.front()));
            candidates_.erase(candidates_.begin());
        }
        candidates_.push_back(a);
        if (prefers_mse.count(key) && prefers_mse_.size() < cfg_.max_candidates) prefers_mse_.insert(key);
        known_addresses_.insert(key);
    }
    connect_more();
}

void Torrent::connect_more() {
    if (shutting_down_ || paused_ || phase_ == TorrentPhase::checking || phase_ == TorrentPhase::failed) return;
    while (!candidates_.empty() && connecting_ < cfg_.max_connecting && links_.size() + connecting_ < cfg_.max_peers &&
           session_.may_connect()) {
        sockaddr_storage addr = candidates_.back();
        candidates_.pop_back();
        dial(addr);
    }
}

void Torrent::dial(const sockaddr_storage& addr) {
    std::string key = addr_key(addr);
    ++connecting_;
    session_.connection_opened(); // count attempts against the global cap too
    const std::uint64_t id = ++last_attempt_;
    // Never called back inside dial(), so the attempt is in the map before its callback can look for it.
    connect_attempts_[id] =
        session_.dial(addr, kConnectTimeoutMs, life_.bind([this, id, key, addr](Result<std::unique_ptr<Transport>> r) {
            dialled(id, key, addr, std::move(r));
        }),
                      session_.transport_limits());
}

void Torrent::dialled(std::uint64_t attempt, const std::string& key, const sockaddr_storage& addr,
                      Result<std::unique_ptr<Transport>> r) {
    --connecting_;
    session_.connection_closed();
    const bool mse_first = prefers_mse_.erase(key) > 0;
    // Destroying the attempt inside its own callback is allowed (tcp_transport.hpp); later is simpler to reason about.
    if (auto it = connect_attempts_.find(attempt); it != connect_attempts_.end()) {
        session_.loop().defer_delete(std::move(it->second));
        connect_attempts_.erase(it);
    }
    if (!r) {
        log_debug("torrent", meta_.name + ": connecting to " + key + ": " + r.error().str());
        // Forget it so a later tracker answer may offer it again.
        known_addresses_.erase(key);
        return;
    }
    if (shutting_down_ || paused_ || phase_ == TorrentPhase::failed || links_.size() >= cfg_.max_peers) return;
    auto link = std::make_unique<PeerLink>();
    link->token = session_.next_token();
    link->torrent = this;
    link->address = key;
    link->dialled = addr;
    link->connected_at_ms = static_cast<std::int64_t>(now_ms());
    log_debug("torrent", meta_.name + ": connected to " + key + " over " + (*r)->kind());
    // MSE as --encryption says (a plaintext redial of the same address under prefer, inside the transport); a
    // peer PEX flagged as preferring encryption gets prefer's order under allow.
    Encryption policy = session_.peer_config().encryption;
    if (mse_first && policy == Encryption::allow) policy = Encryption::prefer;
    Session* s = &session_;
    std::unique_ptr<Transport> t = encrypt_outgoing(
        std::move(*r), policy, meta_.info_hash, [s, addr](ConnectCallback cb) {
            return s->dial(addr, kConnectTimeoutMs, std::move(cb), s->transport_limits());
        });
    link->conn = session_.make_outgoing(std::move(t), meta_.info_hash, geometry_, link.get());
    PeerConnection* c = link->conn.get();
    session_.connection_opened();
    attach(std::move(link));
    c->start();
}

// Attempts in flight are cancelled by destroying them (their callbacks never run): give their places back here.
void Torrent::cancel_dials() {
    for (std::size_t i = 0; i < connect_attempts_.size(); ++i) {
        --connecting_;
        session_.connection_closed();
    }
    connect_attempts_.clear();
}

void Torrent::attach(std::unique_ptr<PeerLink> link) {
    by_token_[link->token] = link.get();
    links_.push_back(std::move(link));
}

bool Torrent::adopt(std::unique_ptr<PeerLink> link) {
    if (shutting_down_ || paused_ || phase_ == TorrentPhase::checking || links_.size() >= cfg_.max_peers ||
        banned_.count(ban_key(link->address))) {
        link->conn->close();
        session_.connection_closed();
        retire_link(session_.loop(), std::move(link));
        return false;
    }
    known_addresses_.insert(link->address);
    attach(std::move(link));
    return true;
}

void Torrent::adopt_handed(std::vector<HandedPeer> peers) {
    for (auto& h : peers) {
        // Known at once, so the fetch's hint (the same peers) dialled meanwhile does not open a second connection
        // that the peer refuses as a duplicate.
        known_addresses_.insert(h.address);
        if (phase_ == TorrentPhase::checking && !shutting_down_ && parked_.size() < cfg_.max_peers)
            parked_.push_back(std::move(h));
        else
            adopt_one(std::move(h));
    }
}

void Torrent::adopt_parked() {
    std::vector<HandedPeer> parked = std::move(parked_);
    parked_.clear();
    for (auto& h : parked) adopt_one(std::move(h));
}

// Our side of the establishment, as on_established does it for a new connection, except the first message: our
// have_none (or nothing) went out in the fetch, so pieces we have are sent as HAVEs. Then the peer's BEP 10
// handshake and its pieces, as if they came now.
void Torrent::adopt_one(HandedPeer h) {
    auto refuse = [&](const char* why) {
        log_debug("torrent", meta_.name + ": not taking over the metadata connection to " + h.address + ": " + why);
        known_addresses_.erase(h.address); // a later source may offer it again
        if (h.conn) {
            h.conn->close();
            session_.loop().defer_delete(std::move(h.conn)); // we may be inside one of its callbacks
        }
    };
    if (!h.conn || h.conn->is_closed()) return refuse("it closed");
    if (shutting_down_ || paused_ || phase_ == TorrentPhase::failed || phase_ == TorrentPhase::checking)
        return refuse("the torrent is not running");
    if (links_.size() >= cfg_.max_peers) return refuse("at the peer cap");
    if (banned_.count(ban_key(h.address))) return refuse("banned");
    for (auto& l : links_)
        if (!l->dead && l->conn->peer_id() == h.conn->peer_id()) return refuse("already connected");
    auto link = std::make_unique<PeerLink>();
    link->token = session_.next_token();
    link->torrent = this;
    link->address = h.address;
    link->dialled = h.dialled;
    link->connected_at_ms = static_cast<std::int64_t>(now_ms());
    if (!session_.adopt_handed(*h.conn, geometry_, link.get(), h.accepted))
        return refuse("its pieces do not fit the torrent");
    link->conn = std::move(h.conn);
    // Its place under the cap moves from the fetch's slot to the session's own count.
    h.slot.release();
    session_.connection_opened();
    known_addresses_.insert(link->address);
    PeerLink* raw = link.get();
    attach(std::move(link));
    PeerConnection& c = *raw->conn;
    log_debug("torrent", meta_.name + ": took over the metadata connection to " + raw->address + " (" +
                             c.transport_kind() + (c.encrypted() ? ", encrypted)" : ")"));
    available_.for_each_set([&](std::uint32_t i) { c.send_have(i); });
    ext_->on_established(*raw);
    if (session_.dht_port() && !meta_.is_private && c.peer_reserved().dht()) c.send_port(session_.dht_port());
    ext_->on_extended(*raw, ext::kHandshakeId, h.ext_handshake);
    if (raw->dead || c.is_closed()) return;
    c.resume_adopted(); // its pieces: on_bitfield / on_have_all / on_have, then reading resumes
}

PeerLink* Torrent::find_token(std::uint64_t token) {
    auto it = by_token_.find(token);
    return it == by_token_.end() ? nullptr : it->second;
}

std::vector<PeerLink*> Torrent::link_snapshot() const {
    std::vector<PeerLink*> out;
    out.reserve(links_.size());
    for (const auto& l : links_) out.push_back(l.get());
    return out;
}

void Torrent::drop(PeerLink& link, const std::string& why) {
    if (link.dead) return;
    link.dead = true;
    log_debug("torrent", meta_.name + ": dropping " + link.address + ": " + why);
    // Forgotten, so a later source (a tracker, PEX, the DHT) may offer it again: a peer that closed on us (a
    // restart, or a client that still held our previous connection) is not lost for the torrent's whole life.
    // Sources offer again only at their own pace, so this cannot become a reconnect loop.
    known_addresses_.erase(link.address);
    // A peer we dialled that closed before its handshake, while we have no other peer, is dialled once more a moment
    // later: a client that still holds our previous connection (the magnet's metadata fetch, just closed) refuses a
    // second one with the same peer id until it has seen the first one close.
    if (link.dialled && link.conn->peer_id().empty() && links_.size() <= 1 && !shutting_down_ && !paused_ &&
        redialled_.size() < kMaxRedialled && redialled_.insert(link.address).second)
        redials_.push_back({*link.dialled, now_ms() + kRedialDelayMs});
    const bool held_slot = !link.conn->am_choking() && link.conn->peer_interested();
    link.conn->close();
    forget_peer(link);
    session_.connection_closed();
    auto it = std::find_if(links_.begin(), links_.end(), [&](auto& p) { return p.get() == &link; });
    if (it != links_.end()) {
        std::unique_ptr<PeerLink> owned = std::move(*it);
        links_.erase(it);
        retire_link(session_.loop(), std::move(owned)); // destroyed after the current callback returns
    }
    fill_all_requests(); // blocks it had requested are free again: give them to others
    if (held_slot && !shutting_down_) fill_free_slot();
}

// What the picker, the choker and the seed's suggestions knew of a departing peer.
void Torrent::forget_peer(PeerLink& link) {
    if (picker_) {
        picker_->on_peer_gone(link.token);
        if (link.registered_availability) {
            if (link.has_all)
                picker_->remove_have_all();
            else
                picker_->remove_peer_bitfield(link.conn->peer_pieces());
        }
    }
    if (choker_.has_optimistic() && choker_.optimistic() == link.token) choker_.forget_optimistic();
    if (suggest_) {
        // Pieces left half-sent to it, and pieces it alone held, are suggested anew (check_suggesters tops up).
        suggest_->forget(link.token, unfinished_pieces(*link.conn));
        if (picker_ && !link.has_all)
            suggest_->repool_lost(link.conn->peer_pieces(),
                                  [this](std::uint32_t p) { return picker_->availability(p); });
    }
    by_token_.erase(link.token);
    strikes_.erase(link.token);
}

bool Torrent::on_handshake(PeerConnection& conn, const wire::Handshake& hs) {
    PeerLink& link = link_of(conn);
    if (log_enabled(LogLevel::debug)) {
        std::string id; // the client's tag, e.g. -TR3000-: printable bytes only
        for (char c : hs.peer_id.substr(0, 8)) id += (c >= 0x20 && c < 0x7f) ? c : '.';
        log_debug("torrent", meta_.name + ": handshake " +
                                 (conn.direction() == PeerConnection::Direction::incoming ? "from " : "with ") +
                                 link.address + " (peer id " + id + "...," +
                                 (hs.reserved.extensions() ? " BEP 10" : "") + (hs.reserved.fast() ? " fast" : "") +
                                 (hs.reserved.dht() ? " DHT" : "") + ")");
    }
    if (hs.peer_id == session_.peer_id()) {
        drop(link, "connected to ourselves");
        known_addresses_.insert(link.address); // after drop(), which forgets addresses: never dial ourselves again
        return false;
    }
    if (PeerLink* other = same_peer(link, hs.peer_id)) {
        // Two peers that learn of each other at once (PEX) dial each other at once. Both sides must keep
        // the same connection or both die: keep the one dialled by the side with the smaller peer id.
        if (other->conn->direction() != conn.direction()) {
            bool we_dial = session_.peer_id() < hs.peer_id;
            bool keep_new = (conn.direction() == PeerConnection::Direction::outgoing) == we_dial;
            if (keep_new) {
                drop(*other, "duplicate connection to the same peer (simultaneous open)");
                return true;
            }
        }
        drop(link, "duplicate connection to the same peer");
        return false;
    }
    return true;
}

PeerLink* Torrent::same_peer(const PeerLink& link, const std::string& peer_id) {
    for (auto& l : links_)
        if (l.get() != &link && !l->dead && l->conn->state() != PeerConnection::State::AwaitHandshake &&
            l->conn->peer_id() == peer_id)
            return l.get();
    return nullptr;
}

void Torrent::on_established(PeerConnection& conn) {
    if (available_.all())
        conn.send_have_all();
    else if (available_.none())
        conn.send_have_none();
    else
        conn.send_bitfield(available_);
    ext_->on_established(link_of(conn)); // after the bitfield, which must come first
    // BEP 5: a peer that set the DHT bit learns our DHT port. Not for private torrents (BEP 27: no DHT).
    if (session_.dht_port() && !meta_.is_private && !conn.is_closed() && conn.peer_reserved().dht())
        conn.send_port(session_.dht_port());
}

void Torrent::on_port(PeerConnection& conn, std::uint16_t dht_port) {
    if (meta_.is_private || dht_port == 0) return;
    const std::string& a = link_of(conn).address; // "ip:port" or "[ip6]:port"
    std::string ip = a.substr(0, a.rfind(':'));
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    session_.dht_node_heard(ip, dht_port);
}

void Torrent::on_extended(PeerConnection& conn, std::uint8_t ext_id, std::string_view payload) {
    ext_->on_extended(link_of(conn), ext_id, payload);
}

void Torrent::on_closed(PeerConnection& conn, const Error& why) { drop(link_of(conn), why.str()); }

} // namespace p2p
