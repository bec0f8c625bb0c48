#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>

#include "base/bytes.hpp"
#include "loop/loop.hpp"
#include "proto/udp_tracker.hpp"
#include "test_util.hpp"
#include "tracker/server.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {

using p2p::test::sa;
using p2p::test::v4;
using p2p::test::v6;

Hash20 hash_of(int i) {
    Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[1] = static_cast<std::uint8_t>(i >> 8);
    h.b[19] = 0x5a;
    return h;
}

// A server driven through handle(): wall clock under test control.
struct Fixture {
    Loop loop;
    std::uint32_t wall = 1'700'000'000;
    std::unique_ptr<TrackerServer> server;
    std::string reply;

    explicit Fixture(ServerConfig cfg = {}) {
        server = std::make_unique<TrackerServer>(loop.get(), std::move(cfg), [this] { return wall; });
    }
    std::uint64_t connect(const sockaddr_storage& from) {
        REQUIRE(server->handle(encode_connect_request(77), sa(from), reply));
        auto r = decode_connect_response(reply);
        REQUIRE(r.ok());
        CHECK(r->transaction_id == 77);
        return r->connection_id;
    }
    AnnounceRequest announce_req(const sockaddr_storage& from, const Hash20& h, std::uint16_t port) {
        AnnounceRequest a;
        a.connection_id = connect(from);
        a.transaction_id = 99;
        a.info_hash = h;
        a.peer_id = Hash20::from(std::string(20, 'p'));
        a.left = 100;
        a.event = kEventStarted;
        a.port = port;
        return a;
    }
    AnnounceResponse announce(const sockaddr_storage& from, const AnnounceRequest& a) {
        REQUIRE(server->handle(encode_announce_request(a), sa(from), reply));
        auto r = decode_announce_response(reply, from.ss_family == AF_INET6);
        REQUIRE(r.ok());
        CHECK(r->transaction_id == 99);
        return *r;
    }
    AnnounceResponse announce(const sockaddr_storage& from, const Hash20& h, std::uint16_t port,
                              std::uint64_t left = 100, std::uint32_t event = kEventStarted,
                              std::int32_t numwant = -1) {
        auto a = announce_req(from, h, port);
        a.left = left;
        a.event = event;
        a.num_want = numwant;
        return announce(from, a);
    }
    ScrapeEntry scrape(const sockaddr_storage& from, const Hash20& h) {
        std::string req = encode_scrape_request(connect(from), 5, {h});
        REQUIRE(server->handle(req, sa(from), reply));
        auto r = decode_scrape_response(reply);
        REQUIRE(r.ok());
        REQUIRE(r->entries.size() == 1);
        return r->entries[0];
    }
    // Adds n IPv4 (or IPv6) peers to swarm h from distinct addresses.
    void fill(const Hash20& h, int n, bool six = false) {
        for (int i = 0; i < n; ++i) {
            char ip[64];
            if (six)
                std::snprintf(ip, sizeof ip, "2001:db8::%x:%x", i >> 16, i & 0xffff);
            else
                std::snprintf(ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            auto from = six ? v6(ip, 40000) : v4(ip, 40000);
            announce(from, h, 6881, 100, kEventStarted, 0);
        }
    }
};

} // namespace

TEST_CASE("tracker server: connect, announce, peers exclude the asker") {
    Fixture f;
    auto a = v4("10.0.0.1", 5000), b = v4("10.0.0.2", 5001);
    Hash20 h = hash_of(1);
    auto ra = f.announce(a, h, 6881);
    CHECK(ra.peers.empty());
    CHECK(ra.leechers == 1);
    CHECK(ra.seeders == 0);
    CHECK(ra.interval == 1800);
    auto rb = f.announce(b, h, 6882, 0); // a seeder
    REQUIRE(rb.peers.size() == 1);
    CHECK(rb.peers[0].ip[0] == 10);
    CHECK(rb.peers[0].ip[3] == 1);
    CHECK(rb.peers[0].port == 6881); // the announced port, not the source port
    CHECK(rb.seeders == 1);
    CHECK(rb.leechers == 1);
    // a again: sees b only
    auto ra2 = f.announce(a, h, 6881, 100, kEventNone);
    REQUIRE(ra2.peers.size() == 1);
    CHECK(ra2.peers[0].ip[3] == 2);
    CHECK(f.server->store().peer_count() == 2);
    CHECK(f.server->counters().announces == 3);
    CHECK(f.server->counters().connects == 3);
}

TEST_CASE("tracker server: numwant default, caps and reply size") {
    Fixture f;
    Hash20 h = hash_of(2);
    f.fill(h, 300);
    auto asker = v4("192.168.1.1", 1);
    CHECK(f.announce(asker, h, 7000, 100, kEventNone, -1).peers.size() == 50);
    CHECK(f.announce(asker, h, 7000, 100, kEventNone, 1000).peers.size() == 200);
    CHECK(f.reply.size() == 20 + 200 * 6);
    CHECK(f.announce(asker, h, 7000, 100, kEventNone, 0).peers.size() == 0);
    CHECK(f.announce(asker, h, 7000, 100, kEventNone, 10).peers.size() == 10);
    // num_want 2^32-1 on the wire is -1: the default, never "4 billion"
    auto a = f.announce_req(asker, h, 7000);
    std::string pkt = encode_announce_request(a);
    for (int i = 92; i < 96; ++i) pkt[static_cast<std::size_t>(i)] = '\xff';
    REQUIRE(f.server->handle(pkt, sa(asker), f.reply));
    CHECK(decode_announce_response(f.reply, false)->peers.size() == 50);
    // 0x7fffffff is capped at 200
    CHECK(f.announce(asker, h, 7000, 100, kEventNone, 0x7fffffff).peers.size() == 200);

    // Sampled peers are distinct and never the asker
    auto r = f.announce(asker, h, 7000, 100, kEventNone, 100);
    std::set<std::string> seen;
    for (const auto& p : r.peers) {
        seen.insert(std::string(reinterpret_cast<const char*>(p.ip.data()), 4) + std::to_string(p.port));
        CHECK_FALSE((p.ip[0] == 192 && p.ip[1] == 168));
    }
    CHECK(seen.size() == 100);
}

TEST_CASE("tracker server: IPv6 announce gets 18-byte peers within one unfragmented datagram") {
    Fixture f;
    Hash20 h = hash_of(3);
    f.fill(h, 100, true);
    f.fill(h, 5, false);
    auto asker = v6("2001:db8:ffff::1", 1);
    auto r = f.announce(asker, h, 7000, 100, kEventNone, 200);
    CHECK(r.peers.size() == SwarmStore::max_reply_peers(true));
    CHECK(r.peers.size() == 67);
    CHECK(f.reply.size() <= kMaxReplySize);
    for (const auto& p : r.peers) CHECK(p.ip[0] == 0x20);
    // IPv4 askers get the IPv4 peers only
    auto r4 = f.announce(v4("1.1.1.1", 9), h, 7000, 100, kEventNone, 200);
    CHECK(r4.peers.size() == 5);
}

TEST_CASE("tracker server: events and scrape counts") {
    Fixture f;
    Hash20 h = hash_of(4);
    auto a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 1), c = v4("10.0.0.3", 1);
    f.announce(a, h, 1000);
    f.announce(b, h, 1000);
    f.announce(c, h, 1000, 0); // seeder from the start: not a download
    auto s = f.scrape(a, h);
    CHECK(s.seeders == 1);
    CHECK(s.leechers == 2);
    CHECK(s.completed == 0);
    f.announce(a, h, 1000, 0, kEventCompleted);
    s = f.scrape(a, h);
    CHECK(s.seeders == 2);
    CHECK(s.leechers == 1);
    CHECK(s.completed == 1);
    f.announce(a, h, 1000, 0, kEventCompleted); // repeated completed does not count twice
    CHECK(f.scrape(a, h).completed == 1);
    auto stopped = f.announce(b, h, 1000, 50, kEventStopped);
    CHECK(stopped.peers.empty());
    s = f.scrape(a, h);
    CHECK(s.leechers == 0);
    CHECK(s.seeders == 2);
    CHECK(f.server->store().peer_count() == 2);
    // unknown hash scrapes as zeros; several hashes in one request
    std::string req = encode_scrape_request(f.connect(a), 6, {h, hash_of(99)});
    REQUIRE(f.server->handle(req, sa(a), f.reply));
    auto r = decode_scrape_response(f.reply);
    REQUIRE(r.ok());
    REQUIRE(r->entries.size() == 2);
    CHECK(r->entries[0].seeders == 2);
    CHECK(r->entries[1].seeders == 0);
    CHECK(r->entries[1].leechers == 0);
    CHECK(f.server->counters().scrapes == 5);
}

TEST_CASE("tracker server: peers expire after about two intervals") {
    ServerConfig cfg;
    cfg.interval = 100;
    Fixture f(cfg);
    Hash20 h = hash_of(5);
    f.announce(v4("10.0.0.1", 1), h, 1000);
    f.wall += 150;
    f.announce(v4("10.0.0.2", 1), h, 1000);
    f.wall += 111; // first peer last seen 261 s ago > 2*100+60
    CHECK(f.server->store().expire(f.wall) == 1);
    CHECK(f.server->store().peer_count() == 1);
    auto s = f.scrape(v4("10.0.0.2", 1), h);
    CHECK(s.leechers == 1);
    f.wall += 300;
    f.server->store().expire(f.wall);
    CHECK(f.server->store().peer_count() == 0);
    CHECK(f.server->store().swarm_count() == 0); // the empty idle swarm went too
}

TEST_CASE("tracker server: global caps on peers and swarms") {
    ServerConfig cfg;
    cfg.limits.max_peers = 3;
    cfg.limits.max_swarms = 2;
    Fixture f(cfg);
    f.fill(hash_of(6), 3);
    auto r = f.announce(v4("10.9.9.9", 1), hash_of(6), 1000);
    CHECK(r.peers.size() == 3);                 // still answered
    CHECK(f.server->store().peer_count() == 3); // but not stored
    CHECK(f.server->store().capped() >= 1);
    // a second swarm fits; a third evicts the empty one first
    f.announce(v4("10.0.0.1", 1), hash_of(7), 1000, 100, kEventStopped); // stopped: creates nothing
    CHECK(f.server->store().swarm_count() == 1);
    f.wall += 10;
    f.announce(v4("10.0.0.1", 1), hash_of(8), 1000); // peer cap full: swarm created but empty
    CHECK(f.server->store().swarm_count() == 2);
    f.wall += 10;
    f.announce(v4("10.0.0.1", 1), hash_of(9), 1000);
    CHECK(f.server->store().swarm_count() == 2);
    CHECK_FALSE(f.server->store().find(hash_of(8)).has_value()); // the empty one was evicted
    CHECK(f.server->store().find(hash_of(6)).has_value());
    // now no empty swarm: the least recently active one (hash 6) goes
    f.server->store().expire(f.wall); // nothing is stale yet
    f.wall += 10;
    auto s9 = f.server->store().find(hash_of(9));
    REQUIRE(s9);
    f.announce(v4("10.0.0.2", 1), hash_of(10), 1000);
    CHECK(f.server->store().swarm_count() == 2);
}

TEST_CASE("tracker server: malformed packets get no reply or a reply no larger than the request") {
    Fixture f;
    auto a = v4("10.0.0.1", 1);
    std::string conn_req = encode_connect_request(1);
    for (std::size_t n = 0; n < 16; ++n) CHECK_FALSE(f.server->handle(conn_req.substr(0, n), sa(a), f.reply));
    std::string bad_proto = conn_req;
    bad_proto[7] ^= 1;
    CHECK_FALSE(f.server->handle(bad_proto, sa(a), f.reply));
    std::uint64_t id = f.connect(a);
    // unknown action with a valid id
    std::string unknown;
    put_be64(unknown, id);
    put_be32(unknown, 7);
    put_be32(unknown, 1);
    CHECK_FALSE(f.server->handle(unknown, sa(a), f.reply));
    // short announce
    AnnounceRequest ar;
    ar.connection_id = id;
    ar.info_hash = hash_of(1);
    ar.port = 1;
    std::string ann = encode_announce_request(ar);
    CHECK_FALSE(f.server->handle(ann.substr(0, 97), sa(a), f.reply));
    // scrape with 0 and 75 hashes
    CHECK_FALSE(f.server->handle(encode_scrape_request(id, 1, {}), sa(a), f.reply));
    CHECK_FALSE(f.server->handle(encode_scrape_request(id, 1, std::vector<Hash20>(75, hash_of(1))), sa(a), f.reply));
    CHECK_FALSE(f.server->handle(encode_scrape_request(id, 1, {hash_of(1)}) + "x", sa(a), f.reply));
    // bad connection id: dropped, counted
    ar.connection_id = id ^ 0x10;
    CHECK_FALSE(f.server->handle(encode_announce_request(ar), sa(a), f.reply));
    CHECK(f.server->counters().bad_connection == 1);
    // the id is bound to the address
    ar.connection_id = id;
    CHECK_FALSE(f.server->handle(encode_announce_request(ar), sa(v4("10.0.0.1", 2)), f.reply));
    // bad event: an error reply, not larger than the request
    std::string bad_event = encode_announce_request(ar);
    bad_event[83] = 9;
    REQUIRE(f.server->handle(bad_event, sa(a), f.reply));
    CHECK(f.reply.size() <= bad_event.size());
    CHECK(decode_error(f.reply)->message == "bad event");
    CHECK(f.server->counters().malformed >= 16 + 1 + 1 + 1 + 3);
    CHECK(f.server->store().peer_count() == 0);
}

TEST_CASE("tracker server: the announce ip field is ignored unless trusted") {
    auto a = v4("10.0.0.1", 1);
    {
        Fixture f;
        auto req = f.announce_req(a, hash_of(1), 6881);
        req.ip = 0x01020304;
        f.announce(a, req);
        auto s = f.server->store().find(hash_of(1));
        REQUIRE(s);
        REQUIRE(s->peers.size() == 1);
        CHECK(s->peers[0].ip[0] == 10);
        CHECK(s->peers[0].ip[3] == 1);
    }
    {
        ServerConfig cfg;
        cfg.trust_ip_field = true;
        Fixture f(cfg);
        auto req = f.announce_req(a, hash_of(1), 6881);
        req.ip = 0x01020304;
        f.announce(a, req);
        auto s = f.server->store().find(hash_of(1));
        REQUIRE(s);
        CHECK(s->peers[0].ip[0] == 1);
        CHECK(s->peers[0].ip[3] == 4);
    }
}

TEST_CASE("tracker server: port 0 is answered but not stored") {
    Fixture f;
    f.fill(hash_of(1), 2);
    auto r = f.announce(v4("10.5.5.5", 1), hash_of(1), 0);
    CHECK(r.peers.size() == 2);
    CHECK(f.server->store().peer_count() == 2);
}

// --- catalog (docs/catalog-protocol.md: a name belongs to a torrent while its swarm has a seeder) ---

namespace {

struct CatalogFixture : Fixture {
    using Fixture::Fixture;
    // The reply to a publish from `from`: "" for an ack, else the error message.
    std::string publish(const sockaddr_storage& from, const std::string& name, const Hash20& h,
                        std::uint64_t size = 1) {
        std::string pkt = encode_publish_request({connect(from), 11, h, size, name});
        REQUIRE(server->handle(pkt, sa(from), reply));
        if (decode_publish_ack(reply).ok()) return "";
        auto e = decode_error(reply);
        REQUIRE(e.ok());
        return e->message;
    }
    std::optional<CatalogEntry> lookup(const std::string& name) {
        auto from = v4("10.9.9.9", 9);
        REQUIRE(server->handle(encode_lookup_request({connect(from), 12, name}), sa(from), reply));
        auto l = decode_lookup_response(reply);
        REQUIRE(l.ok());
        if (!l->found) return std::nullopt;
        return l->entry;
    }
    std::vector<CatalogEntry> list() {
        auto from = v4("10.9.9.9", 9);
        std::vector<CatalogEntry> all;
        std::uint32_t start = 0;
        for (int pages = 0; pages < 100; ++pages) {
            REQUIRE(server->handle(encode_list_request({connect(from), 13, start}), sa(from), reply));
            auto page = decode_list_response(reply);
            REQUIRE(page.ok());
            all.insert(all.end(), page->entries.begin(), page->entries.end());
            if (page->next == kListNoMore || page->entries.empty()) break;
            start = page->next;
        }
        return all;
    }
    void seed(const sockaddr_storage& from, const Hash20& h, std::uint16_t port = 6881) { announce(from, h, port, 0); }
    void stop(const sockaddr_storage& from, const Hash20& h, std::uint16_t port = 6881) {
        announce(from, h, port, 0, kEventStopped);
    }
};

} // namespace

TEST_CASE("tracker server: catalog publish, lookup and paged list") {
    CatalogFixture f;
    auto a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 2);
    f.seed(a, hash_of(1));
    CHECK(f.publish(a, "debian.iso", hash_of(1), 1000) == "");
    // another torrent may not take the name (from anyone but its publisher)
    f.seed(b, hash_of(2));
    CHECK(f.publish(b, "debian.iso", hash_of(2), 5) == "name taken by another torrent");
    // invalid name: error reply no larger than the request
    std::string bad = encode_publish_request({f.connect(a), 11, hash_of(3), 1, "x"});
    bad[bad.size() - 1] = '/';
    REQUIRE(f.server->handle(bad, sa(a), f.reply));
    CHECK(f.reply.size() <= bad.size());
    CHECK(decode_error(f.reply).ok());

    auto l = f.lookup("debian.iso");
    REQUIRE(l);
    CHECK(l->info_hash == hash_of(1));
    CHECK(l->total_size == 1000);
    CHECK(l->seeders == 1);
    CHECK_FALSE(f.lookup("nope"));

    // 40 long names: several pages, each within one datagram, in name order, nothing lost
    for (int i = 0; i < 40; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "%03d-", i);
        f.seed(a, hash_of(100 + i));
        REQUIRE(f.publish(a, name + std::string(200, 'n'), hash_of(100 + i), i) == "");
    }
    std::vector<std::string> names;
    std::uint32_t start = 0;
    int pages = 0;
    for (;;) {
        REQUIRE(f.server->handle(encode_list_request({f.connect(a), 13, start}), sa(a), f.reply));
        CHECK(f.reply.size() <= kMaxReplySize);
        auto page = decode_list_response(f.reply);
        REQUIRE(page.ok());
        CHECK(page->total == 41);
        ++pages;
        for (const auto& en : page->entries) names.push_back(en.name);
        if (page->next == kListNoMore) break;
        CHECK(page->next == names.size());
        start = page->next;
        REQUIRE(pages < 50);
    }
    CHECK(pages > 1);
    REQUIRE(names.size() == 41);
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(names.back() == "debian.iso");
    // past the end: empty page, no more
    REQUIRE(f.server->handle(encode_list_request({f.connect(a), 13, 1000}), sa(a), f.reply));
    CHECK(decode_list_response(f.reply)->entries.empty());
}

TEST_CASE("tracker server: a catalog name is freed when its swarm's last seeder stops, expires or leeches") {
    CatalogFixture f;
    auto a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 2), c = v4("10.0.0.3", 3);
    // stopped: two seeders, the name lives until the second one stops
    f.seed(a, hash_of(1));
    f.seed(c, hash_of(1));
    REQUIRE(f.publish(a, "notes.txt", hash_of(1)) == "");
    f.stop(a, hash_of(1));
    REQUIRE(f.lookup("notes.txt"));
    CHECK(f.lookup("notes.txt")->seeders == 1);
    f.seed(b, hash_of(2));
    CHECK(f.publish(b, "notes.txt", hash_of(2)) == "name taken by another torrent");
    f.announce(b, hash_of(1), 7000); // a leecher of the old swarm does not keep the name
    f.stop(c, hash_of(1));
    CHECK_FALSE(f.lookup("notes.txt"));
    CHECK(f.list().empty());
    CHECK(f.server->catalog().size() == 0);
    // the name is free: anyone may publish it for another torrent, and becomes its publisher
    REQUIRE(f.publish(b, "notes.txt", hash_of(2)) == "");
    REQUIRE(f.lookup("notes.txt"));
    CHECK(f.lookup("notes.txt")->info_hash == hash_of(2));
    CHECK(f.server->catalog().find_name("notes.txt")->publisher.str() == "10.0.0.2");

    // expiry: the seeder stops announcing; the sweep that drops it frees the name
    f.wall += 2 * 1800 + 61;
    f.seed(c, hash_of(3));
    REQUIRE(f.publish(c, "other", hash_of(3)) == "");
    f.server->store().expire(f.wall);
    CHECK_FALSE(f.lookup("notes.txt"));
    REQUIRE(f.lookup("other")); // its seeder is fresh

    // the last seeder becomes a leecher (left > 0): no seeder, no name
    f.announce(c, hash_of(3), 6881, 100, kEventNone);
    CHECK_FALSE(f.lookup("other"));
    CHECK(f.list().empty());

    // a swarm evicted by the swarm cap frees its names too
    ServerConfig cfg;
    cfg.limits.max_swarms = 1;
    CatalogFixture g(cfg);
    g.seed(a, hash_of(5));
    REQUIRE(g.publish(a, "evicted", hash_of(5)) == "");
    g.wall += 10;
    g.seed(b, hash_of(6)); // the cap: the least recently active swarm goes
    CHECK_FALSE(g.server->store().find(hash_of(5)));
    CHECK_FALSE(g.lookup("evicted"));
}

TEST_CASE("tracker server: the publisher moves its name to a new info hash while the old swarm still has seeders") {
    CatalogFixture f;
    auto a = v4("10.0.0.1", 1), c = v4("10.0.0.3", 3);
    f.seed(a, hash_of(1));
    f.seed(c, hash_of(1));
    REQUIRE(f.publish(a, "report.pdf", hash_of(1), 10) == "");
    // c seeds the same content and publishes the same name: a refresh, the publisher stays a
    REQUIRE(f.publish(c, "report.pdf", hash_of(1), 10) == "");
    CHECK(f.server->catalog().find_name("report.pdf")->publisher.str() == "10.0.0.1");
    // a's file changed: a seeds the new torrent and moves the name, from another source port (the address counts)
    f.seed(a, hash_of(2));
    auto a_other_port = v4("10.0.0.1", 4444);
    REQUIRE(f.publish(a_other_port, "report.pdf", hash_of(2), 20) == "");
    auto e = f.lookup("report.pdf");
    REQUIRE(e);
    CHECK(e->info_hash == hash_of(2));
    CHECK(e->total_size == 20);
    CHECK(f.server->store().scrape(hash_of(1)).seeders == 2); // the old swarm is untouched
    // c, still seeding the old torrent, cannot take the name back
    CHECK(f.publish(c, "report.pdf", hash_of(1), 10) == "name taken by another torrent");
    // the old swarm emptying does not touch the moved name
    f.stop(a, hash_of(1));
    f.stop(c, hash_of(1));
    REQUIRE(f.lookup("report.pdf"));
    CHECK(f.lookup("report.pdf")->info_hash == hash_of(2));
    // an IPv4 publisher over a dual-stack IPv6 socket (::ffff:10.0.0.1) is the same publisher
    f.seed(a, hash_of(3));
    REQUIRE(f.publish(v6("::ffff:10.0.0.1", 5), "report.pdf", hash_of(3), 30) == "");
    CHECK(f.lookup("report.pdf")->info_hash == hash_of(3));
    // the swarm the name was moved from (hash 2) losing its seeder is not the name's business any more
    f.stop(a, hash_of(2));
    REQUIRE(f.lookup("report.pdf"));
}

TEST_CASE("tracker server: a publish before its seeder's announce waits, unlisted, for a grace period") {
    ServerConfig cfg;
    cfg.catalog_grace_s = 100;
    CatalogFixture f(cfg);
    auto a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 2);
    REQUIRE(f.publish(a, "early", hash_of(1)) == ""); // accepted: the seeder is on its way
    CHECK_FALSE(f.lookup("early"));                   // but never shown without a seeder
    CHECK(f.list().empty());
    CHECK(f.server->catalog().pending() == 1);
    f.seed(b, hash_of(2));
    CHECK(f.publish(b, "early", hash_of(2)) == "name taken by another torrent"); // held for its publisher
    f.announce(a, hash_of(1), 6881);                                             // a leecher: still waiting
    CHECK_FALSE(f.lookup("early"));
    f.seed(a, hash_of(1)); // its seeder arrives: listed at once
    REQUIRE(f.lookup("early"));
    CHECK(f.list().size() == 1);
    CHECK(f.server->catalog().pending() == 0);

    // No seeder within the grace: the sweep drops it, and the name is free again.
    REQUIRE(f.publish(a, "never", hash_of(3)) == "");
    f.wall += 50;
    f.server->catalog().sweep(f.wall);
    CHECK(f.server->catalog().pending() == 1);
    CHECK(f.publish(b, "never", hash_of(2)) == "name taken by another torrent");
    f.wall += 51;
    f.server->catalog().sweep(f.wall);
    CHECK(f.server->catalog().pending() == 0);
    REQUIRE(f.publish(b, "never", hash_of(2)) == "");
    CHECK(f.lookup("never")->info_hash == hash_of(2));
}

TEST_CASE("tracker server: the catalog's publishers are saved; after a restart names without a seeder are gone") {
    test::TempDir dir("tracker-catalog");
    ServerConfig cfg;
    cfg.bind = {"127.0.0.1"};
    cfg.port = 0;
    cfg.state_file = dir.str() + "/state.json";
    auto a = v4("10.0.0.1", 1), b = v4("10.0.0.2", 2);
    std::uint32_t wall = 0;
    {
        CatalogFixture f(cfg);
        wall = f.wall;
        REQUIRE(f.server->start().ok());
        f.seed(a, hash_of(1));
        REQUIRE(f.publish(a, "kept", hash_of(1)) == "");
        f.seed(b, hash_of(2));
        REQUIRE(f.publish(b, "lapses", hash_of(2)) == "");
        f.wall += 3000; // a announces again later; b does not, so b's seeder is stale by the restart below
        f.seed(a, hash_of(1));
        REQUIRE(f.server->save().ok());
        f.server->close();
    }
    std::ifstream in(cfg.state_file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find(R"("name":"kept","publisher":"10.0.0.1")") != std::string::npos);
    CHECK(text.find(R"("name":"lapses","publisher":"10.0.0.2")") != std::string::npos);
    // Restart 1000 s later: b's seeder (last seen 4000 s ago) is past the peer TTL (3660 s), so "lapses" is gone;
    // "kept" keeps its publisher, who may still move it.
    CatalogFixture g(cfg);
    g.wall = wall + 4000;
    REQUIRE(g.server->start().ok());
    CHECK(g.lookup("kept"));
    CHECK_FALSE(g.lookup("lapses"));
    CHECK(g.server->catalog().size() == 1);
    g.seed(a, hash_of(3));
    CHECK(g.publish(b, "kept", hash_of(3)) == "name taken by another torrent");
    REQUIRE(g.publish(a, "kept", hash_of(3)) == "");
    CHECK(g.lookup("kept")->info_hash == hash_of(3));
    g.server->close();
}

TEST_CASE("tracker server: request_save (SIGHUP) writes the state now, and again if asked while writing") {
    test::TempDir dir("tracker-hup");
    ServerConfig cfg;
    cfg.bind = {"127.0.0.1"};
    cfg.port = 0;
    cfg.state_file = dir.str() + "/state.json";
    CatalogFixture f(cfg);
    REQUIRE(f.server->start().ok());
    auto a = v4("10.0.0.1", 1);
    f.seed(a, hash_of(1));
    REQUIRE(f.server->request_save()); // the timer would wait a minute
    f.seed(a, hash_of(2));             // after the save started: needs the second one
    REQUIRE(f.server->request_save()); // one is being written: queued
    auto has = [&](const Hash20& h) {
        std::ifstream in(cfg.state_file);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return text.find(to_hex(h.view())) != std::string::npos;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!has(hash_of(2)) && std::chrono::steady_clock::now() < deadline) uv_run(f.loop.get(), UV_RUN_ONCE);
    CHECK(has(hash_of(1)));
    CHECK(has(hash_of(2)));
    f.server->close();
    CHECK_FALSE(f.server->request_save()); // closed: nothing to do
    ServerConfig none;
    CatalogFixture g(none);
    CHECK_FALSE(g.server->request_save()); // no state file
}

TEST_CASE("tracker server: a busy port is one error naming the port and every address") {
    Loop loop;
    ServerConfig cfg;
    cfg.bind = {"127.0.0.1", "::1"}; // one ephemeral port for both (::1 may be missing: it fails below too)
    cfg.port = 0;
    TrackerServer first(loop.get(), cfg);
    REQUIRE(first.start().ok());
    const std::uint16_t port = first.bound()[0].port;
    for (const auto& b : first.bound()) REQUIRE(b.port == port);
    ServerConfig again = cfg;
    again.port = port;
    again.bind = {"127.0.0.1"};
    TrackerServer second(loop.get(), again);
    Status st = second.start();
    REQUIRE_FALSE(st);
    CHECK(st.error().str() ==
          "cannot listen on UDP port " + std::to_string(port) + " (127.0.0.1: address already in use)");
    // IPv6 addresses in brackets, every failure in the one message.
    again.bind = {"127.0.0.1", "::1", "not-an-ip"};
    TrackerServer third(loop.get(), again);
    st = third.start();
    REQUIRE_FALSE(st);
    const std::string want_prefix =
        "cannot listen on UDP port " + std::to_string(port) + " (127.0.0.1: address already in use; [::1]: ";
    CHECK(st.error().str().rfind(want_prefix, 0) == 0);
    CHECK(st.error().str().find("; not-an-ip: not a literal IP address)") != std::string::npos);
    first.close();
}

TEST_CASE("tracker server: the periodic save runs a part per loop turn while announces are answered") {
    char tmpl[] = "/tmp/p2pnode-tracker-save-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    const std::string dir = tmpl;
    ServerConfig cfg;
    cfg.state_file = dir + "/state.json";
    Fixture f(cfg);
    // ~3000 swarms of 20 peers: a document of several parts.
    for (int i = 0; i < 3000; ++i)
        for (int p = 0; p < 20; ++p)
            f.announce(v4("10.1.0.1", 1000 + p), hash_of(i), static_cast<std::uint16_t>(1000 + p));
    std::optional<Status> saved;
    REQUIRE(f.server->save_in_background([&](Status st) { saved = std::move(st); }));
    CHECK_FALSE(f.server->save_in_background([](Status) {})); // one at a time
    // Between the parts, announces are answered (for new swarms too); count those made while the save ran.
    int during = 0;
    uv_check_t probe;
    uv_check_init(f.loop.get(), &probe);
    struct Ctx {
        Fixture* f;
        std::optional<Status>* saved;
        int* during;
    } ctx{&f, &saved, &during};
    probe.data = &ctx;
    uv_check_start(&probe, [](uv_check_t* h) {
        auto* c = static_cast<Ctx*>(h->data);
        if (c->saved->has_value()) return;
        auto r = c->f->announce(v4("10.2.0.1", 7000), hash_of(5000 + *c->during), 7000);
        CHECK(r.leechers == 1);
        ++*c->during;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!saved && std::chrono::steady_clock::now() < deadline) uv_run(f.loop.get(), UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    uv_run(f.loop.get(), UV_RUN_NOWAIT);
    REQUIRE(saved.has_value());
    REQUIRE(saved->ok());
    CHECK(during >= 4); // the loop turned between the parts (~9) and served meanwhile
    // The file holds the 3000 swarms the save started with, loadable; the ones announced meanwhile wait for the
    // next save.
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    REQUIRE(load_state(cfg.state_file, TrackerState{store, catalog, counters}, f.wall) == LoadOutcome::loaded);
    CHECK(store.swarm_count() == 3000);
    CHECK(store.peer_count() == 3000 * 20);
    // A save now (as at exit) includes them.
    REQUIRE(f.server->save().ok());
    REQUIRE(load_state(cfg.state_file, TrackerState{store, catalog, counters}, f.wall) == LoadOutcome::loaded);
    CHECK(store.swarm_count() == static_cast<std::size_t>(3000 + during));
    std::filesystem::remove_all(dir);
}

TEST_CASE("tracker server: answers over real loopback UDP on an ephemeral port") {
    Loop loop;
    ServerConfig cfg;
    cfg.bind = {"127.0.0.1", "::1"};
    cfg.port = 0;
    TrackerServer server(loop.get(), cfg);
    REQUIRE(server.start().ok());
    REQUIRE(!server.bound().empty());
    std::uint16_t port = server.bound()[0].port;
    CHECK(port != 0);
    CHECK(server.bound()[0].url() == "udp://127.0.0.1:" + std::to_string(port));
    if (server.bound().size() > 1) CHECK(server.bound()[1].port == port); // one port for both families

    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    auto to = v4("127.0.0.1", port);
    auto exchange = [&](const std::string& pkt) {
        REQUIRE(::sendto(fd, pkt.data(), pkt.size(), 0, sa(to), sizeof(sockaddr_in)) ==
                static_cast<ssize_t>(pkt.size()));
        char buf[2048];
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
        while (std::chrono::steady_clock::now() < until) {
            uv_run(loop.get(), UV_RUN_NOWAIT);
            ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) return std::string(buf, static_cast<std::size_t>(n));
            ::usleep(1000);
        }
        return std::string();
    };
    auto c = decode_connect_response(exchange(encode_connect_request(42)));
    REQUIRE(c.ok());
    CHECK(c->transaction_id == 42);
    AnnounceRequest ar;
    ar.connection_id = c->connection_id;
    ar.transaction_id = 43;
    ar.info_hash = hash_of(1);
    ar.port = 6881;
    ar.left = 1;
    auto r = decode_announce_response(exchange(encode_announce_request(ar)), false);
    REQUIRE(r.ok());
    CHECK(r->transaction_id == 43);
    CHECK(r->leechers == 1);
    // malformed: silence
    CHECK(exchange("short").empty());
    ::close(fd);
    CHECK(server.counters().announces == 1);
    CHECK(server.counters().malformed == 1);
    server.close();
}

// --- the catalog alone (Catalog directly, the seeded swarms a set under test control) ---

TEST_CASE("tracker catalog: publishers, unknown publishers, caps") {
    std::set<Hash20> seeded;
    Catalog cat(4, 100);
    cat.set_seeded([&](const Hash20& h) { return seeded.count(h) > 0; });
    const std::uint8_t ip_a[4] = {192, 0, 2, 1}, ip_b[4] = {192, 0, 2, 2};
    const auto a = PublisherAddr::v4(ip_a), b = PublisherAddr::v4(ip_b);
    const std::uint32_t now = 1000;
    seeded = {hash_of(1), hash_of(2)};
    REQUIRE(cat.publish("x", hash_of(1), 1, now, a).ok());
    CHECK(cat.publish("x", hash_of(2), 1, now, b).error().what == "name taken by another torrent");
    CHECK(cat.publish("x", hash_of(2), 1, now).error().what == "name taken by another torrent"); // unknown: nobody
    REQUIRE(cat.publish("x", hash_of(2), 1, now, a).ok());
    CHECK(cat.find_hash(hash_of(2))->name == "x");
    CHECK_FALSE(cat.find_hash(hash_of(1)));
    // An entry restored from an older file has no publisher: nobody may move it while it is seeded...
    cat.restore(CatalogRecord{"old", hash_of(1), 5, now, {}});
    CHECK(cat.publish("old", hash_of(2), 1, now, a).error().what == "name taken by another torrent");
    // ...and it is freed like any other when its swarm loses its last seeder.
    seeded.erase(hash_of(1));
    CHECK(cat.swarm_unseeded(hash_of(1)) == 1);
    CHECK_FALSE(cat.find_name("old"));
    // Caps: 4 entries in all; unseeded publishes beyond them fail, expired pending ones make room.
    REQUIRE(cat.publish("p1", hash_of(7), 1, now, a).ok());
    REQUIRE(cat.publish("p2", hash_of(8), 1, now, a).ok());
    REQUIRE(cat.publish("s1", hash_of(2), 1, now, b).ok());
    CHECK(cat.size() == 2);
    CHECK(cat.pending() == 2);
    CHECK(cat.publish("s2", hash_of(2), 1, now, b).error().what == "catalog full");
    REQUIRE(cat.publish("s2", hash_of(2), 1, now + 101, b).ok()); // p1, p2 expired: dropped for room
    CHECK(cat.pending() == 0);
    CHECK(cat.size() == 3);
    // A name moved by its publisher to a torrent with no seeder yet waits (unlisted) like a new publish.
    REQUIRE(cat.publish("x", hash_of(9), 1, now + 101, a).ok());
    CHECK_FALSE(cat.find_name("x"));
    CHECK(cat.pending() == 1);
    seeded.insert(hash_of(9));
    CHECK(cat.swarm_seeded(hash_of(9)) == 1);
    CHECK(cat.find_name("x")->info_hash == hash_of(9));
}

TEST_CASE("tracker catalog: random publishes and seeder changes keep every listed name seeded") {
    std::set<Hash20> seeded;
    Catalog cat(40, 30);
    cat.set_seeded([&](const Hash20& h) { return seeded.count(h) > 0; });
    std::uint64_t x = 88172645463325252ull;
    auto rnd = [&](std::uint32_t n) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return static_cast<std::uint32_t>(x % n);
    };
    std::uint32_t now = 1000;
    std::size_t ok = 0, taken = 0;
    for (int step = 0; step < 20000; ++step) {
        const Hash20 h = hash_of(static_cast<int>(rnd(30)));
        switch (rnd(4)) {
        case 0:
        case 1: {
            const std::uint8_t ip[4] = {10, 0, 0, static_cast<std::uint8_t>(rnd(3))};
            const std::string name = std::string("n").append(std::to_string(rnd(50))); // GCC 12 -Wrestrict: no "n" + s
            Status st = cat.publish(name, h, 1, now, PublisherAddr::v4(ip));
            if (st)
                ++ok;
            else if (st.error().what == "name taken by another torrent")
                ++taken;
            break;
        }
        case 2: // the swarm's seeder count leaves or reaches 0, as the store reports it
            if (seeded.insert(h).second)
                cat.swarm_seeded(h);
            else
                seeded.erase(h), cat.swarm_unseeded(h);
            break;
        default:
            now += rnd(10);
            if (rnd(8) == 0) cat.sweep(now);
        }
        // Invariants: live entries are sorted, unique, seeded and found by hash; the caps hold.
        const auto& es = cat.entries();
        for (std::size_t i = 0; i < es.size(); ++i) {
            REQUIRE(seeded.count(es[i].info_hash) == 1);
            if (i) REQUIRE(es[i - 1].name < es[i].name);
            const CatalogRecord* r = cat.find_hash(es[i].info_hash);
            REQUIRE(r);
            REQUIRE(r->info_hash == es[i].info_hash);
        }
        REQUIRE(cat.size() + cat.pending() <= 40);
    }
    CHECK(ok > 1000); // both outcomes were exercised
    CHECK(taken > 100);
}

// --- the store's compact encoding (SwarmStore directly, no server) ---

namespace {
AnnounceInput store_in(const Hash20& h, std::uint8_t last, std::uint16_t port, bool six = false,
                       std::uint32_t event = kEventNone) {
    AnnounceInput in;
    in.info_hash = h;
    in.peer.v6 = six;
    if (six)
        in.peer.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last};
    else
        in.peer.ip = {10, 0, 0, last};
    in.peer.port = port;
    in.event = event;
    return in;
}
std::uint32_t seen_of(const SwarmStore& st, const Hash20& h, std::uint8_t last, bool six = false) {
    auto s = st.find(h);
    REQUIRE(s);
    for (const auto& p : s->peers)
        if (p.v6 == six && p.ip[six ? 15 : 3] == last) return p.last_seen;
    FAIL("peer not stored");
    return 0;
}
} // namespace

TEST_CASE("tracker store: IPv4 and IPv6 peers are kept apart") {
    SwarmStore st;
    Hash20 h = hash_of(1);
    std::string out;
    std::uint32_t now = 1'700'000'000;
    st.announce(store_in(h, 1, 6881), now, out);
    st.announce(store_in(h, 2, 6881), now, out);
    st.announce(store_in(h, 7, 6881, true), now, out);
    // same port, and the IPv6 address begins with 10.0.0.1's bytes: still a different peer
    AnnounceInput twin = store_in(h, 0, 6881, true);
    twin.peer.ip = {10, 0, 0, 1};
    st.announce(twin, now, out);
    CHECK(st.peer_count() == 4);

    out.clear();
    AnnounceCounts c = st.announce(store_in(h, 3, 7000), now, out); // a new IPv4 peer
    CHECK(c.seeders + c.leechers == 5);
    CHECK(c.peers_written == 2);
    CHECK(out.size() == 2 * 6); // only the two other IPv4 peers, 6 bytes each
    out.clear();
    c = st.announce(store_in(h, 7, 6881, true), now, out); // an existing IPv6 peer
    CHECK(c.peers_written == 1);
    REQUIRE(out.size() == 18);
    CHECK(static_cast<std::uint8_t>(out[0]) == 10); // the twin, not itself

    auto s = st.find(h);
    REQUIRE(s);
    REQUIRE(s->peers.size() == 5);
    // IPv4 first, sorted; then IPv6, sorted
    CHECK((s->peers[0].v6 == 0 && s->peers[0].ip[3] == 1));
    CHECK((s->peers[1].v6 == 0 && s->peers[1].ip[3] == 2));
    CHECK((s->peers[2].v6 == 0 && s->peers[2].ip[3] == 3 && s->peers[2].port == 7000));
    CHECK((s->peers[3].v6 == 1 && s->peers[3].ip[0] == 10));
    CHECK((s->peers[4].v6 == 1 && s->peers[4].ip[15] == 7));
    // stopping the IPv6 twin leaves the IPv4 peer with the same leading bytes
    out.clear();
    twin.event = kEventStopped;
    st.announce(twin, now, out);
    CHECK(st.peer_count() == 4);
    CHECK(seen_of(st, h, 1) == now);
}

TEST_CASE("tracker store: last-seen stamps are exact seconds at the default TTL, coarser for long TTLs") {
    SwarmStore st;
    Hash20 h = hash_of(2);
    std::string out;
    std::uint32_t t = 1'700'000'123;
    CHECK(st.stamp_unit_s() == 1);
    st.announce(store_in(h, 1, 1), t, out);
    st.announce(store_in(h, 2, 1), t + 7, out);
    CHECK(seen_of(st, h, 1) == t);
    CHECK(seen_of(st, h, 2) == t + 7);

    // interval 1 day: the 15-bit window must cover 4x the TTL, so units of 32 s; existing stamps are re-encoded
    std::uint32_t ttl = 2 * 86400 + 60;
    st.set_peer_ttl(ttl);
    CHECK(st.stamp_unit_s() == 32);
    CHECK(seen_of(st, h, 1) == (t & ~31u));
    CHECK(seen_of(st, h, 2) == ((t + 7) & ~31u));
    CHECK(t - seen_of(st, h, 1) < 32);

    // expiry is still "about two intervals": within one unit
    st.announce(store_in(h, 2, 1), t + 1000, out); // peer 2 refreshed
    CHECK(st.expire(t + ttl - 32) == 0);
    CHECK(st.expire(t + ttl + 32) == 1); // peer 1 gone
    CHECK(st.peer_count() == 1);
    CHECK(seen_of(st, h, 2) == ((t + 1000) & ~31u));

    // a very long TTL still fits: the window grows to the whole u32 range at most
    st.set_peer_ttl(0xffffffffu / 8);
    CHECK(st.stamp_unit_s() >= 1024);
    CHECK(t + 1000 - seen_of(st, h, 2) < st.stamp_unit_s());
}

TEST_CASE("tracker store: stamps wrap around their 15 bits") {
    SwarmStore st; // default TTL 3660 s, 1 s units, window 32768 s
    Hash20 h = hash_of(3);
    std::string out;
    std::uint32_t t0 = 32768u * 50000u - 5; // the stamp field wraps 5 s later
    st.announce(store_in(h, 1, 1), t0, out);
    st.announce(store_in(h, 2, 1), t0 + 10, out);
    CHECK(seen_of(st, h, 1) == t0);
    CHECK(seen_of(st, h, 2) == t0 + 10);
    CHECK(st.expire(t0 + 3660) == 0);
    CHECK(st.expire(t0 + 3661) == 1); // 3661 s > TTL: peer 1 only
    CHECK(seen_of(st, h, 2) == t0 + 10);
    // peer 2 keeps announcing every 3000 s through several wraps of the field; the sweep runs every 60 s
    std::uint32_t t = t0 + 10;
    for (int i = 0; i < 40; ++i) {
        for (std::uint32_t s = 60; s <= 3000; s += 60) st.expire(t + s);
        t += 3000;
        st.announce(store_in(h, 2, 1), t, out);
        REQUIRE(seen_of(st, h, 2) == t);
    }
    CHECK(st.peer_count() == 1);
    // and an old stamp read across a wrap is old, not new
    st.announce(store_in(h, 3, 1), t + 1, out);
    CHECK(st.expire(t + 3661) == 1); // peer 2 (3661 s old); peer 3 is 3660 s old and stays
    CHECK(st.expire(t + 3662) == 1);
    CHECK(st.peer_count() == 0);
}

TEST_CASE("tracker store: stamps cannot wrap into looking fresh when nobody sweeps") {
    SwarmStore st;
    Hash20 h = hash_of(4);
    std::string out;
    std::uint32_t t = 1'700'000'000;
    st.announce(store_in(h, 1, 1), t, out);
    out.clear();
    // 32768 s later the old stamp would read as new; the announce sweeps first (half a window without one)
    AnnounceCounts c = st.announce(store_in(h, 2, 1), t + 32768, out);
    CHECK(c.peers_written == 0);
    CHECK(st.peer_count() == 1);
}

TEST_CASE("tracker store: restored stamps out of range are pinned, not wrapped") {
    SwarmStore st;
    Hash20 h = hash_of(5);
    std::uint32_t now = 1'700'000'000;
    std::vector<PeerEntry> peers(3);
    for (std::uint8_t i = 0; i < 3; ++i) {
        peers[i].ip = {192, 0, 2, static_cast<std::uint8_t>(i + 1)};
        peers[i].port = 6881;
    }
    peers[0].last_seen = now - 100;        // fresh
    peers[1].last_seen = now - 40 * 86400; // saved long ago: stale, must not read as recent
    peers[2].last_seen = now + 500;        // from the future (clock stepped back): kept
    st.restore(h, 4, peers, now);
    CHECK(st.peer_count() == 3);
    CHECK(seen_of(st, h, 1) == now - 100);
    CHECK(now - seen_of(st, h, 2) > st.limits().peer_ttl_s);
    CHECK(st.expire(now) == 1);
    CHECK(st.peer_count() == 2);
    CHECK(st.scrape(h).completed == 4);
}

TEST_CASE("tracker store: many swarms and peers come and go with the counts intact") {
    SwarmLimits lim;
    lim.max_swarms = 3000;
    SwarmStore st(lim);
    std::string out;
    std::uint32_t t = 1'700'000'000;
    auto hash_n = [](int i) {
        Hash20 h;
        std::memcpy(h.b.data(), &i, sizeof i);
        h.b[19] = 0x5a;
        return h;
    };
    for (int i = 0; i < 3000; ++i)
        for (std::uint8_t p = 1; p <= static_cast<std::uint8_t>(1 + i % 7); ++p)
            st.announce(store_in(hash_n(i), p, 1), t, out);
    CHECK(st.swarm_count() == 3000);
    std::size_t expect = 0;
    for (int i = 0; i < 3000; ++i) expect += 1 + i % 7;
    CHECK(st.peer_count() == expect);
    // every other swarm's peers stop; 250 s later those empty swarms are stale and go
    for (int i = 0; i < 3000; i += 2)
        for (std::uint8_t p = 1; p <= static_cast<std::uint8_t>(1 + i % 7); ++p)
            st.announce(store_in(hash_n(i), p, 1, false, kEventStopped), t, out);
    st.set_peer_ttl(200);
    CHECK(st.expire(t + 100) == 0);
    CHECK(st.swarm_count() == 3000);
    for (int i = 1; i < 3000; i += 2) st.announce(store_in(hash_n(i), 1, 1), t + 150, out); // keep these alive
    std::size_t stale_peers = 0; // the odd swarms' peers other than peer 1
    for (int i = 1; i < 3000; i += 2) stale_peers += i % 7;
    CHECK(st.expire(t + 250) == stale_peers);
    CHECK(st.swarm_count() == 1500);
    CHECK(st.peer_count() == 1500);
    for (int i = 0; i < 3000; ++i) {
        CAPTURE(i);
        REQUIRE(st.find(hash_n(i)).has_value() == (i % 2 == 1));
        if (i % 2) CHECK(st.scrape(hash_n(i)).leechers == 1);
    }
    // a big swarm grows and shrinks back
    Hash20 big = hash_n(1'000'000);
    for (int p = 0; p < 2000; ++p) {
        AnnounceInput in = store_in(big, static_cast<std::uint8_t>(p), static_cast<std::uint16_t>(1000 + p / 256));
        st.announce(in, t + 300, out);
    }
    CHECK(st.scrape(big).leechers == 2000);
    for (int p = 0; p < 1990; ++p) {
        AnnounceInput in = store_in(big, static_cast<std::uint8_t>(p), static_cast<std::uint16_t>(1000 + p / 256),
                                    false, kEventStopped);
        st.announce(in, t + 300, out);
    }
    CHECK(st.scrape(big).leechers == 10);
    out.clear();
    AnnounceCounts c = st.announce(store_in(big, 250, 9999), t + 300, out);
    CHECK(c.peers_written == 10);
}

TEST_CASE("tracker store: the seeder hook fires only when a swarm's seeder count leaves or reaches 0") {
    SwarmStore st;
    std::vector<std::pair<int, bool>> events; // (hash byte 0, has_seeder)
    st.set_seeder_hook([&](const Hash20& h, bool has) { events.emplace_back(h.b[0], has); });
    std::string out;
    const std::uint32_t now = 1'700'000'000;
    auto in = [&](int h, std::uint8_t host, bool seeder, std::uint32_t event = kEventNone) {
        AnnounceInput a = store_in(hash_of(h), host, 6881, false, event);
        a.seeder = seeder;
        return a;
    };
    st.announce(in(1, 1, false), now, out); // a leecher: nothing
    CHECK(events.empty());
    st.announce(in(1, 2, true), now, out); // first seeder
    st.announce(in(1, 3, true), now, out); // second: nothing
    st.announce(in(1, 2, true, kEventStopped), now, out);
    CHECK(events == std::vector<std::pair<int, bool>>{{1, true}});
    st.announce(in(1, 3, false), now, out); // the last seeder now leeches
    CHECK(events == std::vector<std::pair<int, bool>>{{1, true}, {1, false}});
    st.announce(in(1, 1, false, kEventCompleted), now, out); // completed counts as a seeder
    st.expire(now + 3661);                                   // and expires
    CHECK(events == std::vector<std::pair<int, bool>>{{1, true}, {1, false}, {1, true}, {1, false}});
    events.clear();
    st.restore(hash_of(2), 0, {PeerEntry{{192, 0, 2, 1}, 6881, 0, 1, now}}, now + 3661);
    CHECK(events == std::vector<std::pair<int, bool>>{{2, true}});
    st.clear(); // the owner clears the catalog itself
    CHECK(events.size() == 1);
}
