// Fuzz target: bencode decoder (decode_prefix and decode). Invariants: what decodes re-encodes to bytes that
// decode to an equal value; decode() accepts exactly the inputs whose prefix decode consumes everything; the
// raw byte ranges lie inside the input.
#include "fuzz_common.hpp"
#include "proto/bencode.hpp"

using namespace p2p;
using namespace p2p::bencode;

namespace {

bool equal(const Value& a, const Value& b) {
    if (a.v.index() != b.v.index()) return false;
    if (a.is_int()) return a.as_int() == b.as_int();
    if (a.is_string()) return a.as_string() == b.as_string();
    if (a.is_list()) {
        if (a.as_list().size() != b.as_list().size()) return false;
        for (std::size_t i = 0; i < a.as_list().size(); ++i)
            if (!equal(a.as_list()[i], b.as_list()[i])) return false;
        return true;
    }
    if (a.as_dict().size() != b.as_dict().size()) return false;
    for (auto ia = a.as_dict().begin(), ib = b.as_dict().begin(); ia != a.as_dict().end(); ++ia, ++ib)
        if (ia->first != ib->first || !equal(ia->second, ib->second)) return false;
    return true;
}

void check_ranges(const Value& v, std::size_t size) {
    FUZZ_CHECK(v.raw_begin <= v.raw_end && v.raw_end <= size);
    if (v.is_list())
        for (const auto& e : v.as_list()) check_ranges(e, size);
    if (v.is_dict())
        for (const auto& [k, e] : v.as_dict()) check_ranges(e, size);
}

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    Limits small;
    small.max_depth = 20;
    small.max_tokens = 1000;
    for (const Limits& limits : {Limits{}, small}) {
        auto p = decode_prefix(in, limits);
        auto whole = decode(in, limits);
        FUZZ_CHECK(whole.ok() == (p.status == Decode::ok && p.consumed == size));
        if (p.status == Decode::need_more) continue;
        if (p.status == Decode::error) continue;
        FUZZ_CHECK(p.consumed > 0 && p.consumed <= size);
        check_ranges(p.value, size);
        // Re-encoding gives a document that decodes equal and re-encodes to itself. (Not the input bytes: the
        // decoder accepts dictionaries with unsorted keys, the encoder sorts them.)
        std::string enc = encode(p.value);
        FUZZ_CHECK(enc.size() == p.consumed);
        auto again = decode(enc, limits);
        FUZZ_CHECK(again.ok());
        FUZZ_CHECK(equal(*again, p.value));
        FUZZ_CHECK(encode(*again) == enc);
        // Every strict prefix of a complete value is "need more", never a value or an error.
        for (std::size_t cut : {std::size_t{0}, p.consumed / 2, p.consumed - 1}) {
            auto q = decode_prefix(in.substr(0, cut), limits);
            FUZZ_CHECK(q.status == Decode::need_more);
        }
    }
    return 0;
}
