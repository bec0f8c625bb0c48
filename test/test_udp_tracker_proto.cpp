#include <doctest/doctest.h>

#include "base/bytes.hpp"
#include "proto/udp_tracker.hpp"
#include "test_util.hpp"

using namespace p2p;
using p2p::test::unhex;
using namespace p2p::udp;

namespace {
Hash20 filled(char c) { return Hash20::from(std::string(20, c)); }
const std::string kA20 = "4141414141414141414141414141414141414141";
const std::string kB20 = "4242424242424242424242424242424242424242";
} // namespace

TEST_CASE("udp tracker proto: connect request and response golden bytes") {
    CHECK(to_hex(encode_connect_request(0x01020304)) == "0000041727101980"
                                                        "00000000"
                                                        "01020304");
    auto tid = decode_connect_request(unhex("0000041727101980"
                                            "00000000"
                                            "a1b2c3d4"));
    REQUIRE(tid.ok());
    CHECK(*tid == 0xa1b2c3d4u);
    auto bad = decode_connect_request(unhex("0000041727101981"
                                            "00000000"
                                            "a1b2c3d4"));
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what == "bad protocol id");
    auto shortp = decode_connect_request(unhex("0000041727101980"
                                               "00000000"
                                               "a1b2c3"));
    REQUIRE_FALSE(shortp.ok());
    CHECK(shortp.error().what.rfind("truncated", 0) == 0);

    std::string resp;
    append_connect_response(resp, 0xa1b2c3d4, 0x1122334455667788ULL);
    CHECK(to_hex(resp) == "00000000"
                          "a1b2c3d4"
                          "1122334455667788");
    auto r = decode_connect_response(resp);
    REQUIRE(r.ok());
    CHECK(r->transaction_id == 0xa1b2c3d4u);
    CHECK(r->connection_id == 0x1122334455667788ULL);
    CHECK_FALSE(decode_connect_response(resp.substr(0, 15)).ok());
    CHECK(decode_connect_response(unhex("00000001a1b2c3d41122334455667788")).error().what.find("bad action") == 0);
}

TEST_CASE("udp tracker proto: announce request golden bytes both directions") {
    AnnounceRequest a;
    a.connection_id = 0x1122334455667788ULL;
    a.transaction_id = 0xdeadbeef;
    a.info_hash = filled('A');
    a.peer_id = filled('B');
    a.downloaded = 1;
    a.left = 2;
    a.uploaded = 3;
    a.event = kEventStarted;
    a.ip = 0x7f000001;
    a.key = 0x0a0b0c0d;
    a.num_want = -1;
    a.port = 6881;
    const std::string golden = "1122334455667788"
                               "00000001"
                               "deadbeef" +
                               kA20 + kB20 +
                               "0000000000000001"
                               "0000000000000002"
                               "0000000000000003"
                               "00000002"
                               "7f000001"
                               "0a0b0c0d"
                               "ffffffff"
                               "1ae1";
    std::string enc = encode_announce_request(a);
    CHECK(enc.size() == kAnnounceRequestSize);
    CHECK(to_hex(enc) == golden);
    auto d = decode_announce_request(unhex(golden));
    REQUIRE(d.ok());
    CHECK(d->connection_id == a.connection_id);
    CHECK(d->transaction_id == 0xdeadbeefu);
    CHECK(d->info_hash == a.info_hash);
    CHECK(d->peer_id == a.peer_id);
    CHECK(d->downloaded == 1);
    CHECK(d->left == 2);
    CHECK(d->uploaded == 3);
    CHECK(d->event == kEventStarted);
    CHECK(d->ip == 0x7f000001u);
    CHECK(d->key == 0x0a0b0c0du);
    CHECK(d->num_want == -1);
    CHECK(d->port == 6881);
    // BEP 41 options after the fixed part are ignored
    CHECK(decode_announce_request(enc + std::string("\x02\x05/path", 7)).ok());
    auto t = decode_announce_request(enc.substr(0, 97));
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().what == "truncated announce request: need 98 bytes, got 97");
    std::string bad_event = enc;
    bad_event[83] = 4;
    CHECK(decode_announce_request(bad_event).error().what == "bad event 4");
}

TEST_CASE("udp tracker proto: announce response with IPv4 and IPv6 peers") {
    AnnounceResponse r;
    r.transaction_id = 7;
    r.interval = 1800;
    r.leechers = 2;
    r.seeders = 1;
    CompactPeer p4;
    p4.ip = {10, 0, 0, 1};
    p4.port = 6881;
    r.peers.push_back(p4);
    CHECK(to_hex(encode_announce_response(r, false)) == "00000001"
                                                        "00000007"
                                                        "00000708"
                                                        "00000002"
                                                        "00000001"
                                                        "0a000001"
                                                        "1ae1");
    CompactPeer p6;
    p6.v6 = true;
    p6.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    p6.port = 51413;
    r.peers = {p6};
    std::string v6 = encode_announce_response(r, true);
    CHECK(to_hex(v6) == "00000001"
                        "00000007"
                        "00000708"
                        "00000002"
                        "00000001"
                        "20010db8000000000000000000000001"
                        "c8d5");
    auto d6 = decode_announce_response(v6, true);
    REQUIRE(d6.ok());
    REQUIRE(d6->peers.size() == 1);
    CHECK(d6->peers[0].v6);
    CHECK(d6->peers[0].ip == p6.ip);
    CHECK(d6->peers[0].port == 51413);
    CHECK(d6->interval == 1800);
    // the same bytes are 3 IPv4 peers: 18 = 3 * 6
    auto as4 = decode_announce_response(v6, false);
    REQUIRE(as4.ok());
    CHECK(as4->peers.size() == 3);
    auto bad = decode_announce_response(v6 + "x", true);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().what.rfind("bad length", 0) == 0);
    CHECK(decode_announce_response(v6.substr(0, 19), true).error().what.rfind("truncated", 0) == 0);
}

TEST_CASE("udp tracker proto: scrape request and response") {
    std::vector<Hash20> hs{filled('A'), filled('B')};
    std::string req = encode_scrape_request(0x0102030405060708ULL, 9, hs);
    CHECK(to_hex(req) == "0102030405060708"
                         "00000002"
                         "00000009" +
                             kA20 + kB20);
    auto d = decode_scrape_request(req);
    REQUIRE(d.ok());
    CHECK(d->count() == 2);
    CHECK(d->at(1) == filled('B'));
    CHECK(d->transaction_id == 9);
    CHECK(decode_scrape_request(req.substr(0, 16)).error().what.rfind("truncated", 0) == 0); // 0 hashes
    CHECK(decode_scrape_request(req.substr(0, 37)).error().what.rfind("bad length", 0) == 0);
    std::vector<Hash20> many(74, filled('C'));
    CHECK(decode_scrape_request(encode_scrape_request(1, 1, many)).ok());
    many.push_back(filled('D'));
    CHECK(decode_scrape_request(encode_scrape_request(1, 1, many)).error().what ==
          "bad length: more than 74 info hashes");

    ScrapeResponse r{9, {{5, 6, 7}, {0, 1, 2}}};
    std::string enc = encode_scrape_response(r);
    CHECK(to_hex(enc) == "00000002"
                         "00000009"
                         "00000005"
                         "00000006"
                         "00000007"
                         "00000000"
                         "00000001"
                         "00000002");
    auto rd = decode_scrape_response(enc);
    REQUIRE(rd.ok());
    REQUIRE(rd->entries.size() == 2);
    CHECK(rd->entries[0].seeders == 5);
    CHECK(rd->entries[0].completed == 6);
    CHECK(rd->entries[0].leechers == 7);
    CHECK(decode_scrape_response(enc.substr(0, 27)).error().what.rfind("bad length", 0) == 0);
}

TEST_CASE("udp tracker proto: error response and size cap") {
    std::string e = encode_error(0x55, "no such torrent");
    CHECK(to_hex(e) == "00000003"
                       "00000055" +
                           to_hex("no such torrent"));
    auto d = decode_error(e);
    REQUIRE(d.ok());
    CHECK(d->message == "no such torrent");
    CHECK(d->transaction_id == 0x55);
    CHECK(encode_error(1, "abcdefgh", 12).size() == 12);
    CHECK(encode_error(1, "abcdefgh", 3).size() == 8);
    CHECK_FALSE(decode_error(e.substr(0, 7)).ok());
}

TEST_CASE("udp tracker proto: catalog publish golden bytes and bad lengths") {
    PublishRequest p{0x0102030405060708ULL, 0x0a, filled('A'), 0x10000, "ubuntu.iso"};
    std::string enc = encode_publish_request(p);
    CHECK(to_hex(enc) == "0102030405060708"
                         "00000100"
                         "0000000a" +
                             kA20 +
                             "0000000000010000"
                             "000a" +
                             to_hex("ubuntu.iso"));
    auto d = decode_publish_request(enc);
    REQUIRE(d.ok());
    CHECK(d->name == "ubuntu.iso");
    CHECK(d->total_size == 0x10000);
    CHECK(d->info_hash == filled('A'));
    CHECK(decode_publish_request(enc + "x").error().what.rfind("bad length", 0) == 0);
    CHECK(decode_publish_request(enc.substr(0, enc.size() - 1)).error().what.rfind("truncated", 0) == 0);
    CHECK(decode_publish_request(enc.substr(0, 45)).error().what.rfind("truncated", 0) == 0);
    p.name = "a/b";
    CHECK(decode_publish_request(encode_publish_request(p)).error().what == "bad name");

    std::string ack;
    append_publish_ack(ack, 0x0a);
    CHECK(to_hex(ack) == "00000100"
                         "0000000a");
    CHECK(*decode_publish_ack(ack) == 0x0a);
    CHECK_FALSE(decode_publish_ack(ack + "z").ok());
}

TEST_CASE("udp tracker proto: catalog list golden bytes") {
    std::string req = encode_list_request({0x0102030405060708ULL, 3, 40});
    CHECK(to_hex(req) == "0102030405060708"
                         "00000101"
                         "00000003"
                         "00000028");
    auto d = decode_list_request(req);
    REQUIRE(d.ok());
    CHECK(d->start == 40);
    CHECK_FALSE(decode_list_request(req + "x").ok());
    CHECK(decode_list_request(req.substr(0, 19)).error().what.rfind("truncated", 0) == 0);

    ListResponse r;
    r.transaction_id = 3;
    r.total = 41;
    r.next = kListNoMore;
    r.entries.push_back({filled('B'), 1234, 1, 2, 3, "x"});
    std::string enc = encode_list_response(r);
    CHECK(to_hex(enc) == "00000101"
                         "00000003"
                         "00000029"
                         "ffffffff"
                         "0001" +
                             kB20 +
                             "00000000000004d2"
                             "00000001"
                             "00000002"
                             "00000003"
                             "0001"
                             "78");
    CHECK(enc.size() == kListResponseHeaderSize + catalog_entry_size(1));
    auto rd = decode_list_response(enc);
    REQUIRE(rd.ok());
    CHECK(rd->total == 41);
    CHECK(rd->next == kListNoMore);
    REQUIRE(rd->entries.size() == 1);
    CHECK(rd->entries[0].name == "x");
    CHECK(rd->entries[0].total_size == 1234);
    CHECK(rd->entries[0].completed == 3);
    CHECK(decode_list_response(enc + "q").error().what.rfind("bad length", 0) == 0);
    CHECK(decode_list_response(enc.substr(0, enc.size() - 1)).error().what.rfind("truncated", 0) == 0);
}

TEST_CASE("udp tracker proto: catalog lookup golden bytes") {
    std::string req = encode_lookup_request({0x0102030405060708ULL, 4, "deb"});
    CHECK(to_hex(req) == "0102030405060708"
                         "00000102"
                         "00000004"
                         "0003"
                         "646562");
    auto d = decode_lookup_request(req);
    REQUIRE(d.ok());
    CHECK(d->name == "deb");
    CHECK(decode_lookup_request(req.substr(0, 17)).error().what.rfind("truncated", 0) == 0);
    CHECK(decode_lookup_request(req + "!").error().what.rfind("bad length", 0) == 0);

    LookupResponse none{4, false, {}};
    CHECK(to_hex(encode_lookup_response(none)) == "00000102"
                                                  "00000004"
                                                  "0000");
    auto dn = decode_lookup_response(encode_lookup_response(none));
    REQUIRE(dn.ok());
    CHECK_FALSE(dn->found);
    LookupResponse one{4, true, {filled('A'), 9, 1, 0, 0, "deb"}};
    auto d1 = decode_lookup_response(encode_lookup_response(one));
    REQUIRE(d1.ok());
    CHECK(d1->found);
    CHECK(d1->entry.name == "deb");
    CHECK(d1->entry.total_size == 9);
    CHECK(decode_lookup_response(unhex("00000102000000040002")).error().what.rfind("bad length", 0) == 0);
}

TEST_CASE("udp tracker proto: catalog name validation") {
    CHECK(valid_name("a"));
    CHECK(valid_name("Debian 12 — netinst.iso"));
    CHECK(valid_name("日本語"));
    CHECK(valid_name("\xf0\x9f\x98\x80")); // U+1F600
    CHECK(valid_name(std::string(255, 'x')));
    CHECK_FALSE(valid_name(std::string(256, 'x')));
    CHECK_FALSE(valid_name(""));
    CHECK_FALSE(valid_name("a/b"));
    CHECK_FALSE(valid_name("tab\there"));
    CHECK_FALSE(valid_name(std::string("nul\0x", 5)));
    CHECK_FALSE(valid_name("del\x7f"));
    CHECK_FALSE(valid_name("\xc0\xaf"));         // overlong '/'
    CHECK_FALSE(valid_name("\xed\xa0\x80"));     // surrogate
    CHECK_FALSE(valid_name("\xf4\x90\x80\x80")); // above U+10FFFF
    CHECK_FALSE(valid_name("\xe6\x97"));         // cut multibyte
    CHECK_FALSE(valid_name("\x80"));             // lone continuation
}

TEST_CASE("udp tracker proto: headers") {
    CHECK_FALSE(decode_header(std::string(15, '\0')).ok());
    auto h = decode_header(unhex("0102030405060708"
                                 "00000101"
                                 "00000003"));
    REQUIRE(h.ok());
    CHECK(h->connection_id == 0x0102030405060708ULL);
    CHECK(h->action == kActionList);
    CHECK(h->transaction_id == 3);
    auto r = decode_reply_header(unhex("0000000300000009"));
    REQUIRE(r.ok());
    CHECK(r->action == kActionError);
    CHECK(r->transaction_id == 9);
    CHECK_FALSE(decode_reply_header("1234567").ok());
}
