// Fuzz target: a whole PeerConnection over a FakeTransport, fed the input in chunks.
//
// Input layout: [flags][pieces][last][trigger][4 chunk sizes][stream...]
//   flags bit0 incoming (else outgoing), bit1 we advertise fast, bit2 prepend a valid handshake (so the fuzzer
//   starts in AwaitBitfield), bit3 that handshake has fast, bit4 it has extensions, bit5 the owner acts (sends
//   have_all, unchokes, requests, serves pieces), bit6 the owner calls close() in its trigger-th callback,
//   bit7 it destroys the connection there instead (both allowed by the contract in connection.hpp).
// Between chunks the clock advances and tick() runs, so timeouts and keep-alives are exercised too.
// Invariants: on_closed at most once and nothing after it; queues within their configured bounds; the
// peer's piece set sized to the torrent.
#include <memory>

#include "fuzz_common.hpp"
#include "net/fake_transport.hpp"
#include "peer/connection.hpp"
#include "proto/wire.hpp"

using namespace p2p;

namespace {

const std::string kHash(20, 'H');
const std::string kOurId = "-PN0001-ourpeerid000";
const std::string kTheirId = "-XX0001-theirpeerid0";

struct StubOwner final : PeerOwner {
    std::unique_ptr<PeerConnection> conn;
    TorrentGeometry geo;
    std::uint64_t now = 1000;
    std::uint8_t flags = 0;
    unsigned trigger = 0, events = 0;
    int closed_calls = 0;
    bool acts() const { return flags & 0x20; }
    std::shared_ptr<const std::string> block = std::make_shared<std::string>(wire::kBlockSize, 'b');

    // Called at the start of every event: checks ordering, maybe closes or destroys the connection.
    // Returns false when the connection is gone or closed, so the handler does nothing more.
    bool event(PeerConnection& c) {
        FUZZ_CHECK(closed_calls == 0);
        FUZZ_CHECK(conn.get() == &c);
        FUZZ_CHECK(!c.is_closed());
        if (++events == trigger) {
            if (flags & 0x80) {
                conn.reset();
                return false;
            }
            if (flags & 0x40) {
                c.close();
                return false;
            }
        }
        return true;
    }
    bool on_handshake(PeerConnection& c, const wire::Handshake& hs) override {
        FUZZ_CHECK(hs.info_hash.size() == 20 && hs.peer_id.size() == 20);
        if (!event(c)) return false;
        if (c.direction() == PeerConnection::Direction::incoming) {
            if (hs.info_hash != kHash) return false;
            FUZZ_CHECK(c.set_torrent(geo));
        } else {
            FUZZ_CHECK(hs.info_hash == kHash);
        }
        return true;
    }
    void on_established(PeerConnection& c) override {
        if (!event(c) || !acts()) return;
        c.send_have_all();
        c.send_allowed_fast(0);
        c.unchoke();
        c.interested();
    }
    void on_bitfield(PeerConnection& c, const swarm::Bitfield& b) override {
        FUZZ_CHECK(b.size() == geo.piece_count);
        event(c);
    }
    void on_have_all(PeerConnection& c) override { event(c); }
    void on_have_none(PeerConnection& c) override { event(c); }
    void on_have(PeerConnection& c, std::uint32_t i) override {
        FUZZ_CHECK(i < geo.piece_count);
        event(c);
    }
    void on_choke(PeerConnection& c) override { event(c); }
    void on_unchoke(PeerConnection& c) override {
        if (!event(c) || !acts()) return;
        for (std::uint32_t p = 0; p < geo.piece_count && p < 3; ++p)
            c.request(p, 0, std::min<std::uint32_t>(wire::kBlockSize, geo.piece_size(p)));
    }
    void on_interested(PeerConnection& c) override { event(c); }
    void on_not_interested(PeerConnection& c) override { event(c); }
    void on_request(PeerConnection& c, const BlockRequest& r) override {
        FUZZ_CHECK(r.index < geo.piece_count && r.length > 0 && r.length <= wire::kBlockSize);
        FUZZ_CHECK(std::uint64_t{r.begin} + r.length <= geo.piece_size(r.index));
        if (!event(c) || !acts()) return;
        if (r.index % 2 == 0)
            c.send_piece(r.index, r.begin, block, 0, r.length);
        else
            c.reject(r.index, r.begin, r.length);
    }
    void on_cancel(PeerConnection& c, const BlockRequest&) override { event(c); }
    void on_piece(PeerConnection& c, std::uint32_t i, std::uint32_t b, std::string_view data, bool) override {
        FUZZ_CHECK(i < geo.piece_count && !data.empty());
        FUZZ_CHECK(std::uint64_t{b} + data.size() <= geo.piece_size(i));
        if (!event(c) || !acts()) return;
        c.send_have(i);
    }
    void on_reject(PeerConnection& c, const BlockRequest&) override { event(c); }
    void on_suggest(PeerConnection& c, std::uint32_t) override { event(c); }
    void on_allowed_fast(PeerConnection& c, std::uint32_t) override { event(c); }
    void on_port(PeerConnection& c, std::uint16_t) override { event(c); }
    void on_extended(PeerConnection& c, std::uint8_t, std::string_view) override {
        if (!event(c) || !acts()) return;
        c.send_extended(1, "d1:md11:ut_metadatai1eee");
    }
    void on_send_drained(PeerConnection& c) override { event(c); }
    void on_closed(PeerConnection& c, const Error&) override {
        FUZZ_CHECK(conn.get() == &c);
        FUZZ_CHECK(++closed_calls == 1);
    }

    void check() const {
        if (!conn || conn->is_closed()) return;
        FUZZ_CHECK(conn->incoming_requests().size() <= 8);
        FUZZ_CHECK(conn->outgoing_requests().size() <= 16);
        if (conn->state() != PeerConnection::State::AwaitHandshake)
            FUZZ_CHECK(conn->peer_pieces().size() == conn->geometry().piece_count);
    }
};

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Bytes b{fuzz::as_view(data, size)};
    StubOwner o;
    o.flags = b.u8();
    std::uint32_t pieces = b.u8() + 1u;
    o.geo.piece_length = 2 * wire::kBlockSize;
    o.geo.piece_count = pieces;
    o.geo.total_length =
        std::uint64_t{o.geo.piece_length} * (pieces - 1) + (b.u8() + 1u) * 128u; // last piece: 128 B .. 32 KiB
    o.trigger = b.u8();
    std::uint8_t chunks[4] = {b.u8(), b.u8(), b.u8(), b.u8()};

    PeerConfig cfg;
    cfg.peer_id = kOurId;
    cfg.reserved = wire::Reserved{}.set_fast(o.flags & 0x02).set_extensions();
    cfg.max_incoming_requests = 8;
    cfg.max_outgoing_requests = 16;
    cfg.max_extended_message = 4096;
    cfg.max_allowed_fast = 4;
    cfg.clock = [&o] { return o.now; };

    auto t = std::make_unique<FakeTransport>("192.0.2.1:6881", 64 * 1024);
    auto probe = t->probe();
    if (o.flags & 0x01)
        o.conn = PeerConnection::incoming(o, std::move(t), std::move(cfg));
    else
        o.conn = PeerConnection::outgoing(o, std::move(t), std::move(cfg), kHash, o.geo);
    o.conn->start();

    std::string stream;
    if (o.flags & 0x04) {
        wire::Reserved r;
        r.set_fast(o.flags & 0x08).set_extensions(o.flags & 0x10);
        wire::encode_handshake(stream, r, kHash, kTheirId);
    }
    stream.append(b.in);
    std::string_view rest = stream;
    for (unsigned i = 0; !rest.empty(); ++i) {
        std::size_t n = chunks[i % 4] ? chunks[i % 4] : rest.size();
        if (!probe->inject(rest.substr(0, std::min(n, rest.size())))) break;
        rest.remove_prefix(std::min(n, rest.size()));
        o.check();
        if (!o.conn || o.conn->is_closed()) break;
        if (chunks[i % 4] & 1) probe->drain();
        if (!o.conn || o.conn->is_closed()) break;
        o.now += chunks[(i + 1) % 4] * 1000u;
        o.conn->tick();
        o.check();
        if (!o.conn || o.conn->is_closed()) break;
    }
    o.conn.reset();
    return 0;
}
