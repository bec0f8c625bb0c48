#include "node/tracker_query.hpp"

#include "base/bytes.hpp"

namespace p2p {

TrackerQuery::TrackerQuery(uv_loop_t* loop, std::vector<std::string> urls, double timeout_s, std::string ca_file)
    : loop_(loop), urls_(std::move(urls)), timeout_s_(timeout_s), ca_file_(std::move(ca_file)) {}

HttpTrackerClient* TrackerQuery::http_client() {
    if (http_) return http_.get();
    for (const auto& u : urls_) {
        if (!starts_with_nocase(u, "http://") && !starts_with_nocase(u, "https://")) continue;
        HttpGetOptions o;
        o.timeout_ms = static_cast<std::uint64_t>(timeout_s_ * 1000);
        o.ca_file = ca_file_;
        http_ = std::make_unique<HttpTrackerClient>(loop_, u, o);
        return http_.get();
    }
    return nullptr;
}

UdpTrackerClient* TrackerQuery::client() {
    if (client_) return client_.get();
    for (const auto& u : urls_) {
        if (!parse_udp_tracker_url(u)) continue; // the catalog is a UDP extension: http:// trackers have none
        UdpClientOptions o;
        o.timeout_s = timeout_s_;
        client_ = std::make_unique<UdpTrackerClient>(loop_, u, o);
        return client_.get();
    }
    return nullptr;
}

void TrackerQuery::list(Done<std::vector<udp::CatalogEntry>> done) {
    UdpTrackerClient* c = client();
    if (!c) return done(make_error("", "no udp:// tracker given with --tracker"));
    c->list_all(std::move(done));
}

void TrackerQuery::scrape_hash(const std::string& name, const std::string& raw_hash, Done<ConsoleScrape> done) {
    udp::Hash20 h = udp::Hash20::from(raw_hash);
    auto answer = [name, raw_hash, done](Result<std::vector<udp::ScrapeEntry>> r) {
        if (!r) return done(r.error());
        if (r->empty()) return done(make_error("", "empty answer"));
        const auto& e = r->front();
        done(ConsoleScrape{name, raw_hash, e.seeders, e.leechers, e.completed});
    };
    if (UdpTrackerClient* c = client()) return c->scrape({h}, std::move(answer));
    if (HttpTrackerClient* c = http_client()) return c->scrape({h}, std::move(answer));
    done(make_error("", "no tracker given with --tracker"));
}

void TrackerQuery::scrape(const std::string& what, Done<ConsoleScrape> done) {
    std::string raw;
    if (what.size() == 40 && from_hex(what, raw)) return scrape_hash("", raw, std::move(done));
    if (!udp::valid_name(what)) return done(make_error("", "not a catalog name or a 40-hex info hash: " + what));
    UdpTrackerClient* c = client();
    if (!c) return done(make_error("", "no udp:// tracker given with --tracker"));
    c->lookup(what, [what, done](Result<std::optional<udp::CatalogEntry>> r) {
        if (!r) return done(r.error());
        if (!*r) return done(make_error("", "no torrent named '" + what + "' in the tracker's catalog"));
        const auto& e = **r;
        done(ConsoleScrape{e.name, std::string(e.info_hash.view()), e.seeders, e.leechers, e.completed});
    });
}

} // namespace p2p
