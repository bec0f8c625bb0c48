// The peer's RPC port: Host check, basic auth, Transmission's session-id handshake, then RpcMethods; and the
// peer's /stats and /metrics in the tracker's style (src/tracker/http_front.cpp). See rpc_server.hpp for why.
#include "node/rpc_server.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "base/read_file.hpp"
#include "crypto/random.hpp"
#include "http/metrics.hpp"
#include "node/web_page.hpp"

namespace p2p {

namespace {

constexpr const char* kJsonType = "application/json; charset=UTF-8";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

http::Limits rpc_limits(const RpcServerConfig& cfg) {
    http::Limits l;
    l.max_body = std::min(cfg.max_body, RpcServer::kMaxBody);
    l.max_connections = std::clamp<std::size_t>(cfg.max_connections, 1, RpcServer::kMaxConnections);
    l.header_timeout_ms = RpcServer::kRequestTimeoutMs;
    l.max_deferred = l.max_connections; // one answer awaited per connection at most
    l.deferred_timeout_ms = RpcServer::kDeferredTimeoutMs;
    return l;
}

// An answer over the RPC's cap (the request body's, from --max-memory's plan) is not sent: Transmission's error
// shape instead, naming the size, so a client asks for fewer torrents or fields.
std::string bounded_answer(std::string json, std::size_t cap, const std::string& request) {
    if (json.size() <= cap) return json;
    nlohmann::json j = {{"result", "the answer (" + std::to_string(json.size()) + " bytes) is over the RPC's cap of " +
                                       std::to_string(cap) + " bytes (--max-memory): ask for fewer torrents or fields"},
                        {"arguments", nlohmann::json::object()}};
    if (auto rq = nlohmann::json::parse(request, nullptr, false); rq.is_object() && rq.contains("tag"))
        j["tag"] = rq["tag"]; // from the request (small), not the oversized answer
    return j.dump();
}

std::string make_session_id() {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[48];
    random_bytes(raw, sizeof raw);
    std::string id;
    for (unsigned char c : raw) id += kAlphabet[c % 62];
    return id;
}

bool equal_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// The time taken does not depend on where the first difference is (the length may show: it is no secret worth
// the trouble).
bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

} // namespace

RpcServer::RpcServer(uv_loop_t* loop, RpcServerConfig cfg, RpcNodeOps ops, std::function<PeerCounters()> counters)
    : cfg_(std::move(cfg)), methods_(std::move(ops)), counters_fn_(std::move(counters)), session_id_(make_session_id()),
      http_(loop, rpc_limits(cfg_), [this](const http::Request& rq, http::Response& rs) { handle(rq, rs); }) {
    methods_.set_answer_cap(http_.limits().max_body);
}

Status RpcServer::listen() { return http_.listen({cfg_.bind}, cfg_.port); }

std::string RpcServer::url() const {
    if (http_.bound().empty()) return "";
    return http_.bound().front().url() + kPath;
}

Result<std::string> RpcServer::read_auth_file(const std::string& path) {
    auto text = read_file(path, 4096);
    if (!text) return text.error();
    std::string s = std::move(*text);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.find('\n') != std::string::npos) return make_error(path, "more than one line (want user:password)");
    const auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
        return make_error(path, "not user:password on one line");
    return s;
}

bool RpcServer::host_allowed(const std::string* host) {
    if (!host || host->empty()) return false;
    std::string h = *host;
    if (h.front() == '[') { // [v6]:port
        const auto close = h.find(']');
        if (close == std::string::npos) return false;
        const std::string rest = h.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') return false;
        h = h.substr(1, close - 1);
        in6_addr a6;
        return inet_pton(AF_INET6, h.c_str(), &a6) == 1;
    }
    if (const auto colon = h.find(':'); colon != std::string::npos) h = h.substr(0, colon);
    if (equal_nocase(h, "localhost") || equal_nocase(h, "localhost.")) return true;
    in_addr a4;
    return inet_pton(AF_INET, h.c_str(), &a4) == 1;
}

bool RpcServer::authorized(const http::Request& req) const {
    if (cfg_.auth.empty()) return true;
    const std::string* h = req.header("authorization");
    if (!h || h->size() < 6 || !equal_nocase(std::string_view(*h).substr(0, 6), "basic ")) return false;
    std::string_view b64 = std::string_view(*h).substr(6);
    while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
    auto creds = base64_decode(b64);
    return creds && constant_time_equal(*creds, cfg_.auth);
}

void RpcServer::handle(const http::Request& req, http::Response& resp) {
    if (!host_allowed(req.header("host"))) {
        ++counters_.misdirected;
        resp.status = 421;
        resp.body = "421: the Host header names neither localhost nor an IP address (DNS rebinding guard)\n";
        resp.close = true;
        return;
    }
    if (!authorized(req)) {
        ++counters_.unauthorized;
        resp.status = 401;
        resp.headers.emplace_back("WWW-Authenticate", "Basic realm=\"p2pnode\"");
        resp.body = "401: Unauthorized\n";
        return;
    }
    const std::string_view path = req.path();
    if (path == kPath || path == std::string(kPath) + "/") {
        resp.headers.emplace_back(kSessionHeader, session_id_);
        const std::string* sid = req.header("x-transmission-session-id");
        if (!sid || *sid != session_id_) {
            ++counters_.conflicts;
            resp.status = 409;
            resp.body = "409: Conflict\nYour request had an invalid session-id header.\n\nTo fix this, retry with "
                        "the header:\n" +
                        std::string(kSessionHeader) + ": " + session_id_ + "\n";
            return;
        }
        if (req.method != "POST") {
            resp.status = 405;
            resp.headers.emplace_back("Allow", "POST");
            resp.body = "405: the RPC takes POST\n";
            return;
        }
        ++counters_.rpc;
        // Every answer may come later (torrent-add of a URL or a name); most come at once, inside the call below,
        // and are then this Response as usual.
        http::Deferred later = resp.defer();
        if (!later && resp.status == 503) return; // the server's cap on answers awaited
        resp.content_type = kJsonType;
        if (!later) { // not called by the server (a test): at once
            resp.body = bounded_answer(methods_.handle(req.body), http_.limits().max_body, req.body);
            return;
        }
        methods_.handle(req.body, [later, sid = session_id_, cap = http_.limits().max_body,
                                   // for the tag of an oversized answer; a big request (an upload) is no query
                                   request = req.body.size() <= 4096 ? req.body : std::string()](std::string json) {
            http::Response r;
            r.content_type = kJsonType;
            r.headers.emplace_back(kSessionHeader, sid);
            r.body = bounded_answer(std::move(json), cap, request);
            later.answer(std::move(r)); // a no-op if the client is gone
        });
        return;
    }
    if (req.method != "GET" && req.method != "HEAD") {
        resp.status = 405;
        resp.headers.emplace_back("Allow", "GET, HEAD");
        resp.body = "405: only GET and HEAD here\n";
        return;
    }
    if (is_web_page_path(path)) { // after the Host check and auth above; no session id (it only reads)
        serve_web_page(resp);
        return;
    }
    if (path == "/stats") {
        ++counters_.stats;
        resp.content_type = kJsonType;
        resp.body = stats_json();
        return;
    }
    if (path == "/metrics") {
        ++counters_.stats;
        resp.content_type = kMetricsType;
        resp.body = metrics_text();
        return;
    }
    ++counters_.not_found;
    resp.status = 404;
    resp.body = "not found: try GET / (the web page), POST /transmission/rpc, GET /stats or GET /metrics\n";
}

std::string RpcServer::stats_json() const {
    const PeerCounters c = counters_fn_ ? counters_fn_() : PeerCounters{};
    nlohmann::json j = {{"torrents",
                         {{"total", c.torrents},
                          {"downloading", c.downloading},
                          {"seeding", c.seeding},
                          {"checking", c.checking},
                          {"paused", c.paused},
                          {"failed", c.failed},
                          {"fetching_metadata", c.fetching}}},
                        {"peers", c.peers},
                        {"connections", c.connections},
                        {"uploaded_bytes", c.uploaded},
                        {"downloaded_bytes", c.downloaded},
                        {"upload_rate", static_cast<std::uint64_t>(c.up_rate)},
                        {"download_rate", static_cast<std::uint64_t>(c.down_rate)},
                        {"upload_limit", c.up_limit},
                        {"download_limit", c.down_limit},
                        {"rpc",
                         {{"calls", methods_.counters().calls},
                          {"errors", methods_.counters().errors},
                          {"misdirected", counters_.misdirected},
                          {"unauthorized", counters_.unauthorized},
                          {"session_id_conflicts", counters_.conflicts}}},
                        {"http", nlohmann::json::object()}};
    http::add_server_stats(j["http"], http_);
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string RpcServer::metrics_text() const {
    http::MetricsText m;
    auto family = [&m](const char* name, const char* type, const char* help) { m.family(name, type, help); };
    auto sample = [&m](const char* name, const char* labels, std::uint64_t v) { m.sample(name, labels, v); };
    const PeerCounters c = counters_fn_ ? counters_fn_() : PeerCounters{};
    family("p2pnode_peer_torrents", "gauge", "Torrents, by state (fetching: a magnet's metadata, BEP 9).");
    sample("p2pnode_peer_torrents", "{state=\"downloading\"}", c.downloading);
    sample("p2pnode_peer_torrents", "{state=\"seeding\"}", c.seeding);
    sample("p2pnode_peer_torrents", "{state=\"checking\"}", c.checking);
    sample("p2pnode_peer_torrents", "{state=\"paused\"}", c.paused);
    sample("p2pnode_peer_torrents", "{state=\"failed\"}", c.failed);
    sample("p2pnode_peer_torrents", "{state=\"fetching\"}", c.fetching);
    family("p2pnode_peer_peers", "gauge", "Peer connections of the torrents.");
    sample("p2pnode_peer_peers", "", c.peers);
    family("p2pnode_peer_connections", "gauge", "Open peer connections of the session (handshakes included).");
    sample("p2pnode_peer_connections", "", c.connections);
    family("p2pnode_peer_payload_bytes", "gauge",
           "Payload bytes moved this run by the torrents we have now, by direction (a removed torrent's leave).");
    sample("p2pnode_peer_payload_bytes", "{direction=\"up\"}", c.uploaded);
    sample("p2pnode_peer_payload_bytes", "{direction=\"down\"}", c.downloaded);
    family("p2pnode_peer_rate_bytes_per_second", "gauge", "Payload rate over all torrents, by direction.");
    sample("p2pnode_peer_rate_bytes_per_second", "{direction=\"up\"}", static_cast<std::uint64_t>(c.up_rate));
    sample("p2pnode_peer_rate_bytes_per_second", "{direction=\"down\"}", static_cast<std::uint64_t>(c.down_rate));
    family("p2pnode_peer_rate_limit_bytes_per_second", "gauge", "Global rate limits, by direction (0: none).");
    sample("p2pnode_peer_rate_limit_bytes_per_second", "{direction=\"up\"}", c.up_limit);
    sample("p2pnode_peer_rate_limit_bytes_per_second", "{direction=\"down\"}", c.down_limit);
    family("p2pnode_peer_rpc_calls_total", "counter", "RPC method calls, by outcome.");
    sample("p2pnode_peer_rpc_calls_total", "{result=\"success\"}",
           methods_.counters().calls - methods_.counters().errors);
    sample("p2pnode_peer_rpc_calls_total", "{result=\"error\"}", methods_.counters().errors);
    family("p2pnode_peer_rpc_refused_total", "counter", "RPC port requests refused, by reason.");
    sample("p2pnode_peer_rpc_refused_total", "{reason=\"host\"}", counters_.misdirected);
    sample("p2pnode_peer_rpc_refused_total", "{reason=\"auth\"}", counters_.unauthorized);
    sample("p2pnode_peer_rpc_refused_total", "{reason=\"session_id\"}", counters_.conflicts);
    m.server("p2pnode_peer_http", "Open HTTP connections of the RPC port.", http_);
    return m.take();
}

} // namespace p2p
