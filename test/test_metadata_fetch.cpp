// MetadataFetch (BEP 9 fetch side): fake peers over FakeTransport answer (or misbehave) byte by byte; one
// loopback test fetches from a real seeding Session.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/sha.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "net/fake_transport.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "proto/wire.hpp"
#include "session/metadata_fetch.hpp"
#include "session/session.hpp"
#include "test_util.hpp"

using p2p::test::run_until;

using namespace p2p;

namespace {

const std::string kOurId = "-PN0100-fetchtest000";
constexpr std::uint8_t kTheirUtMetadata = 7; // the id the fake peers assign to ut_metadata

// An info dict of about 44 KiB (3 metadata pieces): 2200 piece hashes of a 16 KiB-piece torrent.
struct Info {
    std::string bytes, hash;
    Info() {
        std::string hashes = test::pseudo_random(2200 * 20, 42);
        bytes = build_info_dict("fetched.bin", 16 * 1024, hashes, {TorrentFileInput{{}, 2200ll * 16 * 1024 - 5}}, false,
                                false);
        hash = sha1(bytes);
    }
    std::string piece(std::uint32_t i) const {
        return bytes.substr(i * ext::kMetadataPieceSize, ext::kMetadataPieceSize);
    }
};

// One fake peer: what we sent it, decoded; helpers to answer.
struct FakePeer {
    std::shared_ptr<FakeProbe> probe;
    std::string parsed; // sent bytes not yet decoded

    explicit FakePeer(MetadataFetch& f, int n) {
        auto t = std::make_unique<FakeTransport>("198.51.100." + std::to_string(n) + ":6881");
        probe = t->probe();
        f.add_transport(std::move(t));
    }
    void handshake(const std::string& hash, bool ext = true) {
        std::string s;
        wire::encode_handshake(s, wire::Reserved{}.set_fast().set_extensions(ext), hash, "-XX0100-fakepeer0000");
        probe->inject(s);
    }
    void ext_handshake(std::int64_t metadata_size, bool ut_metadata = true) {
        ext::ExtHandshake hs;
        if (ut_metadata) hs.m["ut_metadata"] = kTheirUtMetadata;
        hs.metadata_size = metadata_size;
        std::string s;
        wire::encode_extended(s, ext::kHandshakeId, ext::encode_ext_handshake(hs));
        probe->inject(s);
    }
    void data(std::uint32_t piece, std::int64_t total, std::string_view bytes) {
        std::string s;
        wire::encode_extended(s, ext::kUtMetadataId, ext::encode_metadata_data(piece, total, bytes));
        probe->inject(s);
    }
    void reject(std::uint32_t piece) {
        std::string s;
        wire::encode_extended(s, ext::kUtMetadataId, ext::encode_metadata_reject(piece));
        probe->inject(s);
    }
    // Decodes everything we sent since the last call: the handshake (once) and messages.
    std::vector<wire::Message> messages_storage;
    std::vector<std::string> payloads; // extended payloads, kept alive
    struct Sent {
        std::vector<std::uint32_t> requests; // ut_metadata requests (to kTheirUtMetadata)
        std::optional<ext::ExtHandshake> ext_hs;
        bool handshake = false, have_none = false;
    };
    Sent take() {
        Sent out;
        parsed += probe->take_sent();
        std::string_view rest = parsed;
        if (rest.size() >= wire::kHandshakeSize && rest.substr(1, 19) == "BitTorrent protocol") {
            out.handshake = true;
            rest.remove_prefix(wire::kHandshakeSize);
        }
        while (true) {
            auto d = wire::decode_message(rest, 1u << 20);
            if (d.status != Decode::ok) break;
            rest.remove_prefix(d.consumed);
            if (d.msg.id == static_cast<std::uint8_t>(wire::MsgId::have_none)) out.have_none = true;
            if (d.msg.id != static_cast<std::uint8_t>(wire::MsgId::extended)) continue;
            if (d.msg.ext_id == ext::kHandshakeId) {
                auto hs = ext::decode_ext_handshake(d.msg.payload);
                REQUIRE(hs);
                out.ext_hs = *hs;
            } else if (d.msg.ext_id == kTheirUtMetadata) {
                auto m = ext::decode_metadata_message(d.msg.payload);
                REQUIRE(m);
                if (m->type == ext::MetadataType::request) out.requests.push_back(m->piece);
            }
        }
        parsed = std::string(rest);
        return out;
    }
};

struct Fixture {
    Loop loop;
    Info info;
    std::uint64_t now = 1000;
    int done_calls = 0;
    std::optional<Result<Metainfo>> result;
    std::unique_ptr<MetadataFetch> fetch;

    explicit Fixture(std::size_t per_peer = 3, std::shared_ptr<ConnectionCount> connections = nullptr) {
        MetadataFetchConfig c;
        c.connections = std::move(connections);
        c.info_hash = info.hash;
        c.listen_port = 51413;
        c.tick_ms = 0; // the test calls tick()
        c.max_outstanding_per_peer = per_peer;
        c.peer.peer_id = kOurId;
        c.peer.clock = [this] { return now; };
        fetch = std::make_unique<MetadataFetch>(loop, c, [this](Result<Metainfo> r) {
            ++done_calls;
            result = std::move(r);
        });
    }
    ~Fixture() {
        fetch.reset();
        // Let deferred deletions and close callbacks run.
        Timer t(loop.get());
        t.start(10, 0, [this] { loop.stop(); });
        loop.run();
    }
    std::int64_t size() const { return static_cast<std::int64_t>(info.bytes.size()); }
    // A peer that completed both handshakes and offers the metadata.
    std::unique_ptr<FakePeer> ready_peer(int n, std::int64_t size_override = 0) {
        auto p = std::make_unique<FakePeer>(*fetch, n);
        p->handshake(info.hash);
        p->ext_handshake(size_override ? size_override : size());
        return p;
    }
};

} // namespace

TEST_CASE("metadata fetch: handshakes, requests spread over peers, verified Metainfo delivered once") {
    Fixture fx(1); // one request per peer at a time: the three pieces must go to three peers
    FakePeer a(*fx.fetch, 1);
    auto s = a.take();
    CHECK(s.handshake);
    REQUIRE(a.probe->sent.empty());
    a.handshake(fx.info.hash);
    s = a.take();
    CHECK(s.have_none);
    REQUIRE(s.ext_hs);
    CHECK(s.ext_hs->id_of("ut_metadata") == ext::kUtMetadataId);
    CHECK(s.ext_hs->listen_port == 51413);
    CHECK(s.requests.empty()); // nothing asked before the peer offers the metadata
    a.ext_handshake(fx.size());
    auto b = fx.ready_peer(2);
    auto c = fx.ready_peer(3);
    auto ra = a.take().requests, rb = b->take().requests, rc = c->take().requests;
    REQUIRE(ra.size() == 1);
    REQUIRE(rb.size() == 1);
    REQUIRE(rc.size() == 1);
    std::set<std::uint32_t> all{ra[0], rb[0], rc[0]};
    CHECK(all == std::set<std::uint32_t>{0, 1, 2});
    CHECK(fx.fetch->status().with_metadata == 3);
    CHECK(fx.fetch->status().pieces_total == 3);
    a.data(ra[0], fx.size(), fx.info.piece(ra[0]));
    b->data(rb[0], fx.size(), fx.info.piece(rb[0]));
    CHECK(fx.fetch->status().pieces_have == 2);
    CHECK(fx.done_calls == 0);
    c->data(rc[0], fx.size(), fx.info.piece(rc[0]));
    REQUIRE(fx.done_calls == 1);
    REQUIRE(fx.result->ok());
    const Metainfo& m = fx.result->value();
    CHECK(m.info_hash == fx.info.hash);
    CHECK(m.name == "fetched.bin");
    CHECK(m.info_bytes == fx.info.bytes);
    CHECK(m.piece_count() == 2200);
    // Finished: nothing more is called back; the three established connections are parked for the torrent
    // (handed_peer.hpp), open, reading paused, their BEP 10 handshakes kept; taken once.
    CHECK_FALSE(a.probe->closed);
    CHECK_FALSE(b->probe->closed);
    CHECK(fx.fetch->finished());
    std::vector<HandedPeer> handed = fx.fetch->take_handed();
    REQUIRE(handed.size() == 3);
    for (auto& h : handed) {
        REQUIRE(h.conn);
        CHECK(h.conn->metadata_only());
        CHECK_FALSE(h.conn->is_closed());
        CHECK_FALSE(h.ext_handshake.empty());
        CHECK(h.slot.held()); // its place under the connection cap goes with it
    }
    CHECK(fx.fetch->take_handed().empty());
    handed.clear(); // not taken by a torrent: destroying them closes them
    CHECK(a.probe->closed);
    CHECK(b->probe->closed);
    fx.fetch->give_up(make_error("test", "late"));
    CHECK(fx.done_calls == 1);
}

TEST_CASE("metadata fetch: a wrong piece fails verification, the fetch starts over, no bad Metainfo") {
    SUBCASE("sole contributor: dropped and barred; an honest peer then delivers") {
        Fixture fx;
        auto liar = fx.ready_peer(1);
        auto reqs = liar->take().requests;
        REQUIRE(reqs.size() == 3);
        for (auto i : reqs) {
            std::string piece = fx.info.piece(i);
            if (i == 1) piece[100] ^= 1; // one flipped bit
            liar->data(i, fx.size(), piece);
        }
        CHECK(fx.done_calls == 0);
        CHECK(liar->probe->closed);
        CHECK(fx.fetch->status().verify_failures == 1);
        CHECK(fx.fetch->status().pieces_have == 0);
        auto honest = fx.ready_peer(2);
        reqs = honest->take().requests;
        REQUIRE(reqs.size() == 3);
        for (auto i : reqs) honest->data(i, fx.size(), fx.info.piece(i));
        REQUIRE(fx.done_calls == 1);
        REQUIRE(fx.result->ok());
        CHECK(fx.result->value().info_bytes == fx.info.bytes);
    }
    SUBCASE("several contributors: all dropped, then one peer at a time") {
        Fixture fx(1);
        auto liar = fx.ready_peer(1);
        auto good = fx.ready_peer(2);
        auto other = fx.ready_peer(3);
        auto rl = liar->take().requests, rg = good->take().requests, ro = other->take().requests;
        REQUIRE(rl.size() == 1);
        REQUIRE(rg.size() == 1);
        REQUIRE(ro.size() == 1);
        std::string bad = fx.info.piece(rl[0]);
        bad[0] ^= 0x20;
        liar->data(rl[0], fx.size(), bad);
        good->data(rg[0], fx.size(), fx.info.piece(rg[0]));
        other->data(ro[0], fx.size(), fx.info.piece(ro[0]));
        CHECK(fx.done_calls == 0);
        CHECK(liar->probe->closed);
        CHECK(good->probe->closed);
        CHECK(other->probe->closed);
        // Two new peers: only the first is asked now, and it alone delivers everything.
        auto p4 = fx.ready_peer(4);
        auto p5 = fx.ready_peer(5);
        auto r4 = p4->take().requests;
        CHECK(p5->take().requests.empty());
        REQUIRE(r4.size() == 1);
        for (int round = 0; round < 3; ++round) {
            REQUIRE(r4.size() == 1);
            p4->data(r4[0], fx.size(), fx.info.piece(r4[0]));
            r4 = p4->take().requests;
            CHECK(p5->take().requests.empty());
        }
        REQUIRE(fx.done_calls == 1);
        REQUIRE(fx.result->ok());
        CHECK(fx.result->value().info_hash == fx.info.hash);
    }
}

TEST_CASE("metadata fetch: peers that cannot help are refused") {
    SUBCASE("metadata_size above the cap") {
        Fixture fx;
        auto p = fx.ready_peer(1, ext::kMaxMetadataSize + 1);
        CHECK(p->take().requests.empty());
        CHECK(p->probe->closed);
        CHECK(fx.fetch->status().peers == 0);
        CHECK(fx.fetch->status().metadata_size == 0);
    }
    SUBCASE("no ut_metadata in the extension handshake") {
        Fixture fx;
        FakePeer p(*fx.fetch, 1);
        p.handshake(fx.info.hash);
        p.ext_handshake(fx.size(), false);
        CHECK(p.probe->closed);
    }
    SUBCASE("no BEP 10 at all") {
        Fixture fx;
        FakePeer p(*fx.fetch, 1);
        p.handshake(fx.info.hash, false);
        CHECK(p.probe->closed);
        CHECK(fx.fetch->status().peers == 0);
    }
    SUBCASE("a piece of the wrong length") {
        Fixture fx;
        auto p = fx.ready_peer(1);
        auto reqs = p->take().requests;
        REQUIRE(!reqs.empty());
        p->data(0, fx.size(), "short");
        CHECK(p->probe->closed);
        CHECK(fx.done_calls == 0);
    }
    SUBCASE("a piece with another total_size") {
        Fixture fx;
        auto p = fx.ready_peer(1);
        p->take();
        p->data(0, fx.size() + 1, fx.info.piece(0));
        CHECK(p->probe->closed);
    }
    SUBCASE("more peers than max_peers are not taken") {
        Fixture fx;
        std::vector<std::unique_ptr<FakePeer>> ps;
        for (int i = 0; i < 10; ++i) ps.push_back(std::make_unique<FakePeer>(*fx.fetch, i + 1));
        CHECK(fx.fetch->status().peers == 8);
        CHECK(ps[8]->probe->closed);
        CHECK(ps[9]->probe->closed);
    }
}

TEST_CASE("metadata fetch: its connections and attempts count against the session's cap") {
    auto count = std::make_shared<ConnectionCount>(3);
    {
        Fixture fx(3, count);
        std::vector<std::unique_ptr<FakePeer>> ps;
        for (int i = 0; i < 5; ++i) ps.push_back(std::make_unique<FakePeer>(*fx.fetch, i + 1));
        CHECK(fx.fetch->status().peers == 3); // max_peers is 8: the session's cap of 3 is what refused
        CHECK(count->open() == 3);
        CHECK(!ps[2]->probe->closed);
        CHECK(ps[3]->probe->closed);
        CHECK(ps[4]->probe->closed);

        // A peer that leaves gives its place back once it is destroyed (after the current loop turn).
        ps[0]->probe->remote_close();
        CHECK(fx.fetch->status().peers == 2);
        run_until(
            fx.loop, [&] { return count->open() == 2; }, 2000);
        CHECK(count->open() == 2);

        // Connection attempts take places too: one free place, one attempt, however many candidates wait.
        sockaddr_storage ss{};
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
        std::vector<sockaddr_storage> addrs;
        for (int i = 0; i < 4; ++i) {
            sin->sin_port = htons(static_cast<std::uint16_t>(1 + i)); // nothing listens: refused, later
            addrs.push_back(ss);
        }
        fx.fetch->add_candidates(addrs);
        CHECK(fx.fetch->status().connecting == 1);
        CHECK(fx.fetch->status().candidates == 3);
        CHECK(count->open() == 3);
    }
    // The fetch destroyed (its connections and attempts with it): every place is back.
    CHECK(count->open() == 0);
}

TEST_CASE("metadata fetch: unanswered and rejected requests are asked of another peer") {
    Fixture fx(3);
    auto slow = fx.ready_peer(1);
    auto rs = slow->take().requests;
    REQUIRE(rs.size() == 3);
    auto other = fx.ready_peer(2);
    CHECK(other->take().requests.empty()); // everything is out already
    slow->reject(rs[0]);                   // rejected: wanted again at once
    auto ro = other->take().requests;
    REQUIRE(ro.size() == 1);
    CHECK(ro[0] == rs[0]);
    fx.now += 10'000; // the slow peer's other two requests time out
    fx.fetch->tick();
    ro = other->take().requests;
    CHECK(ro.size() == 2);
    for (auto i : {rs[0], rs[1], rs[2]}) other->data(i, fx.size(), fx.info.piece(i));
    REQUIRE(fx.done_calls == 1);
    CHECK(fx.result->ok());
}

TEST_CASE("metadata fetch: our peer's metadata requests are rejected; give_up reports once") {
    Fixture fx;
    auto p = fx.ready_peer(1);
    p->take();
    std::string s;
    wire::encode_extended(s, ext::kUtMetadataId, ext::encode_metadata_request(0));
    p->probe->inject(s);
    std::string sent = p->probe->take_sent();
    std::string expect;
    wire::encode_extended(expect, kTheirUtMetadata, ext::encode_metadata_reject(0));
    CHECK(sent == expect);
    fx.fetch->give_up(make_error("fetch", "deadline"));
    REQUIRE(fx.done_calls == 1);
    CHECK_FALSE(fx.result->ok());
    CHECK(p->probe->closed);
    fx.fetch->give_up(make_error("fetch", "again"));
    CHECK(fx.done_calls == 1);
}

TEST_CASE("metadata fetch: from a seeding Session over loopback TCP") {
    namespace fs = std::filesystem;
    test::TempDir dir("fetch");
    std::string content = test::pseudo_random(3'000'000, 9); // 184 pieces of 16 KiB: 3.7 KB of metadata
    {
        std::ofstream(dir.path / "seeded.bin", std::ios::binary)
            .write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    std::string hashes;
    for (std::size_t off = 0; off < content.size(); off += 16384)
        hashes += sha1(std::string_view(content).substr(off, 16384));
    auto meta = parse_info_dict(build_info_dict(
        "seeded.bin", 16384, hashes, {TorrentFileInput{{}, static_cast<std::int64_t>(content.size())}}, false, false));
    REQUIRE(meta);

    Loop loop;
    SessionConfig sc;
    sc.listen_ip = "127.0.0.1";
    sc.port = 0;
    auto seed = std::make_unique<Session>(loop, sc);
    REQUIRE(seed->listen());
    TorrentConfig tc;
    tc.root_dir = dir.str();
    Torrent* t = seed->add_torrent(*meta, tc, true);
    REQUIRE(run_until(
        loop, [&] { return t->status().phase == TorrentPhase::seeding; }, 5000));

    std::optional<Result<Metainfo>> got;
    MetadataFetchConfig fc;
    fc.info_hash = meta->info_hash;
    fc.peer.peer_id = kOurId;
    auto fetch = std::make_unique<MetadataFetch>(loop, fc, [&](Result<Metainfo> r) { got = std::move(r); });
    sockaddr_storage ss{};
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(seed->port());
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fetch->add_candidates({ss});
    CHECK(run_until(
        loop, [&] { return got.has_value(); }, 10'000));
    REQUIRE(got);
    REQUIRE(got->ok());
    CHECK(got->value().info_bytes == meta->info_bytes);
    CHECK(fetch->good_peers().size() == 1);
    fetch.reset();
    int down = 0;
    seed->shutdown([&] { ++down; });
    run_until(
        loop, [&] { return down == 1; }, 5000);
    seed.reset();
    run_until(
        loop, [] { return false; }, 50);
}

namespace {

// Two sessions on 127.0.0.1: `seed` seeds a 3 MB file, `mine` has nothing yet (a magnet's metadata to fetch).
struct SeedAndMine {
    test::TempDir dir{"fetch-in"};
    Loop loop;
    std::optional<Metainfo> meta;
    std::unique_ptr<Session> seed, mine;
    Torrent* seeded = nullptr;
    SeedAndMine() {
        std::string content = test::pseudo_random(3'000'000, 11);
        std::ofstream(dir.path / "seeded.bin", std::ios::binary)
            .write(content.data(), static_cast<std::streamsize>(content.size()));
        std::string hashes;
        for (std::size_t off = 0; off < content.size(); off += 16384)
            hashes += sha1(std::string_view(content).substr(off, 16384));
        auto m = parse_info_dict(build_info_dict("seeded.bin", 16384, hashes,
                                                 {TorrentFileInput{{}, static_cast<std::int64_t>(content.size())}},
                                                 false, false));
        REQUIRE(m);
        meta = *m;
        SessionConfig sc;
        sc.listen_ip = "127.0.0.1";
        sc.port = 0;
        seed = std::make_unique<Session>(loop, sc);
        mine = std::make_unique<Session>(loop, sc);
        REQUIRE(seed->listen());
        REQUIRE(mine->listen());
        TorrentConfig tc;
        tc.root_dir = dir.str();
        seeded = seed->add_torrent(*meta, tc, true);
        REQUIRE(run_until(
            loop, [&] { return seeded->status().phase == TorrentPhase::seeding; }, 5000));
    }
    // What PeerNode fills in for a magnet (node/peer_node.cpp, fetch_metadata).
    MetadataFetchConfig fetch_config() const {
        MetadataFetchConfig fc;
        fc.info_hash = meta->info_hash;
        fc.listen_port = mine->port();
        fc.peer = mine->peer_config();
        fc.connections = mine->connection_counter();
        fc.incoming = mine->incoming_fetches();
        fc.transport = mine->transport_limits();
        return fc;
    }
    ~SeedAndMine() {
        int down = 0;
        seed->shutdown([&] { ++down; });
        mine->shutdown([&] { ++down; });
        run_until(
            loop, [&] { return down == 2; }, 5000);
        seed.reset();
        mine.reset();
        run_until(
            loop, [] { return false; }, 50);
    }
};

} // namespace

TEST_CASE("metadata fetch: a seed that dials us first is handed to the fetch by the session") {
    SeedAndMine s;
    std::optional<Result<Metainfo>> got;
    auto fetch =
        std::make_unique<MetadataFetch>(s.loop, s.fetch_config(), [&](Result<Metainfo> r) { got = std::move(r); });
    CHECK(s.mine->incoming_fetches()->find(s.meta->info_hash) == fetch.get());
    // We know no address; the seed learnt ours (from the tracker, say) and dials us.
    s.seeded->add_candidates({test::loopback(s.mine->port())});
    REQUIRE_MESSAGE(run_until(
                        s.loop, [&] { return got.has_value(); }, 10'000),
                    "the seed's connection never reached the fetch");
    REQUIRE(got->ok());
    CHECK(got->value().info_bytes == s.meta->info_bytes);
    CHECK(fetch->status().tried == 1);
    // Where the torrent that follows can reach the seed: its address with the port of its BEP 10 "p".
    REQUIRE(fetch->good_peers().size() == 1);
    const auto* in = reinterpret_cast<const sockaddr_in*>(&fetch->good_peers()[0]);
    CHECK(ntohs(in->sin_port) == s.seed->port());
    // Finished: no longer registered, so later connections for the hash go to the torrent (or are refused).
    CHECK(s.mine->incoming_fetches()->empty());
    fetch.reset();
    run_until(
        s.loop, [] { return false; }, 50);
    CHECK(s.mine->connection_count() == 0); // the fetch's slot was given back
}

TEST_CASE("metadata fetch: a tracker that lists us to ourselves: both ends are dropped, the address barred") {
    SeedAndMine s;
    bool done = false;
    auto fetch = std::make_unique<MetadataFetch>(s.loop, s.fetch_config(), [&](Result<Metainfo>) { done = true; });
    fetch->add_candidates({test::loopback(s.mine->port())});
    // Our dial comes back to our own listener, is handed to this fetch, and each end sees our peer id.
    REQUIRE(run_until(
        s.loop,
        [&] { return fetch->status().tried == 2 && fetch->status().peers == 0 && fetch->status().connecting == 0; },
        5000));
    fetch->add_candidates({test::loopback(s.mine->port())});
    CHECK(fetch->status().connecting == 0);
    CHECK(fetch->status().candidates == 0);
    CHECK_FALSE(done);
    run_until(
        s.loop, [] { return false; }, 50);
    CHECK(s.mine->connection_count() == 0);
    fetch.reset();
    CHECK(s.mine->incoming_fetches()->empty()); // unregistered when destroyed unfinished
}
