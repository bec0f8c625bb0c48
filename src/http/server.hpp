// A small HTTP/1.1 server on the libuv loop: the tracker's HTTP port (BEP 3/48, /stats, /metrics, /catalog) and,
// later, the Transmission RPC. Generic: every complete request goes to one synchronous Handler that fills a
// Response; the server owns sockets, parsing (Debian's http-parser 2.9, as the tracker client does), keep-alive,
// pipelining, timeouts and every bound.
//
// Bounds (Limits), so that no client can make the server hold more than a fixed amount or a socket forever:
//   - request line + headers <= max_header_bytes and <= max_headers fields, else 431 and close;
//   - body <= max_body (0: any body is refused with 413 and close; the tracker serves GET only);
//   - a request must be whole within header_timeout_ms of its first byte (of the accept, for the first one),
//     however slowly it trickles in: a slow-loris client sending a byte a second is closed at that fixed time;
//     between keep-alive requests a connection may idle idle_timeout_ms; output that makes no progress for
//     write_timeout_ms closes the connection;
//   - at most max_connections at once: at the cap a new connection evicts the connection idle the longest
//     (waiting between requests, nothing to write), else it is refused (accepted and closed at once);
//   - output per connection: above max_output (pipelined requests whose answers are not being read) parsing and
//     reading stop, the unparsed rest of that read (<= kReadSlab) is kept, and both resume once the output is
//     written. One answer may exceed it: the handler bounds its answers.
// Memory: a connection costs sizeof(Conn) (~1 KiB) plus its buffers; memory_used() sums them (stats, metrics).
// The read buffer is one slab of the server (kReadSlab), reused: every read is parsed before the callback returns.
// Cost: the listening sockets are the server's own (polled by libuv), so accept4() gives the peer's address, and a
// new connection's first read is tried at once: a one-request connection whose request is already in (most
// "Connection: close" announces) costs accept4, recv, send and close, and never gets a libuv handle; only a
// connection that has to wait is wrapped in a uv_tcp_t (and gets TCP_NODELAY).
//
// Lifetimes (docs/HACKING.md): a connection is only ever freed in its uv_close callback, so closing one from a
// callback of its own (a parse error, a timeout, the handler asking to close) is safe; the code checks `closed`
// after each call that may close. Every libuv trampoline runs through fence(): an exception closes that one
// connection (a throwing handler answers 500 and closes). The Server may be destroyed from any callback but its
// own handler's.
#pragma once
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "loop/timer.hpp"

namespace p2p::http {

struct Limits {
    std::size_t max_header_bytes = 8 * 1024; // request line + header fields, as sent
    std::size_t max_headers = 64;
    std::size_t max_body = 0; // 0: no request body at all
    std::uint64_t header_timeout_ms = 10'000;
    std::uint64_t idle_timeout_ms = 30'000;
    std::uint64_t write_timeout_ms = 30'000;
    std::size_t max_connections = 512;
    std::size_t max_output = 64 * 1024;
};

struct Request {
    std::string method; // "GET", "HEAD", ...
    std::string target; // as sent: "/announce?info_hash=..."
    std::vector<std::pair<std::string, std::string>> headers; // names lower-cased, in order
    std::string body;
    sockaddr_storage peer{}; // the TCP peer
    unsigned http_minor = 1;

    std::string_view path() const;  // the target up to '?'
    std::string_view query() const; // after '?', empty if none
    const std::string* header(std::string_view lower_name) const;
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; // extra header fields
    bool close = false;                                       // close the connection after this answer
};

using Handler = std::function<void(const Request&, Response&)>;

struct Stats {
    std::uint64_t accepted = 0, refused = 0, evicted = 0, timed_out = 0;
    std::uint64_t requests = 0, bad_requests = 0; // bad: 400/413/431 answered by the server itself
};

struct Bound {
    std::string address;
    std::uint16_t port = 0;
    bool v6 = false;
    std::string url() const; // http://0.0.0.0:8080, http://[::]:8080
};

class Server {
public:
    static constexpr std::size_t kReadSlab = 16 * 1024;
    static constexpr int kAcceptBatch = 64; // connections accepted per wake-up of a listener; the rest wait a turn

    Server(uv_loop_t* loop, Limits limits, Handler handler);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Listens on every address (empty: 0.0.0.0 and ::, IPv6 tolerated missing), all on one port (0: one
    // ephemeral port for all). Fails only if nothing could be bound: "cannot listen on TCP port N (addr: why;
    // ...)"; addresses that fail while others bind are logged as warnings.
    Status listen(std::vector<std::string> addresses, std::uint16_t port);
    // Stops listening, closes every connection (freed in their close callbacks). Safe to call twice.
    void close();

    const std::vector<Bound>& bound() const { return bound_; }
    const Stats& stats() const { return stats_; }
    std::size_t connections() const { return conns_.size(); }
    std::size_t memory_used() const; // connection records and their buffers, now
    const Limits& limits() const { return limits_; }

    struct Conn;     // server.cpp; public for the C trampolines
    struct Listener; // server.cpp

private:
    Status listen_one(const std::string& address, std::uint16_t port, bool v6only);
    int start_accepting(Listener* l);
    void drop_listener(Listener* l);
    void on_listener(Listener* l);
    void accept_one(int fd, const sockaddr_storage& peer);
    bool attach(Conn* c);
    void start_reading(Conn* c);
    void stop_reading(Conn* c);
    void tick();
    void close_conn(Conn* c);
    void feed(Conn* c, const char* data, std::size_t len);
    void pump(Conn* c);
    void flush(Conn* c);
    void fail(Conn* c, int status); // answer an error of ours and close once it is written
    void message_complete(Conn* c);
    friend struct Callbacks;

    uv_loop_t* loop_;
    Limits limits_;
    Handler handler_;
    std::vector<Listener*> listeners_; // each freed (and its socket closed) in its close callback
    std::vector<Conn*> conns_;         // open connections (closed ones are removed at once, freed later)
    std::vector<Bound> bound_;
    std::unique_ptr<char[]> slab_;
    Stats stats_;
    std::unique_ptr<Timer> timer_; // timeouts, see tick()
    bool closed_ = false;
    bool accept_paused_ = false; // out of descriptors: listeners stopped until the next tick
};

// "OK", "Not Found", ... for the status codes this server sends ("Unknown" otherwise).
const char* reason_phrase(int status);

} // namespace p2p::http
