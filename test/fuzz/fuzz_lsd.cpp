// Fuzz target: one datagram through lsd::decode (proto/lsd.hpp). Invariants: a refusal is bad_input from
// "lsd.decode" with a reason; an accepted announce respects every bound of the header (datagram size, Port, 1..32
// distinct nonzero hashes, the cookie's length and characters); and an announce with at most
// kMaxHashesPerAnnounce hashes encodes on both groups within BEP 14's 1400 bytes to a datagram that decodes to the
// same announce and re-encodes to the same bytes.
#include <algorithm>

#include "fuzz_common.hpp"
#include "proto/lsd.hpp"

using namespace p2p;
using namespace p2p::lsd;

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    auto r = decode(in);
    if (!r) {
        FUZZ_CHECK(r.error().code == Errc::bad_input && r.error().op == "lsd.decode" && !r.error().what.empty());
        return 0;
    }
    const Announce& a = *r;
    FUZZ_CHECK(in.size() <= kMaxDatagram);
    FUZZ_CHECK(a.port != 0);
    FUZZ_CHECK(!a.info_hashes.empty() && a.info_hashes.size() + a.skipped <= kMaxHashes);
    for (std::size_t i = 0; i < a.info_hashes.size(); ++i) {
        FUZZ_CHECK(!(a.info_hashes[i] == udp::Hash20{}));
        for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(!(a.info_hashes[i] == a.info_hashes[j]));
    }
    FUZZ_CHECK(a.cookie.size() <= kMaxCookie);
    FUZZ_CHECK(a.cookie.find_first_of("\r\n") == std::string::npos);
    if (!a.cookie.empty()) {
        FUZZ_CHECK(a.cookie.front() != ' ' && a.cookie.front() != '\t');
        FUZZ_CHECK(a.cookie.back() != ' ' && a.cookie.back() != '\t');
    }
    if (a.info_hashes.size() > kMaxHashesPerAnnounce) return 0;
    for (Family f : {Family::v4, Family::v6}) {
        auto enc = encode(f, a.port, a.info_hashes, a.cookie);
        FUZZ_CHECK(enc.ok());
        FUZZ_CHECK(enc->size() <= kMaxAnnounceSize);
        auto again = decode(*enc);
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(again->port == a.port && again->info_hashes == a.info_hashes && again->cookie == a.cookie);
        FUZZ_CHECK(again->skipped == 0);
        auto enc2 = encode(f, again->port, again->info_hashes, again->cookie);
        FUZZ_CHECK(enc2.ok() && *enc2 == *enc);
    }
    return 0;
}
