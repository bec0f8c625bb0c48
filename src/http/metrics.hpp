// What the tracker's HTTP port and the peer's RPC port both report: the Prometheus text exposition format (0.0.4)
// for /metrics, and the HTTP server's own counters, in /metrics and in /stats' JSON.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "http/server.hpp"

namespace p2p::http {

// Builds a /metrics body: each family's HELP and TYPE lines, then its samples.
class MetricsText {
public:
    void family(const char* name, const char* type, const char* help);
    // labels: "" or "{key=\"value\"}".
    void sample(const char* name, const char* labels, std::uint64_t value);
    // The server's families, named PREFIX_connections, PREFIX_connection_events_total, PREFIX_requests_total,
    // PREFIX_bad_requests_total and PREFIX_buffer_bytes.
    void server(const std::string& prefix, const char* connections_help, const Server& s);
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// The server's counters as /stats keys (requests, bad_requests, connections, accepted, refused, evicted, timed_out,
// buffer_bytes), added to `into`.
void add_server_stats(nlohmann::json& into, const Server& s);

} // namespace p2p::http
