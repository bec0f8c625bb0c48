// Session: the listener, the Router of connection events, the Sniffer of magnet handshakes, the global limits
// (connections, upload rate) and the one-second tick. See session.hpp.
#include "session/session.hpp"

#include "session/dialer.hpp"

#include <algorithm>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/random.hpp"
#include "peer/mse_stream.hpp"
#include "proto/metainfo.hpp"
#include "proto/wire.hpp"
#include "session/metadata_fetch.hpp"
#include "session/torrent_files.hpp"

namespace p2p {

// Every PeerConnection's owner. Forwards events to the torrent the connection is bound to; routes the
// handshakes of incoming connections to the torrent they name.
class Session::Router final : public PeerOwner {
public:
    explicit Router(Session& s) : s_(s) {}
    static PeerLink& link(PeerConnection& c) { return *static_cast<PeerLink*>(c.context()); }
    static Torrent& t(PeerConnection& c) { return *link(c).torrent; }

    // Refusing (false) closes the connection without on_closed; the refused link is retired here.
    bool on_handshake(PeerConnection& c, const wire::Handshake& hs) override {
        PeerLink& l = link(c);
        if (l.torrent) return l.torrent->on_handshake(c, hs);
        // Incoming: find the torrent, hand the link over.
        Torrent* tor = s_.find(hs.info_hash);
        std::unique_ptr<PeerLink> owned = s_.take_pending(l);
        if (!owned) return false;
        if (!tor) {
            log_debug("session", "incoming connection for an unknown torrent from " + l.address);
            s_.connection_closed();
            retire_link(s_.loop_, std::move(owned));
            return false;
        }
        const Metainfo& m = tor->meta();
        TorrentGeometry g{m.piece_count(), static_cast<std::uint32_t>(m.piece_length),
                          static_cast<std::uint64_t>(m.total_length)};
        if (!c.set_torrent(g)) {
            s_.connection_closed();
            retire_link(s_.loop_, std::move(owned));
            return false;
        }
        owned->torrent = tor;
        PeerLink* raw = owned.get();
        if (!tor->adopt(std::move(owned))) return false; // adopt retired it
        return raw->torrent->on_handshake(c, hs);
    }
    void on_established(PeerConnection& c) override { t(c).on_established(c); }
    void on_bitfield(PeerConnection& c, const swarm::Bitfield& b) override { t(c).on_bitfield(c, b); }
    void on_have_all(PeerConnection& c) override { t(c).on_have_all(c); }
    void on_have_none(PeerConnection& c) override { t(c).on_have_none(c); }
    void on_have(PeerConnection& c, std::uint32_t i) override { t(c).on_have(c, i); }
    void on_choke(PeerConnection& c) override { t(c).on_choke(c); }
    void on_unchoke(PeerConnection& c) override { t(c).on_unchoke(c); }
    void on_interested(PeerConnection& c) override { t(c).on_interested(c); }
    void on_not_interested(PeerConnection& c) override { t(c).on_not_interested(c); }
    void on_request(PeerConnection& c, const BlockRequest& r) override { t(c).on_request(c, r); }
    void on_cancel(PeerConnection& c, const BlockRequest& r) override { t(c).on_cancel(c, r); }
    void on_piece(PeerConnection& c, std::uint32_t i, std::uint32_t b, std::string_view d, bool req) override {
        t(c).on_piece(c, i, b, d, req);
    }
    void on_reject(PeerConnection& c, const BlockRequest& r) override { t(c).on_reject(c, r); }
    void on_suggest(PeerConnection& c, std::uint32_t i) override { t(c).on_suggest(c, i); }
    void on_send_drained(PeerConnection& c) override { t(c).on_send_drained(c); }
    void on_extended(PeerConnection& c, std::uint8_t id, std::string_view p) override { t(c).on_extended(c, id, p); }
    void on_closed(PeerConnection& c, const Error& why) override {
        PeerLink& l = link(c);
        if (l.torrent) return l.torrent->on_closed(c, why);
        std::unique_ptr<PeerLink> owned = s_.take_pending(l);
        if (!owned) return;
        s_.connection_closed();
        retire_link(s_.loop_, std::move(owned));
    }

private:
    Session& s_;
};

// An accepted connection whose owner is decided by the info hash of the peer's handshake (only while metadata
// fetches are registered). It is the inner transport's user: it consumes nothing until the handshake's first 48
// bytes (protocol string, reserved bytes, info hash) are in, asks the session to route it, and then, in the same
// call, hands the very same bytes to the user the new owner started it with (a PeerConnection of the Router or of
// a MetadataFetch). From then on it only forwards, both ways. Owned by the session while sniffing, then by that
// PeerConnection (as its Transport); it uses the session only while sniffing.
class Session::Sniffer final : public Transport, private TransportUser {
public:
    Sniffer(Session& s, std::unique_ptr<Transport> inner, std::string address, std::uint64_t since_ms)
        : s_(s), inner_(std::move(inner)), address_(std::move(address)), since_ms_(since_ms) {}
    void begin() { inner_->start(this); }
    const std::string& address() const { return address_; }
    std::uint64_t since_ms() const { return since_ms_; }

    // Transport: the new owner's start() names the user; the inner transport runs already.
    void start(TransportUser* user) override { user_ = user; }
    void send(std::string bytes) override { inner_->send(std::move(bytes)); }
    void send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload, std::size_t offset,
                    std::size_t length) override {
        inner_->send_piece(header13, std::move(payload), offset, length);
    }
    std::size_t queued_bytes() const override { return inner_->queued_bytes(); }
    void cork() override { inner_->cork(); }
    void uncork() override { inner_->uncork(); }
    void close() override { inner_->close(); }
    bool is_open() const override { return inner_->is_open(); }
    void pause_reading() override { inner_->pause_reading(); }
    void resume_reading() override { inner_->resume_reading(); }
    std::string remote_address() const override { return inner_->remote_address(); }
    const char* kind() const override { return inner_->kind(); }
    bool encrypted() const override { return inner_->encrypted(); }
    void packet_boundary() override { inner_->packet_boundary(); }
    void set_limits(const TransportLimits& l) override { inner_->set_limits(l); }

private:
    static constexpr std::size_t kPeek = 1 + 19 + 8 + wire::kHashSize; // BEP 3: pstrlen, pstr, reserved, info_hash

    std::size_t on_data(std::string_view data) override {
        if (user_) return user_->on_data(data); // may destroy us: nothing after it
        static constexpr std::string_view kPrefix("\x13"
                                                  "BitTorrent protocol",
                                                  20);
        const bool handshake_so_far = kPrefix.substr(0, std::min(data.size(), kPrefix.size())) ==
                                      data.substr(0, std::min(data.size(), kPrefix.size()));
        if (handshake_so_far && data.size() < kPeek) return 0; // the rest of it is on its way
        const Encryption policy = s_.cfg_.peer.encryption;
        if (!handshake_so_far && !mse_ && policy != Encryption::disable) return start_mse(data);
        if (handshake_so_far && !mse_ && policy == Encryption::require) {
            s_.drop_sniffer(this, "plaintext handshake refused (--encryption require)");
            return 0;
        }
        // Not a BitTorrent handshake (garbage, or MSE under --encryption disable): routed with no hash, the
        // PeerConnection refuses it.
        const std::string hash = handshake_so_far ? std::string(data.substr(28, wire::kHashSize)) : std::string();
        s_.route_sniffed(this, hash); // starts us with a user, or closes us (then nothing more is delivered)
        if (!user_) return 0;
        return user_->on_data(data); // the same bytes, now to their owner; may destroy us
    }
    // An MSE handshake (proto/mse.hpp): from here on the inner transport is an MseStream over the socket, fed the
    // bytes read so far; what it decrypts (the BitTorrent handshake) comes back to on_data as plaintext.
    std::size_t start_mse(std::string_view data) {
        const std::size_t n = data.size();
        mse_ = true;
        Session& s = s_;
        auto lookup = [&s](std::string_view req2) { return s.skey_for(req2); };
        inner_ = MseStream::respond(std::move(inner_), lookup, mse_policy(s_.cfg_.peer.encryption), std::string(data));
        inner_->start(this); // feeds `data`: may route or drop us; nothing after it
        return n;
    }
    void on_drained() override {
        if (user_) user_->on_drained();
    }
    void on_closed(const Error& why) override {
        if (user_) return user_->on_closed(why);
        s_.drop_sniffer(this, "closed before its handshake");
    }

    Session& s_;
    std::unique_ptr<Transport> inner_;
    TransportUser* user_ = nullptr;
    std::string address_;
    std::uint64_t since_ms_;
    bool mse_ = false; // inner_ is an MseStream
};

namespace {
// Receive limits under a memory plan: reads of at most read_chunk, and room for the largest legal message
// (connection.cpp max_message): a 16 KiB block (BEP 3), a BEP 10 message, or a bitfield of the largest torrent we
// accept (a metadata-only connection does not know the piece count yet).
TransportLimits transport_limits_for(const PeerMemoryPlan& m) {
    TransportLimits t;
    if (!m.budget) return t;
    std::size_t biggest = std::max<std::size_t>({9 + 16 * 1024, 2 + m.max_extended_message, 1 + (kMaxPieces + 7) / 8});
    t.max_unconsumed = 4 + biggest + 16 * 1024;
    t.initial_read = m.initial_read;
    t.max_read = m.read_chunk;
    t.pin_factor = m.pin_factor;
    t.shrink_receive = true;
    return t;
}
} // namespace

Session::Session(Loop& loop, SessionConfig cfg)
    : loop_(loop), cfg_(std::move(cfg)), budget_(std::make_shared<MemoryBudget>(cfg_.memory)),
      cache_(std::make_shared<ReadCache>(cfg_.memory.read_cache)),
      fds_(std::make_shared<FdCache>(loop.get(), cfg_.max_open_files)), transport_(transport_limits_for(cfg_.memory)),
      router_(std::make_unique<Router>(*this)), fetches_(std::make_shared<IncomingFetches>()), tick_timer_(loop.get()),
      upload_timer_(loop.get()), download_timer_(loop.get()) {
    transport_.budget = budget_;
    upload_.set_rate(cfg_.max_upload_rate);
    download_.set_rate(cfg_.max_download_rate);
    cfg_.max_connections = std::min(cfg_.max_connections, cfg_.memory.max_connections);
    cfg_.max_pending_incoming = std::min(cfg_.max_pending_incoming, cfg_.max_connections);
    connections_ = std::make_shared<ConnectionCount>(cfg_.max_connections);
    cfg_.peer.max_extended_message = std::min(cfg_.peer.max_extended_message, cfg_.memory.max_extended_message);
    if (cfg_.peer.peer_id.size() != 20) {
        // Azureus-style id: client tag and version, then random bytes (BEP 20).
        std::string id = "-PN0100-";
        unsigned char rnd[12];
        random_bytes(rnd, sizeof rnd);
        for (unsigned char c : rnd) id.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[c % 36]);
        cfg_.peer.peer_id = id;
    }
    uv_loop_t* uv = loop.get();
    cfg_.peer.clock = [uv] { return uv_now(uv); };
    tick_timer_.start(1000, 1000, [this] { tick(); });
}

Session::~Session() {
    // Destroy connections before torrents: links reference their torrent. (Retired links may outlive both: they
    // are closed, and a closed connection makes no callbacks.)
    sniffing_.clear();
    pending_.clear();
    torrents_.clear();
    removing_.clear();
}

void Session::enable_dht(std::uint16_t dht_port, DhtNodeFn on_node) {
    dht_port_ = dht_port;
    on_dht_node_ = std::move(on_node);
    cfg_.peer.reserved.set_dht(dht_port != 0); // BEP 5: reserved[7] & 0x01
}

Status Session::listen() {
    std::uint16_t port = cfg_.port;
    if (cfg_.tcp) {
        auto l = TcpListener::listen(
            loop_.get(), cfg_.listen_ip, port, [this](std::unique_ptr<Transport> t) { accept(std::move(t)); },
            transport_);
        if (!l) return l.error();
        listener_ = std::move(*l);
        port = listener_->port();
    }
    if (cfg_.utp) {
        auto u = UtpSocket::open(
            loop_.get(), cfg_.listen_ip, port, [this](std::unique_ptr<Transport> t) { accept(std::move(t)); },
            transport_);
        if (!u) {
            if (!cfg_.tcp) return u.error();
            log_warn("session", "uTP is off: " + u.error().str());
        } else {
            utp_ = std::move(*u);
        }
    }
    return ok_status();
}

std::unique_ptr<Connecting> Session::dial(const sockaddr_storage& addr, std::uint64_t timeout_ms, ConnectCallback cb,
                                          TransportLimits limits) {
    return dial_peer(loop_.get(), utp_.get(), cfg_.tcp, addr, timeout_ms, std::move(cb), std::move(limits));
}

DialFn Session::dialer() {
    return [this](const sockaddr_storage& addr, std::uint64_t timeout_ms, ConnectCallback cb, TransportLimits limits) {
        return dial(addr, timeout_ms, std::move(cb), std::move(limits));
    };
}

std::size_t Session::count_ip(const std::string& ip) const {
    std::size_t n = 0;
    for (const auto& [_, t] : torrents_)
        for (const auto& l : t->links())
            if (!l->dead && ip_of(l->address) == ip) ++n;
    for (const auto& l : pending_)
        if (ip_of(l->address) == ip) ++n;
    for (const auto& sn : sniffing_)
        if (ip_of(sn->address()) == ip) ++n;
    return n;
}

void Session::accept(std::unique_ptr<Transport> t) {
    std::string addr = t->remote_address();
    if (!connections_->may_open() || pending_.size() + sniffing_.size() >= cfg_.max_pending_incoming ||
        (!is_loopback_ip(ip_of(addr)) && count_ip(ip_of(addr)) >= cfg_.max_per_ip)) {
        log_debug("session", "refusing connection from " + addr + ": connection limit");
        return; // the transport closes when destroyed here
    }
    connections_->opened();
    if (fetches_->empty() && cfg_.peer.encryption == Encryption::disable) return start_incoming(std::move(t), addr);
    // The first bytes decide: an MSE handshake is decrypted first, and while a magnet is being fetched the
    // handshake's info hash decides who gets the connection.
    auto sn = std::make_unique<Sniffer>(*this, std::move(t), addr, uv_now(loop_.get()));
    Sniffer* raw = sn.get();
    sniffing_.push_back(std::move(sn));
    raw->begin();
}

// An incoming connection (counted in connections_ already) whose handshake the Router routes to its torrent.
void Session::start_incoming(std::unique_ptr<Transport> t, const std::string& address) {
    auto link = std::make_unique<PeerLink>();
    link->token = next_token();
    link->address = address;
    link->connected_at_ms = static_cast<std::int64_t>(uv_now(loop_.get()));
    link->conn = PeerConnection::incoming(*router_, std::move(t), cfg_.peer);
    link->conn->set_context(link.get());
    PeerConnection* c = link->conn.get();
    pending_.push_back(std::move(link));
    c->start();
}

// Runs inside the sniffer's on_data: it is moved to its new owner (or destroyed later), never destroyed here.
void Session::route_sniffed(Sniffer* s, const std::string& info_hash) {
    auto it = std::find_if(sniffing_.begin(), sniffing_.end(), [&](auto& p) { return p.get() == s; });
    if (it == sniffing_.end()) return;
    std::unique_ptr<Sniffer> owned = std::move(*it);
    sniffing_.erase(it);
    const std::string address = s->address();
    MetadataFetch* fetch = info_hash.empty() || find(info_hash) ? nullptr : fetches_->find(info_hash);
    if (!fetch) return start_incoming(std::move(owned), address);
    log_debug("session",
              "incoming connection from " + address + " handed to the metadata fetch of " + to_hex(info_hash));
    connections_->closed(); // the fetch counts it from here on, in the same cap (its ConnectionSlot)
    if (std::unique_ptr<Transport> back = fetch->add_transport(std::move(owned))) {
        log_debug("session", "the metadata fetch of " + to_hex(info_hash) + " is full; refusing " + address);
        back->close();
        loop_.defer_delete(std::move(back)); // we are inside its on_data
    }
}

// MSE's responder finds the torrent by HASH('req2', SKEY): among our torrents and the magnets being fetched.
std::optional<std::string> Session::skey_for(std::string_view req2) const {
    if (auto it = skeys_.find(std::string(req2)); it != skeys_.end()) return it->second;
    if (auto hit = fetches_->find_if([&](const std::string& hash) { return mse::req2_hash(hash) == req2; })) return hit;
    return std::nullopt;
}

void Session::drop_sniffer(Sniffer* s, const char* why) {
    auto it = std::find_if(sniffing_.begin(), sniffing_.end(), [&](auto& p) { return p.get() == s; });
    if (it == sniffing_.end()) return;
    log_debug("session", "incoming connection from " + s->address() + ": " + why);
    std::unique_ptr<Sniffer> owned = std::move(*it);
    sniffing_.erase(it);
    owned->close();
    connections_->closed();
    loop_.defer_delete(std::move(owned)); // we may be inside its callback
}

std::unique_ptr<PeerConnection> Session::make_outgoing(std::unique_ptr<Transport> t, const std::string& info_hash,
                                                       const TorrentGeometry& g, PeerLink* link) {
    t->set_limits(transport_); // torrents connect with default limits; the session's plan applies to all
    auto c = PeerConnection::outgoing(*router_, std::move(t), cfg_.peer, info_hash, g);
    c->set_context(link);
    return c;
}

bool Session::adopt_handed(PeerConnection& c, const TorrentGeometry& g, PeerLink* link, bool accepted) {
    c.set_context(link);
    return c.adopt(*router_, g, accepted);
}

Torrent* Session::add_torrent(Metainfo meta, TorrentConfig cfg, bool all_present) {
    if (Torrent* t = find(meta.info_hash)) return t;
    std::string key = meta.info_hash;
    // The session's memory plan: one read cache and one write pool for all torrents; per-torrent caps within it.
    cfg.storage.shared_cache = cache_;
    cfg.storage.budget = budget_;
    cfg.storage.shared_fds = fds_; // and one bound on the descriptors of every torrent's files
    cfg.max_send_queue = std::min(cfg.max_send_queue, cfg_.memory.send_per_peer);
    cfg.max_candidates = std::min(cfg.max_candidates, cfg_.memory.max_candidates);
    auto t = std::make_unique<Torrent>(*this, std::move(meta), std::move(cfg));
    Torrent* raw = t.get();
    torrents_.emplace(key, std::move(t));
    skeys_.emplace(mse::req2_hash(key), key);
    raw->start(all_present);
    return raw;
}

Torrent* Session::find(const std::string& info_hash) {
    auto it = torrents_.find(info_hash);
    return it == torrents_.end() ? nullptr : it->second.get();
}

std::vector<Torrent*> Session::torrents() {
    std::vector<Torrent*> out;
    for (auto& [_, t] : torrents_) out.push_back(t.get());
    return out;
}

void Session::remove_torrent(const std::string& info_hash, bool delete_files, std::function<void(Status)> done) {
    if (!done) done = [](Status) {};
    auto it = torrents_.find(info_hash);
    if (it == torrents_.end()) return done(make_error(to_hex(info_hash), "no such torrent", Errc::not_found));
    if (delete_files && it->second->is_shared_item())
        return done(
            make_error(it->second->meta().name, "its files are a shared item's (yours): not deleted", Errc::refused));
    std::unique_ptr<Torrent> owned = std::move(it->second);
    torrents_.erase(it);
    skeys_.erase(mse::req2_hash(info_hash));
    TorrentFiles files;
    if (delete_files) files = owned->downloaded_files();
    Torrent* raw = owned.get();
    removing_.push_back(std::move(owned)); // until its last write is in and its resume record saved
    uv_loop_t* uv = loop_.get();
    raw->shutdown([this, raw, uv, delete_files, files = std::move(files), done = std::move(done)]() mutable {
        // Runs inside the torrent's own code: destroyed after the current callback.
        auto at = std::find_if(removing_.begin(), removing_.end(), [&](auto& p) { return p.get() == raw; });
        if (at != removing_.end()) {
            loop_.defer_delete(std::move(*at));
            removing_.erase(at);
        }
        if (!delete_files) return done(ok_status());
        remove_torrent_files(uv, std::move(files), std::move(done)); // nothing of it is written any more
    });
}

bool Session::may_connect() const { return connections_->may_open(); }

std::unique_ptr<PeerLink> Session::take_pending(PeerLink& l) {
    auto it = std::find_if(pending_.begin(), pending_.end(), [&](auto& p) { return p.get() == &l; });
    if (it == pending_.end()) return nullptr;
    std::unique_ptr<PeerLink> owned = std::move(*it);
    pending_.erase(it);
    return owned;
}

void Session::tick() {
    std::uint64_t now = uv_now(loop_.get());
    // Pending incoming connections time out through their own tick(). Links are only destroyed after this
    // callback (retire_link), so the pointers stay valid while a tick routes or closes one.
    std::vector<PeerConnection*> pending;
    for (auto& l : pending_) pending.push_back(l->conn.get());
    for (PeerConnection* c : pending) c->tick();
    // A connection that has not shown its handshake's info hash in the handshake timeout goes, like a pending one.
    std::vector<Sniffer*> slow;
    for (auto& sn : sniffing_)
        if (now - sn->since_ms() >= cfg_.peer.handshake_timeout_ms) slow.push_back(sn.get());
    for (Sniffer* sn : slow) drop_sniffer(sn, "no handshake in time");
    for (Torrent* t : torrents()) t->tick(now);
    // A file nobody asked for in a minute gives its descriptor back: an idle seeder of many files holds none, and
    // a file deleted or replaced behind our back is not kept alive by us.
    if (now > kIdleDescriptorMs) fds_->close_unused_since(now - kIdleDescriptorMs);
    cache_->release_idle_spares(); // spare piece buffers no piece took in the last second
}

bool Session::take_upload(std::size_t n) { return upload_.take(n, uv_now(loop_.get())); }

bool Session::count_download(std::size_t n) {
    const std::uint64_t now = uv_now(loop_.get());
    download_.spend(n, now);
    return download_.in_debt(now);
}

void Session::set_rate_limits(std::uint64_t up, std::uint64_t down) {
    if (up != upload_.rate()) upload_.set_rate(up);
    if (down != download_.rate()) download_.set_rate(down);
}

void Session::wait_download(Torrent* t, std::uint64_t token, std::uint64_t delay_ms) {
    auto key = std::make_pair(t->info_hash(), token);
    if (std::find(download_waiters_.begin(), download_waiters_.end(), key) == download_waiters_.end())
        download_waiters_.push_back(key);
    if (download_timer_.active()) return;
    // At most 50 ms: a limit lifted meanwhile (set_rate_limits, set_torrent_limits) is noticed soon.
    download_timer_.start(std::clamp<std::uint64_t>(delay_ms, 1, 50), 0, [this] {
        auto waiters = std::move(download_waiters_);
        download_waiters_.clear();
        for (auto& [hash, tok] : waiters)
            if (Torrent* tor = find(hash)) tor->resume_reading(tok); // may register again
    });
}

bool Session::set_torrent_limits(const std::string& info_hash, std::uint64_t up, std::uint64_t down) {
    Torrent* t = find(info_hash);
    if (!t) return false;
    t->set_rate_limits(up, down);
    return true;
}

Status Session::set_files_wanted(const std::string& info_hash, std::vector<bool> wanted) {
    Torrent* t = find(info_hash);
    if (!t) return make_error("select", "no such torrent", Errc::not_found);
    return t->set_files_wanted(std::move(wanted));
}

Status Session::set_file_wanted(const std::string& info_hash, std::size_t file_index, bool wanted) {
    Torrent* t = find(info_hash);
    if (!t) return make_error("select", "no such torrent", Errc::not_found);
    std::vector<bool> w = t->files_wanted();
    if (file_index >= w.size())
        return make_error("select", "no file " + std::to_string(file_index) + " (the torrent has " +
                                        std::to_string(w.size()) + ")",
                          Errc::not_found);
    w[file_index] = wanted;
    return t->set_files_wanted(std::move(w));
}

bool Session::pause_torrent(const std::string& info_hash) {
    Torrent* t = find(info_hash);
    if (!t) return false;
    t->pause();
    return true;
}

bool Session::resume_torrent(const std::string& info_hash) {
    Torrent* t = find(info_hash);
    if (!t) return false;
    t->resume();
    return true;
}

void Session::wait_upload(Torrent* t, std::uint64_t token) {
    auto key = std::make_pair(t->info_hash(), token);
    if (std::find(upload_waiters_.begin(), upload_waiters_.end(), key) == upload_waiters_.end())
        upload_waiters_.push_back(key);
    if (upload_timer_.active()) return;
    upload_timer_.start(20, 0, [this] {
        auto waiters = std::move(upload_waiters_);
        upload_waiters_.clear();
        for (auto& [hash, tok] : waiters)
            if (Torrent* tor = find(hash)) tor->resume_serving(tok);
    });
}

void Session::shutdown(std::function<void()> done) {
    auto remaining = std::make_shared<std::size_t>(torrents_.size() + 1);
    auto finish = [remaining, done] {
        if (--*remaining == 0) done();
    };
    for (auto& [_, t] : torrents_) t->shutdown(finish);
    listener_.reset();
    tick_timer_.stop();
    finish();
}

} // namespace p2p
