#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>

#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "test_util.hpp"
#include "tracker/server.hpp"
#include "tracker/udp_client.hpp"

using namespace p2p;
using namespace p2p::udp;
using p2p::test::run_until_flag;
using p2p::test::SilentSocket;

namespace {

Hash20 hash_of(int i) {
    Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[19] = 0x77;
    return h;
}

struct ServerFixture {
    Loop loop;
    std::unique_ptr<TrackerServer> server;
    std::string url;
    ServerFixture() {
        ServerConfig cfg;
        cfg.bind = {"127.0.0.1"};
        cfg.port = 0;
        cfg.interval = 600;
        server = std::make_unique<TrackerServer>(loop.get(), cfg);
        REQUIRE(server->start().ok());
        url = "udp://127.0.0.1:" + std::to_string(server->bound()[0].port) + "/announce";
    }
};

} // namespace

TEST_CASE("udp tracker client: tracker url parsing") {
    auto a = parse_udp_tracker_url("udp://tracker.example.org:6969");
    REQUIRE(a.ok());
    CHECK(a->host == "tracker.example.org");
    CHECK(a->port == 6969);
    auto b = parse_udp_tracker_url("udp://127.0.0.1:80/announce");
    REQUIRE(b.ok());
    CHECK(b->host == "127.0.0.1");
    CHECK(b->port == 80);
    auto c = parse_udp_tracker_url("udp://[::1]:6969/announce");
    REQUIRE(c.ok());
    CHECK(c->host == "::1");
    CHECK(c->port == 6969);
    CHECK_FALSE(parse_udp_tracker_url("http://x:1").ok());
    CHECK_FALSE(parse_udp_tracker_url("udp://x").ok());
    CHECK_FALSE(parse_udp_tracker_url("udp://x:0").ok());
    CHECK_FALSE(parse_udp_tracker_url("udp://x:65536").ok());
    CHECK_FALSE(parse_udp_tracker_url("udp://:6969").ok());
    CHECK_FALSE(parse_udp_tracker_url("udp://[::1/x").ok());
}

TEST_CASE("udp tracker client: announce, scrape and catalog against the real server on loopback") {
    ServerFixture f;
    UdpTrackerClient client(f.loop.get(), f.url);
    AnnounceParams p;
    p.info_hash = hash_of(1);
    p.peer_id = Hash20::from(std::string(20, 'a'));
    p.left = 1000;
    p.event = kEventStarted;
    p.port = 6881;
    bool done = false;
    client.announce(p, [&](Result<AnnounceResult> r) {
        REQUIRE(r.ok());
        CHECK(r->interval == 600);
        CHECK(r->leechers == 1);
        CHECK(r->peers.empty());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));

    // a second peer (another source port: another client) sees the first one
    UdpTrackerClient client2(f.loop.get(), f.url);
    p.port = 6882;
    p.left = 0;
    done = false;
    client2.announce(p, [&](Result<AnnounceResult> r) {
        REQUIRE(r.ok());
        CHECK(r->seeders == 1);
        CHECK(r->leechers == 1);
        REQUIRE(r->peers.size() == 1);
        CHECK(r->peers[0].ip == "127.0.0.1");
        CHECK(r->peers[0].port == 6881);
        CHECK(r->peers[0].addr.ss_family == AF_INET);
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));

    done = false;
    client.scrape({hash_of(1), hash_of(2)}, [&](Result<std::vector<ScrapeEntry>> r) {
        REQUIRE(r.ok());
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].seeders == 1);
        CHECK((*r)[0].leechers == 1);
        CHECK((*r)[1].seeders == 0);
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));

    done = false;
    client.publish("movie.mkv", hash_of(1), 777, [&](Result<Unit> r) {
        CHECK(r.ok());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    done = false;
    client.publish("b/ad", hash_of(1), 777, [&](Result<Unit> r) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what == "tracker error: invalid name");
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));

    // The catalog shows only names whose swarm has a seeder (docs/catalog-protocol.md): each gets one first.
    for (int i = 0; i < 30; ++i) {
        AnnounceInput seed;
        seed.info_hash = hash_of(10 + i);
        seed.peer.ip = {127, 0, 0, 1};
        seed.peer.port = 7000;
        seed.seeder = true;
        std::string peers;
        f.server->store().announce(seed, f.server->now(), peers);
        REQUIRE(f.server->catalog()
                    .publish("file-" + std::to_string(100 + i) + std::string(100, 'z'), hash_of(10 + i), i, 1)
                    .ok());
    }
    done = false;
    client.list_all([&](Result<std::vector<CatalogEntry>> r) {
        REQUIRE(r.ok());
        REQUIRE(r->size() == 31);
        CHECK(r->back().name == "movie.mkv");
        CHECK(r->back().seeders == 1);
        CHECK(r->back().total_size == 777);
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));

    done = false;
    client.lookup("movie.mkv", [&](Result<std::optional<CatalogEntry>> r) {
        REQUIRE(r.ok());
        REQUIRE(r->has_value());
        CHECK((*r)->info_hash == hash_of(1));
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    done = false;
    client.lookup("missing", [&](Result<std::optional<CatalogEntry>> r) {
        REQUIRE(r.ok());
        CHECK_FALSE(r->has_value());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    // one connect per client: the connection id was reused within the minute
    CHECK(f.server->counters().connects == 2);
}

TEST_CASE("udp tracker client: a silent tracker gives a clear timeout error") {
    Loop loop;
    SilentSocket silent(loop.get());
    UdpClientOptions opt;
    opt.timeout_s = 0.3;
    UdpTrackerClient client(loop.get(), "udp://127.0.0.1:" + std::to_string(silent.port), opt);
    bool done = false;
    auto t0 = std::chrono::steady_clock::now();
    client.list(0, [&](Result<CatalogPage> r) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().str().find("timeout") != std::string::npos);
        CHECK(r.error().str().find("127.0.0.1") != std::string::npos);
        done = true;
    });
    REQUIRE(run_until_flag(loop, done));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ms >= 250);
    CHECK(ms < 3000);
    CHECK(silent.received == 1); // the first retransmit is 15 s away
}

TEST_CASE("udp tracker client: retransmits on the doubling schedule, then gives up") {
    Loop loop;
    SilentSocket silent(loop.get());
    UdpClientOptions opt;
    opt.retransmit_base_ms = 20; // 20, 40, 80 ms instead of 15, 30, 60 s
    opt.max_retransmits = 2;
    UdpTrackerClient client(loop.get(), "udp://127.0.0.1:" + std::to_string(silent.port), opt);
    bool done = false;
    auto t0 = std::chrono::steady_clock::now();
    client.scrape({hash_of(1)}, [&](Result<std::vector<ScrapeEntry>> r) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what == "no answer after 3 tries");
        done = true;
    });
    REQUIRE(run_until_flag(loop, done));
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ms >= 130); // 20 + 40 + 80
    CHECK(silent.received == 3);
}

TEST_CASE("udp tracker client: bad input fails from the loop, and a callback may destroy the client") {
    Loop loop;
    bool done = false;
    auto client = std::make_unique<UdpTrackerClient>(loop.get(), "udp://nohost");
    bool returned = false;
    client->list(0, [&](Result<CatalogPage> r) {
        CHECK(returned); // never called from inside list()
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what.find("missing port") != std::string::npos);
        client.reset();
        done = true;
    });
    returned = true;
    REQUIRE(run_until_flag(loop, done));
    CHECK(client == nullptr);

    ServerFixture f;
    auto c2 = std::make_unique<UdpTrackerClient>(f.loop.get(), f.url);
    done = false;
    c2->scrape({}, [&](Result<std::vector<ScrapeEntry>> r) {
        CHECK_FALSE(r.ok());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    done = false;
    c2->lookup("x", [&](Result<std::optional<CatalogEntry>> r) {
        CHECK(r.ok());
        c2.reset(); // destroy inside the callback
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    // pending operations of a destroyed client never call back
    auto c3 = std::make_unique<UdpTrackerClient>(f.loop.get(), f.url);
    bool called = false;
    c3->lookup("x", [&](Result<std::optional<CatalogEntry>>) { called = true; });
    c3.reset();
    for (int i = 0; i < 20; ++i) uv_run(f.loop.get(), UV_RUN_NOWAIT);
    CHECK_FALSE(called);
}

TEST_CASE("udp tracker client: after the tracker restarts (its connection ids forgotten) the first retransmit "
          "connects again") {
    ServerFixture f;
    const std::uint16_t port = f.server->bound()[0].port;
    UdpClientOptions opt;
    opt.retransmit_base_ms = 100; // BEP 15's 15 s, scaled down
    UdpTrackerClient client(f.loop.get(), f.url, opt);
    AnnounceParams p;
    p.info_hash = hash_of(3);
    p.peer_id = hash_of(4);
    p.port = 6881;
    p.left = 1;
    bool done = false;
    client.announce(p, [&](Result<AnnounceResult> r) {
        REQUIRE(r.ok());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done));
    // A new tracker process on the same port: the client's connection id (still under a minute old) is unknown
    // to it, so it drops the request silently.
    f.server->close();
    f.server.reset();
    ServerConfig cfg;
    cfg.bind = {"127.0.0.1"};
    cfg.port = port;
    f.server = std::make_unique<TrackerServer>(f.loop.get(), cfg);
    REQUIRE(f.server->start().ok());
    done = false;
    const std::uint64_t t0 = f.loop.now_ms();
    client.announce(p, [&](Result<AnnounceResult> r) {
        REQUIRE(r.ok());
        done = true;
    });
    REQUIRE(run_until_flag(f.loop, done, 5000));
    CHECK(f.loop.now_ms() - t0 < 1000); // one retransmit (100 ms), not the id's remaining minute
    CHECK(f.server->counters().connects == 1);
}
