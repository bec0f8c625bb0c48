// The tracker tiers a torrent of the peer announces to: the --tracker URLs first, each a tier of its own (the
// user named them), then the torrent's own tiers (BEP 12) or a magnet's tr= URLs (one tier each). A URL already
// in the torrent's tiers is not added twice.
#pragma once
#include <string>
#include <vector>

namespace p2p {

using TrackerTiers = std::vector<std::vector<std::string>>;

TrackerTiers merge_tiers(const std::vector<std::string>& cli_urls, TrackerTiers own);
// A magnet's tr= URLs as tiers (BEP 9: each its own tier).
TrackerTiers tiers_of(const std::vector<std::string>& urls);

} // namespace p2p
