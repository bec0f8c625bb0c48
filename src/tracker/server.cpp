#include "tracker/server.hpp"

#include <netinet/in.h>

#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "loop/fence.hpp"

namespace p2p {

struct TrackerServer::Socket {
    uv_udp_t handle;
    TrackerServer* owner = nullptr; // nulled by close(): a late callback then does nothing
    bool v6 = false;
};

std::string BoundAddress::url() const {
    return "udp://" + (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

TrackerServer::TrackerServer(uv_loop_t* loop, ServerConfig config, WallClock wall, ConnectionIds::Clock id_clock)
    : loop_(loop), config_(std::move(config)), wall_(std::move(wall)), ids_(std::move(id_clock)),
      store_(config_.limits), catalog_(config_.max_catalog, config_.catalog_grace_s) {
    if (config_.interval == 0) config_.interval = 1800;
    // The catalog rule (catalog.hpp): a name lives while its swarm has a seeder. The store says when a swarm's
    // seeder count leaves or reaches 0, so freeing names costs nothing per announce and never scans the catalog.
    catalog_.set_seeded([this](const udp::Hash20& h) { return store_.scrape(h).seeders > 0; });
    store_.set_seeder_hook([this](const Hash20& h, bool has_seeder) {
        if (has_seeder)
            catalog_.swarm_seeded(h);
        else if (std::size_t n = catalog_.swarm_unseeded(h))
            log_debug("tracker", "catalog: " + std::to_string(n) + " name(s) of " + to_hex(h.view()) +
                                     " freed: its swarm has no seeder");
    });
    store_.set_peer_ttl(2 * config_.interval + 60);
    if (config_.bind.empty()) config_.bind = {"0.0.0.0", "::"};
    reply_.reserve(udp::kMaxReplySize + 64);
}

TrackerServer::~TrackerServer() { close(); }

Status TrackerServer::start() {
    slab_.reset(new char[kSlabSize]);
    bool has_v4 = false;
    for (const auto& a : config_.bind) has_v4 = has_v4 || a.find(':') == std::string::npos;
    std::uint16_t port = config_.port;
    std::vector<std::pair<std::string, std::string>> failures; // (address as shown, reason); one per address
    for (const auto& a : config_.bind) {
        Status st = bind_one(a, port, has_v4);
        if (!st && port != config_.port) st = bind_one(a, config_.port, has_v4); // shared ephemeral port taken
        if (!st) {
            failures.emplace_back(a.find(':') == std::string::npos ? a : "[" + a + "]", st.error().what);
            continue;
        }
        if (port == 0) port = bound_.back().port; // bind the other addresses to the same ephemeral port
    }
    if (bound_.empty()) {
        // One error for the whole failure: the caller prints it as one line, nothing else is logged.
        std::string why;
        for (const auto& [addr, what] : failures) why += (why.empty() ? "" : "; ") + addr + ": " + what;
        return make_error("", (config_.port ? "cannot listen on UDP port " + std::to_string(config_.port)
                                            : std::string("cannot listen on a UDP port")) +
                                  " (" + (why.empty() ? "no address to bind" : why) + ")");
    }
    // Some addresses bound (e.g. no IPv6 on this host): serve, and say which ones could not be.
    for (const auto& [addr, what] : failures)
        log_warn("tracker", "cannot listen on " + addr + " UDP port " + std::to_string(port) + ": " + what);
    // Load only now: a busy port fails before anything else is said. Nothing is read from the sockets until
    // the loop runs, so no request sees the state half loaded.
    if (!config_.state_file.empty()) {
        auto outcome = load_state(config_.state_file, {store_, catalog_, counters_}, wall_());
        // Names whose restored swarm has no seeder are free: the seeders left, or expired while we were down
        // (the store drops those first, telling the catalog; the sweep catches the rest).
        const std::size_t names = catalog_.size();
        store_.expire(wall_());
        catalog_.sweep(wall_());
        const std::size_t freed = names - catalog_.size();
        if (outcome == LoadOutcome::loaded)
            log_info("tracker", "loaded " + std::to_string(store_.swarm_count()) + " swarms, " +
                                    std::to_string(store_.peer_count()) + " peers, " + std::to_string(catalog_.size()) +
                                    " catalog entries from " + config_.state_file +
                                    (freed ? " (" + std::to_string(freed) + " names without a seeder dropped)" : ""));
    }

    sweep_timer_ = std::make_unique<Timer>(loop_);
    sweep_timer_->start(config_.sweep_every_s * 1000ull, config_.sweep_every_s * 1000ull, [this] {
        std::uint32_t now = wall_();
        store_.expire(now);
        catalog_.sweep(now);
    });
    sweep_timer_->unref();
    if (!config_.state_file.empty()) {
        save_timer_ = std::make_unique<Timer>(loop_);
        save_timer_->start(config_.save_every_s * 1000ull, config_.save_every_s * 1000ull, [this] {
            if (!background_save(false))
                log_warn("tracker", "state save skipped: the previous one is still being written");
        });
        save_timer_->unref();
    }
    return ok_status();
}

bool TrackerServer::background_save(bool requested) {
    const std::uint64_t t0 = uv_now(loop_);
    return save_in_background([this, t0, requested](Status st) {
        const bool again = resave_;
        resave_ = false;
        if (!st) {
            // No immediate retry: the failed job's temporary file is still being removed (the next timer retries).
            log_warn("tracker", "saving state failed: " + st.error().str());
            return;
        }
        const std::string took = std::to_string(uv_now(loop_) - t0) + " ms";
        if (requested)
            log_info("tracker", "state saved to " + config_.state_file + " in " + took);
        else
            log_debug("tracker", "state saved in " + took);
        if (again) background_save(true);
    });
}

bool TrackerServer::request_save() {
    if (config_.state_file.empty() || closed_) return false;
    if (background_save(true)) return true;
    // One is being written, from a snapshot older than the request: write another as soon as it is done.
    resave_ = true;
    return true;
}

Status TrackerServer::bind_one(const std::string& address, std::uint16_t port, bool v6only) {
    sockaddr_storage ss{};
    bool v6 = address.find(':') != std::string::npos;
    int rc = v6 ? uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
                : uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
    if (rc != 0) return make_error("tracker.listen", "not a literal IP address");

    auto* s = new Socket;
    s->owner = this;
    s->v6 = v6;
    s->handle.data = s;
    // recvmmsg: one system call drains up to 20 datagrams (Linux; libuv falls back to recvmsg elsewhere).
    rc = uv_udp_init_ex(loop_, &s->handle, (v6 ? AF_INET6 : AF_INET) | UV_UDP_RECVMMSG);
    if (rc != 0) {
        delete s;
        return make_error("uv_udp_init_ex", uv_strerror(rc));
    }
    auto close_and_free = [](Socket* sock) {
        uv_close(reinterpret_cast<uv_handle_t*>(&sock->handle),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    };
    // With an IPv4 socket beside it, the IPv6 one must not also claim IPv4 (same port on both).
    rc = uv_udp_bind(&s->handle, reinterpret_cast<const sockaddr*>(&ss), v6 && v6only ? UV_UDP_IPV6ONLY : 0);
    if (rc != 0) {
        close_and_free(s);
        return make_error("bind", uv_strerror(rc));
    }
    int bufsize = 8 << 20; // absorb bursts; the kernel caps it at net.core.rmem_max
    uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&s->handle), &bufsize);
    bufsize = 8 << 20;
    uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&s->handle), &bufsize);

    rc = uv_udp_recv_start(
        &s->handle,
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
            auto* sock = static_cast<Socket*>(h->data);
            if (!sock->owner) {
                *buf = uv_buf_init(nullptr, 0);
                return;
            }
            *buf = uv_buf_init(sock->owner->slab_.get(), static_cast<unsigned>(kSlabSize));
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
            (void)flags; // UV_UDP_MMSG_FREE needs nothing: the slab belongs to the server
            auto* sock = static_cast<Socket*>(h->data);
            if (!sock->owner || nread <= 0 || !addr) return;
            // A datagram whose handling throws is dropped, and only it.
            fence("tracker datagram", [&] {
                sock->owner->on_datagram(sock, std::string_view(buf->base, static_cast<std::size_t>(nread)), addr);
            });
        });
    if (rc != 0) {
        close_and_free(s);
        return make_error("uv_udp_recv_start", uv_strerror(rc));
    }

    sockaddr_storage name{};
    int namelen = sizeof name;
    uv_udp_getsockname(&s->handle, reinterpret_cast<sockaddr*>(&name), &namelen);
    BoundAddress b;
    b.address = address;
    b.v6 = v6;
    b.port =
        ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&name)->sin6_port : reinterpret_cast<sockaddr_in*>(&name)->sin_port);
    bound_.push_back(b);
    sockets_.push_back(s);
    return ok_status();
}

void TrackerServer::close() {
    for (Socket* s : sockets_) {
        s->owner = nullptr;
        uv_udp_recv_stop(&s->handle);
        uv_close(reinterpret_cast<uv_handle_t*>(&s->handle),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    }
    sockets_.clear();
    sweep_timer_.reset();
    save_timer_.reset();
    resave_ = false;
    closed_ = true;
    if (saver_) saver_->cancel();
}

Status TrackerServer::save() {
    if (config_.state_file.empty()) return ok_status();
    if (saver_) saver_->cancel(); // this one is newer; the other's temporary file is removed
    return save_state(config_.state_file, store_, catalog_, counters_, wall_());
}

bool TrackerServer::save_in_background(std::function<void(Status)> done) {
    if (config_.state_file.empty()) return false;
    if (!saver_) saver_ = std::make_unique<StateSaver>(loop_, config_.state_file);
    return saver_->start(std::make_unique<StateWriter>(store_, catalog_, counters_, wall_()), std::move(done));
}

void TrackerServer::on_datagram(Socket* s, std::string_view pkt, const sockaddr* from) {
    if (!handle(pkt, from, reply_)) return;
    uv_buf_t b = uv_buf_init(reply_.data(), static_cast<unsigned>(reply_.size()));
    int rc = uv_udp_try_send(&s->handle, &b, 1, from);
    if (rc < 0) ++counters_.send_drops; // UV_EAGAIN: socket buffer full; the client will retransmit
}

bool TrackerServer::error_reply(std::uint32_t tid, std::string_view msg, std::size_t request_size, std::string& reply) {
    reply = udp::encode_error(tid, msg, request_size);
    ++counters_.errors;
    return true;
}

bool TrackerServer::handle(std::string_view pkt, const sockaddr* from, std::string& reply) {
    reply.clear();
    auto hdr = udp::decode_header(pkt);
    if (!hdr) {
        ++counters_.malformed;
        return false;
    }
    if (hdr->action == udp::kActionConnect) {
        if (hdr->connection_id != udp::kProtocolId) {
            ++counters_.malformed;
            return false;
        }
        ++counters_.connects;
        udp::append_connect_response(reply, hdr->transaction_id, ids_.issue(from));
        return true;
    }
    switch (hdr->action) {
    case udp::kActionAnnounce:
    case udp::kActionScrape:
    case udp::kActionPublish:
    case udp::kActionList:
    case udp::kActionLookup: break;
    default: ++counters_.malformed; return false;
    }
    if (!ids_.check(hdr->connection_id, from)) {
        ++counters_.bad_connection;
        return false;
    }
    switch (hdr->action) {
    case udp::kActionAnnounce: return handle_announce(pkt, from, reply);
    case udp::kActionScrape: return handle_scrape(pkt, reply);
    default: return handle_catalog(hdr->action, pkt, from, reply);
    }
}

bool TrackerServer::handle_announce(std::string_view pkt, const sockaddr* from, std::string& reply) {
    if (pkt.size() < udp::kAnnounceRequestSize) {
        ++counters_.malformed;
        return false;
    }
    auto req = udp::decode_announce_request(pkt);
    if (!req) return error_reply(read_be32(pkt, 12), "bad event", pkt.size(), reply); // the only content error
    ++counters_.announces;

    AnnounceInput in;
    in.info_hash = req->info_hash;
    in.event = req->event;
    in.seeder = req->left == 0;
    in.num_want = req->num_want;
    if (!source_peer(from, in.peer)) {
        ++counters_.malformed;
        return false;
    }
    in.peer.port = req->port;
    if (!in.peer.v6) {
        if (config_.trust_ip_field && req->ip != 0) {
            in.peer.ip[0] = static_cast<std::uint8_t>(req->ip >> 24);
            in.peer.ip[1] = static_cast<std::uint8_t>(req->ip >> 16);
            in.peer.ip[2] = static_cast<std::uint8_t>(req->ip >> 8);
            in.peer.ip[3] = static_cast<std::uint8_t>(req->ip);
        }
    }
    // Header first with placeholder counts, then the peers straight into the reply, then the real counts.
    udp::append_announce_response_header(reply, req->transaction_id, config_.interval, 0, 0);
    AnnounceCounts c = announce(in, reply);
    store_be32(reinterpret_cast<unsigned char*>(reply.data()) + 12, c.leechers);
    store_be32(reinterpret_cast<unsigned char*>(reply.data()) + 16, c.seeders);
    return true;
}

bool TrackerServer::source_peer(const sockaddr* from, udp::CompactPeer& peer) {
    peer = udp::CompactPeer{};
    if (from->sa_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(from);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) { // an IPv4 client on a dual-stack socket: treat as IPv4
            std::memcpy(peer.ip.data(), a->sin6_addr.s6_addr + 12, 4);
        } else {
            peer.v6 = true;
            std::memcpy(peer.ip.data(), &a->sin6_addr, 16);
        }
        return true;
    }
    if (from->sa_family != AF_INET) return false;
    std::memcpy(peer.ip.data(), &reinterpret_cast<const sockaddr_in*>(from)->sin_addr, 4);
    return true;
}

bool TrackerServer::handle_scrape(std::string_view pkt, std::string& reply) {
    auto req = udp::decode_scrape_request(pkt); // 1..74 whole hashes, else dropped
    if (!req) {
        ++counters_.malformed;
        return false;
    }
    ++counters_.scrapes;
    udp::append_scrape_response_header(reply, req->transaction_id);
    for (std::size_t i = 0; i < req->count(); ++i) udp::append_scrape_entry(reply, store_.scrape(req->at(i)));
    return true;
}

udp::CatalogEntry TrackerServer::entry_of(const CatalogRecord& r) const {
    udp::ScrapeEntry s = store_.scrape(r.info_hash);
    return udp::CatalogEntry{r.info_hash, r.total_size, s.seeders, s.leechers, s.completed, r.name};
}

namespace {

// The publisher of a catalog name is the publish request's source address (never a field of the request).
PublisherAddr publisher_of(const sockaddr* from) {
    if (from->sa_family == AF_INET6)
        return PublisherAddr::v6(
            reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(from)->sin6_addr));
    if (from->sa_family == AF_INET)
        return PublisherAddr::v4(
            reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(from)->sin_addr));
    return {};
}

} // namespace

bool TrackerServer::handle_catalog(std::uint32_t action, std::string_view pkt, const sockaddr* from,
                                   std::string& reply) {
    std::uint32_t tid = read_be32(pkt, 12);
    if (action == udp::kActionPublish) {
        if (pkt.size() < udp::kPublishFixedSize) {
            ++counters_.malformed;
            return false;
        }
        auto req = udp::decode_publish_request(pkt);
        if (!req) {
            if (req.error().code == Errc::bad_name) return error_reply(tid, "invalid name", pkt.size(), reply);
            ++counters_.malformed;
            return false;
        }
        ++counters_.catalog;
        if (auto st = catalog_.publish(req->name, req->info_hash, req->total_size, wall_(), publisher_of(from)); !st)
            return error_reply(tid, st.error().what, pkt.size(), reply);
        udp::append_publish_ack(reply, tid);
        return true;
    }
    if (action == udp::kActionList) {
        auto req = udp::decode_list_request(pkt);
        if (!req) {
            ++counters_.malformed;
            return false;
        }
        ++counters_.catalog;
        const auto& all = catalog_.entries();
        std::size_t total = all.size(), i = std::min<std::size_t>(req->start, total);
        udp::append_list_response_header(reply, tid, static_cast<std::uint32_t>(total), udp::kListNoMore, 0);
        std::uint16_t count = 0;
        for (; i < total; ++i) {
            if (reply.size() + udp::catalog_entry_size(all[i].name.size()) > udp::kMaxReplySize) break;
            udp::CatalogEntry e = entry_of(all[i]);
            if (e.seeders == 0) continue; // cannot happen (live entries have a seeder); never list one anyway
            udp::append_catalog_entry(reply, e);
            ++count;
        }
        auto* p = reinterpret_cast<unsigned char*>(reply.data());
        if (i < total) store_be32(p + 12, static_cast<std::uint32_t>(i));
        p[16] = static_cast<unsigned char>(count >> 8);
        p[17] = static_cast<unsigned char>(count);
        return true;
    }
    // lookup
    if (pkt.size() < udp::kLookupFixedSize) {
        ++counters_.malformed;
        return false;
    }
    auto req = udp::decode_lookup_request(pkt);
    if (!req) {
        if (req.error().code == Errc::bad_name) return error_reply(tid, "invalid name", pkt.size(), reply);
        ++counters_.malformed;
        return false;
    }
    ++counters_.catalog;
    udp::LookupResponse r;
    r.transaction_id = tid;
    if (const CatalogRecord* rec = catalog_.find_name(req->name)) {
        r.entry = entry_of(*rec);
        r.found = r.entry.seeders > 0; // as in list: never an entry whose swarm has no seeder
    }
    reply = udp::encode_lookup_response(r);
    return true;
}

} // namespace p2p
