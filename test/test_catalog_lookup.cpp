// Tests for src/node/catalog_lookup: names looked up on the --tracker URLs, one tracker after the other.
#include <doctest/doctest.h>

#include <optional>

#include "node/catalog_lookup.hpp"
#include "test_util.hpp"
#include "tracker/server.hpp"

using namespace p2p;

namespace {

udp::Hash20 hash_of(int i) {
    udp::Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[19] = 0x42;
    return h;
}

// A tracker on loopback whose catalog names `name` for hash_of(7), with a seeder (names without one are hidden).
struct Tracker {
    std::unique_ptr<TrackerServer> server;
    std::string url;
    Tracker(Loop& loop, const std::string& name) {
        ServerConfig cfg;
        cfg.bind = {"127.0.0.1"};
        cfg.port = 0;
        server = std::make_unique<TrackerServer>(loop.get(), cfg);
        REQUIRE(server->start().ok());
        url = "udp://127.0.0.1:" + std::to_string(server->bound()[0].port);
        if (name.empty()) return;
        AnnounceInput seed;
        seed.info_hash = hash_of(7);
        seed.peer.ip = {127, 0, 0, 1};
        seed.peer.port = 7000;
        seed.seeder = true;
        std::string peers;
        server->store().announce(seed, server->now(), peers);
        REQUIRE(server->catalog().publish(name, hash_of(7), 12345, server->now()).ok());
    }
    ~Tracker() { server->close(); }
};

} // namespace

TEST_CASE("catalog lookup: without a udp:// tracker it fails at start, saying what to give") {
    Loop loop;
    CatalogLookups none(loop, {});
    auto st = none.start("movie", [](Result<CatalogHit>) { FAIL("called back"); });
    REQUIRE_FALSE(st);
    CHECK(st.error().str() == "no tracker given to look up movie (use --tracker udp://HOST:PORT)");
    CatalogLookups http(loop, {"http://127.0.0.1:1/announce"});
    auto st2 = http.start("movie", [](Result<CatalogHit>) { FAIL("called back"); });
    REQUIRE_FALSE(st2);
    CHECK(st2.error().what.find("needs a udp:// tracker") != std::string::npos);
    CHECK(http.active() == 0);
}

TEST_CASE("catalog lookup: the first tracker that knows the name answers; never inside start()") {
    Loop loop;
    Tracker empty(loop, ""), known(loop, "movie.mkv");
    CatalogLookups lookups(loop, {empty.url, known.url}, 5);
    std::optional<Result<CatalogHit>> got;
    bool started = false;
    REQUIRE(lookups.start("movie.mkv", [&](Result<CatalogHit> r) {
        CHECK(started);
        got = std::move(r);
    }));
    started = true;
    CHECK(lookups.active() == 1);
    REQUIRE(test::run_until(
        loop, [&] { return got.has_value(); }, 10'000));
    REQUIRE(*got);
    CHECK((*got)->info_hash == hash_of(7).str());
    CHECK((*got)->total_size == 12345);
    CHECK(lookups.active() == 0);
}

TEST_CASE("catalog lookup: a name no tracker knows is one error naming them, with the unreachable ones") {
    Loop loop;
    Tracker known(loop, "other");
    const std::string dead = "udp://127.0.0.1:9"; // discard port: never answers
    CatalogLookups lookups(loop, {dead, known.url}, 0.3);
    std::optional<Result<CatalogHit>> got;
    REQUIRE(lookups.start("missing", [&](Result<CatalogHit> r) { got = std::move(r); }));
    REQUIRE(test::run_until(
        loop, [&] { return got.has_value(); }, 10'000));
    REQUIRE_FALSE(*got);
    const std::string msg = got->error().str();
    CHECK(msg.find("missing: not in the catalog of " + known.url) == 0);
    CHECK(msg.find("other trackers: tracker " + dead + " unreachable") != std::string::npos);
}

TEST_CASE("catalog lookup: a callback may destroy the lookups; cancel_all drops every callback") {
    Loop loop;
    Tracker known(loop, "a");
    auto lookups = std::make_unique<CatalogLookups>(loop, std::vector<std::string>{known.url}, 5);
    bool done = false;
    REQUIRE(lookups->start("a", [&](Result<CatalogHit> r) {
        CHECK(r);
        lookups.reset(); // inside its own callback
        done = true;
    }));
    REQUIRE(test::run_until_flag(loop, done));
    CHECK(lookups == nullptr);

    CatalogLookups again(loop, {known.url}, 5);
    int calls = 0;
    REQUIRE(again.start("a", [&](Result<CatalogHit>) { ++calls; }));
    again.cancel_all();
    test::run_until(
        loop, [] { return false; }, 300);
    CHECK(calls == 0);
}
