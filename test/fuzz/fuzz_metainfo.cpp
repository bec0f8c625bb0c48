// Fuzz target: parse_torrent (whole .torrent files). Invariants in metainfo_check.hpp.
#include "metainfo_check.hpp"

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto m = p2p::parse_torrent(fuzz::as_view(data, size));
    if (m.ok()) {
        fuzz::check_metainfo(*m);
        for (const auto& tier : m->trackers) FUZZ_CHECK(!tier.empty());
    }
    return 0;
}
