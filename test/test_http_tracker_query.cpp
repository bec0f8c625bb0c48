// The HTTP tracker's server-side codec (proto/http_tracker_query.*): golden queries in, values out; golden
// bencoded answers out.
#include <doctest/doctest.h>

#include "proto/http_tracker.hpp"
#include "proto/http_tracker_query.hpp"

using namespace p2p;
using namespace p2p::http_tracker;

namespace {

// 20 bytes with every awkward value: NUL, '%', '&', '=', '+', space, 0xff, and plain letters.
const std::string kHash = std::string("\x00\x25\x26\x3d\x2b\x20\xff\x80\x7f\x01", 10) + "ABCDEFGHIJ";
const std::string kHashEnc = "%00%25%26%3D%2B%20%FF%80%7F%01ABCDEFGHIJ";

} // namespace

TEST_CASE("http tracker query: percent-decoding") {
    CHECK(*percent_decode("a%20b%2fc%2F") == "a b/c/");
    CHECK(*percent_decode("a+b") == "a+b"); // '+' stays: clients encode reserved bytes of binary values
    CHECK(*percent_decode(kHashEnc) == kHash);
    CHECK(*percent_decode(percent_encode(kHash)) == kHash);
    for (const char* bad : {"%", "%2", "%zz", "abc%4", "%g0"}) {
        auto r = percent_decode(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == Errc::bad_input);
        CHECK(r.error().what == "bad percent escape");
    }
}

TEST_CASE("http tracker query: announce from a libtorrent-like query") {
    const std::string q = "info_hash=" + kHashEnc + "&peer_id=-LT2000-%01%02%03%04%05%06%07%08%09%0A%0B%0C" +
                          "&port=6881&uploaded=10&downloaded=20&left=30&corrupt=0&key=8A1B&event=started&numwant=25"
                          "&compact=1&no_peer_id=1&supportcrypto=1&redundant=0";
    auto a = decode_announce_query(q);
    REQUIRE(a.ok());
    CHECK(a->info_hash.str() == kHash);
    CHECK(a->peer_id.str() == std::string("-LT2000-\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c", 20));
    CHECK(a->port == 6881);
    CHECK(a->uploaded == 10);
    CHECK(a->downloaded == 20);
    REQUIRE(a->left);
    CHECK(*a->left == 30);
    CHECK(a->event == udp::kEventStarted);
    CHECK(a->numwant == 25);
    CHECK(a->compact);
    CHECK_FALSE(a->ip);
}

TEST_CASE("http tracker query: what our own client sends decodes to what it meant") {
    AnnounceRequest r;
    r.info_hash = udp::Hash20::from(kHash);
    r.peer_id = udp::Hash20::from(std::string(20, '\xee'));
    r.port = 51413;
    r.uploaded = 1ull << 40;
    r.left = 0;
    r.event = udp::kEventCompleted;
    r.numwant = 0;
    auto url = parse_url("http://t.example/announce?passkey=abc");
    REQUIRE(url.ok());
    std::string target = announce_target(*url, r);
    auto a = decode_announce_query(target.substr(target.find('?') + 1));
    REQUIRE(a.ok());
    CHECK(a->info_hash == r.info_hash);
    CHECK(a->peer_id == r.peer_id);
    CHECK(a->port == 51413);
    CHECK(a->uploaded == 1ull << 40);
    CHECK(*a->left == 0);
    CHECK(a->event == udp::kEventCompleted);
    CHECK(a->numwant == 0);
}

TEST_CASE("http tracker query: announce defaults, events, ip, first of repeated") {
    const std::string base = "info_hash=" + kHashEnc + "&peer_id=" + std::string(20, 'p') + "&port=1";
    auto a = decode_announce_query(base);
    REQUIRE(a.ok());
    CHECK_FALSE(a->left); // unknown: a leecher
    CHECK(a->event == udp::kEventNone);
    CHECK(a->numwant == -1);
    CHECK(decode_announce_query(base + "&event=stopped")->event == udp::kEventStopped);
    CHECK(decode_announce_query(base + "&event=completed")->event == udp::kEventCompleted);
    CHECK(decode_announce_query(base + "&event=paused")->event == udp::kEventNone); // BEP 21
    CHECK(decode_announce_query(base + "&event=")->event == udp::kEventNone);
    CHECK(decode_announce_query(base + "&numwant=-1")->numwant == -1);
    CHECK(decode_announce_query(base + "&numwant=99999999999")->numwant == INT32_MAX);
    CHECK(decode_announce_query(base + "&compact=0")->compact == false);
    CHECK(*decode_announce_query(base + "&ip=10.0.0.1")->ip == "10.0.0.1");
    CHECK(decode_announce_query(base + "&port=2")->port == 1); // the first of a repeated parameter wins
    CHECK(decode_announce_query(base + "&&&x&=y")->port == 1);  // empty parts and unknown names are ignored
}

TEST_CASE("http tracker query: bad announces say what is wrong") {
    const std::string hash = "info_hash=" + kHashEnc;
    const std::string id = "&peer_id=" + std::string(20, 'p');
    auto why = [](const std::string& q) {
        auto a = decode_announce_query(q);
        REQUIRE_FALSE(a.ok());
        CHECK(a.error().code == Errc::bad_input);
        return a.error().what;
    };
    CHECK(why("") == "missing info_hash");
    CHECK(why(id + "&port=1") == "missing info_hash");
    CHECK(why(hash + "&port=1") == "missing peer_id");
    CHECK(why(hash + id) == "missing port");
    CHECK(why("info_hash=abc" + id + "&port=1") == "info_hash is not 20 bytes");
    CHECK(why(hash + "%00" + id + "&port=1") == "info_hash is not 20 bytes");
    CHECK(why(hash + "&peer_id=short&port=1") == "peer_id is not 20 bytes");
    CHECK(why(hash + id + "&port=0") == "bad port");
    CHECK(why(hash + id + "&port=65536") == "bad port");
    CHECK(why(hash + id + "&port=-1") == "bad port");
    CHECK(why(hash + id + "&port=1&left=x") == "bad left");
    CHECK(why(hash + id + "&port=1&uploaded=99999999999999999999999") == "bad uploaded");
    CHECK(why(hash + id + "&port=1&event=finished") == "bad event");
    CHECK(why(hash + id + "&port=1&numwant=-5") == "bad numwant");
    CHECK(why(hash + id + "&port=1&x=%G1") == "bad percent escape");
    std::string many = hash + id + "&port=1";
    for (int i = 0; i < 200; ++i) many += "&a=1";
    CHECK(why(many) == "too many parameters");
}

TEST_CASE("http tracker query: scrape with repeated info_hash") {
    std::string h2(20, '\x7f');
    auto s = decode_scrape_query("info_hash=" + kHashEnc + "&info_hash=" + percent_encode(h2) + "&foo=bar");
    REQUIRE(s.ok());
    REQUIRE(s->size() == 2);
    CHECK((*s)[0].str() == kHash);
    CHECK((*s)[1].str() == h2);

    auto none = decode_scrape_query("");
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().what == "missing info_hash (full scrape is not served)");
    CHECK(decode_scrape_query("info_hash=abc").error().what == "info_hash is not 20 bytes");
    std::string many;
    for (std::size_t i = 0; i <= kMaxScrapeQuery; ++i) many += "&info_hash=" + kHashEnc;
    CHECK(decode_scrape_query(many).error().what == "too many info_hash parameters");
}

TEST_CASE("http tracker query: golden answers, and our client reads them back") {
    AnnounceReply r;
    r.interval = 1800;
    r.min_interval = 60;
    r.complete = 3;
    r.incomplete = 7;
    const std::string peers("\x7f\x00\x00\x01\x1a\xe1", 6); // 127.0.0.1:6881
    r.peers = peers;
    std::string out;
    append_announce_reply(out, r);
    CHECK(out == std::string("d8:completei3e10:incompletei7e8:intervali1800e12:min intervali60e5:peers6:") + peers +
                     "e");
    auto back = decode_announce_response(out);
    REQUIRE(back.ok());
    CHECK(back->complete == 3);
    CHECK(back->incomplete == 7);
    CHECK(back->interval == 1800);
    CHECK(*back->min_interval == 60);
    REQUIRE(back->peers.size() == 1);
    CHECK(back->peers[0].port == 6881);

    AnnounceReply r6;
    const std::string p6 = std::string(15, '\0') + "\x01" + std::string("\x00\x50", 2); // [::1]:80
    r6.peers6 = p6;
    out.clear();
    append_announce_reply(out, r6);
    CHECK(out == "d8:completei0e10:incompletei0e8:intervali1800e5:peers0:6:peers618:" + p6 + "e");
    back = decode_announce_response(out);
    REQUIRE(back.ok());
    REQUIRE(back->peers.size() == 1);
    CHECK(back->peers[0].v6);
    CHECK(back->peers[0].port == 80);

    CHECK(encode_failure("missing info_hash") == "d14:failure reason17:missing info_hashe");
    CHECK(decode_announce_response(encode_failure("x")).error().what == "failure reason: x");

    udp::Hash20 a = udp::Hash20::from(std::string(20, 'a')), b = udp::Hash20::from(std::string(20, 'b'));
    std::string sc = encode_scrape_reply({{b, {1, 2, 3}}, {a, {4, 5, 6}}, {b, {1, 2, 3}}});
    CHECK(sc == "d5:filesd20:" + std::string(20, 'a') + "d8:completei4e10:downloadedi5e10:incompletei6ee20:" +
                    std::string(20, 'b') + "d8:completei1e10:downloadedi2e10:incompletei3eeee");
    auto sb = decode_scrape_response(sc);
    REQUIRE(sb.ok());
    REQUIRE(sb->files.size() == 2);
    CHECK(sb->files[0].complete == 4);
    CHECK(sb->files[0].downloaded == 5);
    CHECK(sb->files[0].incomplete == 6);
}
