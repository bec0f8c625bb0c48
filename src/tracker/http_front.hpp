// The tracker's HTTP port (--http-port): the request handler an http::Server calls, over the same TrackerServer
// (swarm store, catalog, counters) as the UDP side.
//
//   GET /announce  BEP 3 announce; answers BEP 23 compact "peers" to IPv4 announcers and BEP 7 "peers6" to IPv6
//                  ones (the store keeps each family apart, as for UDP); "failure reason" for a bad query. The
//                  peer's address is the TCP connection's source; the "ip" parameter is used only with
//                  --trust-ip-field (the UDP side's rule for its IP field), and only when it is a literal address.
//                  compact=0 is answered compact too (as opentracker does: BEP 23 lets a tracker).
//   GET /scrape    BEP 48, one or more info_hash parameters (at most kMaxScrapeQuery; no full scrape).
//   GET /catalog   the catalog as JSON, kCatalogPage entries per page: ?start=N for the next (its "next" field).
//   GET /stats     counters as JSON; GET /metrics the same in the Prometheus text format (version 0.0.4).
// Anything else is 404, a method other than GET and HEAD 405. Failures are HTTP 200 with a bencoded "failure
// reason" (BEP 3), so that clients show the reason instead of an HTTP status.
#pragma once
#include <cstdint>
#include <string>

#include "http/server.hpp"
#include "tracker/server.hpp"

namespace p2p {

struct HttpFrontCounters {
    std::uint64_t announces = 0, scrapes = 0, failures = 0, catalog = 0, stats = 0, not_found = 0;
};

class TrackerHttpFront {
public:
    static constexpr std::size_t kCatalogPage = 1000; // ours: one /catalog answer stays under ~200 KiB

    // memory_budget: --max-memory (0: none), reported beside the estimate of what is used.
    TrackerHttpFront(TrackerServer& tracker, std::uint64_t memory_budget = 0);
    // The server whose connections /stats and /metrics report (may stay unset: then none are reported).
    void set_server(const http::Server* server) { http_ = server; }

    void handle(const http::Request& req, http::Response& resp);
    const HttpFrontCounters& counters() const { return counters_; }

private:
    void announce(const http::Request& req, http::Response& resp);
    void scrape(const http::Request& req, http::Response& resp);
    void catalog(const http::Request& req, http::Response& resp);
    std::string stats_json() const;
    std::string metrics_text() const;
    std::uint64_t memory_estimate() const;
    void failure(http::Response& resp, const std::string& reason);

    TrackerServer& tracker_;
    std::uint64_t budget_;
    const http::Server* http_ = nullptr;
    HttpFrontCounters counters_;
    std::string peers_; // reused for every announce: the compact peers the store writes
};

} // namespace p2p
