// Fuzz target: decode_handshake. Invariants: ok consumes exactly 68 bytes that re-encode identically; every
// strict prefix of an accepted handshake is need_more; need_more only below 68 bytes.
#include "fuzz_common.hpp"
#include "proto/wire.hpp"

using namespace p2p;

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    auto d = wire::decode_handshake(in);
    if (d.status == Decode::need_more) FUZZ_CHECK(size < wire::kHandshakeSize);
    if (d.status != Decode::ok) return 0;
    FUZZ_CHECK(d.consumed == wire::kHandshakeSize && size >= wire::kHandshakeSize);
    FUZZ_CHECK(d.handshake.info_hash.size() == 20 && d.handshake.peer_id.size() == 20);
    std::string enc;
    wire::encode_handshake(enc, d.handshake.reserved, d.handshake.info_hash, d.handshake.peer_id);
    FUZZ_CHECK(enc == in.substr(0, wire::kHandshakeSize));
    for (std::size_t cut = 0; cut < wire::kHandshakeSize; ++cut)
        FUZZ_CHECK(wire::decode_handshake(in.substr(0, cut)).status == Decode::need_more);
    return 0;
}
