// The tracker's HTTP port (tracker/http_front.*) over a real http::Server on 127.0.0.1:0: BEP 3 announces and
// BEP 48 scrapes over the same swarm store as the UDP side, failure reasons, /catalog, /stats and /metrics.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/bytes.hpp"
#include "http/server.hpp"
#include "loop/loop.hpp"
#include "proto/http_tracker.hpp"
#include "proto/udp_tracker.hpp"
#include "test_util.hpp"
#include "tracker/http_front.hpp"
#include "tracker/server.hpp"

using namespace p2p;

namespace {

struct Fixture {
    Loop loop;
    std::unique_ptr<TrackerServer> tracker;
    std::unique_ptr<TrackerHttpFront> front;
    std::unique_ptr<http::Server> http;
    std::uint32_t now = 1'700'000'000;
    Fixture() {
        ServerConfig sc;
        sc.bind = {"127.0.0.1"};
        sc.port = 0;
        tracker = std::make_unique<TrackerServer>(loop.get(), sc, [this] { return now; });
        front = std::make_unique<TrackerHttpFront>(*tracker, 0);
        http = std::make_unique<http::Server>(loop.get(), http::Limits{},
                                              [this](const http::Request& q, http::Response& r) { front->handle(q, r); });
        REQUIRE(http->listen({"127.0.0.1"}, 0).ok());
        front->set_server(http.get());
    }
    // One request on its own connection (Connection: close); returns the whole response.
    std::string fetch(const std::string& request_line) {
        test::LoopbackClient c(http->bound().front().port);
        REQUIRE(c.send(request_line + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
        REQUIRE(test::run_until(
            loop,
            [&] {
                c.pump();
                return c.eof;
            },
            5000));
        return c.got;
    }
    static std::string body(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }
    std::string announce(std::uint16_t port, std::string_view left, const std::string& extra = "") {
        return "GET /announce?info_hash=" + http_tracker::percent_encode(hash.view()) + "&peer_id=" +
               std::string(19, 'p') + std::to_string(port % 10) + "&port=" + std::to_string(port) +
               "&uploaded=0&downloaded=0&left=" + std::string(left) + "&compact=1" + extra;
    }
    udp::Hash20 hash = udp::Hash20::from(std::string("\x00\xff%&=+ ?#\x01", 10) + "0123456789");
};

} // namespace

TEST_CASE("tracker http: announces see each other, over the same swarms as UDP announces") {
    Fixture f;
    auto r1 = f.fetch(f.announce(1111, "100", "&event=started"));
    CHECK(r1.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    auto a1 = http_tracker::decode_announce_response(Fixture::body(r1));
    REQUIRE(a1.ok());
    CHECK(a1->interval == 1800);
    CHECK(*a1->min_interval == 60);
    CHECK(a1->incomplete == 1);
    CHECK(a1->peers.empty()); // never the asker itself

    auto a2 = http_tracker::decode_announce_response(Fixture::body(f.fetch(f.announce(2222, "0"))));
    REQUIRE(a2.ok());
    CHECK(a2->complete == 1);
    CHECK(a2->incomplete == 1);
    REQUIRE(a2->peers.size() == 1);
    CHECK_FALSE(a2->peers[0].v6);
    CHECK(a2->peers[0].ip[0] == 127); // the connection's address
    CHECK(a2->peers[0].port == 1111);

    // A UDP announce of the same hash (through the server's BEP 15 path) joins the same swarm.
    sockaddr_storage from = test::v4("127.0.0.2", 40000);
    std::string reply;
    REQUIRE(f.tracker->handle(udp::encode_connect_request(7), test::sa(from), reply));
    const std::uint64_t cid = read_be64(reply, 8);
    udp::AnnounceRequest ur;
    ur.connection_id = cid;
    ur.transaction_id = 8;
    ur.info_hash = f.hash;
    ur.left = 5;
    ur.port = 3333;
    REQUIRE(f.tracker->handle(udp::encode_announce_request(ur), test::sa(from), reply));

    auto sc = http_tracker::decode_scrape_response(Fixture::body(
        f.fetch("GET /scrape?info_hash=" + http_tracker::percent_encode(f.hash.view()) + "&info_hash=" +
                std::string(20, 'z'))));
    REQUIRE(sc.ok());
    REQUIRE(sc->files.size() == 2);
    const auto& e = sc->files[0].info_hash == f.hash ? sc->files[0] : sc->files[1];
    CHECK(e.complete == 1);
    CHECK(e.incomplete == 2);
    const auto& z = sc->files[0].info_hash == f.hash ? sc->files[1] : sc->files[0];
    CHECK(z.info_hash.str() == std::string(20, 'z'));
    CHECK(z.complete == 0);

    // A stopped announce leaves the swarm.
    REQUIRE(http_tracker::decode_announce_response(Fixture::body(f.fetch(f.announce(1111, "100", "&event=stopped")))).ok());
    CHECK(f.tracker->store().scrape(f.hash).leechers == 1);

    // /stats and /metrics count by transport.
    auto stats = nlohmann::json::parse(Fixture::body(f.fetch("GET /stats")), nullptr, false);
    REQUIRE_FALSE(stats.is_discarded());
    CHECK(stats["http"]["announces"] == 3);
    CHECK(stats["http"]["scrapes"] == 1);
    CHECK(stats["udp"]["announces"] == 1);
    CHECK(stats["swarms"] == 1);
    CHECK(stats["peers"] == 2);
    CHECK(stats["memory"]["estimated_bytes"].get<std::uint64_t>() > 0);
    auto metrics = f.fetch("GET /metrics");
    CHECK(metrics.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    CHECK(metrics.find("\np2pnode_tracker_announces_total{transport=\"http\"} 3\n") != std::string::npos);
    CHECK(metrics.find("\np2pnode_tracker_announces_total{transport=\"udp\"} 1\n") != std::string::npos);
    CHECK(metrics.find("\np2pnode_tracker_peers 2\n") != std::string::npos);
    CHECK(metrics.find("# TYPE p2pnode_tracker_http_connections gauge\n") != std::string::npos);
}

TEST_CASE("tracker http: bad requests get a failure reason; the ip parameter needs --trust-ip-field") {
    Fixture f;
    auto no_hash = http_tracker::decode_announce_response(Fixture::body(f.fetch("GET /announce?port=1")));
    REQUIRE_FALSE(no_hash.ok());
    CHECK(no_hash.error().what == "failure reason: missing info_hash");
    auto bad_port = http_tracker::decode_announce_response(Fixture::body(f.fetch(f.announce(0, "0"))));
    CHECK(bad_port.error().what == "failure reason: bad port");
    auto no_scrape = http_tracker::decode_scrape_response(Fixture::body(f.fetch("GET /scrape")));
    CHECK(no_scrape.error().what == "failure reason: missing info_hash (full scrape is not served)");
    CHECK(f.front->counters().failures == 3);
    CHECK(f.tracker->store().swarm_count() == 0);

    // Not trusted: the ip parameter is ignored, the peer is the connection's address.
    f.fetch(f.announce(4444, "0", "&ip=10.9.8.7"));
    auto s = f.tracker->store().find(f.hash);
    REQUIRE(s);
    REQUIRE(s->peers.size() == 1);
    CHECK(s->peers[0].ip[0] == 127);

    CHECK(f.fetch("GET /nope").rfind("HTTP/1.1 404", 0) == 0);
    CHECK(f.fetch("DELETE /announce").rfind("HTTP/1.1 405", 0) == 0);
}

TEST_CASE("tracker http: /catalog lists names with their swarm's counts") {
    Fixture f;
    f.fetch(f.announce(5555, "0")); // a seeder, so the name can live
    REQUIRE(f.tracker->catalog().publish("demo.iso", f.hash, 12345, f.now, {}).ok());
    auto j = nlohmann::json::parse(Fixture::body(f.fetch("GET /catalog")), nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["total"] == 1);
    CHECK(j["next"].is_null());
    REQUIRE(j["entries"].size() == 1);
    CHECK(j["entries"][0]["name"] == "demo.iso");
    CHECK(j["entries"][0]["info_hash"] == to_hex(f.hash.view()));
    CHECK(j["entries"][0]["size"] == 12345);
    CHECK(j["entries"][0]["seeders"] == 1);
    auto empty = nlohmann::json::parse(Fixture::body(f.fetch("GET /catalog?start=5")), nullptr, false);
    CHECK(empty["entries"].empty());
    CHECK(empty["start"] == 1);
}
