// Tests for src/base/memory_budget (--max-memory): the derived plans, the pool accounting, the send and
// receive accounting of TCP transports, the shared read cache, and the tracker store under a budget's caps.
#include <doctest/doctest.h>
#include <uv.h>

#include <memory>
#include <string>

#include "base/memory_budget.hpp"
#include "net/tcp_transport.hpp"
#include "storage/read_cache.hpp"
#include "tracker/swarm_store.hpp"

using namespace p2p;

TEST_CASE("memory plan: defaults without a budget, derived limits for 8M/16M/64M, an error below 4M") {
    auto none = plan_peer_memory(0);
    REQUIRE(none);
    CHECK(none->read_cache == 64u << 20);
    CHECK(none->write == 64u << 20);
    CHECK(none->send == SIZE_MAX);
    CHECK(none->max_connections == 400);

    for (std::uint64_t mib : {8, 16, 64}) {
        auto p = plan_peer_memory(mib << 20);
        REQUIRE(p);
        MESSAGE(p->describe());
        const std::uint64_t b = mib << 20;
        CHECK(p->read_cache == b / 4);
        CHECK(p->write == b / 4);
        CHECK(p->send == b / 8);
        // The pools plus the connections' fixed cost stay within the budget.
        CHECK(p->read_cache + p->write + p->send + p->max_connections * kConnectionCost <= b);
        CHECK(p->max_connections == b / 4 / kConnectionCost);
        CHECK(p->send_per_peer <= p->send);
        CHECK(p->pin_factor == 1);
    }
    CHECK(none->rpc_connections == 8);
    CHECK(none->rpc_max_body == 16u << 20);
    // The RPC port's worst case fits in a quarter of the misc share (an eighth of the budget) from 16 MiB up.
    for (std::uint64_t mib : {16, 32, 64, 256, 4096}) {
        auto p = plan_peer_memory(mib << 20);
        REQUIRE(p);
        CHECK(p->rpc_connections >= 2);
        CHECK(p->rpc_max_body >= 64u << 10);
        CHECK(p->rpc_max_body <= 16u << 20);
        CHECK(p->rpc_connections * (kRpcConnectionCost + p->rpc_max_body) <= (mib << 20) / 8 / 4);
    }
    CHECK(plan_peer_memory(32u << 20)->rpc_max_body >= 256u << 10); // a ~190 KB .torrent in base64
    CHECK(plan_peer_memory(4u << 20)->rpc_max_body == 64u << 10);
    CHECK(plan_peer_memory(8u << 20)->max_connections == 32);
    CHECK(plan_peer_memory(64u << 20)->max_connections == 256);

    auto low = plan_peer_memory((4u << 20) - 1);
    REQUIRE_FALSE(low);
    CHECK(low.error().str().find("minimum of 4 MiB") != std::string::npos);
    CHECK(plan_peer_memory(4u << 20));
    CHECK_FALSE(plan_tracker_memory(1u << 20));
}

TEST_CASE("memory budget: try_reserve never takes a pool past its cap; reserve records what exists") {
    MemoryBudget m;
    m.set_cap(MemPool::send, 100);
    CHECK(m.try_reserve(MemPool::send, 60));
    CHECK_FALSE(m.try_reserve(MemPool::send, 41));
    CHECK(m.try_reserve(MemPool::send, 40));
    CHECK(m.exhausted(MemPool::send));
    CHECK_FALSE(m.try_reserve(MemPool::send, 1));
    CHECK(m.used(MemPool::send) == 100);
    CHECK(m.peak(MemPool::send) <= m.cap(MemPool::send));
    m.release(MemPool::send, 70);
    CHECK_FALSE(m.exhausted(MemPool::send));
    m.reserve(MemPool::send, 500); // bytes that already exist are recorded, over the cap
    CHECK(m.used(MemPool::send) == 530);
    CHECK(m.exhausted(MemPool::send));
    m.release(MemPool::send, 10'000); // never below zero
    CHECK(m.used(MemPool::send) == 0);
    // Other pools are independent and unlimited by default.
    CHECK(m.try_reserve(MemPool::receive, SIZE_MAX / 2));
    CHECK(m.cap(MemPool::write) == SIZE_MAX);

    auto plan = plan_peer_memory(16u << 20);
    MemoryBudget from(*plan);
    CHECK(from.cap(MemPool::write) == 4u << 20);
    CHECK(from.cap(MemPool::send) == 2u << 20);
    CHECK(from.cap(MemPool::read_cache) == 4u << 20);
}

TEST_CASE("memory budget: a TCP transport counts its queued bytes in the send pool and its buffer in receive") {
    uv_loop_t loop;
    uv_loop_init(&loop);
    auto budget = std::make_shared<MemoryBudget>();
    TransportLimits lim;
    lim.budget = budget;
    lim.pin_factor = 1;
    lim.initial_read = 16 * 1024;
    lim.max_read = 32 * 1024;
    std::unique_ptr<Transport> server, client;
    {
        auto lr =
            TcpListener::listen(&loop, "127.0.0.1", 0, [&](std::unique_ptr<Transport> t) { server = std::move(t); });
        REQUIRE(lr);
        auto listener = std::move(*lr);
        auto addr = make_sockaddr("127.0.0.1", listener->port());
        auto conn = tcp_connect(&loop, reinterpret_cast<const sockaddr*>(&*addr), 5000,
                                [&](Result<std::unique_ptr<Transport>> r) {
                                    REQUIRE(r);
                                    client = std::move(*r);
                                });
        for (int i = 0; i < 1000 && !(server && client); ++i) uv_run(&loop, UV_RUN_ONCE);
        REQUIRE(server);
        REQUIRE(client);
    }
    client->set_limits(lim);
    struct Sink : TransportUser {
        std::size_t n = 0;
        std::size_t on_data(std::string_view d) override {
            n += d.size();
            return d.size();
        }
        void on_closed(const Error&) override {}
    } at_client, at_server;
    client->start(&at_client);
    // Corked and unread: the queue holds the bytes, and the budget says so. A 16 KiB slice of a 1 MiB piece
    // is copied (pin_factor 1), so what is counted is what is held.
    auto piece = std::make_shared<const std::string>(1u << 20, 'x');
    unsigned char hdr[13] = {};
    client->cork();
    client->send(std::string(1000, 'a'));
    client->send_piece(hdr, piece, 16384, 16384);
    CHECK(piece.use_count() == 1);
    CHECK(budget->used(MemPool::send) == client->queued_bytes());
    CHECK(budget->used(MemPool::send) == 1000 + 13 + 16384);
    client->uncork();
    server->start(&at_server);
    for (int i = 0; i < 1000 && at_server.n < 1000 + 13 + 16384; ++i) uv_run(&loop, UV_RUN_ONCE);
    CHECK(at_server.n == 1000 + 13 + 16384);
    CHECK(budget->used(MemPool::send) == 0);
    // The server writes; the client's receive buffer is counted, at most max_read + max_unconsumed.
    server->send(std::string(200'000, 'b'));
    for (int i = 0; i < 1000 && at_client.n < 200'000; ++i) uv_run(&loop, UV_RUN_ONCE);
    CHECK(at_client.n == 200'000);
    CHECK(budget->used(MemPool::receive) > 0);
    CHECK(budget->peak(MemPool::receive) <= lim.max_read);
    client.reset();
    server.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(budget->used(MemPool::receive) == 0); // freed with the connection
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("shared read cache: one LRU for several owners evicts across them and drops an owner's pieces") {
    ReadCache rc(100);
    const std::uint32_t a = ReadCache::next_owner(), b = ReadCache::next_owner();
    rc.put(ReadCache::key(a, 0), std::make_shared<const std::string>(40, 'a'));
    rc.put(ReadCache::key(a, 1), std::make_shared<const std::string>(40, 'a'));
    CHECK(rc.bytes_of(a) == 80);
    // Owner b's pieces push out owner a's least recently used one: the bound is for the sum.
    rc.put(ReadCache::key(b, 0), std::make_shared<const std::string>(40, 'b'));
    CHECK(rc.bytes() <= 100);
    CHECK(rc.get(ReadCache::key(a, 0)) == nullptr);
    CHECK(rc.get(ReadCache::key(a, 1)));
    CHECK(rc.bytes_of(a) == 40);
    CHECK(rc.bytes_of(b) == 40);
    // The same index of two owners are two pieces.
    CHECK(rc.get(ReadCache::key(b, 1)) == nullptr);
    CHECK(*rc.get(ReadCache::key(b, 0)) == std::string(40, 'b'));
    rc.erase_owner(a);
    CHECK(rc.bytes_of(a) == 0);
    CHECK(rc.bytes() == 40);
    CHECK(rc.get(ReadCache::key(b, 0)));
}

TEST_CASE("read cache spares: kept up to an eighth of the cache (two of any size), freed after an idle second") {
    ReadCache rc(800);
    auto buf = [](std::size_t n) { return std::make_shared<std::string>(n, 'x'); };
    // Two are kept whatever their size (up to the cache's own bound).
    rc.recycle(buf(300));
    rc.recycle(buf(300));
    rc.recycle(buf(10)); // a third only while all spares hold <= 100 bytes: 610 do
    CHECK(rc.spare_bytes() == 600);
    CHECK(rc.take_spare(10) == nullptr);
    rc.recycle(buf(900)); // larger than the cache: never
    CHECK(rc.spare_bytes() == 600);
    auto held = buf(300);
    auto other = held;
    rc.recycle(held); // someone else holds it: not a spare
    CHECK(rc.spare_bytes() == 600);
    // Small buffers: as many as fit in 100 bytes.
    ReadCache small(800);
    for (int i = 0; i < 10; ++i) small.recycle(buf(20));
    CHECK(small.spare_bytes() == 100);
    auto s1 = small.take_spare(20);
    REQUIRE(s1);
    CHECK(s1->size() == 20);
    CHECK(small.spare_bytes() == 80);
    // A spare was taken since the last call: kept. None taken in the next interval: all freed.
    small.release_idle_spares();
    CHECK(small.spare_bytes() == 80);
    small.release_idle_spares();
    CHECK(small.spare_bytes() == 0);
    CHECK(small.take_spare(20) == nullptr);
    rc.release_idle_spares(); // none ever taken
    CHECK(rc.spare_bytes() == 0);
}

TEST_CASE("tracker under --max-memory: peers and swarms stay under the derived caps and announces are answered") {
    auto plan = plan_tracker_memory(4u << 20);
    REQUIRE(plan);
    MESSAGE(plan->describe());
    CHECK(plan->max_peers * kTrackerPeerCost + plan->max_swarms * kTrackerSwarmCost +
              plan->max_catalog * kTrackerCatalogCost <=
          plan->budget);
    SwarmLimits lim;
    lim.max_peers = plan->max_peers;
    lim.max_swarms = plan->max_swarms;
    SwarmStore store(lim);
    std::string out;
    // More distinct swarms than the cap: the store evicts and stays at the cap.
    for (std::size_t i = 0; i < plan->max_swarms + 1000; ++i) {
        AnnounceInput in{};
        in.info_hash.b[0] = 1;
        in.info_hash.b[1] = static_cast<std::uint8_t>(i);
        in.info_hash.b[2] = static_cast<std::uint8_t>(i >> 8);
        in.info_hash.b[3] = static_cast<std::uint8_t>(i >> 16);
        in.peer.ip = {10, 0, 0, 1};
        in.peer.port = 6881;
        out.clear();
        store.announce(in, 1000, out);
    }
    CHECK(store.swarm_count() <= plan->max_swarms);
    CHECK(store.swarm_count() >= plan->max_swarms / 2);
    // More peers than the cap in one swarm: refused beyond it, yet each announce still gets counts and peers.
    store.clear();
    AnnounceCounts last{};
    for (std::size_t i = 0; i < plan->max_peers + 500; ++i) {
        AnnounceInput in{};
        in.info_hash.b[0] = 2;
        in.peer.ip = {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                      static_cast<std::uint8_t>(i)};
        in.peer.port = 6881;
        in.num_want = 10;
        out.clear();
        last = store.announce(in, 1000, out);
    }
    CHECK(store.peer_count() <= plan->max_peers);
    CHECK(store.capped() >= 500);
    CHECK(last.seeders + last.leechers == store.peer_count());
    CHECK(last.peers_written == 10);
}
