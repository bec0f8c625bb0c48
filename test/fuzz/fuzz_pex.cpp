// Fuzz target: decode_pex (BEP 11). Invariants: accepted lists respect the cap and hold no port-0 or all-zero
// peers, flags never outnumber IPv4 added peers, and decode(encode(decode(x))) == decode(x).
#include <cstring>

#include "fuzz_common.hpp"
#include "proto/extension.hpp"

FUZZ_INIT

namespace {
bool same(const std::vector<p2p::udp::CompactPeer>& a, const std::vector<p2p::udp::CompactPeer>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].v6 != b[i].v6 || a[i].port != b[i].port) return false;
        if (std::memcmp(a[i].ip.data(), b[i].ip.data(), a[i].v6 ? 16 : 4) != 0) return false;
    }
    return true;
}

void check_list(const std::vector<p2p::udp::CompactPeer>& l, std::size_t& v4_count) {
    std::size_t v4 = 0, v6 = 0;
    for (const auto& p : l) {
        FUZZ_CHECK(p.port != 0);
        bool zero = true;
        for (std::size_t i = 0; i < (p.v6 ? 16u : 4u); ++i) zero = zero && p.ip[i] == 0;
        FUZZ_CHECK(!zero);
        (p.v6 ? v6 : v4)++;
        if (!p.v6) FUZZ_CHECK(v6 == 0); // IPv4 peers come first
    }
    FUZZ_CHECK(v4 <= p2p::ext::kMaxPexPeers && v6 <= p2p::ext::kMaxPexPeers);
    v4_count = v4;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace p2p::ext;
    auto m = decode_pex(fuzz::as_view(data, size));
    if (!m.ok()) return 0;
    std::size_t added_v4 = 0, dropped_v4 = 0;
    check_list(m->added, added_v4);
    check_list(m->dropped, dropped_v4);
    FUZZ_CHECK(m->added_flags.size() <= added_v4);
    std::string bytes = encode_pex(*m);
    auto again = decode_pex(bytes);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same(again->added, m->added));
    FUZZ_CHECK(same(again->dropped, m->dropped));
    FUZZ_CHECK(again->added_flags == m->added_flags);
    FUZZ_CHECK(encode_pex(*again) == bytes);
    return 0;
}
