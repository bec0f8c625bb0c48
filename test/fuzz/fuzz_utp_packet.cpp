// Fuzz target: one datagram through utp::decode (proto/utp.hpp). Invariants: a refusal is bad_input with a reason;
// an accepted datagram looks like uTP, its payload is the datagram's tail and its SACK holds 1..255 bytes; encoding
// what was decoded gives a packet whose first extension is never the close reason, that decodes to the same fields
// (a lone close reason comes back behind an all-zero SACK) and re-encodes to the same bytes; and the SACK helpers
// agree: the mask sack_from rebuilds from sack_has answers the same for every packet it can hold.
#include "fuzz_common.hpp"
#include "proto/utp.hpp"

using namespace p2p;
using namespace p2p::utp;

FUZZ_INIT

namespace {

void check_sack(const std::string& mask, std::uint16_t ack_nr) {
    std::string rebuilt = sack_from(ack_nr, [&](std::uint16_t s) { return sack_has(mask, ack_nr, s); });
    FUZZ_CHECK(rebuilt.size() % kSackUnit == 0 && rebuilt.size() <= kMaxSackBytes);
    for (std::size_t i = 0; i < mask.size() * 8; ++i) {
        auto seq = static_cast<std::uint16_t>(ack_nr + 2 + i);
        bool want = i < kMaxSackBytes * 8 && sack_has(mask, ack_nr, seq);
        FUZZ_CHECK(sack_has(rebuilt, ack_nr, seq) == want);
    }
    FUZZ_CHECK(!sack_has(mask, ack_nr, static_cast<std::uint16_t>(ack_nr + 1)));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    auto r = decode(in);
    if (!r) {
        FUZZ_CHECK(r.error().code == Errc::bad_input && !r.error().what.empty());
        return 0;
    }
    const Packet& p = *r;
    FUZZ_CHECK(looks_like_utp(in));
    FUZZ_CHECK(p.h.version == kVersion && static_cast<std::uint8_t>(p.h.type) <= kMaxType);
    FUZZ_CHECK(p.payload.data() + p.payload.size() == in.data() + in.size());
    FUZZ_CHECK(p.payload.size() <= in.size() - kHeaderSize);
    if (p.sack) FUZZ_CHECK(!p.sack->empty() && p.sack->size() <= 255);

    std::string enc = encode(p.h, p.sack, p.close_reason, p.payload);
    FUZZ_CHECK(static_cast<std::uint8_t>(enc[1]) < kExtCloseReason);
    auto again = decode(enc);
    FUZZ_CHECK(again.ok());
    Header want = p.h;
    want.extension = (p.sack || p.close_reason) ? kExtSack : kExtNone;
    FUZZ_CHECK(again->h == want);
    if (p.sack) {
        FUZZ_CHECK(again->sack == p.sack);
    } else if (p.close_reason) {
        FUZZ_CHECK(again->sack == std::optional<std::string>(std::string(kSackUnit, '\0')));
    } else {
        FUZZ_CHECK(!again->sack);
    }
    FUZZ_CHECK(again->close_reason == p.close_reason);
    FUZZ_CHECK(again->payload == p.payload);
    FUZZ_CHECK(encode(again->h, again->sack, again->close_reason, again->payload) == enc);
    if (p.sack) check_sack(*p.sack, p.h.ack_nr);
    return 0;
}
