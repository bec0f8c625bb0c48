#include "tracker/http_front.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "base/bytes.hpp"
#include "base/memory_budget.hpp"
#include "http/metrics.hpp"
#include "proto/http_tracker_query.hpp"

namespace p2p {

namespace {

constexpr const char* kBencodeType = "text/plain"; // what opentracker and most trackers send for bencoding
constexpr const char* kJsonType = "application/json";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8"; // Prometheus text format

std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"; // never throws on bad UTF-8
}

// ?start=N of /catalog (the only parameter); 0 when absent or not a number.
std::size_t start_param(std::string_view query) {
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.substr(0, 6) != "start=") continue;
        std::size_t n = 0;
        auto v = part.substr(6);
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        return ec == std::errc() && p == v.data() + v.size() ? n : 0;
    }
    return 0;
}

} // namespace

TrackerHttpFront::TrackerHttpFront(TrackerServer& tracker, std::uint64_t memory_budget)
    : tracker_(tracker), budget_(memory_budget) {
    peers_.reserve(SwarmStore::kMaxNumWant * 18);
}

void TrackerHttpFront::handle(const http::Request& req, http::Response& resp) {
    if (req.method != "GET" && req.method != "HEAD") {
        resp.status = 405;
        resp.headers.emplace_back("Allow", "GET, HEAD");
        resp.body = "only GET and HEAD\n";
        return;
    }
    const std::string_view path = req.path();
    if (path == "/announce") return announce(req, resp);
    if (path == "/scrape") return scrape(req, resp);
    if (path == "/catalog") return catalog(req, resp);
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
    resp.body = "not found: try /announce, /scrape, /catalog, /stats or /metrics\n";
}

void TrackerHttpFront::failure(http::Response& resp, const std::string& reason) {
    ++counters_.failures;
    resp.content_type = kBencodeType;
    resp.body = http_tracker::encode_failure(reason);
}

void TrackerHttpFront::announce(const http::Request& req, http::Response& resp) {
    auto q = http_tracker::decode_announce_query(req.query());
    if (!q) return failure(resp, q.error().what);
    AnnounceInput in;
    in.info_hash = q->info_hash;
    in.event = q->event;
    in.seeder = q->left && *q->left == 0;
    in.num_want = q->numwant;
    if (!TrackerServer::source_peer(reinterpret_cast<const sockaddr*>(&req.peer), in.peer))
        return failure(resp, "unsupported address family");
    // The same rule as the UDP side's IP field: the source address unless the operator trusts announcers.
    if (q->ip && tracker_.config().trust_ip_field) {
        udp::CompactPeer p;
        if (inet_pton(AF_INET, q->ip->c_str(), p.ip.data()) == 1)
            in.peer = p;
        else if (inet_pton(AF_INET6, q->ip->c_str(), p.ip.data()) == 1) {
            p.v6 = true;
            in.peer = p;
        }
    }
    in.peer.port = q->port;
    ++counters_.announces;
    peers_.clear();
    AnnounceCounts c = tracker_.announce(in, peers_);
    http_tracker::AnnounceReply r;
    r.interval = tracker_.config().interval;
    r.min_interval = std::min(r.interval, http_tracker::kMinIntervalCap);
    r.complete = c.seeders;
    r.incomplete = c.leechers;
    (in.peer.v6 ? r.peers6 : r.peers) = peers_;
    resp.content_type = kBencodeType;
    resp.body.reserve(96 + peers_.size());
    http_tracker::append_announce_reply(resp.body, r);
}

void TrackerHttpFront::scrape(const http::Request& req, http::Response& resp) {
    auto hashes = http_tracker::decode_scrape_query(req.query());
    if (!hashes) return failure(resp, hashes.error().what);
    ++counters_.scrapes;
    std::vector<std::pair<udp::Hash20, udp::ScrapeEntry>> files;
    files.reserve(hashes->size());
    for (const auto& h : *hashes) files.emplace_back(h, tracker_.store().scrape(h));
    resp.content_type = kBencodeType;
    resp.body = http_tracker::encode_scrape_reply(std::move(files));
}

void TrackerHttpFront::catalog(const http::Request& req, http::Response& resp) {
    ++counters_.catalog;
    const auto& all = tracker_.catalog().entries();
    const std::size_t start = std::min(start_param(req.query()), all.size());
    const std::size_t end = std::min(all.size(), start + kCatalogPage);
    nlohmann::json entries = nlohmann::json::array();
    for (std::size_t i = start; i < end; ++i) {
        const CatalogRecord& r = all[i];
        udp::ScrapeEntry s = tracker_.store().scrape(r.info_hash);
        entries.push_back({{"name", r.name},
                           {"info_hash", to_hex(r.info_hash.view())},
                           {"size", r.total_size},
                           {"seeders", s.seeders},
                           {"leechers", s.leechers},
                           {"completed", s.completed}});
    }
    nlohmann::json j = {{"total", all.size()}, {"start", start}, {"entries", std::move(entries)}};
    j["next"] = end < all.size() ? nlohmann::json(end) : nlohmann::json(nullptr);
    resp.content_type = kJsonType;
    resp.body = dump(j);
}

std::uint64_t TrackerHttpFront::memory_estimate() const {
    // What grows with load, priced as the --max-memory plan prices it (base/memory_budget.hpp), plus the HTTP
    // connections' actual buffers.
    const SwarmStore& st = tracker_.store();
    return st.swarm_count() * kTrackerSwarmCost + st.peer_count() * kTrackerPeerCost +
           tracker_.catalog().size() * kTrackerCatalogCost + (http_ ? http_->memory_used() : 0);
}

std::string TrackerHttpFront::stats_json() const {
    const TrackerCounters& u = tracker_.counters();
    nlohmann::json udp = {{"connects", u.connects},         {"announces", u.announces},
                          {"scrapes", u.scrapes},           {"catalog", u.catalog},
                          {"malformed", u.malformed},       {"bad_connection", u.bad_connection},
                          {"send_drops", u.send_drops},     {"errors", u.errors}};
    nlohmann::json web = {{"announces", counters_.announces}, {"scrapes", counters_.scrapes},
                          {"failures", counters_.failures},   {"catalog", counters_.catalog},
                          {"not_found", counters_.not_found}};
    if (http_) http::add_server_stats(web, *http_);
    nlohmann::json j = {{"udp", std::move(udp)},
                        {"http", std::move(web)},
                        {"swarms", tracker_.store().swarm_count()},
                        {"peers", tracker_.store().peer_count()},
                        {"capped", tracker_.store().capped()},
                        {"catalog_size", tracker_.catalog().size()},
                        {"memory", {{"budget_bytes", budget_}, {"estimated_bytes", memory_estimate()}}}};
    return dump(j);
}

std::string TrackerHttpFront::metrics_text() const {
    http::MetricsText m;
    auto family = [&m](const char* name, const char* type, const char* help) { m.family(name, type, help); };
    auto sample = [&m](const char* name, const char* labels, std::uint64_t v) { m.sample(name, labels, v); };
    const TrackerCounters& u = tracker_.counters();
    family("p2pnode_tracker_announces_total", "counter", "Announces answered, by transport.");
    sample("p2pnode_tracker_announces_total", "{transport=\"udp\"}", u.announces);
    sample("p2pnode_tracker_announces_total", "{transport=\"http\"}", counters_.announces);
    family("p2pnode_tracker_scrapes_total", "counter", "Scrapes answered, by transport.");
    sample("p2pnode_tracker_scrapes_total", "{transport=\"udp\"}", u.scrapes);
    sample("p2pnode_tracker_scrapes_total", "{transport=\"http\"}", counters_.scrapes);
    family("p2pnode_tracker_errors_total", "counter",
           "Requests answered with an error (UDP error packets, HTTP failure reasons).");
    sample("p2pnode_tracker_errors_total", "{transport=\"udp\"}", u.errors);
    sample("p2pnode_tracker_errors_total", "{transport=\"http\"}", counters_.failures);
    family("p2pnode_tracker_udp_connects_total", "counter", "BEP 15 connect requests answered.");
    sample("p2pnode_tracker_udp_connects_total", "", u.connects);
    family("p2pnode_tracker_udp_dropped_total", "counter", "UDP requests dropped, by reason.");
    sample("p2pnode_tracker_udp_dropped_total", "{reason=\"malformed\"}", u.malformed);
    sample("p2pnode_tracker_udp_dropped_total", "{reason=\"bad_connection\"}", u.bad_connection);
    sample("p2pnode_tracker_udp_dropped_total", "{reason=\"send_buffer\"}", u.send_drops);
    family("p2pnode_tracker_catalog_requests_total", "counter", "Catalog requests, by transport.");
    sample("p2pnode_tracker_catalog_requests_total", "{transport=\"udp\"}", u.catalog);
    sample("p2pnode_tracker_catalog_requests_total", "{transport=\"http\"}", counters_.catalog);
    family("p2pnode_tracker_swarms", "gauge", "Swarms stored.");
    sample("p2pnode_tracker_swarms", "", tracker_.store().swarm_count());
    family("p2pnode_tracker_peers", "gauge", "Peers stored over all swarms.");
    sample("p2pnode_tracker_peers", "", tracker_.store().peer_count());
    family("p2pnode_tracker_capped_total", "counter", "Peers or swarms refused by the caps.");
    sample("p2pnode_tracker_capped_total", "", tracker_.store().capped());
    family("p2pnode_tracker_catalog_entries", "gauge", "Catalog names.");
    sample("p2pnode_tracker_catalog_entries", "", tracker_.catalog().size());
    family("p2pnode_tracker_memory_estimated_bytes", "gauge",
           "Memory that grows with load, priced as the --max-memory plan does (0 budget: none set).");
    sample("p2pnode_tracker_memory_estimated_bytes", "", memory_estimate());
    family("p2pnode_tracker_memory_budget_bytes", "gauge", "The --max-memory budget (0: none).");
    sample("p2pnode_tracker_memory_budget_bytes", "", budget_);
    if (http_) m.server("p2pnode_tracker_http", "Open HTTP connections.", *http_);
    return m.take();
}

} // namespace p2p
