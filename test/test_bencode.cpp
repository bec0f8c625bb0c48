#include <doctest/doctest.h>

#include "proto/bencode.hpp"

using namespace p2p;
using namespace p2p::bencode;

static std::string err_of(std::string_view in) {
    auto r = decode(in);
    REQUIRE_FALSE(r.ok());
    return r.error().what;
}

TEST_CASE("bencode: golden round trip of every type") {
    const std::string golden = "d3:bar4:spam3:fooi42e4:listli-7e0:lee5:zdictd1:ai0eee";
    auto r = decode(golden);
    REQUIRE(r.ok());
    CHECK(r->find_string("bar") != nullptr);
    CHECK(*r->find_string("bar") == "spam");
    CHECK(*r->find_int("foo") == 42);
    const List* l = r->find_list("list");
    REQUIRE(l);
    REQUIRE(l->size() == 3);
    CHECK((*l)[0].as_int() == -7);
    CHECK((*l)[1].as_string().empty());
    CHECK((*l)[2].as_list().empty());
    CHECK(encode(*r) == golden);
}

TEST_CASE("bencode: encode sorts dictionary keys") {
    Dict d;
    d["zeta"] = Value(1);
    d["alpha"] = Value("x");
    d["mid"] = Value(List{Value(2), Value("ab")});
    CHECK(encode(Value(d)) == "d5:alpha1:x3:midli2e2:abe4:zetai1ee");
}

TEST_CASE("bencode: integer extremes") {
    CHECK(decode("i9223372036854775807e")->as_int() == INT64_MAX);
    CHECK(decode("i-9223372036854775808e")->as_int() == INT64_MIN);
    CHECK(decode("i0e")->as_int() == 0);
    CHECK(err_of("i9223372036854775808e").find("overflows") != std::string::npos);
    CHECK(err_of("i-9223372036854775809e").find("overflows") != std::string::npos);
    CHECK(err_of("i123456789012345678901234567890e").find("overflows") != std::string::npos);
}

TEST_CASE("bencode: non-canonical integers are errors with offsets") {
    CHECK(err_of("i-0e") == "negative zero at byte 2");
    CHECK(err_of("i03e") == "leading zero in number at byte 1");
    CHECK(err_of("ie") == "empty number at byte 1");
    CHECK(err_of("i-e") == "empty number at byte 2");
    CHECK(err_of("i1x2e").find("unexpected character 'x' in number at byte 2") == 0);
    CHECK(err_of("03:abc") == "leading zero in number at byte 0");
}

TEST_CASE("bencode: string lengths are checked before allocating") {
    CHECK(err_of("99999999999:x").find("string length 99999999999 exceeds limit") == 0);
    // within the limit but beyond the buffer: truncated, not allocated
    CHECK(err_of("5000:abc") == "truncated input at byte 5");
    auto p = decode_prefix("5000:abc");
    CHECK(p.status == Decode::need_more);
}

TEST_CASE("bencode: nesting limit stops deep documents without recursion beyond it") {
    std::string deep(100000, 'l');
    auto r = decode(deep);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what == "nesting deeper than 100 at byte 100");
    std::string ok_depth = std::string(100, 'l') + std::string(100, 'e');
    CHECK(decode(ok_depth).ok());
    std::string too_deep = std::string(101, 'l') + std::string(101, 'e');
    CHECK_FALSE(decode(too_deep).ok());
}

TEST_CASE("bencode: token and size limits") {
    Limits lim;
    lim.max_tokens = 10;
    std::string many = "l" + std::string(20, '0') + "e";
    for (auto& c : many)
        if (c == '0') c = 'i';
    std::string list = "l";
    for (int i = 0; i < 20; ++i) list += "i1e";
    list += "e";
    auto r = decode(list, lim);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what.find("too many values") == 0);
    Limits small;
    small.max_input = 8;
    auto r2 = decode("10:0123456789", small);
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().what.find("exceeds limit") != std::string::npos);
}

TEST_CASE("bencode: truncation, trailing data, bad keys") {
    CHECK(err_of("") == "truncated input at byte 0");
    CHECK(err_of("d3:foo") == "truncated input at byte 6");
    CHECK(err_of("l") == "truncated input at byte 1");
    CHECK(err_of("i1ei2e") == "trailing data at byte 3");
    CHECK(err_of("di1ei2ee") == "dictionary key is not a byte string at byte 1");
    CHECK(err_of("d1:ai1e1:ai2ee") == "duplicate dictionary key at byte 7");
    CHECK(err_of("x").find("unexpected character 'x'") == 0);
    CHECK(err_of("-1:a") == "unexpected character '-' at byte 0");
}

TEST_CASE("bencode: prefix decoding reports consumed bytes and keeps raw ranges") {
    std::string in = "d4:infod6:lengthi5eee"
                     "TRAILING";
    auto p = decode_prefix(in);
    REQUIRE(p.status == Decode::ok);
    CHECK(p.consumed == in.size() - 8);
    const Value* info = p.value.find("info");
    REQUIRE(info);
    CHECK(in.substr(info->raw_begin, info->raw_end - info->raw_begin) == "d6:lengthi5ee");
}

TEST_CASE("bencode: every strict prefix of a valid document needs more bytes") {
    const std::string doc = "d1:ali1ei-22e3:xyze1:bd1:ci0eee";
    REQUIRE(decode(doc).ok());
    for (std::size_t n = 0; n < doc.size(); ++n) {
        auto p = decode_prefix(std::string_view(doc).substr(0, n));
        CHECK_MESSAGE(p.status == Decode::need_more, "prefix length ", n);
    }
}
