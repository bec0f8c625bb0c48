#include "http/server.hpp"

#include <http_parser.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "base/log.hpp"
#include "loop/fence.hpp"

namespace p2p::http {

// One client connection. Until it is `attached` (a uv_tcp_t around its socket) it lives only inside accept_one(),
// which frees it; once attached it is freed only in its uv_close callback (after any write callback, which libuv
// runs first with UV_ECANCELED), so every pointer to it stays valid until then; `closed` says it is gone for the
// server.
struct Server::Conn {
    uv_tcp_t tcp;
    uv_write_t wreq;
    Server* owner = nullptr;
    int fd = -1;                   // the accepted socket (owned by `tcp` once attached)
    bool attached = false;         // `tcp` is initialised and owns fd
    bool reading = false;          // uv_read_start is in force
    http_parser parser;
    Request req;                   // the request being parsed
    std::size_t header_bytes = 0;  // of the request being parsed
    bool in_value = false;         // the last header callback was a value
    bool in_request = false;       // a request has started and is not complete
    bool close_after = false;      // close once the output is written (Connection: close, an error, EOF)
    bool paused = false;           // parsing and reading stopped: output over max_output (stash holds the rest)
    bool write_busy = false;       // `writing` is handed to uv_write
    bool eof = false;              // the client has sent everything: answer what it asked, then close
    bool closed = false;
    int error_status = 0;          // set by a parser callback that refuses the request (431, 413)
    std::uint64_t wait_start = 0;  // accept, or the end of the last answer: the idle / first-request clock
    std::uint64_t request_start = 0;
    std::uint64_t write_progress = 0; // last time output was queued or written
    std::size_t requests = 0;
    std::string out;     // answers queued, not yet handed to the socket
    std::string writing; // handed to uv_write, kept until its callback
    std::string stash;   // unparsed input while paused
};

// One listening socket of our own, polled by libuv: accept4() hands the peer's address with the socket (no
// getpeername), and a connection whose request is already in is answered at once, without a libuv handle.
struct Server::Listener {
    uv_poll_t poll;
    int fd = -1;
    Server* owner = nullptr; // null once the server stopped listening
};

namespace {

Server::Conn* conn_of(http_parser* p) { return static_cast<Server::Conn*>(p->data); }

std::uint16_t port_of(const sockaddr_storage& ss) {
    return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

} // namespace

// The http-parser callbacks, as friends of the Server. Each returns non-zero to stop the parse with an error.
struct Callbacks {
    static bool over_header_limit(Server::Conn* c, std::size_t more) {
        c->header_bytes += more;
        if (c->header_bytes <= c->owner->limits_.max_header_bytes) return false;
        c->error_status = 431; // RFC 6585: Request Header Fields Too Large
        return true;
    }
    static int on_message_begin(http_parser* p) {
        auto* c = conn_of(p);
        if (c->closed) return -1;
        c->req.method.clear();
        c->req.target.clear();
        c->req.headers.clear();
        c->req.body.clear();
        c->header_bytes = 0;
        c->in_value = false;
        c->in_request = true;
        // The first request's clock started at the accept: connecting and then trickling gains no time.
        c->request_start = c->requests == 0 ? c->wait_start : uv_now(c->owner->loop_);
        return 0;
    }
    static int on_url(http_parser* p, const char* at, std::size_t len) {
        auto* c = conn_of(p);
        if (over_header_limit(c, len)) return -1;
        c->req.target.append(at, len);
        return 0;
    }
    static int on_header_field(http_parser* p, const char* at, std::size_t len) {
        auto* c = conn_of(p);
        if (c->req.headers.empty() || c->in_value) { // a new field (a name may arrive in pieces)
            if (c->req.headers.size() >= c->owner->limits_.max_headers) {
                c->error_status = 431;
                return -1;
            }
            c->req.headers.emplace_back();
            c->in_value = false;
            if (over_header_limit(c, 4)) return -1; // ": " and CRLF
        }
        if (over_header_limit(c, len)) return -1;
        for (std::size_t i = 0; i < len; ++i)
            c->req.headers.back().first.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(at[i]))));
        return 0;
    }
    static int on_header_value(http_parser* p, const char* at, std::size_t len) {
        auto* c = conn_of(p);
        if (c->req.headers.empty()) return -1; // cannot happen: the parser gives a field first
        c->in_value = true;
        if (over_header_limit(c, len)) return -1;
        c->req.headers.back().second.append(at, len);
        return 0;
    }
    static int on_headers_complete(http_parser* p) {
        auto* c = conn_of(p);
        // A declared body over the limit is refused now, before any of it is read.
        if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->owner->limits_.max_body) {
            c->error_status = 413; // RFC 9110 15.5.14: Content Too Large
            return -1;
        }
        return 0;
    }
    static int on_body(http_parser* p, const char* at, std::size_t len) {
        auto* c = conn_of(p);
        if (c->req.body.size() + len > c->owner->limits_.max_body) { // chunked bodies: counted as they come
            c->error_status = 413;
            return -1;
        }
        c->req.body.append(at, len);
        return 0;
    }
    static int on_message_complete(http_parser* p) {
        auto* c = conn_of(p);
        c->owner->message_complete(c);
        // Stop here when the connection is to close, or its output is over the bound; feed() sees HPE_PAUSED.
        if (c->closed || c->close_after || c->out.size() > c->owner->limits_.max_output) http_parser_pause(p, 1);
        return 0;
    }
    // libuv's read callbacks: the slab of the server as the buffer, every read parsed before returning.
    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* conn = static_cast<Server::Conn*>(h->data);
        *buf = conn->closed ? uv_buf_init(nullptr, 0)
                            : uv_buf_init(conn->owner->slab_.get(), static_cast<unsigned>(Server::kReadSlab));
    }
    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* conn = static_cast<Server::Conn*>(s->data);
        if (conn->closed) return;
        Server* self = conn->owner;
        if (!fence("http read", [&] {
                if (nread < 0) {
                    // EOF after a request (a client that half-closes once it has sent): answer, then close.
                    self->stop_reading(conn);
                    if (nread == UV_EOF && (conn->write_busy || !conn->out.empty() || conn->paused)) {
                        conn->eof = true;
                        return;
                    }
                    self->close_conn(conn);
                    return;
                }
                if (nread == 0) return;
                self->feed(conn, buf->base, static_cast<std::size_t>(nread));
                if (!conn->closed) self->pump(conn);
            }))
            self->close_conn(conn);
    }
    static const http_parser_settings& settings() {
        static const http_parser_settings s = [] {
            http_parser_settings v;
            http_parser_settings_init(&v);
            v.on_message_begin = on_message_begin;
            v.on_url = on_url;
            v.on_header_field = on_header_field;
            v.on_header_value = on_header_value;
            v.on_headers_complete = on_headers_complete;
            v.on_body = on_body;
            v.on_message_complete = on_message_complete;
            return v;
        }();
        return s;
    }
};

// --- Request / Bound ---

std::string_view Request::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
    std::string_view t = target;
    std::size_t q = t.find('?');
    return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

const std::string* Request::header(std::string_view lower_name) const {
    for (const auto& [k, v] : headers)
        if (k == lower_name) return &v;
    return nullptr;
}

std::string Bound::url() const {
    std::string s = "http://";
    if (v6) s += '[';
    s += address;
    if (v6) s += ']';
    s += ':';
    s += std::to_string(port);
    return s;
}

const char* reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

namespace {

void append_response(std::string& out, const Response& r, bool head, bool keep_alive, unsigned minor) {
    out += "HTTP/1.1 ";
    out += std::to_string(r.status);
    out += ' ';
    out += reason_phrase(r.status);
    out += "\r\nContent-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
    for (const auto& [k, v] : r.headers) {
        out += k;
        out += ": ";
        out += v;
        out += "\r\n";
    }
    if (!keep_alive)
        out += "Connection: close\r\n";
    else if (minor == 0)
        out += "Connection: keep-alive\r\n"; // HTTP/1.0 keeps the connection only when told (RFC 9112 9.3)
    out += "\r\n";
    if (!head) out += r.body;
}

} // namespace

// --- Server ---

Server::Server(uv_loop_t* loop, Limits limits, Handler handler)
    : loop_(loop), limits_(limits), handler_(std::move(handler)), slab_(new char[kReadSlab]) {}

Server::~Server() { close(); }

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
        std::uint64_t shortest = std::min({limits_.header_timeout_ms, limits_.idle_timeout_ms, limits_.write_timeout_ms});
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
    // What uv_tcp_bind + uv_listen did: SO_REUSEADDR, IPV6_V6ONLY as asked, backlog 511.
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("listen", uv_strerror(-errno));
    int on = 1, only = v6only ? 1 : 0;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (v6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof only) != 0) ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) != 0 ||
        ::listen(fd, 511) != 0) {
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

std::size_t Server::memory_used() const {
    std::size_t n = 0;
    for (const Conn* c : conns_) {
        n += sizeof(Conn) + c->out.capacity() + c->writing.capacity() + c->stash.capacity() +
             c->req.target.capacity() + c->req.body.capacity();
        for (const auto& [k, v] : c->req.headers) n += sizeof(k) * 2 + k.capacity() + v.capacity();
    }
    return n;
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
            if (!o->in_request && !o->write_busy && o->out.empty() && !o->paused &&
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
    if (!attach(c)) return;
    if (!c->paused && !c->close_after && !c->eof && !c->reading) start_reading(c);
}

// Wraps the socket in a uv_tcp_t (from then on libuv owns it and the connection is freed in its close callback).
// False if that failed: then the connection is closed and freed.
bool Server::attach(Conn* c) {
    if (c->attached) return true;
    c->tcp.data = c;
    uv_tcp_init(loop_, &c->tcp);
    if (uv_tcp_open(&c->tcp, c->fd) != 0) {
        ::close(c->fd); // not the handle's: uv_close below frees only the record
        c->fd = -1;
        c->closed = true;
        auto it = std::find(conns_.begin(), conns_.end(), c);
        if (it != conns_.end()) {
            *it = conns_.back();
            conns_.pop_back();
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
        return false;
    }
    c->attached = true;
    // Answers are one write each; on a connection that stays, do not hold them for Nagle. (A one-answer
    // connection never needs it: close() sends what is queued at once.)
    uv_tcp_nodelay(&c->tcp, 1);
    return true;
}

void Server::start_reading(Conn* c) {
    if (!c->attached || c->closed) return;
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), Callbacks::on_alloc, Callbacks::on_read) != 0) {
        close_conn(c);
        return;
    }
    c->reading = true;
}

void Server::stop_reading(Conn* c) {
    if (c->attached && c->reading) uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
    c->reading = false;
}

void Server::message_complete(Conn* c) {
    c->in_request = false;
    ++c->requests;
    ++stats_.requests;
    Request& req = c->req;
    req.method = http_method_str(static_cast<http_method>(c->parser.method));
    req.http_minor = c->parser.http_minor;
    bool keep = http_should_keep_alive(&c->parser) != 0 && !c->parser.upgrade; // no protocol switches here
    Response resp;
    if (!fence("http handler", [&] { handler_(req, resp); })) {
        resp = Response{};
        resp.status = 500;
        resp.body = "internal error\n";
        resp.close = true;
    }
    if (c->closed) return; // the handler closed the server
    if (resp.close) keep = false;
    append_response(c->out, resp, req.method == "HEAD", keep, req.http_minor);
    c->write_progress = uv_now(loop_);
    if (!keep) c->close_after = true;
}

void Server::feed(Conn* c, const char* data, std::size_t len) {
    std::size_t n = http_parser_execute(&c->parser, &Callbacks::settings(), data, len);
    if (c->closed) return;
    http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (err == HPE_PAUSED) {
        http_parser_pause(&c->parser, 0);
        if (c->close_after) { // nothing after a "Connection: close" request is read
            stop_reading(c);
            return;
        }
        // Output over the bound: keep the rest of this read, stop reading until the output is written.
        c->stash.assign(data + n, len - n);
        c->paused = true;
        stop_reading(c);
        return;
    }
    if (err != HPE_OK) {
        fail(c, c->error_status ? c->error_status : 400);
        return;
    }
    if (c->parser.upgrade) { // CONNECT or an Upgrade request: answered above (if complete); nothing more
        c->close_after = true;
        stop_reading(c);
    }
}

void Server::fail(Conn* c, int status) {
    ++stats_.bad_requests;
    Response r;
    r.status = status;
    r.body = std::string(reason_phrase(status)) + "\n";
    append_response(c->out, r, false, false, 1);
    c->close_after = true;
    c->in_request = false;
    c->write_progress = uv_now(loop_);
    stop_reading(c);
}

void Server::flush(Conn* c) {
    if (c->write_busy || c->out.empty()) return;
    // Most answers fit the socket buffer: one system call, no write request, no callback.
    int rc;
    if (c->attached) {
        uv_buf_t t = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
        rc = uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp), &t, 1);
    } else {
        ssize_t n = ::send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
        rc = n >= 0 ? static_cast<int>(n) : (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? UV_EAGAIN : -errno;
    }
    if (rc < 0 && rc != UV_EAGAIN) {
        close_conn(c);
        return;
    }
    if (rc > 0) {
        c->out.erase(0, static_cast<std::size_t>(rc));
        c->write_progress = uv_now(loop_);
    }
    if (c->out.empty()) return;
    if (!attach(c)) return; // the rest waits for the socket: libuv takes over
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    c->writing.swap(c->out);
    c->out.clear();
    c->write_busy = true;
    c->wreq.data = c;
    uv_buf_t b = uv_buf_init(c->writing.data(), static_cast<unsigned>(c->writing.size()));
    rc = uv_write(&c->wreq, stream, &b, 1, [](uv_write_t* w, int status) {
        auto* conn = static_cast<Conn*>(w->data);
        conn->write_busy = false;
        conn->writing.clear();
        if (conn->closed) return; // UV_ECANCELED after close_conn: the close callback frees it next
        Server* self = conn->owner;
        if (!fence("http write", [&] {
                if (status < 0) {
                    self->close_conn(conn);
                    return;
                }
                conn->write_progress = uv_now(self->loop_);
                self->pump(conn);
            }))
            self->close_conn(conn);
    });
    if (rc != 0) {
        c->write_busy = false;
        close_conn(c);
    }
}

// Writes what is queued; once everything is written: close (if asked), or resume a paused connection. The loop
// ends: each resumed round answers at least one whole request of the stash, which only shrinks (<= kReadSlab).
void Server::pump(Conn* c) {
    while (!c->closed) {
        flush(c);
        if (c->closed || c->write_busy || !c->out.empty()) return; // the write callback continues
        if (c->close_after) {
            close_conn(c);
            return;
        }
        if (!c->in_request) c->wait_start = uv_now(loop_);
        if (!c->paused) {
            if (c->eof) close_conn(c);
            return;
        }
        c->paused = false;
        std::string rest = std::move(c->stash);
        c->stash.clear();
        feed(c, rest.data(), rest.size());
        if (c->closed) return;
        // (A connection not attached yet is started by accept_one once it is.)
        if (!c->paused && !c->close_after && !c->eof && c->attached) start_reading(c);
    }
}

void Server::tick() {
    const std::uint64_t now = uv_now(loop_);
    if (accept_paused_ && !closed_) {
        accept_paused_ = false;
        for (Listener* l : listeners_) start_accepting(l);
    }
    std::vector<Conn*> expired;
    for (Conn* c : conns_) {
        bool late;
        if (c->write_busy || !c->out.empty() || c->paused)
            late = now - c->write_progress > limits_.write_timeout_ms;
        else if (c->in_request)
            late = now - c->request_start > limits_.header_timeout_ms; // fixed: trickling bytes do not extend it
        else
            late = now - c->wait_start > (c->requests ? limits_.idle_timeout_ms : limits_.header_timeout_ms);
        if (late) expired.push_back(c);
    }
    for (Conn* c : expired) {
        ++stats_.timed_out;
        close_conn(c);
    }
}

void Server::close_conn(Conn* c) {
    if (c->closed) return;
    c->closed = true;
    auto it = std::find(conns_.begin(), conns_.end(), c);
    if (it != conns_.end()) {
        *it = conns_.back();
        conns_.pop_back();
    }
    if (!c->attached) { // still inside accept_one, which frees it
        ::close(c->fd);
        c->fd = -1;
        return;
    }
    stop_reading(c);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

} // namespace p2p::http
