// Tests for src/tracker/state_reader: the SAX reader of the tracker's state document. What it accepts, the reason
// it gives for what it refuses, all or nothing, and the file entry point.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "test_util.hpp"
#include "tracker/state_file.hpp"
#include "tracker/state_reader.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {

constexpr std::uint32_t kNow = 1'700'000'000;
const std::string kHash = std::string(38, '0') + "ab";
const std::string kCounters = R"("counters":{"announces":1,"bad_connection":2,"capped":3,"catalog":4,"connects":5,)"
                              R"("errors":6,"malformed":7,"scrapes":8,"send_drops":9})";

std::string doc(const std::string& swarms, const std::string& catalog = "[]", const std::string& extra = "") {
    return R"({"catalog":)" + catalog + "," + kCounters + R"(,"format":"p2pnode-tracker-state","saved_at":1,)" + extra +
           R"("swarms":)" + swarms + R"(,"version":1})";
}
std::string swarm(const std::string& peers, const std::string& extra = "") {
    return R"({"downloaded":3,"info_hash":")" + kHash + R"(",)" + extra + R"("peers":)" + peers + "}";
}

// "[" ITEM "]" (appends: GCC 12 warns falsely on "literal" + std::string, -Wrestrict).
std::string list(const std::string& item) { return std::string("[").append(item).append("]"); }

struct World {
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    TrackerState refs() { return {store, catalog, counters}; }
};

std::string reason(const std::string& text) {
    World w;
    Status st = parse_state(text, w.refs(), kNow);
    return st ? "ok" : st.error().what;
}

} // namespace

TEST_CASE("state reader: a document in any key order, unknown keys skipped at every level") {
    World w;
    const std::string text = R"({"version":1,"future":{"a":[1,{"b":null}]},"format":"p2pnode-tracker-state",)" +
                             kCounters + R"(,"swarms":[{"peers":[["192.0.2.1",6881,)" + std::to_string(kNow - 5) +
                             R"(,1,"x"]],"info_hash":")" + kHash + R"(","later":[[]],"downloaded":3}],)" +
                             R"("catalog":[{"size":5,"name":"n","extra":{"k":1},"info_hash":")" + kHash +
                             R"(","last_seen":)" + std::to_string(kNow) + "}]}";
    // A peer with a fifth element is refused (the format has four); without it the rest is accepted.
    CHECK(reason(text) == "bad peer");
    std::string fixed = text;
    fixed.replace(fixed.find(",\"x\"]"), 4, "");
    REQUIRE(parse_state(fixed, w.refs(), kNow).ok());
    CHECK(w.store.swarm_count() == 1);
    CHECK(w.store.peer_count() == 1);
    auto s = w.store.find(Hash20::from(std::string(19, '\0') + "\xab"));
    REQUIRE(s.has_value());
    CHECK(s->seeders == 1);
    CHECK(s->downloaded == 3);
    REQUIRE(w.catalog.find_name("n"));
    CHECK(w.catalog.find_name("n")->total_size == 5);
    CHECK(w.counters.announces == 1);
    CHECK(w.counters.send_drops == 9);
}

TEST_CASE("state reader: what is wrong is named") {
    const std::string good_peer = R"([["192.0.2.1",6881,1,0]])";
    CHECK(reason(doc(list(swarm(good_peer)))) == "ok");
    CHECK(reason("") == "not valid JSON");
    CHECK(reason(doc(list(swarm(good_peer))).substr(0, 120)) == "not valid JSON");
    CHECK(reason("[1,2]") == "top level is not an object");
    CHECK(reason("7") == "top level is not an object");
    std::string d = doc("[]");
    CHECK(reason(std::string(d).replace(d.find("p2pnode-tracker-state"), 7, "p2pnodX")) ==
          "missing or wrong \"format\"");
    CHECK(reason(std::string(d).replace(d.find("\"version\":1"), 11, "\"version\":2")) == "unsupported version");
    CHECK(reason(std::string(d).replace(d.find("\"announces\":1,"), 14, "")) == "bad counters");
    CHECK(reason(std::string(d).replace(d.find("\"announces\":1"), 13, "\"announces\":-1")) == "bad counters");
    CHECK(reason(doc("{}")) == "bad swarms");
    CHECK(reason(doc("[7]")) == "swarm is not an object");
    CHECK(reason(doc("[[]]")) == "swarm is not an object");
    CHECK(reason(doc(R"([{"downloaded":3,"peers":[]}])")) == "bad swarm");
    CHECK(reason(doc(list(swarm("7")))) == "bad swarm peers");
    CHECK(reason(doc(list(swarm("[7]")))) == "bad peer");
    CHECK(reason(doc(list(swarm(R"([["192.0.2.1",0,1,0]])")))) == "bad peer address");
    CHECK(reason(doc(list(swarm(R"([["not an ip",1,1,0]])")))) == "bad peer");
    CHECK(reason(doc(list(swarm(R"([["192.0.2.1",1,1.5,0]])")))) == "bad peer");
    CHECK(reason(doc(list(swarm(R"([["192.0.2.1",1,1]])")))) == "bad peer");
    CHECK(reason(doc("[]", "[7]")) == "catalog entry is not an object");
    CHECK(reason(doc("[]", R"([{"name":"a/b","info_hash":")" + kHash + R"(","size":1,"last_seen":1}])")) ==
          "bad catalog entry");
    CHECK(reason(doc("[]", R"([{"name":"ok","size":1,"last_seen":1}])")) == "bad catalog entry");
    // Deeply nested unknown values are refused rather than followed without end.
    CHECK(reason(doc("[]", "[]", "\"deep\":" + std::string(100, '[') + std::string(100, ']') + ",")) ==
          "nested too deeply");
    // Missing sections.
    CHECK(reason(R"({"format":"p2pnode-tracker-state","version":1})") == "missing counters");
    CHECK(reason(R"({"format":"p2pnode-tracker-state","version":1,)" + kCounters + "}") == "missing swarms");
    CHECK(reason(R"({"format":"p2pnode-tracker-state","version":1,)" + kCounters + R"(,"swarms":[]})") ==
          "missing catalog");
}

TEST_CASE("state reader: all or nothing, from a string or a file") {
    World w;
    std::string out;
    AnnounceInput in;
    in.peer.ip = {198, 51, 100, 1};
    in.peer.port = 1;
    w.store.announce(in, kNow, out);
    w.counters.announces = 77;
    // Many good swarms, then a bad one at the very end: nothing of it is loaded, the old state stays.
    std::string swarms = "[";
    for (int i = 0; i < 200; ++i) {
        char h[41];
        std::snprintf(h, sizeof h, "%040x", i + 1);
        swarms +=
            std::string(i ? "," : "") + R"({"downloaded":1,"info_hash":")" + h + R"(","peers":[["10.0.0.1",1,1,0]]})";
    }
    const std::string good = doc(swarms + "]");
    const std::string bad = doc(swarms + R"(,{"downloaded":1,"info_hash":"zz","peers":[]}])");
    Status st = parse_state(bad, w.refs(), kNow);
    REQUIRE_FALSE(st);
    CHECK(st.error().what == "bad swarm");
    CHECK(w.store.swarm_count() == 1);
    CHECK(w.counters.announces == 77);
    // The file entry point reads the same document to the same state as the string one.
    test::TempDir dir("state-reader");
    const std::string path = dir.str() + "/s.json";
    std::FILE* f = std::fopen(path.c_str(), "w+b");
    REQUIRE(f);
    std::fwrite(good.data(), 1, good.size(), f);
    World a, b;
    REQUIRE(parse_state_file(f, a.refs(), kNow).ok());
    std::fclose(f);
    REQUIRE(parse_state(good, b.refs(), kNow).ok());
    CHECK(a.store.swarm_count() == 200);
    CHECK(serialize_state(a.store, a.catalog, a.counters, kNow) ==
          serialize_state(b.store, b.catalog, b.counters, kNow));
}

TEST_CASE("state reader: catalog publishers, and files written before they were kept") {
    auto entry = [](const std::string& name, const std::string& extra) {
        return R"({"info_hash":")" + kHash + R"(","last_seen":)" + std::to_string(kNow) + R"(,"name":")" + name +
               R"(",)" + extra + R"("size":1})";
    };
    World w;
    // An older file: no "publisher" at all. It loads; the publisher is unknown.
    REQUIRE(parse_state(doc("[]", list(entry("old", ""))), w.refs(), kNow).ok());
    REQUIRE(w.catalog.find_name("old"));
    CHECK_FALSE(w.catalog.find_name("old")->publisher.known());
    // IPv4 and IPv6 publishers, kept in their normal form (an IPv4-mapped address is the IPv4 one).
    // (appended: GCC 12 warns falsely on "literal" + std::string, -Wrestrict)
    const std::string three = list(std::string(entry("a", R"("publisher":"192.0.2.7",)"))
                                       .append(",")
                                       .append(entry("b", R"("publisher":"2001:DB8:0::1",)"))
                                       .append(",")
                                       .append(entry("c", R"("publisher":"::ffff:198.51.100.2",)")));
    REQUIRE(parse_state(doc("[]", three), w.refs(), kNow).ok());
    REQUIRE(w.catalog.size() == 3);
    CHECK(w.catalog.find_name("a")->publisher.str() == "192.0.2.7");
    CHECK(w.catalog.find_name("b")->publisher.str() == "2001:db8::1");
    CHECK(w.catalog.find_name("c")->publisher.family == 4);
    CHECK(w.catalog.find_name("c")->publisher.str() == "198.51.100.2");
    // Written back: the golden bytes of an entry.
    const std::string text = serialize_state(w.store, w.catalog, w.counters, kNow);
    CHECK(text.find(R"({"info_hash":")" + kHash +
                    R"(","last_seen":1700000000,"name":"a","publisher":"192.0.2.7","size":1})") != std::string::npos);
    CHECK(text.find(R"("name":"c","publisher":"198.51.100.2","size":1})") != std::string::npos);
    // A publisher that is not an address, or not a string, is refused.
    CHECK(reason(doc("[]", list(entry("x", R"("publisher":"somewhere",)")))) == "bad catalog entry");
    CHECK(reason(doc("[]", list(entry("x", R"("publisher":"",)")))) == "bad catalog entry");
    CHECK(reason(doc("[]", list(entry("x", R"("publisher":7,)")))) == "bad catalog entry");
    CHECK(reason(doc("[]", list(entry("x", R"("publisher":["192.0.2.7"],)")))) == "unexpected array");
}
