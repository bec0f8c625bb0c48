// A torrent's control surface on a real Session and Torrent with fake peers (torrent_fixture.hpp): pause closes
// every link and refuses new ones until resume; the download limits (global and the torrent's own) pause a
// link's reading once a bucket is overdrawn, resume it when the rate allows, and hold the request pipeline short;
// the torrent's upload limit holds its blocks back.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "proto/wire.hpp"
#include "torrent_fixture.hpp"

using namespace p2p;
using test::Fixture;
using test::Peer;

namespace {
std::string simple(wire::MsgId id) {
    std::string s;
    wire::encode_simple(s, id);
    return s;
}

// The requests the torrent sent to `p` since the last call: (piece, begin, length).
std::vector<BlockRequest> requests_sent(Peer& p) {
    p.buf += p.probe->take_sent();
    std::vector<BlockRequest> out;
    std::size_t pos = 0;
    if (!p.handshake_skipped && p.buf.size() >= wire::kHandshakeSize) {
        p.buf.erase(0, wire::kHandshakeSize);
        p.handshake_skipped = true;
    }
    for (;;) {
        auto d = wire::decode_message(std::string_view(p.buf).substr(pos), 4u << 20);
        if (d.status != Decode::ok) break;
        pos += d.consumed;
        if (!d.msg.keepalive && d.msg.id == static_cast<std::uint8_t>(wire::MsgId::request))
            out.push_back(BlockRequest{d.msg.index, d.msg.begin, d.msg.length});
    }
    p.buf.erase(0, pos);
    return out;
}

// The content's bytes (make_content: 100,000 pseudo-random bytes, 16 KiB pieces) for block r.
std::string block_of(const BlockRequest& r) {
    static const std::string data = test::pseudo_random(100'000, 7);
    return data.substr(std::size_t(r.index) * 16384 + r.begin, r.length);
}

// A seed peer for a downloading fixture: have_all and unchoke, so the torrent requests from it.
Peer seed_peer(Fixture& f, const std::string& address) {
    Peer p = f.attach(address);
    p.probe->inject(simple(wire::MsgId::have_all));
    p.probe->inject(simple(wire::MsgId::unchoke));
    return p;
}

void check_throttled_download(Fixture& f) {
    Peer p = seed_peer(f, "198.51.100.50:6881");
    std::vector<BlockRequest> pending = requests_sent(p);
    // 20,000 B/s: a quarter second is below one block, so at most two blocks are out at a time.
    CHECK_FALSE(pending.empty());
    CHECK(pending.size() <= 2);
    const std::uint64_t t0 = uv_now(f.loop.get());
    std::size_t bytes = 0;
    while (!p.probe->paused) { // the peer answers every request at once, until we stop reading
        for (const auto& r : requests_sent(p)) pending.push_back(r);
        if (pending.empty()) break;
        CHECK(pending.size() <= 2);
        std::string m;
        wire::encode_piece(m, pending.front().index, pending.front().begin, block_of(pending.front()));
        bytes += pending.front().length;
        pending.erase(pending.begin());
        p.probe->inject(m);
    }
    REQUIRE(p.probe->paused); // overdrawn: reading stops
    CHECK(bytes > 16384);     // not before the burst was spent
    REQUIRE(test::run_until(
        f.loop, [&] { return !p.probe->paused; }, 5000));
    const double waited = double(uv_now(f.loop.get()) - t0);
    // Reading resumes once the debt beyond the 16 KiB burst is repaid at 20,000 B/s.
    const double expected = double(bytes - 16384) * 1000.0 / 20'000.0;
    CHECK(waited >= expected - 2);
    CHECK(waited <= expected + 500);
}
} // namespace

TEST_CASE("pause: every link closes, new ones are refused, resume lets them in again") {
    Fixture f;
    Peer a = f.attach("198.51.100.10:6881");
    Peer b = f.attach("198.51.100.11:6881", false);
    REQUIRE(f.t->num_links() == 2);
    const std::size_t open = f.session->connection_count();
    REQUIRE(f.session->pause_torrent(f.meta.info_hash));
    CHECK(f.t->paused());
    CHECK(f.t->status().paused);
    CHECK(a.probe->closed);
    CHECK(b.probe->closed);
    CHECK(f.t->num_links() == 0);
    CHECK(f.session->connection_count() == open - 2);
    CHECK(f.t->status().phase == TorrentPhase::seeding); // its pieces stay

    // An incoming connection while paused is refused.
    auto link = std::make_unique<PeerLink>();
    link->token = f.session->next_token();
    link->torrent = f.t;
    link->address = "198.51.100.12:6881";
    PeerConfig pc;
    pc.peer_id = f.session->peer_id();
    uv_loop_t* uv = f.loop.get();
    pc.clock = [uv] { return uv_now(uv); };
    auto ft = std::make_unique<FakeTransport>(link->address);
    auto probe = ft->probe();
    link->conn = PeerConnection::incoming(*f.t, std::move(ft), pc);
    link->conn->set_context(link.get());
    f.session->connection_opened();
    CHECK_FALSE(f.t->adopt(std::move(link)));
    CHECK(probe->closed);
    CHECK(f.session->connection_count() == open - 2);

    REQUIRE(f.session->resume_torrent(f.meta.info_hash));
    CHECK_FALSE(f.t->status().paused);
    Peer c = f.attach("198.51.100.13:6881");
    CHECK(f.t->num_links() == 1);
    CHECK_FALSE(f.session->pause_torrent(std::string(20, 'z'))); // unknown torrent
}

TEST_CASE("download limit (global): an overdrawn bucket pauses reading until the rate allows more") {
    Fixture f(false, false);
    f.session->set_rate_limits(0, 20'000);
    check_throttled_download(f);
}

TEST_CASE("download limit (the torrent's own): the same, with no global limit") {
    Fixture f(false, false);
    REQUIRE(f.session->set_torrent_limits(f.meta.info_hash, 0, 20'000));
    CHECK(f.t->status().max_download_rate == 20'000);
    check_throttled_download(f);
}

TEST_CASE("upload limit (the torrent's own): one block within the burst, the next when the rate allows") {
    Fixture f;
    REQUIRE(f.session->set_torrent_limits(f.meta.info_hash, 16'384, 0));
    Peer p = f.attach("198.51.100.60:6881");
    p.take();
    p.probe->inject(simple(wire::MsgId::interested)); // a free slot: unchoked at once
    REQUIRE_FALSE(p.conn->am_choking());
    std::string reqs;
    for (std::uint32_t i = 0; i < 3; ++i) wire::encode_request(reqs, i, 0, 16384);
    p.probe->inject(reqs);
    auto pieces_sent = [&] {
        std::size_t n = 0;
        for (std::uint8_t id : p.take().ids) n += id == static_cast<std::uint8_t>(wire::MsgId::piece);
        return n;
    };
    std::size_t sent = 0;
    REQUIRE(test::run_until(
        f.loop, [&] { return (sent += pieces_sent()) >= 1; }, 2000)); // after its read from disk
    const std::uint64_t t1 = uv_now(f.loop.get());
    test::run_until(
        f.loop, [&] { return (sent += pieces_sent()) >= 2; }, 3000);
    CHECK(uv_now(f.loop.get()) - t1 >= 500); // the burst (16 KiB) went with the first block
    CHECK(sent == 2);                        // one more after ~1 s of 16 KiB/s
}
