// Fuzz target: check_path_component. Invariant: an accepted component is one safe path segment.
#include "fuzz_common.hpp"
#include "proto/metainfo.hpp"

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto c = fuzz::as_view(data, size);
    if (!p2p::check_path_component(c).ok()) return 0;
    FUZZ_CHECK(!c.empty() && c.size() <= 255);
    FUZZ_CHECK(c != "." && c != "..");
    for (unsigned char ch : c) FUZZ_CHECK(ch != '/' && ch != '\\' && ch >= 0x20 && ch != 0x7f);
    return 0;
}
