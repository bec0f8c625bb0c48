// Fuzz target: decode_ext_handshake (BEP 10). Invariants: whatever is accepted respects our caps, and
// encode(decode(x)) decodes back to the same handshake and re-encodes to the same bytes.
#include "fuzz_common.hpp"
#include "proto/extension.hpp"

FUZZ_INIT

namespace {
bool same(const p2p::ext::ExtHandshake& a, const p2p::ext::ExtHandshake& b) {
    return a.m == b.m && a.listen_port == b.listen_port && a.client == b.client && a.metadata_size == b.metadata_size &&
           a.reqq == b.reqq && a.yourip == b.yourip;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace p2p::ext;
    auto hs = decode_ext_handshake(fuzz::as_view(data, size));
    if (!hs.ok()) return 0;
    FUZZ_CHECK(hs->m.size() <= kMaxExtensionNames);
    FUZZ_CHECK(hs->client.size() <= 100);
    FUZZ_CHECK(hs->metadata_size >= 0 && hs->metadata_size <= kMaxMetadataSize);
    FUZZ_CHECK(hs->yourip.empty() || hs->yourip.size() == 4 || hs->yourip.size() == 16);
    std::string bytes = encode_ext_handshake(*hs);
    auto again = decode_ext_handshake(bytes);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same(*again, *hs));
    FUZZ_CHECK(encode_ext_handshake(*again) == bytes);
    for (const auto& [name, id] : hs->m) FUZZ_CHECK(hs->id_of(name) == id);
    return 0;
}
