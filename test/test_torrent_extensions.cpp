// BEP 10 / 9 / 11 inside a running Torrent (torrent_fixture.hpp: a real Session and Torrent, peers on
// FakeTransport). No network: the torrent's max_connecting is 0, so PEX candidates are only recorded.
#include <doctest/doctest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "crypto/sha.hpp"
#include "proto/extension.hpp"
#include "proto/wire.hpp"
#include "session/torrent_extensions.hpp"
#include "torrent_fixture.hpp"

using namespace p2p;
using test::Fixture;
using test::Peer;
using test::Sent;

namespace {

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
    pm.added = {cp("203.0.113.5", 6881), cp("203.0.113.6", 51413),           cp("2001:db8::5", 6881),
                cp("224.1.1.1", 6881),   cp("255.255.255.255", 6881),        cp("0.1.2.3", 6881),
                cp("127.0.0.1", 1234),   cp("127.0.0.1", f.session->port()), cp("ff02::1", 6881),
                cp("::1", 6881)};
    pm.added_flags = {0x11, 0x10, 0x01, 0, 0, 0, 0}; // 0x01: prefers encryption (BEP 11); IPv6 has no flags
    pm.dropped = {cp("203.0.113.9", 6881)};
    p.send_ext(ext::kUtPexId, ext::encode_pex(pm));
    CHECK(f.candidate_keys() ==
          std::vector<std::string>{"203.0.113.5:6881", "203.0.113.6:51413", "[2001:db8::5]:6881"});
    CHECK(f.t->status().candidates == 3);
    // The first is dialled with MSE first under --encryption allow; flags are the IPv4 entries' only.
    CHECK(f.t->dials_mse_first("203.0.113.5:6881"));
    CHECK_FALSE(f.t->dials_mse_first("203.0.113.6:51413"));
    CHECK_FALSE(f.t->dials_mse_first("[2001:db8::5]:6881"));

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
    Fixture f(false, false);                             // downloading: a seed peer is kept (and flagged as one)
    Peer a = f.attach("198.51.100.7:6881");              // we dialled it: its address is its listen address
    Peer b = f.attach("198.51.100.8:40000", false);      // it dialled us: its listen port comes from "p"
    Peer c = f.attach("198.51.100.9:6881", true, false); // no extensions: listed, never sent to
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
    b.probe->encrypted = true; // RC4 (MSE): flag 0x01
    c.probe->kind = "utp";     // flag 0x04
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
    // Flags run parallel to the IPv4 entries: b was incoming, not a seed, over RC4; c we dialled over uTP and
    // is a seed.
    REQUIRE(pa->added_flags.size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
        std::uint8_t want = address_key(pa->added[i]) == "198.51.100.9:6881"
                                ? (kPexFlagSeed | kPexFlagReachable | kPexFlagUtp)
                                : kPexFlagEncryption;
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
