// BEP 10 extension handshake, BEP 9 ut_metadata, BEP 11 ut_pex codecs and the metadata assembler.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "crypto/sha.hpp"
#include "proto/extension.hpp"

using namespace p2p;
using namespace p2p::ext;
using namespace std::string_literals;

namespace {

udp::CompactPeer v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    udp::CompactPeer p;
    p.ip[0] = a;
    p.ip[1] = b;
    p.ip[2] = c;
    p.ip[3] = d;
    p.port = port;
    return p;
}

udp::CompactPeer v6(std::uint8_t last, std::uint16_t port) {
    udp::CompactPeer p;
    p.v6 = true;
    p.ip[0] = 0x20;
    p.ip[1] = 0x01;
    p.ip[2] = 0x0d;
    p.ip[3] = 0xb8;
    p.ip[15] = last;
    p.port = port;
    return p;
}

bool same(const udp::CompactPeer& a, const udp::CompactPeer& b) {
    return a.v6 == b.v6 && a.port == b.port && std::memcmp(a.ip.data(), b.ip.data(), a.v6 ? 16 : 4) == 0;
}

std::string compact_v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    return std::string{char(a), char(b), char(c), char(d), char(port >> 8), char(port & 0xff)};
}

// n peers 10.0.x.y:6881 (all valid), as one compact string.
std::string many_v4(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += compact_v4(10, 0, std::uint8_t(i >> 8), std::uint8_t(i), 6881);
    return s;
}

std::string bstr(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

} // namespace

// ---------------------------------------------------------------------------------------------------------------
// BEP 10 extension handshake

TEST_CASE("ext handshake: golden encoding, keys sorted (matches libtorrent's bencode)") {
    ExtHandshake hs;
    hs.m["ut_metadata"] = kUtMetadataId;
    hs.m["ut_pex"] = kUtPexId;
    hs.metadata_size = 31235;
    hs.listen_port = 6881;
    hs.reqq = 250;
    hs.client = "libtorrent 2.0";
    hs.yourip = "\x7f\x00\x00\x01"s;
    // Generated with python3 -c "import libtorrent as lt; print(lt.bencode({'m':{'ut_metadata':1,'ut_pex':2},
    // 'metadata_size':31235,'p':6881,'reqq':250,'v':'libtorrent 2.0','yourip':bytes([127,0,0,1])}))" (2.0.8).
    const std::string golden =
        "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e4:reqqi250e1:v14:libtorrent 2.0"
        "6:yourip4:\x7f\x00\x00\x01"
        "e"s;
    CHECK(encode_ext_handshake(hs) == golden);

    auto d = decode_ext_handshake(golden);
    REQUIRE(d.ok());
    CHECK(d->id_of(kUtMetadata) == 1);
    CHECK(d->id_of(kUtPex) == 2);
    CHECK(d->id_of("lt_donthave") == 0);
    CHECK(d->metadata_size == 31235);
    CHECK(d->listen_port == 6881);
    CHECK(d->reqq == 250);
    CHECK(d->client == "libtorrent 2.0");
    CHECK(d->yourip == "\x7f\x00\x00\x01"s);
    CHECK(encode_ext_handshake(*d) == golden);
}

TEST_CASE("ext handshake: zero/empty fields left out, m always present") {
    CHECK(encode_ext_handshake(ExtHandshake{}) == "d1:mdee");
    ExtHandshake hs;
    hs.m["ut_pex"] = 0; // disabling an extension is sent explicitly (BEP 10)
    hs.listen_port = 1;
    CHECK(encode_ext_handshake(hs) == "d1:md6:ut_pexi0ee1:pi1ee");
    auto d = decode_ext_handshake("d1:md6:ut_pexi0ee1:pi1ee");
    REQUIRE(d.ok());
    CHECK(d->m.count("ut_pex") == 1);
    CHECK(d->id_of("ut_pex") == 0);
}

TEST_CASE("ext handshake: unknown keys and ill-typed optional fields are ignored") {
    // A transmission-like handshake with extra keys; p as a string, reqq negative, yourip of 5 bytes, v as int.
    auto d = decode_ext_handshake(
        "d12:complete_agoi-1e1:md11:lt_donthavei7e11:ut_metadatai3e6:ut_pex3:abce13:metadata_size2:xx"
        "1:p4:68814:reqqi-5e11:upload_onlyi1e1:vi3e6:yourip5:abcdee");
    REQUIRE(d.ok());
    CHECK(d->id_of("lt_donthave") == 7);
    CHECK(d->id_of(kUtMetadata) == 3);
    CHECK(d->m.count("ut_pex") == 0); // ill-typed entry dropped
    CHECK(d->metadata_size == 0);
    CHECK(d->listen_port == 0);
    CHECK(d->reqq == 0);
    CHECK(d->client.empty());
    CHECK(d->yourip.empty());

    // "m" of the wrong type is treated as absent.
    auto e = decode_ext_handshake("d1:mli1ee1:pi80ee");
    REQUIRE(e.ok());
    CHECK(e->m.empty());
    CHECK(e->listen_port == 80);
}

TEST_CASE("ext handshake: range checks on p, metadata_size, reqq, v, yourip") {
    auto d = decode_ext_handshake("d13:metadata_sizei-1e1:pi65536e4:reqqi4294967296ee");
    REQUIRE(d.ok());
    CHECK(d->metadata_size == 0);
    CHECK(d->listen_port == 0);
    CHECK(d->reqq == 0);

    auto huge = decode_ext_handshake("d13:metadata_sizei" + std::to_string(kMaxMetadataSize + 1) + "ee");
    REQUIRE(huge.ok());
    CHECK(huge->metadata_size == 0);
    auto max = decode_ext_handshake("d13:metadata_sizei" + std::to_string(kMaxMetadataSize) + "e1:pi65535ee");
    REQUIRE(max.ok());
    CHECK(max->metadata_size == kMaxMetadataSize);
    CHECK(max->listen_port == 65535);
    CHECK(decode_ext_handshake("d13:metadata_sizei9223372036854775807ee")->metadata_size == 0);

    std::string long_v(300, 'x');
    auto v = decode_ext_handshake("d1:v" + bstr(long_v) + "e");
    REQUIRE(v.ok());
    CHECK(v->client == std::string(100, 'x'));

    std::string ip6(16, '\x01');
    auto y = decode_ext_handshake("d6:yourip" + bstr(ip6) + "e");
    REQUIRE(y.ok());
    CHECK(y->yourip == ip6);
}

TEST_CASE("ext handshake: malformed payloads are refused") {
    CHECK_FALSE(decode_ext_handshake("").ok());
    CHECK_FALSE(decode_ext_handshake("le").ok());     // a list, not a dict
    CHECK_FALSE(decode_ext_handshake("i5e").ok());    // an int
    CHECK_FALSE(decode_ext_handshake("4:spam").ok()); // a string
    CHECK_FALSE(decode_ext_handshake("d1:md").ok());  // truncated
    CHECK_FALSE(decode_ext_handshake("d1:mdee"
                                     "x")
                    .ok());                                         // trailing garbage
    CHECK_FALSE(decode_ext_handshake("d1:md6:ut_pexi256eee").ok()); // id is one byte (BEP 10)
    CHECK_FALSE(decode_ext_handshake("d1:md6:ut_pexi-1eee").ok());
    CHECK(decode_ext_handshake("d1:md6:ut_pexi255eee")->id_of("ut_pex") == 255);
}

TEST_CASE("ext handshake: at most kMaxExtensionNames names") {
    auto build = [](std::size_t n) {
        std::string m = "d1:md";
        for (std::size_t i = 0; i < n; ++i) {
            char name[8];
            std::snprintf(name, sizeof name, "x%03zu", i);
            m += "4:" + std::string(name) + "i1e";
        }
        return m + "ee";
    };
    auto ok = decode_ext_handshake(build(kMaxExtensionNames));
    REQUIRE(ok.ok());
    CHECK(ok->m.size() == kMaxExtensionNames);
    auto bad = decode_ext_handshake(build(kMaxExtensionNames + 1));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what.find("extension names") != std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 9 ut_metadata

TEST_CASE("ut_metadata: golden encodings (BEP 9 examples)") {
    CHECK(encode_metadata_request(0) == "d8:msg_typei0e5:piecei0ee");
    CHECK(encode_metadata_reject(0) == "d8:msg_typei2e5:piecei0ee");
    CHECK(encode_metadata_request(4294967295u) == "d8:msg_typei0e5:piecei4294967295ee");
    // BEP 9's data example; libtorrent bencodes {'msg_type':1,'piece':0,'total_size':3425} to the same dict.
    CHECK(encode_metadata_data(0, 3425, "xyz") == "d8:msg_typei1e5:piecei0e10:total_sizei3425eexyz");
}

TEST_CASE("ut_metadata: round trips") {
    auto r = decode_metadata_message(encode_metadata_request(7));
    REQUIRE(r.ok());
    CHECK(r->type == MetadataType::request);
    CHECK(r->piece == 7);
    CHECK(r->data.empty());

    auto j = decode_metadata_message(encode_metadata_reject(3));
    REQUIRE(j.ok());
    CHECK(j->type == MetadataType::reject);
    CHECK(j->piece == 3);

    std::string piece(kMetadataPieceSize, '\xab');
    std::string payload = encode_metadata_data(1, 40000, piece);
    auto d = decode_metadata_message(payload);
    REQUIRE(d.ok());
    CHECK(d->type == MetadataType::data);
    CHECK(d->piece == 1);
    CHECK(d->total_size == 40000);
    CHECK(d->data == piece);
    // The data is a view into the payload, not a copy.
    CHECK(d->data.data() == payload.data() + payload.size() - piece.size());

    // An empty data piece is legal at this layer (the assembler checks lengths).
    auto e = decode_metadata_message("d8:msg_typei1e5:piecei0e10:total_sizei1ee");
    REQUIRE(e.ok());
    CHECK(e->data.empty());
}

TEST_CASE("ut_metadata: malformed and oversized messages are refused") {
    CHECK_FALSE(decode_metadata_message("").ok());
    CHECK_FALSE(decode_metadata_message("li0ee").ok());                     // not a dict
    CHECK_FALSE(decode_metadata_message("d8:msg_typei0e5:piecei0e").ok());  // truncated dict
    CHECK_FALSE(decode_metadata_message("d5:piecei0ee").ok());              // no msg_type
    CHECK_FALSE(decode_metadata_message("d8:msg_type1:05:piecei0ee").ok()); // msg_type not an int
    CHECK_FALSE(decode_metadata_message("d8:msg_typei3e5:piecei0ee").ok()); // unknown msg_type
    CHECK_FALSE(decode_metadata_message("d8:msg_typei-1e5:piecei0ee").ok());
    CHECK_FALSE(decode_metadata_message("d8:msg_typei0ee").ok());            // no piece
    CHECK_FALSE(decode_metadata_message("d8:msg_typei0e5:piece1:0e").ok());  // piece not an int
    CHECK_FALSE(decode_metadata_message("d8:msg_typei0e5:piecei-1ee").ok()); // negative piece
    CHECK_FALSE(decode_metadata_message("d8:msg_typei0e5:piecei4294967296ee").ok());
    CHECK_FALSE(decode_metadata_message("d8:msg_typei1e5:piecei0eexyz").ok()); // data without total_size
    CHECK_FALSE(decode_metadata_message("d8:msg_typei1e5:piecei0e10:total_sizei0eexyz").ok());
    CHECK_FALSE(decode_metadata_message("d8:msg_typei1e5:piecei0e10:total_sizei-5eexyz").ok());

    std::string too_big(kMetadataPieceSize + 1, 'a');
    auto big = decode_metadata_message(encode_metadata_data(0, 100000, too_big));
    REQUIRE_FALSE(big.ok());
    CHECK(big.error().what.find("16 KiB") != std::string::npos);
    CHECK(decode_metadata_message(encode_metadata_data(0, 100000, too_big.substr(1))).ok());
}

TEST_CASE("ut_metadata: piece count and sizes") {
    CHECK(metadata_piece_count(0) == 0);
    CHECK(metadata_piece_count(-1) == 0);
    CHECK(metadata_piece_count(1) == 1);
    CHECK(metadata_piece_count(16384) == 1);
    CHECK(metadata_piece_count(16385) == 2);
    CHECK(metadata_piece_count(kMaxMetadataSize) == 640);
    CHECK(metadata_piece_count(kMaxMetadataSize + 1) == 0);
    CHECK(metadata_piece_count(INT64_MAX) == 0);
    CHECK(metadata_piece_size(16385, 0) == 16384);
    CHECK(metadata_piece_size(16385, 1) == 1);
    CHECK(metadata_piece_size(16385, 2) == 0);
    CHECK(metadata_piece_size(32768, 1) == 16384);
    CHECK(metadata_piece_size(100, 0) == 100);
    CHECK(metadata_piece_size(0, 0) == 0);
}

// ---------------------------------------------------------------------------------------------------------------
// MetadataAssembler

namespace {
std::string sample_metadata(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + 7);
    return s;
}
} // namespace

TEST_CASE("metadata assembler: init bounds") {
    MetadataAssembler a;
    CHECK_FALSE(a.init(0));
    CHECK_FALSE(a.initialized());
    CHECK_FALSE(a.init(-5));
    CHECK_FALSE(a.init(kMaxMetadataSize + 1));
    CHECK_FALSE(a.initialized());
    CHECK(a.piece_count() == 0);
    CHECK(a.next_wanted(0) == UINT32_MAX);
    CHECK_FALSE(a.add(0, "x").ok());
    CHECK_FALSE(a.complete());
    CHECK(a.init(40000));
    CHECK(a.initialized());
    CHECK(a.size() == 40000);
    CHECK(a.piece_count() == 3);
    CHECK_FALSE(a.init(kMaxMetadataSize + 1)); // a refused re-init leaves it empty, not half old
    CHECK_FALSE(a.initialized());
}

TEST_CASE("metadata assembler: wrong index or length refused, assemble and verify") {
    const std::string meta = sample_metadata(40000);
    const std::string hash = sha1(meta);
    MetadataAssembler a;
    REQUIRE(a.init(static_cast<std::int64_t>(meta.size())));
    CHECK_FALSE(a.add(3, meta.substr(0, 16384)).ok());    // index out of range
    CHECK_FALSE(a.add(0, meta.substr(0, 16383)).ok());    // short
    CHECK_FALSE(a.add(0, meta.substr(0, 16385)).ok());    // long
    CHECK_FALSE(a.add(2, meta.substr(32768, 7231)).ok()); // last piece is 7232 bytes
    CHECK_FALSE(a.have(0));
    CHECK_FALSE(a.have(99));

    CHECK(a.add(2, meta.substr(32768)).ok());
    CHECK(a.add(0, meta.substr(0, 16384)).ok());
    CHECK_FALSE(a.complete());
    CHECK_FALSE(a.verify(hash)); // not complete yet: nothing to verify, nothing forgotten
    CHECK(a.have(0));
    CHECK(a.have(2));
    CHECK(a.add(1, meta.substr(16384, 16384)).ok());
    CHECK(a.add(1, std::string(16384, 'z')).ok()); // duplicate: the first copy is kept
    CHECK(a.complete());
    CHECK(a.verify(hash));
    CHECK(a.bytes() == meta);
}

TEST_CASE("metadata assembler: verify mismatch forgets every piece") {
    const std::string meta = sample_metadata(20000);
    MetadataAssembler a;
    REQUIRE(a.init(20000));
    CHECK(a.add(0, meta.substr(0, 16384)).ok());
    std::string bad = meta.substr(16384);
    bad[0] ^= 1;
    CHECK(a.add(1, bad).ok());
    CHECK(a.next_wanted(1000) == UINT32_MAX); // everything is here
    REQUIRE(a.complete());
    CHECK_FALSE(a.verify(sha1(meta)));
    CHECK_FALSE(a.complete());
    CHECK_FALSE(a.have(0));
    CHECK_FALSE(a.have(1));
    // Start over at once: the pieces are wanted again without waiting for the retry timeout.
    CHECK(a.next_wanted(1001) == 0);
    CHECK(a.next_wanted(1001) == 1);
    CHECK(a.add(0, meta.substr(0, 16384)).ok());
    CHECK(a.add(1, meta.substr(16384)).ok());
    CHECK(a.verify(sha1(meta)));
}

TEST_CASE("metadata assembler: next_wanted marks pieces asked and retries after retry_ms") {
    MetadataAssembler a;
    REQUIRE(a.init(3 * 16384));
    CHECK(a.next_wanted(0, 100) == 0); // asked at time 0 counts as asked
    CHECK(a.next_wanted(0, 100) == 1);
    CHECK(a.next_wanted(50, 100) == 2);
    CHECK(a.next_wanted(99, 100) == UINT32_MAX); // all asked, none timed out
    CHECK(a.next_wanted(100, 100) == 0);         // piece 0 asked at 0, due at 100
    CHECK(a.next_wanted(100, 100) == 1);
    CHECK(a.next_wanted(100, 100) == UINT32_MAX); // piece 2 asked at 50: due at 150
    CHECK(a.add(2, std::string(16384, 'c')).ok());
    CHECK(a.next_wanted(150, 100) == UINT32_MAX); // piece 2 arrived; 0 and 1 re-asked at 100
    CHECK(a.next_wanted(200, 100) == 0);
    CHECK(a.next_wanted(5, 100) == UINT32_MAX); // clock going backwards never re-asks early
    // A huge retry never overflows into "due now".
    MetadataAssembler b;
    REQUIRE(b.init(1));
    CHECK(b.next_wanted(10, UINT64_MAX) == 0);
    CHECK(b.next_wanted(UINT64_MAX - 1, UINT64_MAX) == UINT32_MAX);
}

// ---------------------------------------------------------------------------------------------------------------
// BEP 11 ut_pex

TEST_CASE("ut_pex: golden encoding matches libtorrent's bencode") {
    PexMessage m;
    m.added = {v4(10, 0, 0, 1, 6881), v4(192, 168, 1, 2, 80)};
    m.added_flags = {0x10, 0x02};
    m.dropped = {v4(1, 2, 3, 4, 1)};
    // python3 -c "import libtorrent as lt; print(lt.bencode({'added':bytes([10,0,0,1,0x1a,0xe1,192,168,1,2,0,80]),
    // 'added.f':bytes([0x10,0x02]),'dropped':bytes([1,2,3,4,0,1])}))"
    const std::string golden = "d5:added12:\n\x00\x00\x01\x1a\xe1\xc0\xa8\x01\x02\x00P7:added.f2:\x10\x02"
                               "7:dropped6:\x01\x02\x03\x04\x00\x01"
                               "e"s;
    CHECK(encode_pex(m) == golden);

    auto d = decode_pex(golden);
    REQUIRE(d.ok());
    REQUIRE(d->added.size() == 2);
    CHECK(same(d->added[0], m.added[0]));
    CHECK(same(d->added[1], m.added[1]));
    CHECK(d->added_flags == m.added_flags);
    REQUIRE(d->dropped.size() == 1);
    CHECK(same(d->dropped[0], m.dropped[0]));
    CHECK(encode_pex(*d) == golden);
}

TEST_CASE("ut_pex: IPv6 peers go to added6/dropped6; empty message") {
    CHECK(encode_pex(PexMessage{}) == "de");
    PexMessage m;
    m.added = {v6(1, 443), v4(10, 0, 0, 9, 9)};
    m.dropped = {v6(2, 1)};
    std::string a6(16, '\0'), d6(16, '\0');
    a6[0] = 0x20, a6[1] = 0x01, a6[2] = 0x0d, a6[3] = char(0xb8), a6[15] = 1;
    d6[0] = 0x20, d6[1] = 0x01, d6[2] = 0x0d, d6[3] = char(0xb8), d6[15] = 2;
    const std::string golden = "d5:added" + bstr(compact_v4(10, 0, 0, 9, 9)) + "6:added6" + bstr(a6 + "\x01\xbb"s) +
                               "8:dropped6" + bstr(d6 + "\x00\x01"s) + "e";
    CHECK(encode_pex(m) == golden);
    auto d = decode_pex(golden);
    REQUIRE(d.ok());
    REQUIRE(d->added.size() == 2);
    CHECK(same(d->added[0], m.added[1])); // IPv4 first, then IPv6
    CHECK(same(d->added[1], m.added[0]));
    REQUIRE(d->dropped.size() == 1);
    CHECK(same(d->dropped[0], m.dropped[0]));
    CHECK(d->added_flags.empty());
}

TEST_CASE("ut_pex: port 0 and unspecified addresses are dropped, flags stay aligned") {
    std::string added = compact_v4(10, 0, 0, 1, 0) + compact_v4(10, 0, 0, 2, 2) + compact_v4(0, 0, 0, 0, 3) +
                        compact_v4(10, 0, 0, 4, 4);
    std::string a6(18, '\0');
    a6[17] = 5; // [::]:5
    auto d = decode_pex("d5:added" + bstr(added) + "7:added.f" + bstr("\x01\x02\x03\x04"s) + "6:added6" + bstr(a6) +
                        "7:dropped" + bstr(compact_v4(1, 1, 1, 1, 0)) + "e");
    REQUIRE(d.ok());
    REQUIRE(d->added.size() == 2);
    CHECK(same(d->added[0], v4(10, 0, 0, 2, 2)));
    CHECK(same(d->added[1], v4(10, 0, 0, 4, 4)));
    CHECK(d->added_flags == std::vector<std::uint8_t>{0x02, 0x04});
    CHECK(d->dropped.empty());

    // Flags shorter than the list are kept as given; longer ones are cut to the list.
    auto s = decode_pex("d5:added" + bstr(compact_v4(1, 2, 3, 4, 5) + compact_v4(1, 2, 3, 5, 5)) + "7:added.f" +
                        bstr("\x08"s) + "e");
    REQUIRE(s.ok());
    CHECK(s->added_flags == std::vector<std::uint8_t>{0x08});
    auto l = decode_pex("d5:added" + bstr(compact_v4(1, 2, 3, 4, 5)) + "7:added.f3:abce");
    REQUIRE(l.ok());
    CHECK(l->added_flags == std::vector<std::uint8_t>{'a'});
}

TEST_CASE("ut_pex: malformed messages are refused") {
    CHECK_FALSE(decode_pex("").ok());
    CHECK_FALSE(decode_pex("le").ok());
    CHECK_FALSE(decode_pex("d5:added").ok());
    CHECK_FALSE(decode_pex("d5:added5:abcdee").ok()); // 5 is not a multiple of 6
    CHECK_FALSE(decode_pex("d5:added7:abcdefge").ok());
    CHECK_FALSE(decode_pex("d7:dropped1:xe").ok());
    CHECK_FALSE(decode_pex("d6:added6" + bstr(std::string(6, 'a')) + "e").ok()); // v6 needs 18
    CHECK_FALSE(decode_pex("d8:dropped6" + bstr(std::string(17, 'a')) + "e").ok());
    // Ill-typed lists are ignored (treated as absent), like unknown keys.
    auto t = decode_pex("d5:addedi5e7:added.fi1e1:xi0ee");
    REQUIRE(t.ok());
    CHECK(t->added.empty());
    CHECK(t->added_flags.empty());
}

TEST_CASE("ut_pex: at most kMaxPexPeers per list, on decode and encode") {
    auto ok = decode_pex("d5:added" + bstr(many_v4(kMaxPexPeers)) + "e");
    REQUIRE(ok.ok());
    CHECK(ok->added.size() == kMaxPexPeers);
    auto bad = decode_pex("d5:added" + bstr(many_v4(kMaxPexPeers + 1)) + "e");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what.find("limit") != std::string::npos);
    CHECK_FALSE(decode_pex("d7:dropped" + bstr(many_v4(kMaxPexPeers + 1)) + "e").ok());

    PexMessage m;
    for (std::size_t i = 0; i < kMaxPexPeers + 50; ++i)
        m.added.push_back(v4(10, 1, std::uint8_t(i >> 8), std::uint8_t(i), 1));
    m.added.push_back(v6(1, 1)); // IPv6 has its own list and cap
    auto d = decode_pex(encode_pex(m));
    REQUIRE(d.ok());
    CHECK(d->added.size() == kMaxPexPeers + 1);
    CHECK(same(d->added.back(), v6(1, 1)));
}
