// src/base/bytes: big-endian readers/writers, hex, decimal ports.
#include <doctest/doctest.h>

#include <string>

#include "base/bytes.hpp"

using namespace p2p;

TEST_CASE("big-endian writers produce network byte order and the readers invert them") {
    std::string s;
    put_be16(s, 0x1A2B);
    put_be32(s, 0x01020304u);
    put_be64(s, 0x1122334455667788ull);
    CHECK(s == std::string("\x1A\x2B\x01\x02\x03\x04\x11\x22\x33\x44\x55\x66\x77\x88", 14));
    CHECK(read_be16(s, 0) == 0x1A2B);
    CHECK(read_be32(s, 2) == 0x01020304u);
    CHECK(read_be64(s, 6) == 0x1122334455667788ull);
}

TEST_CASE("hex round trip; odd length and non-hex digits are refused") {
    CHECK(to_hex(std::string("\x00\xff\x10", 3)) == "00ff10");
    std::string out;
    CHECK(from_hex("00FF10", out));
    CHECK(out == std::string("\x00\xff\x10", 3));
    CHECK_FALSE(from_hex("abc", out));
    CHECK_FALSE(from_hex("zz", out));
}

TEST_CASE("parse_port: 1..65535 in decimal, nothing else") {
    CHECK(parse_port("6969") == 6969);
    CHECK(parse_port("1") == 1);
    CHECK(parse_port("65535") == 65535);
    CHECK(parse_port("00080") == 80); // leading zeros are still a number
    CHECK(parse_port("0") == 0);
    CHECK(parse_port("65536") == 0);
    CHECK(parse_port("99999") == 0);
    CHECK(parse_port("123456") == 0); // more than 5 digits
    CHECK(parse_port("") == 0);
    CHECK(parse_port("80a") == 0);
    CHECK(parse_port("-80") == 0);
    CHECK(parse_port(" 80") == 0);
}

TEST_CASE("starts_with_nocase: URL schemes in any case, nothing shorter or different") {
    CHECK(p2p::starts_with_nocase("HTTP://x", "http://"));
    CHECK(p2p::starts_with_nocase("hTtPs://x", "https://"));
    CHECK_FALSE(p2p::starts_with_nocase("http:/", "http://"));
    CHECK_FALSE(p2p::starts_with_nocase("udp://x", "http://"));
    CHECK(p2p::starts_with_nocase("anything", ""));
}
