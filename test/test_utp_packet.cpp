// uTP packet codec (proto/utp.hpp) against golden bytes from an independent Python encoder (tools/utp_golden.py:
// rerun it and paste its output below after changing a parameter), then round trips, every refusal, every
// truncation of a packet with extensions, the wrapping sequence compares and the SACK bit mapping.
#include <doctest/doctest.h>

#include <list>
#include <set>

#include "base/bytes.hpp"
#include "proto/utp.hpp"
#include "test_util.hpp"

using namespace p2p;
using p2p::test::unhex;
using namespace p2p::utp;

namespace {

// The parameters of tools/utp_golden.py.
constexpr std::uint32_t kTs = 0x01020304, kDiff = 0x00000BB8, kWnd = 0x00100000;

Header hdr(Type type, std::uint16_t conn, std::uint32_t diff, std::uint32_t wnd, std::uint16_t seq, std::uint16_t ack) {
    Header h;
    h.type = type;
    h.connection_id = conn;
    h.timestamp_us = kTs;
    h.timestamp_difference_us = diff;
    h.wnd_size = wnd;
    h.seq_nr = seq;
    h.ack_nr = ack;
    return h;
}

// tools/utp_golden.py output.
const std::string kSyn = "410012340102030400000000001000004e210000";
const std::string kMask = "03020080";
const std::string kStateSack = "210112350102030400000bb8001000004e220010000403020080";
const std::string kData = "010012350102030400000bb8001000004e22001168656c6c6f20755450";
const std::string kFin = "110012350102030400000bb8000000004e230011";
const std::string kReset = "31001234010203040000000000000000beef4e21";
const std::string kStateSackClose = "210112350102030400000bb8001000004e220010030403020080000400000102";
const std::string kFinClose = "110112350102030400000bb8000000004e230011030400000000000400000002";
const std::string kSackWrap = "810100000000000002000000";

const std::set<std::uint16_t> kReceived = {0x0012, 0x0013, 0x001B, 0x0031}; // ack_nr 0x0010: offsets 2, 3, 11, 33

std::function<bool(std::uint16_t)> in(const std::set<std::uint16_t>& s) {
    return [&s](std::uint16_t seq) { return s.count(seq) != 0; };
}

// Packet::payload is a view into the datagram: the datagrams decoded here live until the end of the run.
std::string_view keep(std::string bytes) {
    static std::list<std::string> kept;
    return kept.emplace_back(std::move(bytes));
}

Packet decoded(const std::string& hex) {
    auto r = decode(keep(unhex(hex)));
    REQUIRE_MESSAGE(r.ok(), r.error().str());
    return *r;
}

std::string refusal(std::string_view bytes) {
    auto r = decode(bytes);
    if (r.ok()) return "accepted";
    CHECK(r.error().code == Errc::bad_input);
    CHECK(r.error().op == "utp.decode");
    return r.error().what;
}

// A valid header with the given first byte and extension byte, then `rest`.
std::string raw(std::uint8_t type_ver, std::uint8_t ext, std::string_view rest = {}) {
    std::string s = unhex(kFin);
    s[0] = static_cast<char>(type_ver);
    s[1] = static_cast<char>(ext);
    return s + std::string(rest);
}

} // namespace

TEST_CASE("utp packet: golden SYN, DATA, FIN and RESET") {
    CHECK(to_hex(encode(hdr(Type::syn, 0x1234, 0, kWnd, 0x4E21, 0))) == kSyn);
    CHECK(to_hex(encode(hdr(Type::data, 0x1235, kDiff, kWnd, 0x4E22, 0x0011), std::nullopt, std::nullopt,
                        "hello uTP")) == kData);
    CHECK(to_hex(encode(hdr(Type::fin, 0x1235, kDiff, 0, 0x4E23, 0x0011))) == kFin);
    CHECK(to_hex(encode(hdr(Type::reset, 0x1234, 0, 0, 0xBEEF, 0x4E21))) == kReset);

    Packet syn = decoded(kSyn);
    CHECK(syn.h == hdr(Type::syn, 0x1234, 0, kWnd, 0x4E21, 0));
    CHECK(syn.h.version == 1);
    CHECK_FALSE(syn.sack);
    CHECK_FALSE(syn.close_reason);
    CHECK(syn.payload.empty());
    Packet data = decoded(kData);
    CHECK(data.h == hdr(Type::data, 0x1235, kDiff, kWnd, 0x4E22, 0x0011));
    CHECK(data.payload == "hello uTP");
    CHECK(decoded(kFin).h == hdr(Type::fin, 0x1235, kDiff, 0, 0x4E23, 0x0011));
    CHECK(decoded(kReset).h == hdr(Type::reset, 0x1234, 0, 0, 0xBEEF, 0x4E21));
}

TEST_CASE("utp packet: golden STATE with a SACK, and with a SACK and a close reason") {
    std::string mask = sack_from(0x0010, in(kReceived));
    CHECK(to_hex(mask) == kMask);
    Header st = hdr(Type::state, 0x1235, kDiff, kWnd, 0x4E22, 0x0010);
    CHECK(to_hex(encode(st, mask)) == kStateSack);
    CHECK(to_hex(encode(st, mask, 0x0102)) == kStateSackClose);

    Packet p = decoded(kStateSack);
    Header want = st;
    want.extension = kExtSack;
    CHECK(p.h == want);
    REQUIRE(p.sack);
    CHECK(to_hex(*p.sack) == kMask);
    CHECK_FALSE(p.close_reason);
    CHECK(p.payload.empty());

    Packet q = decoded(kStateSackClose);
    CHECK(q.h == want);
    REQUIRE(q.sack);
    CHECK(to_hex(*q.sack) == kMask);
    CHECK(q.close_reason == std::optional<std::uint16_t>(0x0102));
}

TEST_CASE("utp packet: a close reason is never the first extension") {
    // libutp drops a packet whose first extension id is >= 3: a lone close reason goes behind a zero SACK.
    Header fin = hdr(Type::fin, 0x1235, kDiff, 0, 0x4E23, 0x0011);
    std::string bytes = encode(fin, std::nullopt, std::uint16_t{2});
    CHECK(to_hex(bytes) == kFinClose);
    CHECK(static_cast<std::uint8_t>(bytes[1]) == kExtSack);
    Packet p = decoded(kFinClose);
    CHECK(p.sack == std::optional<std::string>(std::string(4, '\0')));
    CHECK(p.close_reason == std::optional<std::uint16_t>(2));

    // What libtorrent sends without a SACK (close reason first) is read all the same.
    std::string lt = raw(0x11, kExtCloseReason, unhex("000400000007") + "tail");
    auto r = decode(lt);
    REQUIRE(r.ok());
    CHECK_FALSE(r->sack);
    CHECK(r->close_reason == std::optional<std::uint16_t>(7));
    CHECK(r->payload == "tail");
}

TEST_CASE("utp packet: round trips") {
    std::string mask = sack_from(0x0010, in(kReceived));
    const std::string big(1400, 'x');
    for (int t = 0; t <= kMaxType; ++t) {
        for (int ext = 0; ext < 4; ++ext) {
            Header h = hdr(static_cast<Type>(t), 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 0xFFFF, 0);
            h.timestamp_us = 0xDEADBEEF;
            std::optional<std::string> sack = (ext & 1) ? std::optional<std::string>(mask) : std::nullopt;
            std::optional<std::uint16_t> reason = (ext & 2) ? std::optional<std::uint16_t>(0xFFFF) : std::nullopt;
            std::string_view payload = t == 0 ? std::string_view(big) : std::string_view();
            std::string bytes = encode(h, sack, reason, payload);
            CHECK(looks_like_utp(bytes));
            auto r = decode(bytes);
            REQUIRE(r.ok());
            Header want = h;
            want.extension = ext ? kExtSack : kExtNone;
            CHECK(r->h == want);
            CHECK(r->sack == (ext ? std::optional<std::string>(sack ? mask : std::string(4, '\0')) : std::nullopt));
            CHECK(r->close_reason == reason);
            CHECK(r->payload == payload);
            CHECK(encode(r->h, r->sack, r->close_reason, r->payload) == bytes);
        }
    }
    // encode appends.
    std::string out = "prefix";
    encode(hdr(Type::fin, 1, 2, 3, 4, 5), std::nullopt, std::nullopt, {}, out);
    CHECK(out.size() == 6 + kHeaderSize);
    CHECK(decode(std::string_view(out).substr(6)).ok());
}

TEST_CASE("utp packet: refusals") {
    CHECK(refusal("") == "truncated header: need 20 bytes, got 0");
    CHECK(refusal(unhex(kFin).substr(0, 19)) == "truncated header: need 20 bytes, got 19");
    CHECK(refusal(raw(0x10, 0)) == "bad version 0");
    CHECK(refusal(raw(0x12, 0)) == "bad version 2");
    CHECK(refusal(raw(0x1F, 0)) == "bad version 15");
    for (int t = 5; t < 16; ++t)
        CHECK(refusal(raw(static_cast<std::uint8_t>(t << 4 | 1), 0)) == "bad type " + std::to_string(t));
    // The extension chain: a header cut short, a body running past the end.
    CHECK(refusal(raw(0x21, kExtSack)) == "truncated extension header at byte 20");
    CHECK(refusal(raw(0x21, kExtSack, unhex("00"))) == "truncated extension header at byte 20");
    CHECK(refusal(raw(0x21, kExtSack, unhex("0004030200"))) == "extension 1 of 4 bytes runs past the end");
    CHECK(refusal(raw(0x21, 77, unhex("0009") + "12345678")) == "extension 77 of 9 bytes runs past the end");
    // The last link names a next extension that is not there.
    CHECK(refusal(raw(0x21, kExtSack, unhex("010403020080"))) == "truncated extension header at byte 26");
    // SACK of length 0; a second SACK or close reason.
    CHECK(refusal(raw(0x21, kExtSack, unhex("0000"))) == "SACK extension of length 0");
    CHECK(refusal(raw(0x21, kExtSack, unhex("01040302008000040000ffff"))) == "second SACK extension");
    CHECK(refusal(raw(0x21, kExtCloseReason, unhex("030400000001000400000002"))) == "second close reason extension");
    // A bounded walk: 8 extensions pass, a 9th is refused, however short they are.
    std::string chain;
    for (int i = 0; i < 7; ++i) chain += unhex("0200");
    CHECK(decode(raw(0x21, 2, chain + unhex("0000"))).ok());
    CHECK(refusal(raw(0x21, 2, chain + unhex("02000000"))) == "more than 8 extensions");
}

TEST_CASE("utp packet: what the BEP or the implementations leave open is accepted") {
    // A SACK whose length is not a multiple of 4: libtorrent sends (packets in its reorder buffer + 7) / 8 bytes.
    for (std::size_t n : {1u, 3u, 5u, 255u}) {
        auto r = decode(raw(0x21, kExtSack, std::string{0, static_cast<char>(n)} + std::string(n, '\x01')));
        REQUIRE(r.ok());
        REQUIRE(r->sack);
        CHECK(r->sack->size() == n);
    }
    // Unknown ids are skipped by their length, zero included (2: libutp's deprecated 8-byte extension bits).
    auto r = decode(keep(raw(0x01, 2, unhex("4d08") + std::string(8, 'e') + unhex("0000") + "payload")));
    REQUIRE(r.ok());
    CHECK(r->h.extension == 2);
    CHECK_FALSE(r->sack);
    CHECK(r->payload == "payload");
    // A close reason of another length than 4 is ignored, as libtorrent does.
    r = decode(keep(raw(0x11, kExtCloseReason, unhex("0002abcd"))));
    REQUIRE(r.ok());
    CHECK_FALSE(r->close_reason);
    CHECK(r->payload.empty());
    // Payload on a SYN (libutp and libtorrent ignore it), a DATA without payload, payload on a STATE.
    CHECK(decode(raw(0x41, 0, "syn data")).ok());
    CHECK(decode(raw(0x01, 0)).ok());
    CHECK(decode(raw(0x21, 0, "x"))->payload == "x");
}

TEST_CASE("utp packet: every truncation of a packet with extensions") {
    Header h = hdr(Type::data, 0x1235, kDiff, kWnd, 0x4E22, 0x0010);
    std::string full = encode(h, sack_from(0x0010, in(kReceived)), std::uint16_t{9}, "0123456789");
    const std::size_t ext_end = kHeaderSize + 2 + 4 + 2 + 4;
    REQUIRE(full.size() == ext_end + 10);
    for (std::size_t n = 0; n <= full.size(); ++n) {
        CAPTURE(n);
        auto r = decode(std::string_view(full).substr(0, n));
        if (n < ext_end) {
            CHECK_FALSE(r.ok());
        } else {
            REQUIRE(r.ok());
            CHECK(r->close_reason == std::optional<std::uint16_t>(9));
            CHECK(r->payload == std::string_view(full).substr(ext_end, n - ext_end));
        }
    }
}

TEST_CASE("utp packet: looks_like_utp for the UDP demultiplexer") {
    CHECK(looks_like_utp(unhex(kSyn)));
    CHECK(looks_like_utp(unhex(kData)));
    CHECK_FALSE(looks_like_utp(unhex(kSyn).substr(0, 19)));
    CHECK_FALSE(looks_like_utp("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")); // a DHT ping
    CHECK_FALSE(looks_like_utp(unhex("000004172710198000000000a1b2c3d400000000")));          // a BEP 15 connect
    CHECK_FALSE(looks_like_utp(raw(0x51, 0)));                                               // type 5
    CHECK_FALSE(looks_like_utp(raw(0x42, 0)));                                               // version 2
    CHECK(looks_like_utp(raw(0x41, 0xff)));                                                  // decode decides the rest
}

TEST_CASE("utp packet: sequence numbers at the wrap") {
    CHECK(seq_less(65535, 0));
    CHECK_FALSE(seq_less(0, 65535));
    CHECK(seq_less(65530, 5));
    CHECK(seq_less(1, 2));
    CHECK_FALSE(seq_less(2, 1));
    CHECK_FALSE(seq_less(7, 7));
    CHECK(seq_less(0, 32767));
    CHECK_FALSE(seq_less(0, 32768)); // exactly half the space apart: unordered both ways
    CHECK_FALSE(seq_less(32768, 0));
    CHECK(seq_less(32769, 0));
    CHECK(seq_distance(65535, 0) == 1);
    CHECK(seq_distance(0, 65535) == 65535);
    CHECK(seq_distance(65530, 4) == 10);
    CHECK(seq_distance(9, 9) == 0);
}

TEST_CASE("utp packet: SACK bit mapping") {
    // Golden bytes from tools/utp_golden.py: ack_nr 65534, so bit 0 stands for seq 0.
    std::set<std::uint16_t> wrap = {0, 7, 8, 65};
    std::string mask = sack_from(65534, in(wrap), 12);
    CHECK(to_hex(mask) == kSackWrap);
    for (int s = 0; s < 65536; ++s) {
        auto seq = static_cast<std::uint16_t>(s);
        CHECK(sack_has(mask, 65534, seq) == (wrap.count(seq) != 0));
    }
    // ack_nr + 1 is never in a mask; ack_nr + 2 is bit 0 of byte 0; ack_nr + 9 its bit 7.
    CHECK_FALSE(sack_has(std::string(4, '\xff'), 100, 101));
    CHECK(sack_has(std::string(4, '\xff'), 100, 102));
    CHECK(sack_has("\x01\0\0\0", 100, 102));
    CHECK_FALSE(sack_has("\x01\0\0\0", 100, 103));
    CHECK(sack_has(std::string("\x80\0\0\0", 4), 100, 109));
    CHECK(sack_has(std::string("\0\x01\0\0", 4), 100, 110));
    CHECK_FALSE(sack_has(std::string(4, '\xff'), 100, 134)); // past 32 bits
    CHECK_FALSE(sack_has("", 100, 102));
    // Lengths: whole 4-byte words up to the last received, within max_bytes (rounded down, capped).
    std::set<std::uint16_t> none, far = {2 + 40}, last = {2 + 2015}, beyond = {2 + 2016};
    CHECK(sack_from(0, in(none)).empty());
    CHECK(sack_from(0, in(far)).size() == 8);
    CHECK(sack_from(0, in(far), 7).empty()); // 7 rounds down to 4 bytes: bit 40 is out of reach
    CHECK(sack_from(0, in(far), 3).empty());
    CHECK(sack_from(0, in(last), 10000).size() == kMaxSackBytes);
    CHECK(sack_from(0, in(beyond), 10000).empty());
}
