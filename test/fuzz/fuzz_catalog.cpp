// Fuzz target: the catalog extension packets (docs/catalog-protocol.md) and valid_name, checked against an
// independent UTF-8 validator (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
#include "udp_check.hpp"

using namespace p2p;

namespace {

bool utf8_ok(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::uint32_t cp;
        std::size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f;
            n = 2;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f;
            n = 3;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07;
            n = 4;
        } else
            return false;
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            auto d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xc0) != 0x80) return false;
            cp = cp << 6 | (d & 0x3f);
        }
        static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

bool reference_valid_name(std::string_view s) {
    if (s.empty() || s.size() > udp::kMaxNameSize || !utf8_ok(s)) return false;
    for (unsigned char c : s)
        if (c == '/' || c < 0x20 || c == 0x7f) return false;
    return true;
}

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    FUZZ_CHECK(udp::valid_name(in) == reference_valid_name(in));
    fuzz::check_requests(in);
    fuzz::check_responses(in, false);
    // The same bytes as a name inside a publish request and a lookup request.
    if (size <= udp::kMaxNameSize) {
        udp::PublishRequest p;
        p.connection_id = 1;
        p.transaction_id = 2;
        p.total_size = size;
        p.name = std::string(in);
        auto d = udp::decode_publish_request(udp::encode_publish_request(p));
        FUZZ_CHECK(d.ok() == reference_valid_name(in));
        if (d.ok()) FUZZ_CHECK(d->name == in && d->total_size == size);
        udp::LookupRequest l;
        l.name = p.name;
        auto dl = udp::decode_lookup_request(udp::encode_lookup_request(l));
        FUZZ_CHECK(dl.ok() == reference_valid_name(in));
    }
    return 0;
}
