#include "tracker/udp_client.hpp"

#include <netinet/in.h>

#include <cstring>

#include "base/bytes.hpp"
#include "crypto/random.hpp"
#include "loop/fence.hpp"
#include "loop/timer.hpp"

namespace p2p {

Result<UdpTrackerUrl> parse_udp_tracker_url(std::string_view url) {
    auto bad = [&](const char* why) {
        return make_error("tracker url", std::string(why) + ": " + std::string(url), Errc::bad_input);
    };
    constexpr std::string_view scheme = "udp://";
    if (url.substr(0, scheme.size()) != scheme) return bad("not a udp:// URL");
    std::string_view rest = url.substr(scheme.size());
    rest = rest.substr(0, rest.find('/')); // drop "/announce" or any path
    UdpTrackerUrl u;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            return bad("bad IPv6 literal or missing port");
        u.host = std::string(rest.substr(1, close - 1));
        port = rest.substr(close + 2);
    } else {
        auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) return bad("missing port");
        u.host = std::string(rest.substr(0, colon));
        port = rest.substr(colon + 1);
    }
    if (u.host.empty()) return bad("missing host");
    u.port = parse_port(port);
    if (u.port == 0) return bad("bad port");
    return u;
}

std::vector<PeerEndpoint> to_endpoints(const std::vector<udp::CompactPeer>& peers) {
    std::vector<PeerEndpoint> out;
    out.reserve(peers.size());
    for (const auto& cp : peers) {
        PeerEndpoint e;
        e.port = cp.port;
        char text[INET6_ADDRSTRLEN] = {};
        if (cp.v6) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&e.addr);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(cp.port);
            std::memcpy(&a->sin6_addr, cp.ip.data(), 16);
            uv_ip6_name(a, text, sizeof text);
        } else {
            auto* a = reinterpret_cast<sockaddr_in*>(&e.addr);
            a->sin_family = AF_INET;
            a->sin_port = htons(cp.port);
            std::memcpy(&a->sin_addr, cp.ip.data(), 4);
            uv_ip4_name(a, text, sizeof text);
        }
        e.ip = text;
        out.push_back(std::move(e));
    }
    return out;
}

struct UdpTrackerClient::Op {
    std::uint32_t action = 0;
    std::uint32_t tid = 0;
    bool connecting = false;       // waiting for a connect reply rather than the request's
    bool started = false;          // false while the host is being resolved
    unsigned attempt = 0;          // BEP 15 n
    std::uint64_t deadline_ms = 0; // 0 = none
    std::uint64_t next_send_ms = 0;
    Build build;
    Done done;
    std::unique_ptr<Timer> timer;
    std::optional<Error> pending_error; // fail on the next loop turn (never inside the starting call)
};

struct UdpTrackerClient::Socket {
    uv_udp_t handle;
    UdpTrackerClient* owner = nullptr;
    char buf[65536]; // receive buffer, reused; each datagram is handled before the callback returns
};

UdpTrackerClient::UdpTrackerClient(uv_loop_t* loop, std::string url, UdpClientOptions options)
    : loop_(loop), url_(std::move(url)), opt_(options), parsed_(parse_udp_tracker_url(url_)), resolver_(loop) {}

UdpTrackerClient::~UdpTrackerClient() {
    ops_.clear(); // Timer destructors hand their handles to uv_close; resolver_'s destructor cancels the lookup
    if (socket_) {
        socket_->owner = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&socket_->handle),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    }
}

std::string UdpTrackerClient::where() const {
    return parsed_ ? "udp tracker " + parsed_->host + ":" + std::to_string(parsed_->port) : "udp tracker " + url_;
}

bool UdpTrackerClient::conn_valid() const {
    return have_conn_ && uv_now(loop_) - conn_at_ms_ < 60'000; // BEP 15: an id may be used for one minute
}

void UdpTrackerClient::submit(std::uint32_t action, Build build, Done done, std::optional<Error> pre) {
    auto op = std::make_unique<Op>();
    Op* o = op.get();
    o->action = action;
    o->build = std::move(build);
    o->done = std::move(done);
    o->timer = std::make_unique<Timer>(loop_);
    if (opt_.timeout_s > 0) o->deadline_ms = uv_now(loop_) + static_cast<std::uint64_t>(opt_.timeout_s * 1000);
    if (pre)
        o->pending_error = std::move(pre);
    else if (!parsed_)
        o->pending_error = parsed_.error();
    else if (ops_.size() >= kMaxPending)
        o->pending_error = make_error(where(), "too many pending requests (" + std::to_string(kMaxPending) + ")");
    ops_.push_back(std::move(op));
    if (o->pending_error) {
        o->timer->start(0, 0, [this, o] { finish(o, *o->pending_error); });
        return;
    }
    if (resolved_)
        begin(o);
    else {
        arm(o); // the deadline runs while resolving
        resolve();
    }
}

void UdpTrackerClient::resolve() {
    if (resolver_.busy()) return;
    // on_resolved may destroy this client (through the ops' callbacks); the Resolver touches nothing after it.
    auto st = resolver_.start(parsed_->host, parsed_->port, SOCK_DGRAM,
                              [this](Result<Resolver::Addrs> addrs) { on_resolved(std::move(addrs)); });
    if (st) return;
    // Fail every waiting op on the next loop turn.
    for (auto& op : ops_)
        if (!op->started && !op->pending_error) {
            op->pending_error = st.error();
            Op* o = op.get();
            o->timer->start(0, 0, [this, o] { finish(o, *o->pending_error); });
        }
}

void UdpTrackerClient::on_resolved(Result<Resolver::Addrs> addrs) {
    std::optional<Error> err;
    if (!addrs)
        err = addrs.error();
    else {
        tracker_ = addrs->front(); // Resolver: never an empty list
        if (auto st = open_socket(); !st)
            err = st.error();
        else
            resolved_ = true;
    }
    // Collect the waiting ops first: callbacks may add or remove ops (or destroy the client).
    std::vector<Op*> waiting;
    for (auto& op : ops_)
        if (!op->started && !op->pending_error) waiting.push_back(op.get());
    if (!err) {
        for (Op* o : waiting) begin(o);
        return;
    }
    const LifeToken::Watch alive = life_.watch();
    for (Op* o : waiting) {
        if (!alive) return;
        bool still = false;
        for (auto& op : ops_) still = still || op.get() == o;
        if (still) finish(o, *err);
    }
}

Status UdpTrackerClient::open_socket() {
    if (socket_) return ok_status();
    auto* s = new Socket;
    s->owner = this;
    s->handle.data = s;
    int rc = uv_udp_init(loop_, &s->handle);
    if (rc != 0) {
        delete s;
        return make_error("uv_udp_init", uv_strerror(rc));
    }
    sockaddr_storage any{};
    if (tracker_.ss_family == AF_INET6)
        uv_ip6_addr("::", 0, reinterpret_cast<sockaddr_in6*>(&any));
    else
        uv_ip4_addr("0.0.0.0", 0, reinterpret_cast<sockaddr_in*>(&any));
    rc = uv_udp_bind(&s->handle, reinterpret_cast<sockaddr*>(&any), 0);
    if (rc == 0)
        rc = uv_udp_recv_start(
            &s->handle,
            [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                auto* sock = static_cast<Socket*>(h->data);
                *b = uv_buf_init(sock->buf, sizeof sock->buf);
            },
            [](uv_udp_t* h, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned) {
                auto* sock = static_cast<Socket*>(h->data);
                if (!sock->owner || n <= 0 || !from) return;
                fence("tracker client datagram",
                      [&] { sock->owner->on_datagram(std::string_view(b->base, static_cast<std::size_t>(n)), from); });
            });
    if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&s->handle),
                 [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
        return make_error("udp socket", uv_strerror(rc));
    }
    socket_ = s;
    return ok_status();
}

void UdpTrackerClient::begin(Op* o) {
    o->started = true;
    o->attempt = 0;
    send_current(o);
    arm(o);
}

void UdpTrackerClient::send_current(Op* o) {
    o->tid = random_u32();
    std::string pkt;
    if (conn_valid()) {
        o->connecting = false;
        pkt = o->build(conn_id_, o->tid);
    } else {
        o->connecting = true;
        pkt = udp::encode_connect_request(o->tid);
    }
    o->next_send_ms = uv_now(loop_) + (opt_.retransmit_base_ms << o->attempt); // BEP 15: 15 * 2^n s
    uv_buf_t b = uv_buf_init(pkt.data(), static_cast<unsigned>(pkt.size()));
    // A full send buffer (or a transient error) just means this copy is lost; the schedule resends it.
    uv_udp_try_send(&socket_->handle, &b, 1, reinterpret_cast<const sockaddr*>(&tracker_));
}

void UdpTrackerClient::arm(Op* o) {
    std::uint64_t now = uv_now(loop_);
    std::uint64_t at = o->started ? o->next_send_ms : 0;
    if (o->deadline_ms && (at == 0 || o->deadline_ms < at)) at = o->deadline_ms;
    if (at == 0) return; // resolving without a deadline: the resolver's callback moves things on
    o->timer->start(at > now ? at - now : 0, 0, [this, o] { on_timer(o); });
}

void UdpTrackerClient::on_timer(Op* o) {
    std::uint64_t now = uv_now(loop_);
    if (o->deadline_ms && now >= o->deadline_ms) {
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g", opt_.timeout_s);
        finish(o, make_error(where(), std::string("no answer within ") + secs + " s (timeout)", Errc::timeout));
        return;
    }
    if (!o->started) return arm(o);
    if (o->attempt >= opt_.max_retransmits) {
        finish(o, make_error(where(), "no answer after " + std::to_string(o->attempt + 1) + " tries", Errc::timeout));
        return;
    }
    ++o->attempt;
    // A request sent with a connection id went unanswered: the tracker may have restarted and forgotten the id
    // (it then drops every packet carrying it, silently). Connect again before resending, rather than resend
    // with the same id until it is a minute old.
    if (!o->connecting) have_conn_ = false;
    send_current(o);
    arm(o);
}

void UdpTrackerClient::on_datagram(std::string_view data, const sockaddr* from) {
    // Only the tracker's address counts: a stray or spoofed packet cannot complete an operation.
    if (from->sa_family != tracker_.ss_family) return;
    if (from->sa_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(from);
        auto* t = reinterpret_cast<const sockaddr_in*>(&tracker_);
        if (a->sin_port != t->sin_port || std::memcmp(&a->sin_addr, &t->sin_addr, 4) != 0) return;
    } else {
        auto* a = reinterpret_cast<const sockaddr_in6*>(from);
        auto* t = reinterpret_cast<const sockaddr_in6*>(&tracker_);
        if (a->sin6_port != t->sin6_port || std::memcmp(&a->sin6_addr, &t->sin6_addr, 16) != 0) return;
    }
    auto hdr = udp::decode_reply_header(data);
    if (!hdr) return;
    Op* o = nullptr;
    for (auto& op : ops_)
        if (op->started && op->tid == hdr->transaction_id && !op->pending_error) o = op.get();
    if (!o) return;
    if (hdr->action == udp::kActionError) {
        auto e = udp::decode_error(data);
        finish(o, make_error(where(), "tracker error: " + (e ? e->message : std::string("?")), Errc::rejected));
        return;
    }
    if (o->connecting) {
        auto c = udp::decode_connect_response(data);
        if (!c) return;
        conn_id_ = c->connection_id;
        conn_at_ms_ = uv_now(loop_);
        have_conn_ = true;
        o->attempt = 0; // the request gets its own BEP 15 schedule
        send_current(o);
        arm(o);
        return;
    }
    if (hdr->action != o->action) return;
    finish(o, std::string(data));
}

void UdpTrackerClient::finish(Op* o, Result<std::string> r) {
    std::unique_ptr<Op> owned;
    for (auto it = ops_.begin(); it != ops_.end(); ++it)
        if (it->get() == o) {
            owned = std::move(*it);
            ops_.erase(it);
            break;
        }
    if (!owned) return;
    Done done = std::move(owned->done);
    owned.reset();      // safe inside the op's own timer callback: Timer frees its handle in the close callback
    done(std::move(r)); // last: the callback may destroy this client
}

// --- typed operations ---

void UdpTrackerClient::announce(const AnnounceParams& p, Callback<AnnounceResult> cb) {
    auto build = [p](std::uint64_t conn, std::uint32_t tid) {
        udp::AnnounceRequest r;
        r.connection_id = conn;
        r.transaction_id = tid;
        r.info_hash = p.info_hash;
        r.peer_id = p.peer_id;
        r.downloaded = p.downloaded;
        r.left = p.left;
        r.uploaded = p.uploaded;
        r.event = p.event;
        r.key = p.key;
        r.num_want = p.numwant;
        r.port = p.port;
        return udp::encode_announce_request(r);
    };
    submit(udp::kActionAnnounce, build, [this, cb = std::move(cb)](Result<std::string> raw) {
        if (!raw) return cb(raw.error());
        // BEP 15 IPv6: the peer format follows the family the request went over.
        bool over_v6 = tracker_.ss_family == AF_INET6;
        auto r = udp::decode_announce_response(*raw, over_v6);
        if (!r) return cb(make_error(where(), r.error().str(), r.error().code));
        AnnounceResult out{r->interval, r->leechers, r->seeders, {}};
        out.peers = to_endpoints(r->peers);
        cb(std::move(out));
    });
}

void UdpTrackerClient::scrape(std::vector<udp::Hash20> hashes, Callback<std::vector<udp::ScrapeEntry>> cb) {
    std::optional<Error> pre;
    if (hashes.empty() || hashes.size() > udp::kMaxScrapeHashes)
        pre = make_error("udp scrape", "1 to 74 info hashes per scrape", Errc::bad_input);
    std::size_t n = hashes.size();
    auto build = [hashes = std::move(hashes)](std::uint64_t conn, std::uint32_t tid) {
        return udp::encode_scrape_request(conn, tid, hashes);
    };
    submit(
        udp::kActionScrape, build,
        [this, n, cb = std::move(cb)](Result<std::string> raw) {
            if (!raw) return cb(raw.error());
            auto r = udp::decode_scrape_response(*raw);
            if (!r) return cb(make_error(where(), r.error().str(), r.error().code));
            if (r->entries.size() != n)
                return cb(make_error(where(), "scrape reply has the wrong number of entries", Errc::bad_input));
            cb(std::move(r->entries));
        },
        std::move(pre));
}

void UdpTrackerClient::publish(std::string name, const udp::Hash20& h, std::uint64_t size, Callback<Unit> cb) {
    auto build = [name, h, size](std::uint64_t conn, std::uint32_t tid) {
        return udp::encode_publish_request({conn, tid, h, size, name});
    };
    submit(udp::kActionPublish, build, [this, cb = std::move(cb)](Result<std::string> raw) {
        if (!raw) return cb(raw.error());
        auto r = udp::decode_publish_ack(*raw);
        if (!r) return cb(make_error(where(), r.error().str(), r.error().code));
        cb(Unit{});
    });
}

void UdpTrackerClient::list(std::uint32_t start, Callback<CatalogPage> cb) {
    auto build = [start](std::uint64_t conn, std::uint32_t tid) {
        return udp::encode_list_request({conn, tid, start});
    };
    submit(udp::kActionList, build, [this, cb = std::move(cb)](Result<std::string> raw) {
        if (!raw) return cb(raw.error());
        auto r = udp::decode_list_response(*raw);
        if (!r) return cb(make_error(where(), r.error().str(), r.error().code));
        cb(CatalogPage{r->total, r->next, std::move(r->entries)});
    });
}

void UdpTrackerClient::list_from(std::uint32_t start, std::shared_ptr<std::vector<udp::CatalogEntry>> acc,
                                 Callback<std::vector<udp::CatalogEntry>> cb) {
    list(start, [this, start, acc, cb = std::move(cb)](Result<CatalogPage> page) {
        if (!page) return cb(page.error());
        for (auto& e : page->entries) acc->push_back(std::move(e));
        // Stop on the end marker, and on a page that does not move forward (a tracker bug must not loop us).
        if (page->next == udp::kListNoMore || page->entries.empty() || page->next <= start ||
            acc->size() >= kMaxListEntries)
            return cb(std::move(*acc));
        list_from(page->next, acc, cb);
    });
}

void UdpTrackerClient::list_all(Callback<std::vector<udp::CatalogEntry>> cb) {
    list_from(0, std::make_shared<std::vector<udp::CatalogEntry>>(), std::move(cb));
}

void UdpTrackerClient::lookup(std::string name, Callback<std::optional<udp::CatalogEntry>> cb) {
    auto build = [name](std::uint64_t conn, std::uint32_t tid) {
        return udp::encode_lookup_request({conn, tid, name});
    };
    submit(udp::kActionLookup, build, [this, cb = std::move(cb)](Result<std::string> raw) {
        if (!raw) return cb(raw.error());
        auto r = udp::decode_lookup_response(*raw);
        if (!r) return cb(make_error(where(), r.error().str(), r.error().code));
        if (!r->found) return cb(std::optional<udp::CatalogEntry>{});
        cb(std::optional<udp::CatalogEntry>(std::move(r->entry)));
    });
}

} // namespace p2p
