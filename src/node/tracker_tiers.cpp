#include "node/tracker_tiers.hpp"

#include <algorithm>

namespace p2p {

TrackerTiers merge_tiers(const std::vector<std::string>& cli_urls, TrackerTiers own) {
    TrackerTiers out;
    auto present = [&](const std::string& url) {
        for (const auto& t : own)
            if (std::find(t.begin(), t.end(), url) != t.end()) return true;
        for (const auto& t : out)
            if (std::find(t.begin(), t.end(), url) != t.end()) return true;
        return false;
    };
    for (const auto& u : cli_urls)
        if (!present(u)) out.push_back({u});
    for (auto& t : own) out.push_back(std::move(t));
    return out;
}

TrackerTiers tiers_of(const std::vector<std::string>& urls) {
    TrackerTiers out;
    for (const auto& u : urls) out.push_back({u});
    return out;
}

} // namespace p2p
