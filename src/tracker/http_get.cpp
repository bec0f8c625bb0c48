#include "tracker/http_get.hpp"
#include "loop/fence.hpp"
#include "tracker/tls_client.hpp"

#include <http_parser.h>
#include <strings.h>

#include <algorithm>
#include <cstdio>
#include <memory>

namespace p2p {

namespace {
constexpr std::size_t kMaxLocation = 4096;  // a longer Location header is not a redirect we follow
constexpr std::size_t kReadBuf = 16 * 1024; // one read's worth; parsed before the next read
// Bytes handed to uv_write and not yet written. The request is one write; TLS adds its handshake flights (two
// in TLS 1.2) and an alert or two, so this is never reached unless the server stops reading what it provoked.
constexpr std::size_t kMaxUnsent = 64 * 1024;
} // namespace

// One TCP connection and the parse of its response. Owned by the HttpGet while owner is set; once detached it
// is uv_close'd and freed in the close callback (libuv runs pending connect/write callbacks, with
// UV_ECANCELED, before that, so their requests, and the Conn they point to, are still valid then).
struct HttpGet::Conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    HttpGet* owner = nullptr;
    std::string request;            // the GET; with TLS, kept until the handshake is done
    std::unique_ptr<TlsClient> tls; // https:// only; freed as soon as the connection is dropped
    http_parser parser;
    std::size_t max_body = 0;
    std::string body;
    std::string field, location; // the header being read, and the Location value
    bool field_is_location = false, in_value = false;
    bool complete = false, too_big = false;
    char buf[kReadBuf];
};

namespace {

// One uv_write: the request and the bytes it writes, freed in its callback (which libuv always runs, with
// UV_ECANCELED once the connection is closed, and before the connection's close callback).
struct Write {
    uv_write_t req;
    std::string bytes;
    HttpGet::Conn* conn;
};

HttpGet::Conn* conn_of(http_parser* p) { return static_cast<HttpGet::Conn*>(p->data); }

// The header callbacks may each arrive in pieces (a header split over two reads): a field callback after a
// value callback starts a new header.
int on_header_field(http_parser* p, const char* at, std::size_t len) {
    auto* c = conn_of(p);
    if (c->in_value || c->field.size() > 64) {
        c->field.clear();
        c->in_value = false;
    }
    if (c->field.size() < 64) c->field.append(at, std::min<std::size_t>(len, 64));
    return 0;
}

int on_header_value(http_parser* p, const char* at, std::size_t len) {
    auto* c = conn_of(p);
    if (!c->in_value) {
        c->in_value = true;
        c->field_is_location = c->field.size() == 8 && strncasecmp(c->field.c_str(), "location", 8) == 0;
        if (c->field_is_location) c->location.clear();
    }
    if (c->field_is_location && c->location.size() + len <= kMaxLocation) c->location.append(at, len);
    return 0;
}

int on_body(http_parser* p, const char* at, std::size_t len) {
    auto* c = conn_of(p);
    if (c->body.size() + len > c->max_body) {
        c->too_big = true;
        return 1; // stops the parser (HPE_CB_body)
    }
    c->body.append(at, len);
    return 0;
}

int on_message_complete(http_parser* p) {
    conn_of(p)->complete = true;
    http_parser_pause(p, 1); // Connection: close; anything after the response is not ours to parse
    return 0;
}

const http_parser_settings& parser_settings() {
    static const http_parser_settings s = [] {
        http_parser_settings v;
        http_parser_settings_init(&v);
        v.on_header_field = on_header_field;
        v.on_header_value = on_header_value;
        v.on_body = on_body;
        v.on_message_complete = on_message_complete;
        return v;
    }();
    return s;
}

bool is_redirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; // RFC 9110 15.4
}

} // namespace

HttpGet::HttpGet(uv_loop_t* loop, std::string url, HttpGetOptions options, Done done)
    : loop_(loop), opt_(std::move(options)), done_(std::move(done)), timer_(loop), resolver_(loop) {
    timer_.start(opt_.timeout_ms, 0, [this] {
        char secs[32];
        std::snprintf(secs, sizeof secs, "%g", static_cast<double>(opt_.timeout_ms) / 1000.0);
        finish(make_error(where(), std::string("no complete response within ") + secs + " s (timeout)", Errc::timeout));
    });
    start(url);
}

HttpGet::~HttpGet() {
    done_ = nullptr;
    drop_conn(); // resolver_'s destructor cancels a lookup in flight
}

std::string HttpGet::where() const { return "http " + (url_.host.empty() ? std::string("?") : url_.origin()); }

void HttpGet::fail_soon(Error e) {
    timer_.start(0, 0, [this, e = std::move(e)] { finish(e); });
}

void HttpGet::start(const std::string& url) {
    auto u = http_tracker::parse_url(url);
    if (!u) return fail_soon(u.error());
    if (u->tls && !tls_available()) // -Dtls=false: say so before any lookup or connect (a redirect comes here too)
        return fail_soon(make_error("tls " + u->host_header(), kNoTlsWhy, Errc::unsupported));
    url_ = std::move(*u);
    target_ = url_.path + (url_.query.empty() ? "" : "?" + url_.query);
    // on_resolved may destroy this HttpGet (through done); the Resolver touches nothing after it returns.
    auto st = resolver_.start(url_.host, url_.port, SOCK_STREAM,
                              [this](Result<Resolver::Addrs> addrs) { on_resolved(std::move(addrs)); });
    if (!st) fail_soon(st.error());
}

void HttpGet::on_resolved(Result<Resolver::Addrs> addrs) {
    if (!addrs) return finish(addrs.error());
    addrs_ = std::move(*addrs);
    next_addr_ = 0;
    last_connect_error_ = "no usable address";
    connect_next();
}

void HttpGet::connect_next() {
    while (next_addr_ < addrs_.size()) {
        const sockaddr* addr = reinterpret_cast<const sockaddr*>(&addrs_[next_addr_]);
        auto* c = new Conn;
        c->owner = this;
        c->max_body = opt_.max_body;
        c->tcp.data = c;
        c->connect_req.data = c;
        int rc = uv_tcp_init(loop_, &c->tcp);
        if (rc != 0) {
            delete c;
            return finish(make_error("uv_tcp_init", uv_strerror(rc)));
        }
        conn_ = c;
        rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, [](uv_connect_t* req, int st) {
            auto* cc = static_cast<Conn*>(req->data);
            if (cc->owner) fence("http connect", [&] { cc->owner->on_connected(cc, st); });
        });
        if (rc == 0) return;
        last_connect_error_ = uv_strerror(rc);
        drop_conn();
        ++next_addr_;
    }
    finish(make_error("connect " + url_.host_header(), last_connect_error_));
}

void HttpGet::on_connected(Conn* c, int status) {
    if (status < 0) {
        last_connect_error_ = uv_strerror(status);
        drop_conn();
        ++next_addr_;
        return connect_next();
    }
    c->request = "GET " + target_ + " HTTP/1.1\r\nHost: " + url_.host_header() + "\r\nUser-Agent: " + opt_.user_agent +
                 "\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n";
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    Status st = url_.tls ? start_tls(c) : send(c, std::move(c->request));
    if (!st) return finish(st.error());
    int rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* out) {
            auto* cc = static_cast<Conn*>(h->data);
            *out = uv_buf_init(cc->buf, sizeof cc->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
            auto* cc = static_cast<Conn*>(s->data);
            if (cc->owner && n != 0) fence("http read", [&] { cc->owner->on_read(cc, n, b->base); });
        });
    if (rc != 0) finish(make_error("send to " + url_.host_header(), uv_strerror(rc)));
}

// The CA bundle is loaded here, per connection, rather than once per HttpGet: it is shared with the other
// requests in flight and freed with the last of them (tls_client.hpp, load_tls_trust).
Status HttpGet::start_tls(Conn* c) {
    auto trust = load_tls_trust(opt_.ca_file);
    if (!trust) return trust.error();
    auto tls = TlsClient::create(std::move(*trust), url_.host, url_.port);
    if (!tls) return tls.error();
    c->tls = std::move(*tls);
    auto hs = c->tls->handshake(); // the ClientHello
    if (!hs) return hs.error();
    return send(c, c->tls->take_output());
}

// Ciphertext in; plaintext out (appended to plain), and whatever TLS has to say written to the socket. The
// request goes out in the same turn as the server's Finished. closed: the server sent its close_notify.
Status HttpGet::tls_step(Conn* c, std::string_view in, std::string& plain, bool& closed) {
    TlsClient& tls = *c->tls;
    if (auto st = tls.feed(in); !st) return st;
    const bool was_done = tls.handshake_done();
    auto hs = tls.handshake();
    if (!hs) {
        // mbedTLS put its alert (bad_certificate, ...) in the output: the server's log then says why we left.
        if (std::string alert = tls.take_output(); !alert.empty()) (void)send(c, std::move(alert));
        return hs.error();
    }
    if (*hs && !was_done)
        if (auto st = tls.write(c->request); !st) return st;
    if (*hs) {
        auto r = tls.read(plain);
        if (!r) return r.error();
        closed = *r;
    }
    std::string out = tls.take_output();
    return out.empty() ? ok_status() : send(c, std::move(out));
}

Status HttpGet::send(Conn* c, std::string bytes) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    if (uv_stream_get_write_queue_size(stream) + bytes.size() > kMaxUnsent)
        return make_error("send to " + url_.host_header(), "the server is not reading what we send");
    auto* w = new Write{{}, std::move(bytes), c};
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    int rc = uv_write(&w->req, stream, &b, 1, [](uv_write_t* req, int st) {
        std::unique_ptr<Write> done(static_cast<Write*>(req->data));
        Conn* cc = done->conn;
        done.reset();
        if (cc->owner && st < 0) fence("http write", [&] { cc->owner->on_read(cc, st, nullptr); });
    });
    if (rc == 0) return ok_status();
    delete w;
    return make_error("send to " + url_.host_header(), uv_strerror(rc));
}

void HttpGet::on_read(Conn* c, ssize_t n, const char* data) {
    if (n < 0 && n != UV_EOF) return finish(make_error(where(), uv_strerror(static_cast<int>(n))));
    std::string_view bytes = n > 0 ? std::string_view(data, static_cast<std::size_t>(n)) : std::string_view();
    bool eof = n == UV_EOF;
    std::string plain; // with TLS: what this read decrypted to (at most what was fed: kMaxBuffered in tls_client)
    if (c->tls) {
        // A TCP end without close_notify is taken as the end of the response too: a truncated body still fails
        // (Content-Length, chunked, or the bencoding that cannot end early), as servers rarely send close_notify.
        if (eof && !c->tls->handshake_done())
            return finish(make_error("tls handshake " + c->tls->where(), "the server closed the connection", Errc::io));
        if (!eof) {
            bool closed = false;
            if (auto st = tls_step(c, bytes, plain, closed); !st) return finish(st.error());
            bytes = plain;
            eof = closed;
        }
    }
    const http_parser_settings& s = parser_settings();
    if (!bytes.empty()) http_parser_execute(&c->parser, &s, bytes.data(), bytes.size());
    if (eof && !c->complete && !c->too_big) {
        http_parser_execute(&c->parser, &s, nullptr, 0); // EOF ends a read-until-close body
        if (!c->complete) return finish(make_error(where(), "connection closed before the response was complete"));
    }
    if (c->too_big)
        return finish(make_error(where(), "response body over " + std::to_string(opt_.max_body) + " bytes"));
    if (!c->complete) {
        auto err = HTTP_PARSER_ERRNO(&c->parser);
        if (err != HPE_OK)
            return finish(make_error(where(), std::string("malformed HTTP response: ") + http_errno_description(err),
                                     Errc::bad_input));
        return; // need more bytes
    }
    unsigned status = c->parser.status_code;
    if (!is_redirect(status) || c->location.empty())
        return finish(HttpResponse{static_cast<int>(status), std::move(c->body)});
    // Redirect: absolute http:// and https:// URLs, and absolute paths on the same origin.
    std::string next = c->location;
    drop_conn();
    if (++redirects_ > opt_.max_redirects)
        return finish(make_error(where(), "more than " + std::to_string(opt_.max_redirects) + " redirects"));
    if (!next.empty() && next.front() == '/' && (next.size() < 2 || next[1] != '/')) next = url_.origin() + next;
    start(next); // a bad Location fails through parse_url with its reason (not http:// or https://, ...)
}

void HttpGet::drop_conn() {
    if (!conn_) return;
    Conn* c = conn_;
    conn_ = nullptr;
    c->owner = nullptr;
    c->tls.reset(); // its buffers and the CA bundle it holds go now, not after the close callback
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
}

void HttpGet::finish(Result<HttpResponse> r) {
    if (!done_) return;
    Done d = std::move(done_);
    done_ = nullptr;
    timer_.stop();
    resolver_.cancel();
    drop_conn();
    fence("http reply", [&] { d(std::move(r)); }); // last: the callback may destroy this HttpGet
}

} // namespace p2p
