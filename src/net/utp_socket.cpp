// The uTP socket: binding, reading and demultiplexing datagrams, the per-turn service pass over marked flows,
// the one timer, and sending in sendmmsg batches. Design and bounds: utp_socket.hpp.
#include "net/utp_socket.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "loop/fence.hpp"
#include "net/tcp_transport.hpp"
#include "net/utp_flow.hpp"

namespace p2p {

namespace {
// libuv cuts a UV_UDP_RECVMMSG buffer into chunks of UV__UDP_DGRAM_MAXSIZE (64 KiB) and reads one datagram per
// chunk, at most UV__MMSG_MAXWIDTH (20) per recvmmsg. The buffer is allocated once and never cleared, so only
// the pages datagrams land in become resident (a few KiB per chunk).
constexpr std::size_t kMmsgChunk = 64 * 1024;
constexpr std::size_t kMmsgChunks = 20;
constexpr std::size_t kSendBatch = 64;        // datagrams per sendmmsg
constexpr std::size_t kMaxQueuedSends = 4096; // datagrams waiting for a writable socket (uv_udp_send)
constexpr std::size_t kMaxResetsPerTurn = 64; // RESETs for unknown flows, per service pass

Error uv_error(const char* op, int code) { return make_error(op, uv_strerror(code)); }

socklen_t addr_len(const sockaddr_storage& a) {
    return a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// Copies a sockaddr of either family into storage.
sockaddr_storage to_storage(const sockaddr* addr) {
    sockaddr_storage ss{};
    std::memcpy(&ss, addr, addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    return ss;
}

bool finished(utp::State s) { return s == utp::State::closed || s == utp::State::reset; }

std::uint16_t random_u16() { return static_cast<std::uint16_t>(random_u32()); }

struct SendReq { // one datagram handed to uv_udp_send when sendmmsg found the socket full
    uv_udp_send_t req{};
    std::string bytes;
    UtpCore* core = nullptr;
};
} // namespace

std::string utp_flow_key(const sockaddr* sa, std::uint16_t recv_id) {
    std::string k;
    if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        k.append(reinterpret_cast<const char*>(&in6->sin6_addr), 16);
        k.append(reinterpret_cast<const char*>(&in6->sin6_port), 2);
    } else {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        k.append(reinterpret_cast<const char*>(&in->sin_addr), 4);
        k.append(reinterpret_cast<const char*>(&in->sin_port), 2);
    }
    k.push_back(static_cast<char>(recv_id >> 8));
    k.push_back(static_cast<char>(recv_id & 0xff));
    return k;
}

// ---------------------------------------------------------------- flows

std::uint64_t UtpCore::now_us() const { return uv_hrtime() / 1000; }

void UtpCore::mark(const std::shared_ptr<UtpFlow>& f) {
    if (f->dirty || !alive) return;
    f->dirty = true;
    dirty.push_back(f);
    wake();
}

void UtpCore::wake() {
    if (!servicing) uv_idle_start(&idle, [](uv_idle_t*) {}); // a pending pass keeps the poll from blocking
}

void UtpCore::pull(UtpFlow& f, std::uint64_t now) {
    for (auto& d : f.conn.take_datagrams(now)) out.push_back({f.addr, std::move(d)});
}

std::shared_ptr<UtpFlow> UtpCore::add_flow(utp::Connection c, const sockaddr* addr) {
    auto f = std::make_shared<UtpFlow>(std::move(c));
    f->core = this;
    f->addr = to_storage(addr);
    f->key = utp_flow_key(addr, f->conn.recv_id());
    f->remote = format_sockaddr(addr);
    f->ip = ip_of(f->remote);
    ++per_ip[f->ip];
    flows[f->key] = f;
    return f;
}

void UtpCore::remove_flow(UtpFlow* f) {
    if (f->core != this) return;
    if (f->scheduled_us != utp::kNever) timers.erase({f->scheduled_us, f});
    f->scheduled_us = utp::kNever;
    if (f->half_open) --half_open;
    f->half_open = false;
    if (f->linger_deadline_us != utp::kNever) --lingering;
    f->linger_deadline_us = utp::kNever;
    if (auto it = per_ip.find(f->ip); it != per_ip.end() && --it->second == 0) per_ip.erase(it);
    uncount_memory(f);
    f->core = nullptr;
    flows.erase(f->key); // a service pass or the transport may still hold the flow: freed with the last of them
}

void UtpCore::release(UtpFlow* f) {
    f->owner = nullptr;
    f->user = nullptr;
    f->ended = true;
    f->pending.clear();
    f->pending_off = 0;
    if (!alive || f->core != this) return;
    if (finished(f->conn.state())) {
        remove_flow(f);
        return;
    }
    auto self = flows.at(f->key);
    // A refused SYN (the session was full) or too many flows finishing already: reset, at once.
    if (f->half_open || lingering >= cfg.max_lingering) {
        f->conn.abort();
    } else {
        f->conn.close();
        f->linger_deadline_us = now_us() + kLingerMs * 1000;
        ++lingering;
    }
    mark(self);
}

void UtpCore::count_memory(UtpFlow* f) {
    if (!f->limits.budget) return;
    MemoryBudget& m = *f->limits.budget;
    const std::size_t send = f->pending_size() + f->conn.send_buffered();
    const std::size_t total = f->holds();
    const std::size_t recv = total - std::min(total, send);
    if (send > f->counted_send)
        m.reserve(MemPool::send, send - f->counted_send);
    else
        m.release(MemPool::send, f->counted_send - send);
    if (recv > f->counted_recv)
        m.reserve(MemPool::receive, recv - f->counted_recv);
    else
        m.release(MemPool::receive, f->counted_recv - recv);
    f->counted_send = send;
    f->counted_recv = recv;
}

void UtpCore::uncount_memory(UtpFlow* f) {
    if (!f->limits.budget) return;
    f->limits.budget->release(MemPool::send, f->counted_send);
    f->limits.budget->release(MemPool::receive, f->counted_recv);
    f->counted_send = f->counted_recv = 0;
}

// ---------------------------------------------------------------- the service pass

void UtpCore::service() {
    if (servicing || !alive) return;
    servicing = true;
    std::vector<std::shared_ptr<UtpFlow>> batch;
    batch.swap(dirty);
    for (auto& f : batch) {
        f->dirty = false;
        if (f->core == this) fence("utp service", [&] { service_flow(f); });
        if (!alive) break;
    }
    servicing = false;
    if (!alive) return;
    flush_out();
    if (dirty.empty()) uv_idle_stop(&idle);
    arm_timer();
}

// One flow's turn. Every user callback may destroy the transport (release()) or even the socket: after each, the
// flow (held by `f`) and `alive` are checked.
void UtpCore::service_flow(const std::shared_ptr<UtpFlow>& f) {
    const std::uint64_t now = now_us();
    utp::Connection& c = f->conn;

    if (f->connecting) {
        if (c.state() == utp::State::connected) {
            UtpConnectOp* op = f->connecting;
            f->connecting = nullptr;
            f->connect_deadline_us = utp::kNever;
            std::unique_ptr<Transport> t = std::make_unique<UtpTransport>(f);
            op->finish(std::move(t)); // may destroy the transport (release) or the socket
            if (!alive || f->core != this) return;
        } else if (finished(c.state()) || now >= f->connect_deadline_us) {
            UtpConnectOp* op = f->connecting;
            f->connecting = nullptr;
            Error why = c.error() ? *c.error() : make_error("utp.connect", "timed out", Errc::timeout);
            c.abort(); // nothing when it already ended
            pull(*f, now);
            remove_flow(f.get());
            op->finish(std::move(why));
            return;
        }
    }

    // Received bytes to the user; a flow without one (lingering) throws them away so the peer's FIN gets through.
    if (!f->owner) {
        if (!c.readable().empty()) c.consumed(c.readable().size());
    } else if (f->user && f->started && !f->paused && !f->ended && !c.readable().empty()) {
        std::size_t used = 0;
        const bool ok = fence("utp read", [&] { used = f->user->on_data(c.readable()); });
        if (!alive || f->core != this) return;
        if (f->owner && !f->ended) {
            if (!ok) {
                f->ended = true;
                c.abort();
                TransportUser* u = f->user;
                fence("utp close", [&] {
                    u->on_closed(make_error("utp.read", "internal error while handling received data (see the log)"));
                });
                if (!alive || f->core != this) return;
            } else {
                c.consumed(std::min(used, c.readable().size()));
            }
        }
    }

    // The user's queue into the connection (whatever its send buffer takes).
    // A packet boundary (packet_boundary()) packetises what comes before it first.
    while (f->pending_size() > 0 && f->cork == 0 &&
           (c.state() == utp::State::connected || c.state() == utp::State::syn_sent)) {
        const std::size_t end = f->boundaries.empty() ? f->pending.size() : f->boundaries.front();
        const std::size_t n = end > f->pending_off
                                  ? c.write(std::string_view(f->pending).substr(f->pending_off, end - f->pending_off))
                                  : 0;
        f->pending_off += n;
        if (f->boundaries.empty() || f->pending_off < f->boundaries.front()) break;
        f->boundaries.erase(f->boundaries.begin());
        pull(*f, now);
    }
    if (f->pending_off > 0 && f->pending_off == f->pending.size()) {
        f->pending.clear();
        f->pending_off = 0;
        f->boundaries.clear();
    } else if (f->pending_off >= (64u << 10) && f->pending_off * 2 >= f->pending.size()) {
        f->pending.erase(0, f->pending_off);
        for (auto& b : f->boundaries) b -= std::min(b, f->pending_off);
        f->pending_off = 0;
    }

    pull(*f, now);
    if (c.next_timeout_us() <= now) mark(f); // the take stopped at its bound: more next turn

    // The queue emptied: the user may queue more.
    if (f->had_queue && f->pending_size() == 0 && f->owner && f->user && !f->ended) {
        f->had_queue = false;
        TransportUser* u = f->user;
        if (!fence("utp drained", [&] { u->on_drained(); }) && alive && f->core == this && f->owner && !f->ended) {
            f->ended = true;
            c.abort();
        }
        if (!alive || f->core != this) return;
        if (f->pending_size() > 0) mark(f);
    }

    // The end, reported once: a RESET, a timeout, or the peer's FIN after all its bytes.
    const bool over = finished(c.state());
    if (f->owner && f->user && !f->ended && (over || (c.eof() && c.readable().empty()))) {
        f->ended = true;
        Error why = c.error() ? *c.error()
                    : over    ? make_error("utp", "connection closed")
                              : make_error("utp.read", "connection closed by peer");
        TransportUser* u = f->user;
        fence("utp close", [&] { u->on_closed(why); }); // may destroy the transport
        if (!alive || f->core != this) return;
    }

    if (!f->owner && !f->connecting) {
        if (over || now >= f->linger_deadline_us) {
            if (!over) {
                c.abort();
                pull(*f, now);
            }
            remove_flow(f.get());
            return;
        }
    }
    count_memory(f.get());
    std::uint64_t at = std::min({c.next_timeout_us(), f->connect_deadline_us, f->linger_deadline_us});
    schedule(f.get(), at);
}

void UtpCore::schedule(UtpFlow* f, std::uint64_t at_us) {
    if (f->scheduled_us == at_us) return;
    if (f->scheduled_us != utp::kNever) timers.erase({f->scheduled_us, f});
    f->scheduled_us = at_us;
    if (at_us != utp::kNever) timers.insert({at_us, f});
}

void UtpCore::arm_timer() {
    if (!alive) return;
    const std::uint64_t at = timers.empty() ? utp::kNever : timers.begin()->first;
    if (at == timer_at_us) return;
    timer_at_us = at;
    if (at == utp::kNever) {
        uv_timer_stop(&timer);
        return;
    }
    const std::uint64_t now = now_us();
    const std::uint64_t ms = at <= now ? 0 : (at - now + 999) / 1000;
    uv_timer_start(
        &timer, [](uv_timer_t* t) { fence("utp timer", [&] { static_cast<UtpCore*>(t->data)->on_timer(); }); }, ms, 0);
}

void UtpCore::on_timer() {
    timer_at_us = utp::kNever;
    const std::uint64_t now = now_us();
    // Everything due within the next millisecond: the timer's resolution.
    while (!timers.empty() && timers.begin()->first <= now + 1000) {
        UtpFlow* raw = timers.begin()->second;
        timers.erase(timers.begin());
        raw->scheduled_us = utp::kNever;
        auto it = flows.find(raw->key);
        if (it == flows.end()) continue;
        raw->conn.tick(now);
        mark(it->second);
    }
    service();
}

// ---------------------------------------------------------------- sending

void UtpCore::flush_out() {
    if (out.empty()) return;
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&udp), &fd) != 0) {
        counters.send_dropped += out.size();
        out.clear();
        return;
    }
    std::size_t i = 0;
    mmsghdr msgs[kSendBatch];
    iovec iov[kSendBatch];
    while (i < out.size()) {
        const std::size_t n = std::min(kSendBatch, out.size() - i);
        for (std::size_t k = 0; k < n; ++k) {
            Out& o = out[i + k];
            iov[k].iov_base = o.bytes.data();
            iov[k].iov_len = o.bytes.size();
            std::memset(&msgs[k], 0, sizeof msgs[k]);
            msgs[k].msg_hdr.msg_name = &o.addr;
            msgs[k].msg_hdr.msg_namelen = addr_len(o.addr);
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
        }
        const int r = sendmmsg(fd, msgs, static_cast<unsigned>(n), MSG_DONTWAIT);
        if (r > 0) {
            ++counters.send_batches;
            counters.datagrams_out += static_cast<std::uint64_t>(r);
            for (int k = 0; k < r; ++k) counters.bytes_out += out[i + static_cast<std::size_t>(k)].bytes.size();
            i += static_cast<std::size_t>(r);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            // The socket is full: libuv sends the rest when it is writable again (bounded; past it they drop).
            for (; i < out.size(); ++i) {
                if (udp.send_queue_count >= kMaxQueuedSends) {
                    ++counters.send_dropped;
                    continue;
                }
                auto* req = new SendReq;
                req->bytes = std::move(out[i].bytes);
                req->core = this;
                uv_buf_t b = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
                req->req.data = req;
                int rr = uv_udp_send(&req->req, &udp, &b, 1, reinterpret_cast<const sockaddr*>(&out[i].addr),
                                     [](uv_udp_send_t* rq, int status) {
                                         auto* s = static_cast<SendReq*>(rq->data);
                                         if (status == 0 && s->core->alive) {
                                             ++s->core->counters.datagrams_out;
                                             s->core->counters.bytes_out += s->bytes.size();
                                         }
                                         delete s;
                                     });
                if (rr != 0) {
                    ++counters.send_dropped;
                    delete req;
                }
            }
            break;
        }
        // Another error concerns this datagram only (an unreachable address): drop it, send the rest.
        ++counters.send_dropped;
        ++i;
    }
    out.clear();
}

bool UtpSocket::send_other(const sockaddr* to, std::string bytes) {
    if (!core_ || bytes.empty() || bytes.size() > 65507 || core_->out.size() >= kMaxOtherPending) {
        if (core_) ++core_->counters.send_dropped;
        return false;
    }
    core_->out.push_back({to_storage(to), std::move(bytes)});
    core_->wake();
    return true;
}

// ---------------------------------------------------------------- receiving

namespace {

void send_reset(UtpCore* c, const sockaddr* addr, std::uint16_t id, std::uint16_t ack) {
    utp::Header h;
    h.type = utp::Type::reset;
    h.connection_id = id;
    h.timestamp_us = utp::timestamp32(c->now_us());
    h.seq_nr = random_u16();
    h.ack_nr = ack;
    c->out.push_back({to_storage(addr), utp::encode(h)});
    c->wake();
}

void feed(UtpCore* c, const std::shared_ptr<UtpFlow>& f, const utp::Packet& p) {
    f->conn.on_packet(p, c->now_us());
    if (f->half_open && !p.payload.empty() && (p.h.type == utp::Type::data || p.h.type == utp::Type::fin)) {
        f->half_open = false;
        --c->half_open;
    }
    c->mark(f);
}

// Resets the oldest half-open flow and tells its user at once, so the slot is free for the SYN being handled.
void evict_half_open(UtpCore* c) {
    while (!c->half_open_order.empty()) {
        std::shared_ptr<UtpFlow> f = c->half_open_order.front().lock();
        c->half_open_order.pop_front();
        if (!f || !f->half_open || f->core != c) continue;
        ++c->counters.evicted_half_open;
        f->conn.abort();
        c->mark(f);
        f->half_open = false;
        --c->half_open;
        if (f->owner && f->user && !f->ended) {
            f->ended = true;
            TransportUser* u = f->user;
            fence("utp close", [&] { u->on_closed(make_error("utp", "half-open connection evicted by newer SYNs")); });
        }
        return;
    }
}

void accept_syn(UtpCore* c, const utp::Packet& p, const sockaddr* addr) {
    const std::string ip = ip_of(format_sockaddr(addr));
    if (c->accept && c->half_open >= c->cfg.max_half_open && c->cfg.max_half_open > 0) evict_half_open(c);
    if (!c->alive) return;
    auto per = c->per_ip.find(ip);
    const std::size_t from_ip = per == c->per_ip.end() ? 0 : per->second;
    if (!c->accept || c->flows.size() >= c->cfg.max_flows || c->half_open >= c->cfg.max_half_open ||
        (!is_loopback_ip(ip) && from_ip >= c->cfg.max_per_ip)) {
        ++c->counters.refused_syn;
        // BEP 29: the SYN's connection_id is the id its sender receives on.
        if (c->out.size() < kMaxResetsPerTurn) send_reset(c, addr, p.h.connection_id, p.h.seq_nr);
        return;
    }
    auto conn = utp::Connection::accept(p, c->now_us(), random_u16(), c->cfg.conn);
    if (!conn) return;
    auto f = c->add_flow(std::move(*conn), addr);
    f->half_open = true;
    ++c->half_open;
    c->half_open_order.push_back(f);
    if (c->half_open_order.size() > 4 * c->cfg.max_half_open + 64) { // drop entries that are no longer half-open
        std::deque<std::weak_ptr<UtpFlow>> live;
        for (auto& w : c->half_open_order)
            if (auto x = w.lock(); x && x->half_open) live.push_back(x);
        c->half_open_order.swap(live);
    }
    f->limits = c->limits;
    f->conn.set_receive_buffer(std::min(c->cfg.conn.receive_buffer, f->limits.max_unconsumed));
    c->mark(f); // the STATE answering the SYN
    auto t = std::make_unique<UtpTransport>(f);
    fence("utp accept", [&] { c->accept(std::move(t)); }); // dropping it refuses the connection (release)
}

void on_datagram(UtpCore* c, std::string_view d, const sockaddr* addr) {
    ++c->counters.datagrams_in;
    c->counters.bytes_in += d.size();
    if (!utp::looks_like_utp(d)) {
        ++c->counters.not_utp;
        if (c->other) c->other(d, addr);
        return;
    }
    auto p = utp::decode(d);
    if (!p) {
        ++c->counters.undecodable;
        return;
    }
    const std::uint16_t id = p->h.connection_id;
    if (p->h.type == utp::Type::syn) {
        // A repeated SYN belongs to the flow it opened (the responder receives on id + 1).
        if (auto it = c->flows.find(utp_flow_key(addr, static_cast<std::uint16_t>(id + 1))); it != c->flows.end())
            return feed(c, it->second, *p);
        return accept_syn(c, *p, addr);
    }
    auto it = c->flows.find(utp_flow_key(addr, id));
    if (it == c->flows.end() && p->h.type == utp::Type::reset) {
        // A RESET may carry either of our ids (libutp and libtorrent differ): try the neighbours.
        it = c->flows.find(utp_flow_key(addr, static_cast<std::uint16_t>(id - 1)));
        if (it == c->flows.end()) it = c->flows.find(utp_flow_key(addr, static_cast<std::uint16_t>(id + 1)));
    }
    if (it == c->flows.end()) {
        ++c->counters.unknown_flow;
        // Tell a sender of data we do not know that the connection is gone (as libutp does); never answer a
        // STATE or a RESET (no ping-pong), and only a bounded number per turn.
        if ((p->h.type == utp::Type::data || p->h.type == utp::Type::fin) && c->out.size() < kMaxResetsPerTurn)
            send_reset(c, addr, id, p->h.seq_nr);
        return;
    }
    feed(c, it->second, *p);
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* c = static_cast<UtpCore*>(h->data);
    if (!c->rbuf) c->rbuf.reset(new char[c->rbuf_size]); // not value-initialised: stays mostly unresident
    *buf = uv_buf_init(c->rbuf.get(), static_cast<unsigned>(c->rbuf_size));
}

void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
    auto* c = static_cast<UtpCore*>(h->data);
    if (!c->alive) return;
    if (flags & UV_UDP_MMSG_FREE) {
        ++c->counters.recv_batches;
        return;
    }
    if (nread <= 0 || !addr) return; // nothing more to read, or an error on one datagram (an ICMP report)
    if (flags & UV_UDP_PARTIAL) {
        ++c->counters.undecodable;
        return;
    }
    fence("utp datagram", [&] { on_datagram(c, std::string_view(buf->base, static_cast<std::size_t>(nread)), addr); });
}

void on_handle_closed(uv_handle_t* h) {
    auto* c = static_cast<UtpCore*>(h->data);
    if (--c->handles_open == 0) delete c;
}

} // namespace

// ---------------------------------------------------------------- the socket

Result<std::unique_ptr<UtpSocket>> UtpSocket::open(uv_loop_t* loop, const std::string& ip, std::uint16_t port,
                                                   AcceptCallback accept, TransportLimits limits, UtpSocketConfig cfg) {
    auto addr = make_sockaddr(ip, port);
    if (!addr) return addr.error();
    auto* c = new UtpCore;
    c->cfg = cfg;
    c->limits = std::move(limits);
    c->accept = std::move(accept);
    c->rbuf_size = kMmsgChunk * kMmsgChunks;
    int r = uv_udp_init_ex(loop, &c->udp, static_cast<unsigned>(addr->ss_family) | UV_UDP_RECVMMSG);
    if (r < 0) {
        delete c;
        return uv_error("utp.socket", r);
    }
    c->udp.data = c;
    uv_check_init(loop, &c->check);
    c->check.data = c;
    uv_idle_init(loop, &c->idle);
    c->idle.data = c;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 4;
    auto fail_with = [&](const char* op, int code) -> Result<std::unique_ptr<UtpSocket>> {
        c->alive = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->udp), on_handle_closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&c->check), on_handle_closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), on_handle_closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_handle_closed);
        return uv_error((std::string(op) + " " + ip + ":" + std::to_string(port)).c_str(), code);
    };
    r = uv_udp_bind(&c->udp, reinterpret_cast<const sockaddr*>(&*addr), 0);
    if (r < 0) return fail_with("utp.bind", r);
    int size = cfg.socket_buffer;
    uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&c->udp), &size);
    size = cfg.socket_buffer;
    uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&c->udp), &size);
    r = uv_udp_recv_start(&c->udp, on_alloc, on_recv);
    if (r < 0) return fail_with("utp.recv_start", r);
    uv_check_start(&c->check, [](uv_check_t* h) { static_cast<UtpCore*>(h->data)->service(); });
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_udp_getsockname(&c->udp, reinterpret_cast<sockaddr*>(&ss), &len);
    const std::uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                                         : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return std::make_unique<UtpSocket>(c, bound);
}

UtpSocket::~UtpSocket() {
    UtpCore* c = core_;
    // Every flow still open gets a RESET, so its peer does not wait for a timeout.
    const std::uint64_t now = c->now_us();
    for (auto& [_, f] : c->flows) {
        if (!finished(f->conn.state())) {
            f->conn.abort();
            c->pull(*f, now);
        }
    }
    c->flush_out();
    c->alive = false;
    for (auto& [_, f] : c->flows) {
        f->core = nullptr;
        if (f->connecting) f->connecting->flow.reset(); // its callback never runs: the owner is going too
        f->connecting = nullptr;
    }
    c->flows.clear();
    c->dirty.clear();
    c->timers.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&c->udp), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->check), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), on_handle_closed);
}

void UtpSocket::on_other(OtherCallback cb) { core_->other = std::move(cb); }

std::unique_ptr<Connecting> UtpSocket::connect(const sockaddr* addr, std::uint64_t timeout_ms, ConnectCallback cb,
                                               TransportLimits limits) {
    UtpCore* c = core_;
    auto op = std::make_unique<UtpConnectOp>();
    op->cb = std::move(cb);
    const std::uint64_t now = c->now_us();
    std::uint16_t id = random_u16();
    while (c->flows.count(utp_flow_key(addr, id))) ++id; // a few hundred flows at most: ends at once
    auto f = c->add_flow(utp::Connection::connect(now, id, random_u16(), c->cfg.conn), addr);
    f->limits = std::move(limits);
    f->conn.set_receive_buffer(std::min(c->cfg.conn.receive_buffer, f->limits.max_unconsumed));
    f->connecting = op.get();
    op->flow = f;
    f->connect_deadline_us = now + timeout_ms * 1000;
    // Over the bounds: the attempt fails at once, reported from the service pass.
    if (c->flows.size() > c->cfg.max_flows) f->connect_deadline_us = now;
    c->mark(f);
    return op;
}

const UtpCounters& UtpSocket::counters() const { return core_->counters; }
std::size_t UtpSocket::flows() const { return core_->flows.size(); }
std::size_t UtpSocket::bytes_held() const {
    std::size_t n = 0;
    for (const auto& [_, f] : core_->flows) n += f->holds();
    return n;
}

} // namespace p2p
