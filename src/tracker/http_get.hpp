// One asynchronous HTTP/1.1 GET on the libuv loop (http:// and https://), for the HTTP tracker client.
//
// Steps: uv_getaddrinfo (never a blocking lookup) -> uv_tcp_connect to each resolved address in turn until one
// accepts -> for https://, the TLS handshake (tracker/tls_client.hpp: the certificate verified against
// options.ca_file or the system store, and the host name checked) -> write "GET target HTTP/1.1" with Host,
// User-Agent, Accept-Encoding: identity and Connection: close -> read through Debian's http_parser (response
// mode: Content-Length, chunked and read-until-close bodies). Redirects (301, 302, 303, 307, 308 with a Location
// header) are followed up to max_redirects times, between http:// and https:// either way (the Location comes
// from the server we verified, or from a plain-HTTP server that could have answered anything anyway).
// The whole request, redirects and handshakes included, must finish within timeout_ms.
//
// Result: the final response's status and body (any status; the caller decides what a 404 means), or an Error
// (resolve, connect, TLS handshake or certificate, timeout, malformed response, body over max_body, too many
// redirects).
//
// Ownership and lifetime: the HttpGet owns a Timer and a Resolver (tracker/resolver.hpp: destroying it cancels the
// lookup); the TCP connection lives in a heap block that points back at the HttpGet. Destroying the HttpGet
// detaches it (its callbacks then never reach us): the socket is uv_close'd and freed in its close callback.
// Its TLS state (buffers, the mbedTLS context, a reference to the parsed CA bundle) is freed at once on detach.
// Each uv_write owns its bytes in a block freed in the write callback.
// The done callback runs once, from the loop, never inside the constructor; the HttpGet may be destroyed from
// inside it (nothing of the HttpGet is touched after done returns).
#pragma once
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/timer.hpp"
#include "proto/http_tracker.hpp"
#include "tracker/resolver.hpp"

namespace p2p {

struct HttpGetOptions {
    std::uint64_t timeout_ms = 15'000; // whole request, like --timeout
    std::size_t max_body = 1u << 20;   // 1 MiB: a tracker answer with kMaxPeers dicts is ~60 KiB
    unsigned max_redirects = 3;
    std::string user_agent = std::string("p2pnode/") + P2PNODE_VERSION;
    std::string ca_file; // https://: the CA bundle (PEM) to trust; empty: the system store (tls_client.hpp)
};

struct HttpResponse {
    int status = 0;
    std::string body;
};

class HttpGet {
public:
    using Done = std::function<void(Result<HttpResponse>)>;
    HttpGet(uv_loop_t* loop, std::string url, HttpGetOptions options, Done done);
    ~HttpGet();
    HttpGet(const HttpGet&) = delete;
    HttpGet& operator=(const HttpGet&) = delete;

    bool finished() const { return !done_; }

    struct Conn; // public so the C callbacks in the .cpp can name it

private:
    void start(const std::string& url); // (re)starts at the lookup, for the first URL and each redirect
    void on_resolved(Result<Resolver::Addrs> addrs);
    void connect_next();
    void on_connected(Conn* c, int status);
    void on_read(Conn* c, ssize_t n, const char* data);
    Status start_tls(Conn* c);
    Status tls_step(Conn* c, std::string_view in, std::string& plain, bool& closed);
    Status send(Conn* c, std::string bytes);
    void drop_conn();
    void fail_soon(Error e); // from the loop, never inside the caller
    void finish(Result<HttpResponse> r);
    std::string where() const;

    uv_loop_t* loop_;
    HttpGetOptions opt_;
    Done done_;
    Timer timer_; // the deadline, or a zero delay for fail_soon
    http_tracker::Url url_;
    std::string target_;
    unsigned redirects_ = 0;
    Resolver resolver_;
    Conn* conn_ = nullptr;  // freed in its close callback
    Resolver::Addrs addrs_; // resolved addresses (at most Resolver::kMaxAddrs), tried in order
    std::size_t next_addr_ = 0;
    std::string last_connect_error_;
};

} // namespace p2p
