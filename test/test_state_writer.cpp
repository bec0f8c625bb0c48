// Tests for src/tracker/state_writer: the streamed state document against nlohmann::json's dump of the same
// state (the format version 1 was defined by), in parts, and while the tracker changes underneath.
#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>

#include "base/bytes.hpp"
#include "tracker/state_file.hpp"
#include "tracker/state_writer.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {

Hash20 hash_of(int i) {
    Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i * 37);
    h.b[19] = static_cast<std::uint8_t>(i);
    return h;
}

void announce(SwarmStore& store, const Hash20& h, std::uint8_t host, bool v6, bool seeder, std::uint32_t at) {
    AnnounceInput in;
    in.info_hash = h;
    in.peer.v6 = v6;
    if (v6)
        in.peer.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host};
    else
        in.peer.ip = {198, 51, 100, host};
    in.peer.port = static_cast<std::uint16_t>(6881 + host);
    in.seeder = seeder;
    in.event = seeder ? kEventCompleted : kEventStarted;
    std::string out;
    store.announce(in, at, out);
}

// The document as state_file.cpp built it before the writer: a nlohmann DOM, dumped.
std::string dom_dump(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& c, std::uint32_t now) {
    using json = nlohmann::json;
    json doc = json::object();
    doc["format"] = "p2pnode-tracker-state";
    doc["version"] = 1;
    doc["saved_at"] = now;
    doc["counters"] = {{"connects", c.connects},     {"announces", c.announces}, {"scrapes", c.scrapes},
                       {"catalog", c.catalog},       {"malformed", c.malformed}, {"bad_connection", c.bad_connection},
                       {"send_drops", c.send_drops}, {"errors", c.errors},       {"capped", c.capped}};
    std::vector<std::pair<Hash20, Swarm>> order;
    store.for_each([&](const Hash20& h, const Swarm& s) { order.emplace_back(h, s); });
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    json swarms = json::array();
    for (const auto& [h, s] : order) {
        json peers = json::array();
        for (const auto& p : s.peers) {
            char buf[INET6_ADDRSTRLEN] = {};
            inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.ip.data(), buf, sizeof buf);
            peers.push_back(json::array({std::string(buf), p.port, p.last_seen, p.seeder ? 1 : 0}));
        }
        swarms.push_back({{"info_hash", to_hex(h.view())}, {"downloaded", s.downloaded}, {"peers", std::move(peers)}});
    }
    doc["swarms"] = std::move(swarms);
    json cat = json::array();
    for (const auto& r : catalog.entries()) {
        json e = {{"name", r.name},
                  {"info_hash", to_hex(r.info_hash.view())},
                  {"size", r.total_size},
                  {"last_seen", r.last_seen}};
        if (r.publisher.known()) e["publisher"] = r.publisher.str(); // absent when unknown
        cat.push_back(std::move(e));
    }
    doc["catalog"] = std::move(cat);
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

struct World {
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
};

void populate(World& w, std::uint32_t now, int swarms) {
    for (int i = 0; i < swarms; ++i) {
        for (std::uint8_t p = 0; p < 1 + i % 4; ++p) announce(w.store, hash_of(i), p, p == 2, p % 2 == 1, now - 10 * i);
        // Publishers: unknown (as loaded from an older file), IPv4, IPv6.
        const std::uint8_t v4[4] = {192, 0, 2, static_cast<std::uint8_t>(i)};
        const std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                     0,    0,    0,    0,    0, 0, 0, static_cast<std::uint8_t>(i)};
        const PublisherAddr from = i % 9 == 0 ? PublisherAddr{} : i % 2 ? PublisherAddr::v4(v4) : PublisherAddr::v6(v6);
        if (i % 3 == 0)
            REQUIRE(w.catalog.publish("name " + std::to_string(i), hash_of(i), 1000u * i, now - i, from).ok());
    }
    REQUIRE(w.catalog.publish("quote \" back\\slash ünï", hash_of(1), 7, now).ok());
    w.counters = TrackerCounters{1, 2, 3, 4, 5, 6, 7, 8, 9};
}

std::string write_all(StateWriter& w, std::size_t budget, std::size_t* parts = nullptr) {
    std::string out;
    std::size_t n = 0;
    for (bool more = true; more; ++n) {
        std::string part;
        more = w.next(part, budget);
        out += part;
    }
    if (parts) *parts = n;
    return out;
}

} // namespace

TEST_CASE("state writer: the same bytes as nlohmann::json's dump, in one part or many") {
    const std::uint32_t now = 1'700'000'000;
    World w;
    populate(w, now, 40);
    const std::string want = dom_dump(w.store, w.catalog, w.counters, now);
    CHECK(want.find("quote \\\" back\\\\slash ünï") != std::string::npos); // the escapes are exercised
    CHECK(want.find("2001:db8::2") != std::string::npos);                  // and an IPv6 peer
    CHECK(want.find(R"("publisher":"192.0.2.3")") != std::string::npos);   // publishers of both families
    CHECK(want.find(R"("publisher":"2001:db8::6")") != std::string::npos);
    CHECK(want.find(R"("last_seen":1699999991,"name":"name 9","size":9000})") != std::string::npos); // unknown: no key
    CHECK(serialize_state(w.store, w.catalog, w.counters, now) == want);
    std::size_t parts = 0;
    StateWriter one_swarm(w.store, w.catalog, w.counters, now);
    CHECK(write_all(one_swarm, 1, &parts) == want);
    CHECK(parts > 40); // one swarm or entry a part
    CHECK(one_swarm.swarms_written() == 40);
    // Nothing at all: still a whole document the parser takes.
    World empty;
    const std::string none = serialize_state(empty.store, empty.catalog, empty.counters, now);
    CHECK(none == dom_dump(empty.store, empty.catalog, empty.counters, now));
    World back;
    CHECK(parse_state(none, TrackerState{back.store, back.catalog, back.counters}, now).ok());
}

TEST_CASE("state writer: what changes mid-save is written as it is when its turn comes") {
    const std::uint32_t now = 1'700'000'000;
    SwarmStore store;
    store.set_peer_ttl(100);
    Catalog catalog; // no swarm store: every swarm counts as seeded until told otherwise
    TrackerCounters counters;
    for (int i = 0; i < 6; ++i) announce(store, hash_of(i), 1, false, false, now);
    REQUIRE(catalog.publish("m", hash_of(0), 1, now + 100).ok());
    REQUIRE(catalog.publish("t", hash_of(1), 1, now).ok());
    StateWriter writer(store, catalog, counters, now);
    std::string doc;
    while (doc.find("\"name\":\"m\"") == std::string::npos) REQUIRE(writer.next(doc, 1));
    CHECK(doc.find("\"name\":\"t\"") == std::string::npos);
    // Catalog entries come and go around the cursor: before it (not written: the walk passed that point),
    // after it (written), gone (skipped).
    REQUIRE(catalog.publish("a", hash_of(2), 1, now + 150).ok());
    REQUIRE(catalog.publish("p", hash_of(3), 1, now + 150).ok());
    CHECK(catalog.swarm_unseeded(hash_of(1)) == 1); // "t": its swarm lost its last seeder
    // Swarms, none written yet: one is emptied and dropped, one is created.
    std::vector<Hash20> order;
    for (int i = 0; i < 6; ++i) order.push_back(hash_of(i));
    std::sort(order.begin(), order.end());
    for (int i = 0; i < 6; ++i)
        if (!(hash_of(i) == order[4])) announce(store, hash_of(i), 1, false, false, now + 150);
    store.expire(now + 150);
    REQUIRE_FALSE(store.find(order[4]).has_value());
    announce(store, hash_of(99), 1, false, false, now + 150);
    while (writer.next(doc, 1)) {}
    CHECK(doc.find("\"name\":\"a\"") == std::string::npos);
    CHECK(doc.find("\"name\":\"p\"") != std::string::npos);
    CHECK(doc.find("\"name\":\"t\"") == std::string::npos);
    CHECK(doc.find(to_hex(order[4].view())) == std::string::npos);
    CHECK(doc.find(to_hex(hash_of(99).view())) == std::string::npos);
    CHECK(doc.find(to_hex(order[5].view())) != std::string::npos);
    CHECK(writer.swarms_written() == 5);
    // Still a valid document: it loads.
    SwarmStore store2;
    Catalog catalog2;
    TrackerCounters counters2;
    REQUIRE(parse_state(doc, TrackerState{store2, catalog2, counters2}, now + 150).ok());
    CHECK(store2.swarm_count() == 5);
    CHECK(catalog2.size() == 2);
}

TEST_CASE("state writer: JSON string escapes as nlohmann::json writes them") {
    std::string out;
    append_json_string(out, std::string("a\"b\\c\b\f\n\r\t\x01\x1f\x7f é", 16));
    CHECK(out == nlohmann::json(std::string("a\"b\\c\b\f\n\r\t\x01\x1f\x7f é", 16)).dump());
    CHECK(out == "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\x7f é\"");
}
