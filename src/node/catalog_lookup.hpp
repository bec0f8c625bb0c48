// Catalog names (docs/catalog-protocol.md) looked up on the --tracker URLs: udp:// ones only (the catalog is our
// BEP 15 extension), one after the other, each with a short timeout, so an unreachable tracker gives an error
// line rather than the hour of BEP 15 retransmissions. The first tracker that knows the name answers; a name no
// tracker knows, or no tracker answering, is one error naming them.
//
// Bounds: kMaxLookups at once (more are refused at start). Callbacks run from the loop, never inside start();
// a callback may start another lookup or destroy the CatalogLookups. Clients are destroyed after the callback
// that finished with them (Loop::defer_delete).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/loop.hpp"
#include "tracker/udp_client.hpp"

namespace p2p {

struct CatalogHit {
    std::string name;
    std::string info_hash; // raw 20 bytes
    std::uint64_t total_size = 0;
};

class CatalogLookups {
public:
    using Done = std::function<void(Result<CatalogHit>)>;
    static constexpr std::size_t kMaxLookups = 64;
    static constexpr double kDefaultTimeoutS = 20; // per tracker

    CatalogLookups(Loop& loop, std::vector<std::string> tracker_urls, double timeout_s = kDefaultTimeoutS);
    ~CatalogLookups();
    CatalogLookups(const CatalogLookups&) = delete;
    CatalogLookups& operator=(const CatalogLookups&) = delete;

    // Fails at once, with the reason, when there is no udp:// tracker to ask or too many lookups run.
    Status start(const std::string& name, Done done);
    std::size_t active() const { return lookups_.size(); }
    // Drops every lookup; their callbacks never run.
    void cancel_all();

private:
    struct Lookup;
    void next(Lookup* l);
    void finish(Lookup* l, Result<CatalogHit> r);

    Loop& loop_;
    std::vector<std::string> all_urls_, udp_urls_;
    double timeout_s_;
    std::vector<std::unique_ptr<Lookup>> lookups_; // bounded by kMaxLookups
    LifeToken life_;
};

} // namespace p2p
