// The listening side of http::Server: its own listening sockets (polled by libuv), accept4() in batches, the
// connection cap (evict the longest idle, else refuse), and the fast path that answers a one-request connection
// without ever creating a libuv handle. See server.hpp.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/log.hpp"
#include "http/server_impl.hpp"
#include "loop/fence.hpp"

namespace p2p::http {

namespace {

std::uint16_t port_of(const sockaddr_storage& ss) {
    return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

} // namespace

Status Server::listen(std::vector<std::string> addresses, std::uint16_t port) {
    if (addresses.empty()) addresses = {"0.0.0.0", "::"};
    bool has_v4 = false;
    for (const auto& a : addresses) has_v4 = has_v4 || a.find(':') == std::string::npos;
    const std::uint16_t asked = port;
    std::string why;
    std::vector<std::pair<std::string, std::string>> failures;
    for (const auto& a : addresses) {
        Status st = listen_one(a, port, has_v4);
        if (!st && port != asked) st = listen_one(a, asked, has_v4); // the shared ephemeral port is taken there
        if (!st) {
            failures.emplace_back(a.find(':') == std::string::npos ? a : "[" + a + "]", st.error().what);
            continue;
        }
        if (port == 0) port = bound_.back().port;
    }
    for (const auto& [addr, what] : failures) why += (why.empty() ? "" : "; ") + addr + ": " + what;
    if (bound_.empty())
        return make_error("", (asked ? "cannot listen on TCP port " + std::to_string(asked)
                                     : std::string("cannot listen on a TCP port")) +
                                  " (" + (why.empty() ? "no address to bind" : why) + ")");
    for (const auto& [addr, what] : failures)
        log_warn("http", "cannot listen on " + addr + " TCP port " + std::to_string(port) + ": " + what);
    if (!timer_) {
        // Coarse enough to cost nothing, fine enough that a timeout is late by at most a quarter of itself.
        std::uint64_t shortest = std::min({limits_.header_timeout_ms, limits_.idle_timeout_ms, limits_.write_timeout_ms,
                                           limits_.deferred_timeout_ms});
        std::uint64_t every = std::clamp<std::uint64_t>(shortest / 4, 10, 500);
        timer_ = std::make_unique<Timer>(loop_);
        timer_->start(every, every, [this] { tick(); });
        timer_->unref();
    }
    return ok_status();
}

Status Server::listen_one(const std::string& address, std::uint16_t port, bool v6only) {
    sockaddr_storage ss{};
    const bool v6 = address.find(':') != std::string::npos;
    int rc = v6 ? uv_ip6_addr(address.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss))
                : uv_ip4_addr(address.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss));
    if (rc != 0) return make_error("http.listen", "not a literal IP address");
    // What uv_tcp_bind + uv_listen did: SO_REUSEADDR, IPV6_V6ONLY as asked, backlog 511; and TCP_DEFER_ACCEPT if asked.
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("listen", uv_strerror(-errno));
    int on = 1, only = v6only ? 1 : 0, defer = static_cast<int>(limits_.defer_accept_s);
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (v6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only) != 0) ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) != 0 ||
        ::listen(fd, 511) != 0 ||
        (defer && ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer) != 0)) {
        int err = errno;
        ::close(fd);
        return make_error("listen", uv_strerror(-err));
    }
    auto* l = new Listener;
    l->fd = fd;
    l->owner = this;
    l->poll.data = l;
    if ((rc = uv_poll_init(loop_, &l->poll, fd)) != 0) { // nothing to close: the handle never started
        ::close(fd);
        delete l;
        return make_error("listen", uv_strerror(rc));
    }
    listeners_.push_back(l);
    if ((rc = start_accepting(l)) != 0) {
        listeners_.pop_back();
        drop_listener(l);
        return make_error("listen", uv_strerror(rc));
    }
    sockaddr_storage name{};
    socklen_t namelen = sizeof name;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &namelen);
    bound_.push_back(Bound{address, port_of(name), v6});
    return ok_status();
}

int Server::start_accepting(Listener* l) {
    return uv_poll_start(&l->poll, UV_READABLE, [](uv_poll_t* h, int status, int) {
        auto* lis = static_cast<Listener*>(h->data);
        Server* self = lis->owner;
        if (status < 0 || !self) return;
        fence("http accept", [&] { self->on_listener(lis); });
    });
}

// The socket is closed once libuv has let go of it (a polled descriptor must stay open until then).
void Server::drop_listener(Listener* l) {
    l->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&l->poll), [](uv_handle_t* h) {
        auto* x = static_cast<Listener*>(h->data);
        ::close(x->fd);
        delete x;
    });
}

void Server::close() {
    if (closed_) return;
    closed_ = true;
    for (Listener* l : listeners_) drop_listener(l);
    listeners_.clear();
    while (!conns_.empty()) close_conn(conns_.back());
    timer_.reset();
}

// Level-triggered: what is left past kAcceptBatch is taken on the next turn of the loop, after the other work.
void Server::on_listener(Listener* l) {
    for (int i = 0; i < kAcceptBatch && !closed_; ++i) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        int fd = ::accept4(l->fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EINTR || err == ECONNABORTED) continue;
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                // Out of descriptors: the pending connection would wake us again at once, forever. Stop accepting
                // until the next tick (it is dropped by the kernel's backlog if it waits too long).
                if (!accept_paused_) {
                    log_warn("http", std::string("accept: ") + uv_strerror(-err) + "; pausing new connections");
                    accept_paused_ = true;
                    for (Listener* x : listeners_) uv_poll_stop(&x->poll);
                }
            }
            return; // EAGAIN: all taken
        }
        accept_one(fd, peer);
    }
}

// A new connection: admitted (or refused) at the cap, then its first read tried at once: an HTTP client sends its
// request right after connecting, so it is usually there already, and a one-request connection ("Connection:
// close", the way most BitTorrent clients announce) is read, answered and closed here, in four system calls
// (accept4, recv, send, close) and without a libuv handle. Only a connection that must wait (for the rest of its
// request, for its next one, or for the socket to take its answer) is attached to a uv_tcp_t.
void Server::accept_one(int fd, const sockaddr_storage& peer) {
    if (conns_.size() >= limits_.max_connections) {
        // At the cap: the connection idle the longest (between requests, nothing to write) makes room; with none
        // idle, the newcomer is refused. A flood of new connections thus costs the busy ones nothing.
        Conn* victim = nullptr;
        for (Conn* o : conns_)
            if (!o->in_request && !o->write_busy && o->out.empty() && !o->paused && !o->awaiting &&
                (!victim || o->wait_start < victim->wait_start))
                victim = o;
        if (!victim) {
            ++stats_.refused;
            ::close(fd);
            return;
        }
        ++stats_.evicted;
        close_conn(victim);
    }
    ++stats_.accepted;
    auto* c = new Conn;
    c->owner = this;
    c->fd = fd;
    c->req.peer = peer;
    c->wait_start = c->write_progress = uv_now(loop_);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    conns_.push_back(c);
    if (!fence("http read", [&] {
            ssize_t n = ::recv(fd, slab_.get(), kReadSlab, 0);
            if (n > 0) {
                feed(c, slab_.get(), static_cast<std::size_t>(n));
                if (!c->closed) pump(c);
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                close_conn(c); // gone before it said anything
            }
        }))
        close_conn(c);
    if (c->closed) {
        if (!c->attached) delete c; // else its close callback frees it
        return;
    }
    if (!attach(c)) return; // a deferred answer comes later: from here on the connection is libuv's
    if ((!c->paused || (c->awaiting && c->stash.size() < kReadSlab)) && !c->close_after && !c->eof) start_reading(c);
}

} // namespace p2p::http
