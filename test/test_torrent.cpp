// A running Torrent driven byte by byte (torrent_fixture.hpp: a real Session and Torrent, peers on
// FakeTransport): choking and slot lending, BEP 6 suggestions from a seed, and the lifetime of links and dials.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "proto/extension.hpp"
#include "proto/wire.hpp"
#include "torrent_fixture.hpp"

using namespace p2p;
using test::Fixture;
using test::Peer;
using test::Sent;

TEST_CASE("choking: a slot freed between rechoke rounds goes to a waiting peer at once") {
    Fixture f;
    std::vector<Peer> peers;
    for (int i = 0; i < 6; ++i) peers.push_back(f.attach("198.51.100." + std::to_string(20 + i) + ":6881"));
    const std::string interested = std::string("\0\0\0\1\2", 5);
    const std::string not_interested = std::string("\0\0\0\1\3", 5);
    for (auto& p : peers) p.probe->inject(interested);
    auto unchoked = [&](std::size_t from) {
        std::size_t n = 0;
        for (std::size_t i = from; i < peers.size(); ++i) n += peers[i].conn->am_choking() ? 0 : 1;
        return n;
    };
    CHECK(unchoked(0) == 4); // the default four upload slots, no more
    REQUIRE_FALSE(peers[0].conn->am_choking());
    CHECK(peers[5].conn->am_choking());
    peers[0].probe->inject(not_interested); // frees its slot...
    CHECK(unchoked(1) == 4);                // ...and a waiting peer has it now, not after the next round
    peers[1].probe->remote_close();         // a peer holding a slot leaves
    CHECK(unchoked(2) == 4);
}

TEST_CASE("choking: slots of unchoked peers that request nothing are lent out, one a tick, up to twice the slots") {
    Fixture f;
    std::vector<Peer> peers;
    for (int i = 0; i < 10; ++i) peers.push_back(f.attach("198.51.100." + std::to_string(60 + i) + ":6881"));
    const std::string interested = std::string("\0\0\0\1\2", 5);
    for (auto& p : peers) p.probe->inject(interested);
    auto unchoked = [&] {
        std::size_t n = 0;
        for (auto& p : peers) n += p.conn->am_choking() ? 0 : 1;
        return n;
    };
    REQUIRE(unchoked() == 4);
    const std::uint64_t now = uv_now(f.loop.get());
    f.t->tick(now); // the first tick is also a rechoke round; nobody has been idle for two ticks yet
    CHECK(unchoked() == 4);
    f.t->tick(now + 1000); // the four have requested nothing at two ticks: one slot is lent
    CHECK(unchoked() == 5);
    for (int i = 0; i < 7; ++i) f.t->tick(now + 2000 + 1000 * std::uint64_t(i)); // before the next round (10 s)
    CHECK(unchoked() == 8);                                                      // twice the four slots, no more
    CHECK(f.t->status().idle_slot_seconds > 0);
}

// BEP 6 suggest from a seed (swarm/seed_suggest.hpp): the content has 7 pieces of 16 KiB.
TEST_CASE("suggest: a seed steers two peers to distinct pieces before unchoking them, and takes them back") {
    Fixture f;
    REQUIRE(f.meta.piece_count() == 7);
    Peer a = f.attach("198.51.100.40:6881");
    Peer b = f.attach("198.51.100.41:6881");
    a.take();
    b.take();
    a.probe->inject(std::string("\0\0\0\2\5\xF8", 6)); // bitfield: A has pieces 0-4
    b.probe->inject(std::string("\0\0\0\1\x0F", 5));   // have_none
    const std::string interested = std::string("\0\0\0\1\2", 5);
    a.probe->inject(interested);
    b.probe->inject(interested);
    Sent sa = a.take(), sb = b.take();
    // A lacks only 5 and 6; B gets the rest. Every suggestion precedes the unchoke (id 1).
    std::set<std::uint32_t> ga(sa.suggests.begin(), sa.suggests.end()), gb(sb.suggests.begin(), sb.suggests.end());
    CHECK(ga == std::set<std::uint32_t>{5, 6});
    CHECK(gb == std::set<std::uint32_t>{0, 1, 2, 3, 4});
    REQUIRE(sa.ids.size() == 3);
    CHECK(sa.ids.back() == 1);
    REQUIRE_FALSE(sb.ids.empty());
    CHECK(sb.ids.back() == 1);
    // A loses interest: its suggestions (none requested) return, and B's next request tops B up with them.
    a.probe->inject(std::string("\0\0\0\1\3", 5));
    std::string req;
    wire::encode_request(req, 0, 0, 16 * 1024);
    b.probe->inject(req);
    Sent sb2 = b.take();
    std::set<std::uint32_t> gb2(sb2.suggests.begin(), sb2.suggests.end());
    CHECK(gb2 == std::set<std::uint32_t>{5, 6});
    // B leaves: what it was suggested and did not request (1-6) goes back; A, interested again, gets 5 and 6.
    b.probe->remote_close();
    a.probe->inject(interested);
    Sent sa2 = a.take();
    std::set<std::uint32_t> ga2(sa2.suggests.begin(), sa2.suggests.end());
    CHECK(ga2 == std::set<std::uint32_t>{5, 6});
}

TEST_CASE("links: a link dropped inside its connection's callback is destroyed only after the callback returns") {
    Fixture f;
    Peer p = f.attach("198.51.100.7:6881");
    REQUIRE(f.t->num_links() == 1);
    p.send_ext(ext::kHandshakeId, "this is not bencode"); // dropped inside on_extended
    CHECK(p.probe->closed);
    CHECK(f.t->num_links() == 0);
    CHECK(p.probe->transport != nullptr); // closed, not yet destroyed: the callback was still running
    test::run_until(
        f.loop, [&] { return p.probe->transport == nullptr; }, 1000);
    CHECK(p.probe->transport == nullptr);
}

TEST_CASE("links: a torrent removed while dialling gives its connection places back") {
    Fixture f(false, true, [](TorrentConfig& tc) { tc.max_connecting = 8; });
    const std::size_t before = f.session->connection_count();
    // Nothing listens on port 1; the attempt is cancelled before it can fail anyway.
    sockaddr_storage ss = test::loopback(1);
    f.t->add_candidates({ss});
    CHECK(f.session->connection_count() == before + 1); // the attempt counts against max_connections
    f.session->remove_torrent(f.meta.info_hash);
    f.t = nullptr;
    CHECK(f.session->connection_count() == before);
    test::run_until(f.loop, std::function<bool()>([] { return false; }), 50);
    CHECK(f.session->connection_count() == before);
}

// The read cache keeps a piece only while a connected peer may still ask for it (torrent_serve.cpp, on_have):
// a seed serving one leecher used to keep every piece it sent until the cache was full. Pieces are one block.
TEST_CASE("serving: a piece sent whole to the only peer lacking it leaves the read cache; one another lacks stays") {
    Fixture f;
    const ReadCache& cache = f.session->read_cache();
    const std::string have_none("\0\0\0\1\x0F", 5), interested("\0\0\0\1\2", 5);
    auto request = [](Peer& p, std::uint32_t index) {
        std::string req;
        wire::encode_request(req, index, 0, 16 * 1024);
        p.probe->inject(req);
    };
    auto have = [](Peer& p, std::uint32_t index) {
        std::string m;
        wire::encode_have(m, index);
        p.probe->inject(m);
    };
    // Waits until `p` was sent a piece message (id 7).
    auto wait_piece = [&](Peer& p) {
        bool got = false;
        test::run_until(
            f.loop,
            [&] {
                for (std::uint8_t id : p.take().ids) got = got || id == 7;
                return got;
            },
            5000);
        return got;
    };
    // A peer with nothing, interested; what the seed sent it so far is read and forgotten.
    auto leecher = [&](const std::string& address) {
        Peer p = f.attach(address);
        p.probe->inject(have_none);
        p.probe->inject(interested);
        p.take();
        return p;
    };
    Peer a = leecher("198.51.100.50:6881");
    request(a, 0);
    REQUIRE(wait_piece(a));
    CHECK(cache.entries() == 0); // A was the only peer, and it has all of piece 0 on its way

    Peer b = leecher("198.51.100.51:6881");
    request(a, 1);
    REQUIRE(wait_piece(a));
    CHECK(cache.entries() == 1); // B lacks piece 1: kept for it
    request(b, 1);
    REQUIRE(wait_piece(b));
    CHECK(cache.entries() == 1); // neither has said HAVE yet
    have(a, 1);
    CHECK(cache.entries() == 1); // B still lacks it
    have(b, 1);
    CHECK(cache.entries() == 0); // every connected peer has it now
}
