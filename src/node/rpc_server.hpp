// The peer's RPC port (--rpc-port): Transmission's RPC over HTTP (POST /transmission/rpc, methods in
// rpc_methods.hpp) plus GET /stats (JSON) and GET /metrics (Prometheus text 0.0.4) with the peer's counters, and
// GET / (a web page driving the RPC: web_page.hpp), on the project's bounded HTTP/1.1 server (http/server.hpp).
//
// Why each check, in the order they run on every request:
//   1. Host allow-list (421 Misdirected Request otherwise). A web page on an attacker's domain that resolves to
//      127.0.0.1 (DNS rebinding, Transmission's CVE-2018-5702) reaches a local RPC port with the attacker's
//      name in Host. Allowed: "localhost", and any IP literal (127.0.0.1, [::1], the bind address, another
//      address of this host: an IP in Host means the page's origin is that IP, which no rebinding can fake).
//      A request without Host is refused too: every browser sends one.
//   2. HTTP basic auth when --rpc-auth-file is given (401 with WWW-Authenticate otherwise, so that curl, and
//      transmission-remote through it, answer the challenge). Compared in constant time.
//   3. For the RPC path only: X-Transmission-Session-Id must be ours (409 with the header otherwise). A page
//      cannot read a cross-origin 409's header, so it cannot forge a request (Transmission's CSRF defence).
// Bounds: max_connections at once (the RPC's clients are a few local tools; kMaxConnections by default), a body
// of max_body (a .torrent in base64 for torrent-add; kMaxBody by default), an answer of max_body too, the server's
// header and timeout limits (a request whole within kRequestTimeoutMs). Under --max-memory both come from the
// budget's plan (base/memory_budget.hpp). Worst case held: max_connections * (kRpcConnectionCost + max_body),
// plus, while one is built, one answer.
// Answers later: the RPC's answers go through the server's deferred answers (http::Response::defer): a torrent-add
// of a URL or a catalog name is answered once the node has it, within kDeferredTimeoutMs (a URL's fetch has 15 s,
// the node gives a lookup kRpcAddDeadlineMs, 25 s, then answers an error), else the client gets a 504; at most
// one per connection, so kMaxConnections.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "http/server.hpp"
#include "node/rpc_methods.hpp"

namespace p2p {

// The peer's counters for /stats and /metrics, read when asked.
struct PeerCounters {
    std::size_t torrents = 0, downloading = 0, seeding = 0, checking = 0, paused = 0, failed = 0, fetching = 0;
    std::size_t peers = 0;       // connections of the torrents (sum)
    std::size_t connections = 0; // the session's open connections (every torrent, handshakes, metadata fetches)
    std::uint64_t uploaded = 0, downloaded = 0; // payload bytes of the current torrents, this run
    double up_rate = 0, down_rate = 0;          // payload bytes/s
    std::uint64_t up_limit = 0, down_limit = 0; // global limits, bytes/s (0: none)
};

struct RpcServerConfig {
    std::string bind = "127.0.0.1";
    std::uint16_t port = 0; // 0: ephemeral
    std::string auth;       // "user:password"; empty: no authentication
    // Bounds (--max-memory: PeerMemoryPlan::rpc_connections and rpc_max_body, carved from the budget). An answer
    // (torrent-get of many torrents or files) over max_body is replaced by an error naming the cap.
    std::size_t max_connections = 8;
    std::size_t max_body = 16u << 20;
};

struct RpcCounters {
    std::uint64_t rpc = 0, stats = 0, misdirected = 0, unauthorized = 0, conflicts = 0, not_found = 0;
};

class RpcServer {
public:
    static constexpr std::size_t kMaxBody = 16u << 20;
    static constexpr std::size_t kMaxConnections = 8;
    static constexpr std::uint64_t kRequestTimeoutMs = 30'000;
    static constexpr std::uint64_t kDeferredTimeoutMs = 30'000;
    static constexpr const char* kPath = "/transmission/rpc";
    static constexpr const char* kSessionHeader = "X-Transmission-Session-Id";

    RpcServer(uv_loop_t* loop, RpcServerConfig cfg, RpcNodeOps ops, std::function<PeerCounters()> counters);
    RpcServer(const RpcServer&) = delete;
    RpcServer& operator=(const RpcServer&) = delete;

    Status listen();
    // Stops: the node's adds in flight end (RpcNodeOps::cancel_adds; their answers are sent first), then every
    // connection closes.
    void close() {
        methods_.cancel();
        http_.close();
    }
    // "http://127.0.0.1:9091/transmission/rpc" (the first bound address)
    std::string url() const;
    // The request handler (public for tests: a Request in, a Response out, no socket needed; called so, it
    // answers every method at once, torrent-add through RpcNodeOps::add).
    void handle(const http::Request& req, http::Response& resp);
    const std::string& session_id() const { return session_id_; }
    const RpcCounters& counters() const { return counters_; }
    const RpcMethods& methods() const { return methods_; }

    // --rpc-auth-file: one line "user:password" (a trailing newline is fine).
    static Result<std::string> read_auth_file(const std::string& path);
    // Whether a Host header value may reach us (see above).
    static bool host_allowed(const std::string* host);

private:
    bool authorized(const http::Request& req) const;
    std::string stats_json() const;
    std::string metrics_text() const;

    RpcServerConfig cfg_;
    RpcMethods methods_;
    std::function<PeerCounters()> counters_fn_;
    std::string session_id_;
    RpcCounters counters_;
    http::Server http_;
};

} // namespace p2p
