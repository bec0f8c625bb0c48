// Fuzz target: parse_magnet. Invariant: make_magnet(parse(x)) parses back to the same hash, name and trackers.
#include "fuzz_common.hpp"
#include "proto/metainfo.hpp"

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto m = p2p::parse_magnet(fuzz::as_view(data, size));
    if (!m.ok()) return 0;
    FUZZ_CHECK(m->info_hash.size() == 20);
    std::string uri = p2p::make_magnet(*m);
    auto again = p2p::parse_magnet(uri);
    if (!again.ok()) std::fprintf(stderr, "re-made magnet refused: %s (%s)\n", uri.c_str(), again.error().what.c_str());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->info_hash == m->info_hash);
    FUZZ_CHECK(again->display_name == m->display_name);
    FUZZ_CHECK(again->trackers == m->trackers);
    FUZZ_CHECK(p2p::make_magnet(*again) == uri);
    return 0;
}
