// Fuzz target: parse_info_dict (BEP 9 metadata from a peer), with and without an expected hash. Invariants in
// metainfo_check.hpp; a wrong expected hash must always be refused.
#include "metainfo_check.hpp"

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    auto m = p2p::parse_info_dict(in);
    if (!m.ok()) return 0;
    FUZZ_CHECK(m->info_bytes == in);
    fuzz::check_metainfo(*m);
    std::string wrong = m->info_hash;
    wrong[0] = static_cast<char>(wrong[0] ^ 1);
    FUZZ_CHECK(!p2p::parse_info_dict(in, wrong).ok());
    return 0;
}
