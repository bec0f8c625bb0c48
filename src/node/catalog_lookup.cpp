#include "node/catalog_lookup.hpp"

#include <algorithm>

namespace p2p {

struct CatalogLookups::Lookup {
    std::string name;
    Done done;
    std::size_t next = 0;
    std::vector<std::string> not_found; // URLs that answered "not in the catalog"
    std::string last_error;
    std::unique_ptr<UdpTrackerClient> client;
};

CatalogLookups::CatalogLookups(Loop& loop, std::vector<std::string> tracker_urls, double timeout_s)
    : loop_(loop), all_urls_(std::move(tracker_urls)), timeout_s_(timeout_s) {
    for (const auto& u : all_urls_)
        if (parse_udp_tracker_url(u)) udp_urls_.push_back(u);
}

CatalogLookups::~CatalogLookups() { cancel_all(); }

void CatalogLookups::cancel_all() {
    for (auto& l : lookups_) loop_.defer_delete(std::move(l->client)); // we may be inside one's callback
    lookups_.clear();
}

Status CatalogLookups::start(const std::string& name, Done done) {
    if (all_urls_.empty())
        return make_error("", "no tracker given to look up " + name + " (use --tracker udp://HOST:PORT)");
    if (udp_urls_.empty())
        return make_error(name, "looking up a name needs a udp:// tracker (the catalog is a BEP 15 extension)");
    if (lookups_.size() >= kMaxLookups) return make_error(name, "too many lookups in flight");
    auto l = std::make_unique<Lookup>();
    l->name = name;
    l->done = std::move(done);
    Lookup* raw = l.get();
    lookups_.push_back(std::move(l));
    // From the loop, never inside start(): the caller's state is settled before its callback runs.
    auto alive = life_.watch();
    loop_.defer([this, alive, raw] {
        if (!alive) return;
        if (std::any_of(lookups_.begin(), lookups_.end(), [&](auto& x) { return x.get() == raw; })) next(raw);
    });
    return ok_status();
}

void CatalogLookups::next(Lookup* l) {
    if (l->next >= udp_urls_.size()) {
        std::string msg;
        if (!l->not_found.empty()) {
            msg = "not in the catalog of";
            for (const auto& u : l->not_found) msg += " " + u;
            if (!l->last_error.empty()) msg += " (other trackers: " + l->last_error + ")";
        } else {
            msg = l->last_error;
        }
        return finish(l, make_error(l->name, msg));
    }
    const std::string url = udp_urls_[l->next++];
    UdpClientOptions o;
    o.timeout_s = timeout_s_;
    loop_.defer_delete(std::move(l->client)); // we may be inside its callback
    l->client = std::make_unique<UdpTrackerClient>(loop_.get(), url, o);
    auto alive = life_.watch();
    l->client->lookup(l->name, [this, alive, l, url](Result<std::optional<udp::CatalogEntry>> r) {
        if (!alive) return;
        if (!r) {
            l->last_error = "tracker " + url + " unreachable: " + r.error().str();
            return next(l);
        }
        if (!*r) {
            l->not_found.push_back(url);
            return next(l);
        }
        finish(l, CatalogHit{l->name, (*r)->info_hash.str(), (*r)->total_size});
    });
}

void CatalogLookups::finish(Lookup* l, Result<CatalogHit> r) {
    auto it = std::find_if(lookups_.begin(), lookups_.end(), [&](auto& x) { return x.get() == l; });
    if (it == lookups_.end()) return;
    std::unique_ptr<Lookup> done = std::move(*it);
    lookups_.erase(it);
    loop_.defer_delete(std::move(done->client)); // its callback may be the one running
    done->done(std::move(r));                    // may destroy us: nothing after this
}

} // namespace p2p
