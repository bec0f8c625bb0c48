#include <doctest/doctest.h>

#include <vector>

#include "base/bytes.hpp"
#include "proto/wire.hpp"

using namespace p2p;
using namespace p2p::wire;

static std::string hx(std::string_view hex) {
    std::string out;
    if (!from_hex(hex, out)) out = "<bad hex>"; // no REQUIRE: also used in static initialisers
    return out;
}

static const std::string kHash = hx("0102030405060708090a0b0c0d0e0f1011121314");
static const std::string kPeer = "-PN0100-abcdefghijkl";

TEST_CASE("wire: handshake golden bytes and reserved bits") {
    Reserved r;
    r.set_extensions().set_fast();
    CHECK(r.bytes[5] == 0x10);
    CHECK(r.bytes[7] == 0x04);
    std::string out;
    encode_handshake(out, r, kHash, kPeer);
    const std::string golden = "13" + to_hex("BitTorrent protocol") + "0000000000100004" +
                               "0102030405060708090a0b0c0d0e0f1011121314" + to_hex(kPeer);
    CHECK(to_hex(out) == golden);
    CHECK(out.size() == kHandshakeSize);

    auto d = decode_handshake(out + "trailing");
    REQUIRE(d.status == Decode::ok);
    CHECK(d.consumed == 68);
    CHECK(d.handshake.info_hash == kHash);
    CHECK(d.handshake.peer_id == kPeer);
    CHECK(d.handshake.reserved.extensions());
    CHECK(d.handshake.reserved.fast());
    CHECK_FALSE(d.handshake.reserved.dht());

    for (std::size_t n = 0; n < out.size(); ++n) CHECK(decode_handshake(out.substr(0, n)).status == Decode::need_more);
}

TEST_CASE("wire: malformed handshakes fail as soon as the wrong byte arrives") {
    CHECK(decode_handshake("\x12").status == Decode::error);
    CHECK(decode_handshake(std::string(1, '\0')).status == Decode::error);
    CHECK(decode_handshake("\x13"
                           "BitTorrent")
              .status == Decode::need_more);
    auto d = decode_handshake("\x13"
                              "BitTorrenX");
    CHECK(d.status == Decode::error);
    CHECK(d.error.what.find("protocol name") != std::string::npos);
    // An HTTP request is not a handshake.
    CHECK(decode_handshake("GET / HTTP/1.1\r\n").status == Decode::error);
}

struct Golden {
    const char* name;
    std::string bytes;
};

static std::vector<Golden> goldens() {
    std::vector<Golden> g;
    std::string s;
    auto take = [&] {
        std::string r = std::move(s);
        s.clear();
        return r;
    };
    encode_keepalive(s);
    g.push_back({"keepalive", take()});
    encode_simple(s, MsgId::choke);
    g.push_back({"choke", take()});
    encode_simple(s, MsgId::unchoke);
    g.push_back({"unchoke", take()});
    encode_simple(s, MsgId::interested);
    g.push_back({"interested", take()});
    encode_simple(s, MsgId::not_interested);
    g.push_back({"not_interested", take()});
    encode_have(s, 0x01020304);
    g.push_back({"have", take()});
    encode_bitfield(s, hx("ff80"));
    g.push_back({"bitfield", take()});
    encode_request(s, 1, 0x4000, 0x4000);
    g.push_back({"request", take()});
    encode_piece(s, 2, 0x8000, "abc");
    g.push_back({"piece", take()});
    encode_cancel(s, 1, 0x4000, 0x4000);
    g.push_back({"cancel", take()});
    encode_port(s, 6881);
    g.push_back({"port", take()});
    encode_suggest(s, 7);
    g.push_back({"suggest", take()});
    encode_simple(s, MsgId::have_all);
    g.push_back({"have_all", take()});
    encode_simple(s, MsgId::have_none);
    g.push_back({"have_none", take()});
    encode_reject(s, 3, 0, 0x4000);
    g.push_back({"reject", take()});
    encode_allowed_fast(s, 9);
    g.push_back({"allowed_fast", take()});
    encode_extended(s, 0, "d1:md11:ut_metadatai1eee");
    g.push_back({"extended", take()});
    return g;
}

TEST_CASE("wire: golden bytes of every message") {
    auto g = goldens();
    const char* expect[] = {
        "00000000",
        "0000000100",
        "0000000101",
        "0000000102",
        "0000000103",
        "000000050401020304",
        "0000000305ff80",
        "0000000d06000000010000400000004000",
        "0000000c07000000020000800061626"
        "3",
        "0000000d08000000010000400000004000",
        "00000003091ae1",
        "000000050d00000007",
        "000000010e",
        "000000010f",
        "0000000d10000000030000000000004000",
        "000000051100000009",
        "0000001a1400"
        "64313a6d6431313a75745f6d657461646174616931656565",
    };
    REQUIRE(g.size() == std::size(expect));
    for (std::size_t i = 0; i < g.size(); ++i) {
        CAPTURE(g[i].name);
        CHECK(to_hex(g[i].bytes) == expect[i]);
    }
}

TEST_CASE("wire: decode every golden message, and every prefix needs more") {
    for (const auto& g : goldens()) {
        CAPTURE(g.name);
        for (std::size_t n = 0; n < g.bytes.size(); ++n)
            CHECK(decode_message(std::string_view(g.bytes).substr(0, n), 1 << 20).status == Decode::need_more);
        std::string buf = g.bytes + "\x00\x00";
        auto d = decode_message(buf, 1 << 20);
        REQUIRE(d.status == Decode::ok);
        CHECK(d.consumed == g.bytes.size());
        if (std::string_view(g.name) == "keepalive") {
            CHECK(d.msg.keepalive);
            continue;
        }
        CHECK_FALSE(d.msg.keepalive);
        CHECK(std::string_view(msg_name(d.msg.id)) == g.name);
    }
    auto d = decode_message(hx("000000050401020304"), 100);
    CHECK(d.msg.index == 0x01020304);
    d = decode_message(hx("0000000d06000000010000400000004000"), 100);
    CHECK(d.msg.msg_id() == MsgId::request);
    CHECK((d.msg.index == 1 && d.msg.begin == 0x4000 && d.msg.length == 0x4000));
    std::string piece = hx("0000000c070000000200008000616263");
    d = decode_message(piece, 100);
    CHECK((d.msg.index == 2 && d.msg.begin == 0x8000 && d.msg.length == 3));
    CHECK(d.msg.payload == "abc");
    CHECK(d.msg.payload.data() == piece.data() + 13); // in place, not copied
    d = decode_message(hx("00000003091ae1"), 100);
    CHECK(d.msg.port == 6881);
    const std::string bitfield = hx("0000000305ff80"), extended = hx("000000051400616263");
    d = decode_message(bitfield, 100);
    CHECK(d.msg.payload == hx("ff80"));
    d = decode_message(extended, 100);
    CHECK(d.msg.msg_id() == MsgId::extended);
    CHECK(d.msg.ext_id == 0);
    CHECK(d.msg.payload == "abc");
    d = decode_message(hx("0000000d10000000030000000000004000"), 100);
    CHECK((d.msg.msg_id() == MsgId::reject && d.msg.index == 3 && d.msg.begin == 0 && d.msg.length == 0x4000));
}

TEST_CASE("wire: piece header for zero-copy sends matches encode_piece") {
    unsigned char hdr[kPieceHeaderSize];
    encode_piece_header(hdr, 2, 0x8000, 3);
    std::string full;
    encode_piece(full, 2, 0x8000, "abc");
    CHECK(std::string(reinterpret_cast<char*>(hdr), 13) + "abc" == full);
}

TEST_CASE("wire: huge length prefix is rejected before buffering") {
    auto d = decode_message(hx("ffffffff"), 1 << 20);
    CHECK(d.status == Decode::error);
    CHECK(d.error.what.find("4294967295") != std::string::npos);
    // Unknown id with a huge length: also refused on the prefix alone.
    CHECK(decode_message(hx("7fffffffee"), 1 << 20).status == Decode::error);
    // Exactly at the limit is fine (and needs the body).
    CHECK(decode_message(hx("0000001005"), 16).status == Decode::need_more);
    CHECK(decode_message(hx("0000001105"), 16).status == Decode::error);
}

TEST_CASE("wire: fixed-size messages with the wrong length are errors before the body arrives") {
    const char* bad[] = {
        "0000000200", // choke with a byte of payload
        "0000000204", // have with 1-byte body
        "0000000604", // have with 5-byte body
        "0000000c06", // request 12
        "0000000e08", // cancel 14
        "0000000209", // port 2
        "000000040d", // suggest 4
        "000000020e", // have_all 2
        "000000020f", // have_none 2
        "0000000c10", // reject 12
        "0000000611", // allowed_fast 6
        "0000000807", // piece shorter than its 8-byte header
        "0000000114", // extended without ext id
    };
    for (const char* b : bad) {
        CAPTURE(b);
        auto d = decode_message(hx(b), 1 << 20);
        CHECK(d.status == Decode::error);
    }
}

TEST_CASE("wire: unknown ids decode with their body for the caller to ignore") {
    const std::string buf = hx("00000004ee616263");
    auto d = decode_message(buf, 100);
    REQUIRE(d.status == Decode::ok);
    CHECK(d.msg.id == 0xee);
    CHECK(std::string_view(msg_name(d.msg.id)) == "unknown");
    CHECK(d.msg.payload == "abc");
    CHECK(d.consumed == 8);
}

TEST_CASE("wire: back-to-back messages decode one at a time") {
    std::string buf;
    encode_simple(buf, MsgId::unchoke);
    encode_have(buf, 5);
    encode_keepalive(buf);
    std::size_t pos = 0;
    std::vector<std::string> names;
    while (pos < buf.size()) {
        auto d = decode_message(std::string_view(buf).substr(pos), 100);
        REQUIRE(d.status == Decode::ok);
        names.push_back(d.msg.keepalive ? "keepalive" : msg_name(d.msg.id));
        pos += d.consumed;
    }
    CHECK(names == std::vector<std::string>{"unchoke", "have", "keepalive"});
}
