// http::Server: parsing (the http-parser callbacks), answers, writes, pipelining under the output bound, timeouts
// and closing. Listening and accepting are in server_listen.cpp, deferred answers in server_deferred.cpp; the
// records they share in server_impl.hpp. See server.hpp.
#include "http/server.hpp"

#include <http_parser.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "http/server_impl.hpp"
#include "loop/fence.hpp"

namespace p2p::http {

namespace {

Server::Conn* conn_of(http_parser* p) { return static_cast<Server::Conn*>(p->data); }

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
        std::string& name = c->req.headers.back().first;
        const std::size_t from = name.size();
        name.append(at, len);
        for (std::size_t i = from; i < name.size(); ++i) // ASCII only: field names are tokens (RFC 9110 5.1)
            if (name[i] >= 'A' && name[i] <= 'Z') name[i] = static_cast<char>(name[i] + ('a' - 'A'));
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
        // Stop here when the connection is to close, waits for a deferred answer, or its output is over the
        // bound; feed() sees HPE_PAUSED.
        if (c->closed || c->close_after || c->awaiting || c->out.size() > c->owner->limits_.max_output)
            http_parser_pause(p, 1);
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
                if (conn->paused) { // awaiting a deferred answer: read on (to see a reset), keep, parse later
                    conn->stash.append(buf->base, static_cast<std::size_t>(nread));
                    if (conn->stash.size() >= Server::kReadSlab) self->stop_reading(conn);
                    return;
                }
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
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

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


// --- Server ---

Server::Server(uv_loop_t* loop, Limits limits, Handler handler)
    : loop_(loop), limits_(limits), handler_(std::move(handler)), slab_(new char[kReadSlab]) {}

Server::~Server() { close(); }

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
        c->attached = true; // the handle is initialised: its close callback frees the record, accept_one must not
        return false;
    }
    c->attached = true;
    // Answers are one write each; on a connection that stays, do not hold them for Nagle. (A one-answer
    // connection never needs it: close() sends what is queued at once.)
    uv_tcp_nodelay(&c->tcp, 1);
    return true;
}

void Server::start_reading(Conn* c) {
    if (!c->attached || c->closed || c->reading) return;
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
    resp.server_ = this;
    resp.conn_ = c;
    c->in_handler = &resp;
    const bool ok = fence("http handler", [&] { handler_(req, resp); });
    c->in_handler = nullptr;
    if (!ok) {
        end_wait(c); // a deferral the handler asked for before it threw
        resp = Response{};
        resp.status = 500;
        resp.body = "internal error\n";
        resp.close = true;
    }
    if (c->closed) return; // the handler closed the server
    if (c->awaiting) {     // answered later (server_deferred.cpp); parsing stops here (on_message_complete)
        ++stats_.deferred; // really later: an answer given inside the handler is an ordinary one
        c->await_keep = keep;
        c->await_head = req.method == "HEAD";
        c->await_minor = req.http_minor;
        c->await_since = uv_now(loop_);
        return;
    }
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
            // Nothing unread (this read ended with the request and did not fill the slab): close() will send a
            // FIN, not a reset, so the answer may ride on it.
            c->fin_with_answer = n == len && len < kReadSlab;
            stop_reading(c);
            return;
        }
        // Output over the bound: keep the rest of this read, stop reading until the output is written. Awaiting a
        // deferred answer: keep it too, and read on into the stash (bounded) to notice a client that resets.
        c->stash.assign(data + n, len - n);
        c->paused = true;
        if (!c->awaiting || c->stash.size() >= kReadSlab) stop_reading(c);
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
        // The last answer on a connection we close with nothing left unread: MSG_MORE keeps it queued for the
        // close() that follows at once, which then sends it with the FIN in one segment (Linux tacks the FIN onto
        // an unsent tail): one packet and one ACK fewer per one-shot announce. Not when bytes are left unread (an
        // error answer to an oversized request): that close() resets the connection and drops what is queued, so
        // the answer must be on its way first.
        const int more = c->close_after && c->fin_with_answer ? MSG_MORE : 0;
        ssize_t n = ::send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL | more);
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

// Writes what is queued; once everything is written: close (if asked), or resume a paused connection (not while a
// deferred answer is awaited). The loop ends: each resumed round answers (or defers) at least one whole request of
// the stash, which only shrinks (<= 2 * kReadSlab: what awaiting read on adds stops at kReadSlab).
void Server::pump(Conn* c) {
    while (!c->closed) {
        flush(c);
        if (c->closed || c->write_busy || !c->out.empty()) return; // the write callback continues
        if (c->close_after) {
            close_conn(c);
            return;
        }
        if (!c->in_request) c->wait_start = uv_now(loop_);
        if (c->awaiting) return; // the rest of the stash waits for the deferred answer
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
    std::vector<Conn*> expired, unanswered;
    for (Conn* c : conns_) {
        bool late;
        if (c->awaiting && now - c->await_since > limits_.deferred_timeout_ms) {
            unanswered.push_back(c);
            continue;
        }
        if (c->write_busy || !c->out.empty() || (c->paused && !c->awaiting))
            late = now - c->write_progress > limits_.write_timeout_ms;
        else if (c->awaiting)
            late = false; // the deferred timeout above
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
    for (Conn* c : unanswered) answer_late(c); // 504 (each closes only itself)
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

void Server::close_conn(Conn* c) {
    if (c->closed) return;
    c->closed = true;
    end_wait(c); // a Deferred of it does nothing from now on
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
