// Tests for src/node/metadata_fetches: every way a metadata fetch ends tells its trackers `stopped`.
#include <doctest/doctest.h>

#include <optional>

#include "node/metadata_fetches.hpp"
#include "test_util.hpp"
#include "tracker/server.hpp"

using namespace p2p;

namespace {

struct Fixture {
    Loop loop;
    std::unique_ptr<TrackerServer> server;
    std::string url;
    std::unique_ptr<Session> session;
    std::unique_ptr<TrackerClients> clients;
    std::vector<FetchedMetadata> done;
    std::unique_ptr<MetadataFetches> fetches;
    const std::string hash = std::string(20, '\x5a');

    Fixture() {
        ServerConfig cfg;
        cfg.bind = {"127.0.0.1"};
        cfg.port = 0;
        server = std::make_unique<TrackerServer>(loop.get(), cfg);
        REQUIRE(server->start().ok());
        url = "udp://127.0.0.1:" + std::to_string(server->bound()[0].port);
        SessionConfig sc;
        sc.listen_ip = "127.0.0.1";
        sc.port = 0;
        session = std::make_unique<Session>(loop, sc);
        REQUIRE(session->listen());
        clients = std::make_unique<TrackerClients>(loop.get());
        fetches = std::make_unique<MetadataFetches>(loop, *session, *clients, std::vector<std::string>{url},
                                                    [this](FetchedMetadata m) { done.push_back(std::move(m)); });
    }
    ~Fixture() {
        fetches.reset();
        clients.reset();
        bool down = false;
        session->shutdown([&] { down = true; });
        test::run_until_flag(loop, down);
        session.reset();
        server->close();
    }
    std::uint32_t leechers() { return server->store().scrape(udp::Hash20::from(hash)).leechers; }
};

} // namespace

TEST_CASE("metadata fetches: nothing to ask is refused at start") {
    Fixture f;
    MetadataFetches none(f.loop, *f.session, *f.clients, {}, [](FetchedMetadata) {});
    auto st = none.start(f.hash, "x", {}, 0);
    REQUIRE_FALSE(st);
    CHECK(st.error().what.find("no tracker to find peers on") != std::string::npos);
    CHECK(none.empty());
}

TEST_CASE("metadata fetches: a fetch that gives up leaves no leecher on its tracker") {
    Fixture f;
    REQUIRE(f.fetches->start(f.hash, "movie", {}, 1500));
    CHECK(f.fetches->has(f.hash));
    REQUIRE(test::run_until(
        f.loop, [&] { return f.leechers() == 1; }, 5000)); // announced `started`
    auto rows = f.fetches->rows();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].label == "movie");
    REQUIRE(rows[0].trackers.size() == 1);
    CHECK(rows[0].trackers[0].url == f.url);
    REQUIRE(test::run_until(
        f.loop, [&] { return !f.done.empty(); }, 5000));
    REQUIRE_FALSE(f.done[0].meta);
    CHECK(f.done[0].meta.error().code == Errc::timeout);
    CHECK(f.done[0].meta.error().what.find("no peer sent the metadata within 2 s") == 0);
    CHECK(f.fetches->empty());
    REQUIRE(test::run_until(
        f.loop, [&] { return f.leechers() == 0; }, 5000)); // and `stopped`
}

TEST_CASE("metadata fetches: stop_all (quit) tells the trackers too, then calls back once") {
    Fixture f;
    REQUIRE(f.fetches->start(f.hash, "", {}, 0));
    REQUIRE(test::run_until(
        f.loop, [&] { return f.leechers() == 1; }, 5000));
    int stopped = 0;
    f.fetches->stop_all([&] { ++stopped; });
    REQUIRE(test::run_until(
        f.loop, [&] { return stopped == 1 && f.leechers() == 0; }, 5000));
    CHECK(f.done.empty()); // no callback for a fetch ended by quit
    CHECK(f.fetches->empty());
}
