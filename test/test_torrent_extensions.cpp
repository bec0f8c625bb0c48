// BEP 10 / 9 / 11 inside a running Torrent: a real Session and Torrent (seeding a small torrent from a temp
// folder) with peers attached through FakeTransport, so every byte we send can be read back and the peer's
// messages injected. No network: the torrent's max_connecting is 0, so PEX candidates are only recorded.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crypto/sha.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "net/fake_transport.hpp"
#include "net/tcp_transport.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "proto/wire.hpp"
#include "session/session.hpp"
#include "session/torrent_extensions.hpp"
#include "test_util.hpp"

using p2p::test::run_until;

using namespace p2p;
namespace fs = std::filesystem;

namespace {

// One data file plus many empty files with long names: the info dictionary spans three 16 KiB metadata
// pieces (the last one short), while the payload stays small.
Metainfo make_content(const fs::path& dir, bool is_private) {
    std::vector<TorrentFileInput> inputs;
    std::string data = test::pseudo_random(100'000, 7);
    fs::create_directories(dir / "content");
    std::ofstream(dir / "content" / "data.bin", std::ios::binary).write(data.data(), std::streamsize(data.size()));
    inputs.push_back(TorrentFileInput{{"data.bin"}, std::int64_t(data.size())});
    for (int i = 0; i < 450; ++i) {
        char name[96];
        std::snprintf(name, sizeof name, "empty-file-%04d-with-a-rather-long-name-to-grow-the-info-dict.txt", i);
        std::ofstream(dir / "content" / name);
        inputs.push_back(TorrentFileInput{{name}, 0});
    }
    const std::size_t pl = 16 * 1024;
    std::string hashes;
    for (std::size_t off = 0; off < data.size(); off += pl) hashes += sha1(std::string_view(data).substr(off, pl));
    auto m = parse_info_dict(build_info_dict("content", pl, hashes, inputs, true, is_private));
    REQUIRE(m);
    return *m;
}

// Extended messages (ext id, payload) and other message ids we sent on one fake connection.
struct Sent {
    std::vector<std::uint8_t> ids;
    std::vector<std::pair<std::uint8_t, std::string>> ext;
    std::vector<std::uint32_t> suggests; // BEP 6 suggest_piece indices, in order
};

struct Peer {
    std::shared_ptr<FakeProbe> probe;
    PeerConnection* conn = nullptr;
    std::string address;
    bool outgoing = true;
    std::string buf;          // what we sent, not yet parsed
    bool handshake_skipped = false;

    void send_ext(std::uint8_t id, const std::string& payload) {
        std::string out;
        wire::encode_extended(out, id, payload);
        probe->inject(out);
    }
    Sent take() {
        buf += probe->take_sent();
        Sent s;
        if (!handshake_skipped) {
            if (buf.size() < wire::kHandshakeSize) return s;
            buf.erase(0, wire::kHandshakeSize);
            handshake_skipped = true;
        }
        std::size_t pos = 0;
        for (;;) {
            auto d = wire::decode_message(std::string_view(buf).substr(pos), 4u << 20);
            if (d.status != Decode::ok) break;
            pos += d.consumed;
            if (d.msg.keepalive) continue;
            s.ids.push_back(d.msg.id);
            if (d.msg.id == 20) s.ext.emplace_back(d.msg.ext_id, std::string(d.msg.payload));
            if (d.msg.id == 13) s.suggests.push_back(d.msg.index);
        }
        buf.erase(0, pos);
        return s;
    }
};

struct Fixture {
    test::TempDir dir{"ext"};
    Loop loop;
    Metainfo meta;
    std::unique_ptr<Session> session;
    Torrent* t = nullptr;
    int next_id = 0;

    // seeding: the torrent has every piece; otherwise it downloads into an empty folder (and is interested in
    // seeds instead of dropping them).
    explicit Fixture(bool is_private = false, bool seeding = true) {
        meta = make_content(dir.path, is_private);
        SessionConfig sc;
        sc.listen_ip = "127.0.0.1";
        sc.port = 0;
        sc.peer.client = "p2pnode 9.8.7"; // the node passes its version in; the session knows no version
        session = std::make_unique<Session>(loop, sc);
        REQUIRE(session->listen());
        TorrentConfig tc;
        tc.root_dir = seeding ? dir.path.string() : (dir.path / "download").string();
        tc.max_connecting = 0; // candidates are recorded, never dialled
        t = session->add_torrent(meta, tc, seeding);
        REQUIRE(t);
        TorrentPhase want = seeding ? TorrentPhase::seeding : TorrentPhase::downloading;
        REQUIRE(run_until(loop, [&] { return t->status().phase == want; }, 10'000));
    }
    ~Fixture() {
        bool done = false;
        session->shutdown([&] { done = true; });
        run_until(loop, [&] { return done; }, 5000);
        session.reset();
        run_until(loop, std::function<bool()>([] { return false; }), 30);
    }

    // A peer attached to the torrent over a fake transport; its BitTorrent handshake is injected (with the
    // BEP 10 bit when `ext`), so the connection is established when this returns.
    Peer attach(const std::string& address, bool outgoing = true, bool ext = true, std::string id = {}) {
        auto ft = std::make_unique<FakeTransport>(address);
        Peer p;
        p.probe = ft->probe();
        p.address = address;
        p.outgoing = outgoing;
        PeerConfig pc;
        pc.peer_id = session->peer_id();
        uv_loop_t* uv = loop.get();
        pc.clock = [uv] { return uv_now(uv); };
        const Metainfo& m = t->meta();
        TorrentGeometry g{m.piece_count(), std::uint32_t(m.piece_length), std::uint64_t(m.total_length)};
        std::unique_ptr<PeerConnection> c = outgoing ? PeerConnection::outgoing(*t, std::move(ft), pc, m.info_hash, g)
                                                     : PeerConnection::incoming(*t, std::move(ft), pc);
        if (!outgoing) REQUIRE(c->set_torrent(g));
        auto link = std::make_unique<PeerLink>();
        link->token = session->next_token();
        link->torrent = t;
        link->address = address;
        link->connected_at_ms = std::int64_t(uv_now(uv));
        c->set_context(link.get());
        p.conn = c.get();
        link->conn = std::move(c);
        session->connection_opened();
        REQUIRE(t->adopt(std::move(link)));
        p.conn->start();
        const bool explicit_id = !id.empty();
        if (id.empty()) id = "-XX0100-peer" + std::to_string(10'000'000 + ++next_id); // 20 bytes
        wire::Reserved r;
        r.set_fast(true).set_extensions(ext);
        std::string hs;
        wire::encode_handshake(hs, r, m.info_hash, id);
        bool delivered = p.probe->inject(hs); // false only when the torrent refused the handshake
        if (!explicit_id) REQUIRE(delivered);
        return p;
    }

    static std::string handshake_payload(std::map<std::string, std::uint8_t> m, std::uint16_t port = 0) {
        ext::ExtHandshake hs;
        hs.m = std::move(m);
        hs.listen_port = port;
        hs.client = "test 1.0";
        return ext::encode_ext_handshake(hs);
    }
    std::vector<std::string> candidate_keys() const {
        std::vector<std::string> out;
        for (const auto& ss : t->candidates()) out.push_back(format_sockaddr(reinterpret_cast<const sockaddr*>(&ss)));
        std::sort(out.begin(), out.end());
        return out;
    }
};

udp::CompactPeer cp(const std::string& ip, std::uint16_t port) {
    auto p = compact_peer(ip, port);
    REQUIRE(p);
    return *p;
}

std::vector<std::string> keys(const std::vector<udp::CompactPeer>& ps) {
    std::vector<std::string> out;
    for (const auto& p : ps) out.push_back(address_key(p));
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("extensions: our BEP 10 handshake follows the bitfield and describes us") {
    Fixture f;
    Peer p = f.attach("198.51.100.7:6881");
    Sent s = p.take();
    REQUIRE(s.ids.size() >= 2);
    CHECK(s.ids[0] == 0x0E); // have_all (BEP 6) comes first
    REQUIRE(s.ext.size() == 1);
    CHECK(s.ext[0].first == ext::kHandshakeId);
    auto hs = ext::decode_ext_handshake(s.ext[0].second);
    REQUIRE(hs);
    CHECK(hs->id_of(ext::kUtMetadata) == ext::kUtMetadataId);
    CHECK(hs->id_of(ext::kUtPex) == ext::kUtPexId);
    CHECK(hs->listen_port == f.session->port());
    CHECK(hs->client == "p2pnode 9.8.7");
    CHECK(hs->metadata_size == std::int64_t(f.meta.info_bytes.size()));
    CHECK(hs->reqq == PeerConfig{}.max_incoming_requests);
    CHECK(hs->yourip == std::string("\xc6\x33\x64\x07", 4)); // 198.51.100.7

    // A peer without the BEP 10 bit gets no extended message at all.
    Peer q = f.attach("198.51.100.9:6881", true, false);
    CHECK(q.take().ext.empty());
}

TEST_CASE("extensions: private torrents do not offer ut_pex (BEP 27)") {
    Fixture f(true);
    Peer p = f.attach("198.51.100.7:6881");
    Sent s = p.take();
    REQUIRE(s.ext.size() == 1);
    auto hs = ext::decode_ext_handshake(s.ext[0].second);
    REQUIRE(hs);
    CHECK(hs->id_of(ext::kUtMetadata) == ext::kUtMetadataId);
    CHECK(hs->id_of(ext::kUtPex) == 0);
    // A PEX message anyway is ignored.
    p.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 5}}));
    ext::PexMessage pm;
    pm.added.push_back(cp("203.0.113.5", 6881));
    p.send_ext(ext::kUtPexId, ext::encode_pex(pm));
    CHECK(f.t->candidates().empty());
    CHECK(!p.probe->closed);
}

TEST_CASE("extensions: ut_metadata requests are answered with the info dictionary (BEP 9)") {
    Fixture f;
    const std::string& info = f.meta.info_bytes;
    const std::uint32_t count = ext::metadata_piece_count(std::int64_t(info.size()));
    REQUIRE(count == 3); // the fixture is built for a short last piece
    Peer p = f.attach("198.51.100.7:6881");
    p.take();

    // Before the peer advertised ut_metadata nothing may be sent to it.
    p.send_ext(ext::kUtMetadataId, ext::encode_metadata_request(0));
    CHECK(p.take().ext.empty());

    p.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_metadata", 3}}));
    for (std::uint32_t i = 0; i < count; ++i) p.send_ext(ext::kUtMetadataId, ext::encode_metadata_request(i));
    Sent s = p.take();
    REQUIRE(s.ext.size() == count);
    std::string whole;
    for (std::uint32_t i = 0; i < count; ++i) {
        CHECK(s.ext[i].first == 3); // the id the peer assigned
        auto m = ext::decode_metadata_message(s.ext[i].second);
        REQUIRE(m);
        CHECK(m->type == ext::MetadataType::data);
        CHECK(m->piece == i);
        CHECK(m->total_size == std::int64_t(info.size()));
        CHECK(m->data.size() == ext::metadata_piece_size(std::int64_t(info.size()), i));
        whole += m->data;
    }
    CHECK(sha1(whole) == f.meta.info_hash);

    // Out of range: a reject for that piece; the connection stays.
    p.send_ext(ext::kUtMetadataId, ext::encode_metadata_request(count));
    s = p.take();
    REQUIRE(s.ext.size() == 1);
    auto rej = ext::decode_metadata_message(s.ext[0].second);
    REQUIRE(rej);
    CHECK(rej->type == ext::MetadataType::reject);
    CHECK(rej->piece == count);

    // Data and reject messages to a torrent that has its metadata are ignored.
    p.send_ext(ext::kUtMetadataId, ext::encode_metadata_data(0, std::int64_t(info.size()), info.substr(0, 16384)));
    p.send_ext(ext::kUtMetadataId, ext::encode_metadata_reject(1));
    CHECK(p.take().ext.empty());
    CHECK(!p.probe->closed);

    // Per connection at most two copies: 2 * count requests in all (4 made so far), then only rejects.
    for (std::uint32_t i = 4; i < 2 * count; ++i) p.send_ext(ext::kUtMetadataId, ext::encode_metadata_request(0));
    s = p.take();
    REQUIRE(s.ext.size() == 2 * count - 4);
    for (auto& [id, payload] : s.ext) CHECK(ext::decode_metadata_message(payload)->type == ext::MetadataType::data);
    p.send_ext(ext::kUtMetadataId, ext::encode_metadata_request(0));
    s = p.take();
    REQUIRE(s.ext.size() == 1);
    CHECK(ext::decode_metadata_message(s.ext[0].second)->type == ext::MetadataType::reject);
}

TEST_CASE("extensions: a malformed extension handshake closes the connection") {
    Fixture f;
    Peer p = f.attach("198.51.100.7:6881");
    REQUIRE(f.t->num_links() == 1);
    p.send_ext(ext::kHandshakeId, "this is not bencode");
    CHECK(p.probe->closed);
    CHECK(f.t->num_links() == 0);
}

TEST_CASE("extensions: PEX from a peer becomes candidates; bogus entries are dropped; one message a minute") {
    Fixture f;
    Peer p = f.attach("198.51.100.7:6881");
    p.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 5}}));
    ext::PexMessage pm;
    pm.added = {cp("203.0.113.5", 6881),   cp("203.0.113.6", 51413), cp("2001:db8::5", 6881),
                cp("224.1.1.1", 6881),     cp("255.255.255.255", 6881), cp("0.1.2.3", 6881),
                cp("127.0.0.1", 1234),     cp("127.0.0.1", f.session->port()), cp("ff02::1", 6881),
                cp("::1", 6881)};
    pm.added_flags = {0x10, 0, 0, 0, 0, 0, 0};
    pm.dropped = {cp("203.0.113.9", 6881)};
    p.send_ext(ext::kUtPexId, ext::encode_pex(pm));
    CHECK(f.candidate_keys() == std::vector<std::string>{"203.0.113.5:6881", "203.0.113.6:51413", "[2001:db8::5]:6881"});
    CHECK(f.t->status().candidates == 3);

    // The next message from the same peer within 45 s is ignored.
    ext::PexMessage again;
    again.added = {cp("203.0.113.7", 6881)};
    p.send_ext(ext::kUtPexId, ext::encode_pex(again));
    CHECK(f.candidate_keys().size() == 3);
    CHECK(!p.probe->closed);

    // Another peer's first message is not limited by the first peer's.
    Peer q = f.attach("198.51.100.8:6881");
    q.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 5}}));
    q.send_ext(ext::kUtPexId, ext::encode_pex(again));
    CHECK(f.candidate_keys().size() == 4);
}

TEST_CASE("extensions: loopback PEX entries are accepted from a loopback peer, never our own address") {
    Fixture f;
    Peer p = f.attach("127.0.0.1:7001");
    p.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 5}}));
    ext::PexMessage pm;
    pm.added = {cp("127.0.0.1", 7002), cp("127.0.0.1", f.session->port())};
    p.send_ext(ext::kUtPexId, ext::encode_pex(pm));
    CHECK(f.candidate_keys() == std::vector<std::string>{"127.0.0.1:7002"});
}

TEST_CASE("extensions: we send each PEX peer the diff of our peers, never itself") {
    Fixture f(false, false); // downloading: a seed peer is kept (and flagged as one)
    Peer a = f.attach("198.51.100.7:6881");                 // we dialled it: its address is its listen address
    Peer b = f.attach("198.51.100.8:40000", false);         // it dialled us: its listen port comes from "p"
    Peer c = f.attach("198.51.100.9:6881", true, false);    // no extensions: listed, never sent to
    a.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 7}}, 6881));
    b.send_ext(ext::kHandshakeId, Fixture::handshake_payload({{"ut_pex", 9}}, 51413));
    // c is a seed: flag 0x02.
    {
        std::string out;
        wire::encode_simple(out, wire::MsgId::have_all);
        c.probe->inject(out);
    }
    a.take();
    b.take();
    c.take();
    std::uint64_t t0 = uv_now(f.loop.get());

    f.t->tick(t0 + 1000); // too early: the first message waits a few seconds after the handshake
    CHECK(a.take().ext.empty());

    REQUIRE(!a.probe->closed);
    REQUIRE(!b.probe->closed);
    REQUIRE(!c.probe->closed);
    f.t->tick(t0 + kPexFirstDelayMs + 1000);
    Sent sa = a.take(), sb = b.take();
    REQUIRE(sa.ext.size() == 1);
    REQUIRE(sb.ext.size() == 1);
    CHECK(sa.ext[0].first == 7);
    CHECK(sb.ext[0].first == 9);
    auto pa = ext::decode_pex(sa.ext[0].second);
    auto pb = ext::decode_pex(sb.ext[0].second);
    REQUIRE(pa);
    REQUIRE(pb);
    CHECK(keys(pa->added) == std::vector<std::string>{"198.51.100.8:51413", "198.51.100.9:6881"});
    CHECK(keys(pb->added) == std::vector<std::string>{"198.51.100.7:6881", "198.51.100.9:6881"});
    CHECK(pa->dropped.empty());
    // Flags run parallel to the IPv4 entries: b was incoming, not a seed; c we dialled and is a seed.
    REQUIRE(pa->added_flags.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        std::uint8_t want = address_key(pa->added[i]) == "198.51.100.9:6881" ? (kPexFlagSeed | kPexFlagReachable) : 0;
        CHECK(pa->added_flags[i] == want);
    }
    REQUIRE(pb->added_flags.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) CHECK((pb->added_flags[i] & kPexFlagReachable) != 0);
    CHECK(c.take().ext.empty());

    // Nothing changed: no message, even when one is due.
    f.t->tick(t0 + kPexFirstDelayMs + 1000 + kPexIntervalMs);
    CHECK(a.take().ext.empty());

    // c leaves: the next message to a drops it and adds nothing.
    c.probe->remote_close();
    f.t->tick(t0 + kPexFirstDelayMs + 1000 + 2 * kPexIntervalMs);
    sa = a.take();
    REQUIRE(sa.ext.size() == 1);
    pa = ext::decode_pex(sa.ext[0].second);
    REQUIRE(pa);
    CHECK(pa->added.empty());
    CHECK(keys(pa->dropped) == std::vector<std::string>{"198.51.100.9:6881"});
}

TEST_CASE("extensions: PEX address filter") {
    CHECK(pex_address_ok(cp("203.0.113.5", 1), false));
    CHECK(!pex_address_ok(cp("203.0.113.5", 0), false));
    CHECK(!pex_address_ok(cp("0.0.0.0", 6881), true));
    CHECK(!pex_address_ok(cp("239.1.2.3", 6881), true));
    CHECK(!pex_address_ok(cp("255.255.255.255", 6881), true));
    CHECK(!pex_address_ok(cp("127.0.0.1", 6881), false));
    CHECK(pex_address_ok(cp("127.0.0.1", 6881), true));
    CHECK(!pex_address_ok(cp("::", 6881), true));
    CHECK(!pex_address_ok(cp("ff02::1", 6881), true));
    CHECK(!pex_address_ok(cp("::1", 6881), false));
    CHECK(pex_address_ok(cp("2001:db8::1", 6881), false));
    // IPv4-mapped addresses are IPv4 peers.
    auto m = compact_peer("::ffff:198.51.100.7", 80);
    REQUIRE(m);
    CHECK(!m->v6);
    CHECK(address_key(*m) == "198.51.100.7:80");
    CHECK(raw_ip("198.51.100.7") == std::string("\xc6\x33\x64\x07", 4));
    CHECK(raw_ip("::1").size() == 16);
    CHECK(raw_ip("nonsense").empty());
}

TEST_CASE("extensions: a simultaneous open keeps the connection dialled by the smaller peer id") {
    // Peers that learn of each other by PEX at once dial each other at once; both sides must keep the same one.
    for (bool they_are_smaller : {false, true}) {
        CAPTURE(they_are_smaller);
        Fixture f;
        std::string theirs = they_are_smaller ? std::string(20, '\x01') : std::string(20, '\xfe');
        REQUIRE((theirs < f.session->peer_id()) == they_are_smaller);
        Peer in = f.attach("198.51.100.7:40000", false, true, theirs); // it dialled us
        Peer out = f.attach("198.51.100.7:6881", true, true, theirs);  // we dialled it
        // The smaller id dials: ours -> keep our outgoing connection; theirs -> keep its (our incoming).
        CHECK(in.probe->closed == !they_are_smaller);
        CHECK(out.probe->closed == they_are_smaller);
        CHECK(f.t->num_links() == 1);
    }
}

// Not an extension, but this file has the fixture that drives a real Torrent byte by byte.
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
    CHECK(unchoked() == 8); // twice the four slots, no more
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
    b.probe->inject(std::string("\0\0\0\1\x0F", 5));    // have_none
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
