// A small HTTP/1.1 server on the libuv loop: the tracker's HTTP port (BEP 3/48, /stats, /metrics, /catalog) and
// the peer's Transmission RPC. Generic: every complete request goes to one Handler that fills a Response; the
// server owns sockets, parsing (Debian's http-parser 2.9, as the tracker client does), keep-alive, pipelining,
// timeouts and every bound.
//
// Deferred answers: a handler that cannot answer at once (the RPC's torrent-add of a URL to fetch) calls
// Response::defer() and keeps the Deferred it returns; Deferred::answer(Response) sends the answer later. Until
// then the connection parses nothing more (pipelined requests behind it wait in the stash, and are answered after
// it, in order). Safe whatever happens first: answering a connection that was closed (by the client, a timeout, the
// server's close or destruction) does nothing; answering from inside the handler is an ordinary answer. Bounds:
// at most max_deferred answers pending per server (over it, defer() answers 503 at once), each within
// deferred_timeout_ms (else 504 and close).
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
//   - deferred answers: at most max_deferred pending, each answered within deferred_timeout_ms (504 otherwise);
//   - output per connection: above max_output (pipelined requests whose answers are not being read) parsing and
//     reading stop, the unparsed rest of that read (<= kReadSlab) is kept, and both resume once the output is
//     written. One answer may exceed it: the handler bounds its answers.
// Memory: a connection costs sizeof(Conn) (~1 KiB) plus its buffers; memory_used() sums them (stats, metrics).
// The read buffer is one slab of the server (kReadSlab), reused: every read is parsed before the callback returns.
// Cost: the listening sockets are the server's own (polled by libuv), so accept4() gives the peer's address, and a
// new connection's first read is tried at once: a one-request connection whose request is already in (most
// "Connection: close" announces) costs accept4, recv, send and close, and never gets a libuv handle; only a
// connection that has to wait is wrapped in a uv_tcp_t (and gets TCP_NODELAY). Its answer is sent with
// MSG_MORE when nothing is left unread, so the close() that follows sends it and the FIN in one segment.
//
// Lifetimes (docs/HACKING.md): a connection is only ever freed in its uv_close callback, so closing one from a
// callback of its own (a parse error, a timeout, the handler asking to close) is safe; the code checks `closed`
// after each call that may close. A Deferred holds a LifeToken::Watch of its wait (expired when it is answered
// or its connection closes) and trusts its pointer only while that lives. Every libuv trampoline runs through
// fence(): an exception closes that one connection (a throwing handler answers 500 and closes). The Server may be
// destroyed from any callback but its own handler's; a Deferred may outlive it.
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
#include "loop/life_token.hpp"
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
    std::size_t max_deferred = 16;              // deferred answers pending at once (Response::defer)
    std::uint64_t deferred_timeout_ms = 30'000; // a deferred answer not given by then: 504 and close
    // TCP_DEFER_ACCEPT (tcp(7)) on the listening sockets, in seconds (0: off). The kernel then hands a connection
    // over only once its first bytes are in (or, for one that stays silent, after about this long): no wake-up
    // for a handshake whose request is still on its way, and the first recv always finds it, so a one-shot
    // announce never takes the libuv path. A silent connection waits in the kernel's SYN queue (bounded by the
    // backlog) instead of holding one of max_connections. For a port where connections are many and short.
    unsigned defer_accept_s = 0;
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

class Server;
class Deferred;

struct Response {
    int status = 200;
    std::string_view content_type = "text/plain; charset=utf-8"; // a string literal (or static): never copied
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers; // extra header fields
    bool close = false;                                       // close the connection after this answer

    // From inside the Handler, on the Response it was given (never on a copy kept past it): this request is
    // answered later, through the Deferred returned (the fields above are then ignored). At the server's
    // max_deferred, or for a Response no server handed over (a test calling a handler directly), it returns an
    // empty Deferred and this Response stays the answer (503 at the cap).
    Deferred defer();

private:
    friend class Server;
    Server* server_ = nullptr; // set while the Handler runs
    void* conn_ = nullptr;
};

using Handler = std::function<void(const Request&, Response&)>;

struct Stats {
    std::uint64_t accepted = 0, refused = 0, evicted = 0, timed_out = 0;
    std::uint64_t requests = 0, bad_requests = 0; // bad: 400/413/431 answered by the server itself
    // deferred: answers that came after the handler returned; late: 504; refused: 503 at the cap
    std::uint64_t deferred = 0, deferred_late = 0, deferred_refused = 0;
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
    std::size_t deferred_pending() const { return deferred_; }

    struct Conn;     // server_impl.hpp; public for the C trampolines
    struct Listener; // server_impl.hpp

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
    // Deferred answers (server_deferred.cpp).
    Deferred defer(Conn* c, Response& resp);
    void answer_deferred(Conn* c, Response r);
    void end_wait(Conn* c); // the wait is over (answered, timed out, closed): its Deferred expires
    void answer_late(Conn* c);
    friend struct Callbacks;
    friend class Deferred;
    friend struct Response;

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
    std::size_t deferred_ = 0;   // connections waiting for a deferred answer (<= limits_.max_deferred)
};

// The completion of a deferred answer (Response::defer). Copyable; the first answer() wins, the others do nothing.
class Deferred {
public:
    Deferred() = default;
    // Sends r as the answer to the request that was deferred, then goes on with the connection's next request.
    // A no-op once that answer is no longer awaited: already given, 504 sent at the timeout, the connection closed
    // (by the client, an eviction, the server's close or its destruction).
    void answer(Response r) const;
    // Whether answer() would still send something.
    bool pending() const { return wait_.alive(); }
    explicit operator bool() const { return pending(); }

private:
    friend class Server;
    Deferred(LifeToken::Watch wait, Server::Conn* c) : wait_(std::move(wait)), conn_(c) {}
    LifeToken::Watch wait_;        // the connection's wait for this answer
    Server::Conn* conn_ = nullptr; // valid while wait_ is alive (it expires before the connection is freed)
};

// "OK", "Not Found", ... for the status codes this server sends ("Unknown" otherwise).
const char* reason_phrase(int status);

} // namespace p2p::http
