#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "net/fake_transport.hpp"
#include "peer/connection.hpp"
#include "proto/wire.hpp"

using namespace p2p;

namespace {

const std::string kHash(20, 'H');
const std::string kOtherHash(20, 'X');
const std::string kOurId = "-PN0100-ourpeerid000";
const std::string kTheirId = "-XX0100-theirpeerid0";

// 10 pieces of 32 KiB, the last one 1000 bytes.
TorrentGeometry geometry() {
    TorrentGeometry g;
    g.piece_count = 10;
    g.piece_length = 32768;
    g.total_length = 9ull * 32768 + 1000;
    return g;
}

std::string handshake(bool fast = true, bool ext = true, const std::string& hash = kHash) {
    wire::Reserved r;
    r.set_fast(fast).set_extensions(ext);
    std::string out;
    wire::encode_handshake(out, r, hash, kTheirId);
    return out;
}

// Records every event as a line of text; optional hooks act inside events.
struct Owner : PeerOwner {
    std::vector<std::string> events;
    std::unique_ptr<PeerConnection> conn;
    std::shared_ptr<FakeProbe> probe;
    std::uint64_t now = 1000;
    bool accept = true;
    bool unchoke_on_established = false;
    bool supply_geometry = true;
    // Runs after an event is recorded; gets the event name.
    std::function<void(const std::string&)> hook;

    void rec(std::string e) {
        events.push_back(e);
        if (hook) hook(e);
    }
    static std::string blk(const BlockRequest& r) {
        return std::to_string(r.index) + ":" + std::to_string(r.begin) + "+" + std::to_string(r.length);
    }

    bool on_handshake(PeerConnection& c, const wire::Handshake& hs) override {
        if (c.direction() == PeerConnection::Direction::incoming && supply_geometry) c.set_torrent(geometry());
        rec("handshake " + hs.peer_id);
        return accept;
    }
    void on_established(PeerConnection& c) override {
        rec("established");
        if (unchoke_on_established && conn) c.unchoke();
    }
    void on_bitfield(PeerConnection&, const swarm::Bitfield& b) override {
        rec("bitfield " + std::to_string(b.count()));
    }
    void on_have_all(PeerConnection&) override { rec("have_all"); }
    void on_have_none(PeerConnection&) override { rec("have_none"); }
    void on_have(PeerConnection&, std::uint32_t i) override { rec("have " + std::to_string(i)); }
    void on_choke(PeerConnection&) override { rec("choke"); }
    void on_unchoke(PeerConnection&) override { rec("unchoke"); }
    void on_interested(PeerConnection&) override { rec("interested"); }
    void on_not_interested(PeerConnection&) override { rec("not_interested"); }
    void on_request(PeerConnection&, const BlockRequest& r) override { rec("request " + blk(r)); }
    void on_cancel(PeerConnection&, const BlockRequest& r) override { rec("cancel " + blk(r)); }
    void on_piece(PeerConnection&, std::uint32_t i, std::uint32_t b, std::string_view data, bool req) override {
        rec("piece " + std::to_string(i) + ":" + std::to_string(b) + " " + std::string(data) +
            (req ? "" : " unrequested"));
    }
    void on_reject(PeerConnection&, const BlockRequest& r) override { rec("reject " + blk(r)); }
    void on_suggest(PeerConnection&, std::uint32_t i) override { rec("suggest " + std::to_string(i)); }
    void on_allowed_fast(PeerConnection&, std::uint32_t i) override { rec("allowed_fast " + std::to_string(i)); }
    void on_port(PeerConnection&, std::uint16_t p) override { rec("port " + std::to_string(p)); }
    void on_extended(PeerConnection&, std::uint8_t id, std::string_view p) override {
        rec("extended " + std::to_string(id) + " " + std::string(p));
    }
    void on_closed(PeerConnection&, const Error& why) override { rec("closed " + why.what); }

    PeerConfig config(bool fast = true) {
        PeerConfig c;
        c.peer_id = kOurId;
        c.reserved = wire::Reserved{}.set_fast(fast).set_extensions();
        c.clock = [this] { return now; };
        return c;
    }
    void make_outgoing(bool fast = true) {
        auto t = std::make_unique<FakeTransport>();
        probe = t->probe();
        conn = PeerConnection::outgoing(*this, std::move(t), config(fast), kHash, geometry());
        conn->start();
    }
    void make_metadata_only(bool fast = true) {
        auto t = std::make_unique<FakeTransport>();
        probe = t->probe();
        conn = PeerConnection::outgoing_without_metadata(*this, std::move(t), config(fast), kHash);
        conn->start();
    }
    void make_incoming(bool fast = true) {
        auto t = std::make_unique<FakeTransport>();
        probe = t->probe();
        conn = PeerConnection::incoming(*this, std::move(t), config(fast));
        conn->start();
    }
    bool closed() const { return !events.empty() && events.back().rfind("closed", 0) == 0; }
};

std::string msg_have(std::uint32_t i) {
    std::string s;
    wire::encode_have(s, i);
    return s;
}
std::string msg_request(std::uint32_t i, std::uint32_t b, std::uint32_t l) {
    std::string s;
    wire::encode_request(s, i, b, l);
    return s;
}
std::string msg_cancel(std::uint32_t i, std::uint32_t b, std::uint32_t l) {
    std::string s;
    wire::encode_cancel(s, i, b, l);
    return s;
}
std::string msg_reject(std::uint32_t i, std::uint32_t b, std::uint32_t l) {
    std::string s;
    wire::encode_reject(s, i, b, l);
    return s;
}
std::string msg_piece(std::uint32_t i, std::uint32_t b, std::string_view d) {
    std::string s;
    wire::encode_piece(s, i, b, d);
    return s;
}
std::string msg_simple(wire::MsgId id) {
    std::string s;
    wire::encode_simple(s, id);
    return s;
}
std::string msg_bitfield(std::string_view bits) {
    std::string s;
    wire::encode_bitfield(s, bits);
    return s;
}
std::string hx(std::string_view h) {
    std::string o;
    from_hex(h, o);
    return o;
}

// A conversation covering every message type, valid for an outgoing fast+extensions connection whose owner
// unchokes on establishment and has requested block 9:0+1000.
std::string full_stream() {
    std::string s = handshake();
    s += msg_bitfield(hx("a040")); // pieces 0, 2, 9
    s += msg_have(5);
    s += msg_simple(wire::MsgId::unchoke);
    s += msg_simple(wire::MsgId::interested);
    s += msg_request(3, 16384, 16384);
    s += msg_request(9, 0, 1000);
    s += msg_cancel(9, 0, 1000);
    s += msg_piece(9, 0, std::string(1000, 'p'));
    std::string tmp;
    wire::encode_suggest(tmp, 4);
    wire::encode_allowed_fast(tmp, 6);
    wire::encode_extended(tmp, 3, "hello");
    wire::encode_port(tmp, 6881);
    wire::encode_keepalive(tmp);
    s += tmp;
    s += hx("00000003ee6162");   // unknown id: ignored
    s += msg_reject(9, 0, 1000); // nothing outstanding any more: ignored
    s += msg_simple(wire::MsgId::not_interested);
    s += msg_simple(wire::MsgId::choke);
    return s;
}

std::vector<std::string> run_split(const std::string& stream, const std::vector<std::size_t>& cuts,
                                   std::string* sent = nullptr) {
    Owner o;
    o.unchoke_on_established = true;
    o.make_outgoing();
    REQUIRE(o.conn->request(9, 0, 1000));
    std::size_t prev = 0;
    for (std::size_t c : cuts) {
        o.probe->inject(std::string_view(stream).substr(prev, c - prev));
        prev = c;
    }
    o.probe->inject(std::string_view(stream).substr(prev));
    if (sent) *sent = o.probe->sent;
    return o.events;
}

} // namespace

TEST_CASE("connection: full conversation produces the expected events") {
    std::string sent;
    auto ev = run_split(full_stream(), {}, &sent);
    std::vector<std::string> expect = {
        "handshake " + kTheirId,
        "established",
        "bitfield 3",
        "have 5",
        "unchoke",
        "interested",
        "request 3:16384+16384",
        "request 9:0+1000",
        "cancel 9:0+1000",
        "piece 9:0 " + std::string(1000, 'p'),
        "suggest 4",
        "allowed_fast 6",
        "extended 3 hello",
        "port 6881",
        "not_interested",
        "choke",
    };
    CHECK(ev == expect);
    // What we sent: handshake, request, unchoke, then the reject answering the cancel (BEP 6), and on
    // nothing else.
    std::string expect_sent = handshake(true, true).substr(0, 20); // same pstr + reserved prefix
    CHECK(sent.substr(0, 20) == expect_sent);
    CHECK(sent.substr(20, 8) == std::string("\0\0\0\0\0\x10\0\x04", 8));
    CHECK(sent.substr(28, 20) == kHash);
    CHECK(sent.substr(48, 20) == kOurId);
    CHECK(sent.substr(68) == msg_request(9, 0, 1000) + msg_simple(wire::MsgId::unchoke) + msg_reject(9, 0, 1000));
}

TEST_CASE("connection: every split point and byte-by-byte give the same events") {
    const std::string s = full_stream();
    std::string ref_sent;
    const auto ref = run_split(s, {}, &ref_sent);
    REQUIRE(ref.size() == 16);
    for (std::size_t cut = 1; cut < s.size(); ++cut) {
        std::string sent;
        auto ev = run_split(s, {cut}, &sent);
        if (ev != ref || sent != ref_sent) {
            FAIL_CHECK("split at " << cut << " differs");
            break;
        }
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < s.size(); ++i) every.push_back(i);
    std::string sent;
    CHECK(run_split(s, every, &sent) == ref);
    CHECK(sent == ref_sent);
}

TEST_CASE("connection: replies to one read leave corked in one flush") {
    Owner o;
    o.unchoke_on_established = true;
    o.make_outgoing();
    const auto flushes = o.probe->flushes;
    std::string s = handshake();
    o.hook = [&](const std::string& e) {
        if (e == "established") {
            o.conn->send_have_none();
            o.conn->interested();
        }
    };
    o.probe->inject(s);
    CHECK(o.probe->flushes == flushes + 1);
}

TEST_CASE("connection: handshake checks") {
    SUBCASE("messages before the handshake") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(msg_simple(wire::MsgId::unchoke));
        CHECK(o.closed());
        CHECK(o.probe->closed);
        CHECK(o.conn->state() == PeerConnection::State::Closing);
    }
    SUBCASE("wrong info hash") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake(true, true, kOtherHash));
        CHECK(o.events == std::vector<std::string>{"closed handshake for another torrent"});
    }
    SUBCASE("incoming: owner supplies the torrent, then we answer with our handshake") {
        Owner o;
        o.make_incoming();
        CHECK(o.probe->sent.empty());
        o.probe->inject(handshake());
        CHECK(o.events == std::vector<std::string>{"handshake " + kTheirId, "established"});
        REQUIRE(o.probe->sent.size() == 68);
        CHECK(o.probe->sent.substr(28, 20) == kHash);
        CHECK(o.conn->info_hash() == kHash);
        CHECK(o.conn->supports_fast());
        CHECK(o.conn->supports_extensions());
        CHECK(o.conn->state() == PeerConnection::State::AwaitBitfield);
    }
    SUBCASE("incoming: refused by the owner") {
        Owner o;
        o.accept = false;
        o.make_incoming();
        o.probe->inject(handshake());
        CHECK(o.events == std::vector<std::string>{"handshake " + kTheirId});
        CHECK(o.probe->sent.empty());
        CHECK(o.probe->closed_by_user);
    }
    SUBCASE("incoming: accepted without a torrent") {
        Owner o;
        o.supply_geometry = false;
        o.make_incoming();
        o.probe->inject(handshake());
        CHECK(o.closed());
    }
    SUBCASE("fast only when both sides set the bit") {
        Owner o;
        o.make_outgoing(false);
        o.probe->inject(handshake(true, true));
        CHECK_FALSE(o.conn->supports_fast());
        o.probe->inject(msg_simple(wire::MsgId::have_all));
        CHECK(o.events.back() == "closed have_all without the fast extension");
    }
    SUBCASE("handshake timeout and inactivity timeout via tick") {
        Owner o;
        o.make_outgoing();
        o.now += 19'999;
        CHECK(o.conn->tick());
        o.now += 1;
        CHECK_FALSE(o.conn->tick());
        CHECK(o.events.back() == "closed handshake timeout");
        Owner p;
        p.make_outgoing();
        p.probe->inject(handshake());
        p.now += 90'000;
        p.probe->take_sent();
        CHECK(p.conn->tick());
        CHECK(p.probe->sent == std::string(4, '\0')); // keep-alive
        p.now += 90'000;
        CHECK_FALSE(p.conn->tick());
        CHECK(p.events.back() == "closed inactivity timeout");
    }
}

TEST_CASE("connection: hostile input disconnects") {
    struct Case {
        const char* name;
        std::string bytes;
        bool fast;
    };
    std::string huge = hx("ffffffff");
    std::vector<Case> cases = {
        {"huge length prefix", huge, true},
        {"unknown id with huge length", hx("7ffffff0ee"), true},
        {"have index out of range", msg_have(10), true},
        {"request index out of range", msg_request(10, 0, 16384), true},
        {"request beyond the piece", msg_request(9, 500, 1000), true},
        {"request begin beyond the piece", msg_request(0, 32768, 1), true},
        {"request length 0", msg_request(0, 0, 0), true},
        {"request longer than 16 KiB", msg_request(0, 0, 16385), true},
        {"request with overflowing begin+length", msg_request(0, 0xFFFFFFF0u, 0x100), true},
        {"piece index out of range", msg_piece(10, 0, "x"), true},
        {"piece beyond the piece", msg_piece(9, 999, "xy"), true},
        {"piece not requested (fast)", msg_piece(0, 0, "x"), true},
        {"cancel out of range", msg_cancel(0, 32768, 1), true},
        {"bitfield too short", msg_bitfield(hx("ff")), true},
        {"bitfield too long", msg_bitfield(hx("ffc000")), true},
        {"bitfield spare bits set", msg_bitfield(hx("ffe0")), true},
        {"bitfield after another message with spare bits set", msg_have(1) + msg_bitfield(hx("ffe0")), true},
        {"have_all after another message", msg_have(1) + msg_simple(wire::MsgId::have_all), true},
        {"reject without fast", msg_reject(0, 0, 16384), false},
        {"suggest without fast", hx("000000050d00000001"), false},
        {"allowed_fast out of range", hx("000000051100000010"), true},
        {"wrong fixed length", hx("0000000601000000"), true},
        {"extended longer than the limit", hx("00200010") + "\x14", true},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        Owner o;
        o.make_outgoing(c.fast);
        o.probe->inject(handshake());
        o.probe->inject(c.bytes);
        CHECK(o.closed());
        CHECK(o.probe->closed);
        CHECK(o.probe->pending.size() < 64); // nothing was buffered waiting for a giant body
    }
    SUBCASE("piece not requested without fast is delivered, flagged") {
        Owner o;
        o.make_outgoing(false);
        o.probe->inject(handshake());
        o.probe->inject(msg_piece(0, 0, "x"));
        CHECK(o.events.back() == "piece 0:0 x unrequested");
    }
    SUBCASE("a later bitfield (aria2 sends one instead of many HAVEs) counts as HAVEs of the pieces it adds") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake() + msg_have(2) + msg_bitfield(hx("a040"))); // pieces 0, 2, 9
        REQUIRE(o.events.size() >= 3);
        CHECK(o.events[o.events.size() - 3] == "have 2");
        CHECK(o.events[o.events.size() - 2] == "have 0");
        CHECK(o.events.back() == "have 9");
        CHECK(o.conn->peer_pieces().count() == 3);
        CHECK_FALSE(o.closed());
    }
    SUBCASE("bitfield exact length with the last piece set is fine") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake() + msg_bitfield(hx("ffc0")));
        CHECK(o.events.back() == "bitfield 10");
        CHECK(o.conn->peer_pieces().all());
    }
    SUBCASE("extended handshake and port before have_none / bitfield are fine (libtorrent, Transmission)") {
        for (wire::MsgId first : {wire::MsgId::have_none, wire::MsgId::have_all, wire::MsgId::bitfield}) {
            CAPTURE(static_cast<int>(first));
            Owner o;
            o.make_outgoing();
            std::string s = handshake();
            wire::encode_extended(s, 0, "de");
            wire::encode_port(s, 6881);
            s += first == wire::MsgId::bitfield ? msg_bitfield(hx("ffc0")) : msg_simple(first);
            o.probe->inject(s);
            CHECK_FALSE(o.closed());
            CHECK(o.events.back() == (first == wire::MsgId::have_none  ? "have_none"
                                      : first == wire::MsgId::have_all ? "have_all"
                                                                       : "bitfield 10"));
            o.probe->inject(msg_simple(wire::MsgId::have_all)); // the slot is used up now
            CHECK(o.closed());
        }
    }
}

TEST_CASE("connection: 100 000 requests hit the queue cap and disconnect") {
    Owner o;
    o.unchoke_on_established = true;
    o.make_outgoing();
    o.probe->inject(handshake());
    std::string flood;
    for (std::uint32_t i = 0; i < 100'000; ++i) flood += msg_request(i % 9, 0, 1 + (i / 9) % 16384);
    o.probe->inject(flood);
    REQUIRE(o.closed());
    std::size_t requests = 0;
    for (const auto& e : o.events) requests += e.rfind("request", 0) == 0;
    CHECK(requests == 500);
    CHECK(o.events.back().find("more than 500 queued requests") != std::string::npos);
}

TEST_CASE("connection: a peer that keeps requesting while choked is disconnected, and its rejects stay bounded") {
    for (bool fast : {true, false}) {
        CAPTURE(fast);
        Owner o;
        o.make_outgoing(fast);
        o.probe->inject(handshake());
        o.probe->take_sent();
        std::string flood;
        for (std::uint32_t i = 0; i < 100'000; ++i) flood += msg_request(i % 9, 0, 1 + (i / 9) % 16384);
        o.probe->inject(flood);
        REQUIRE(o.closed());
        CHECK(o.events.back().find("more than 500 requests while choked") != std::string::npos);
        CHECK(o.probe->sent.size() <= 500 * msg_reject(0, 0, 1).size()); // at most one reject per allowed request
    }
}

TEST_CASE("connection: requests while we choke") {
    SUBCASE("BEP 3: ignored") {
        Owner o;
        o.make_outgoing(false);
        o.probe->inject(handshake());
        o.probe->take_sent();
        o.probe->inject(msg_request(0, 0, 16384));
        CHECK(o.events.back() == "established");
        CHECK(o.probe->sent.empty());
        CHECK(o.conn->incoming_requests().empty());
    }
    SUBCASE("BEP 6: rejected, except allowed-fast pieces") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake());
        o.conn->send_allowed_fast(2);
        o.probe->take_sent();
        o.probe->inject(msg_request(0, 0, 16384) + msg_request(2, 0, 16384));
        CHECK(o.probe->sent == msg_reject(0, 0, 16384));
        CHECK(o.events.back() == "request 2:0+16384");
    }
    SUBCASE("BEP 6: choking rejects queued requests; late send_piece is dropped") {
        Owner o;
        o.unchoke_on_established = true;
        o.make_outgoing();
        o.probe->inject(handshake());
        o.probe->inject(msg_request(0, 0, 16384) + msg_request(1, 0, 16384));
        o.probe->take_sent();
        o.conn->choke();
        CHECK(o.probe->sent == msg_simple(wire::MsgId::choke) + msg_reject(0, 0, 16384) + msg_reject(1, 0, 16384));
        auto data = std::make_shared<const std::string>(32768, 'd');
        CHECK_FALSE(o.conn->send_piece(0, 0, data, 0, 16384));
    }
}

TEST_CASE("connection: send_piece references the payload and answers a queued request") {
    Owner o;
    o.unchoke_on_established = true;
    o.make_outgoing();
    o.probe->inject(handshake());
    o.probe->inject(msg_request(3, 16384, 16384));
    o.probe->take_sent();
    std::string piece(32768, '\0');
    for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = static_cast<char>(i * 7);
    auto data = std::make_shared<const std::string>(piece);
    CHECK(o.conn->send_piece(3, 16384, data, 16384, 16384));
    CHECK(o.probe->sent == msg_piece(3, 16384, std::string_view(piece).substr(16384)));
    CHECK(o.conn->uploaded() == 16384);
    CHECK_FALSE(o.conn->send_piece(3, 16384, data, 16384, 16384)); // answered already
    CHECK(o.conn->incoming_requests().empty());
}

TEST_CASE("connection: our requests, choke and reject bookkeeping") {
    Owner o;
    o.make_outgoing(false);
    o.probe->inject(handshake());
    CHECK(o.conn->request(0, 0, 16384));
    CHECK_FALSE(o.conn->request(0, 0, 16384)); // duplicate
    CHECK_FALSE(o.conn->request(9, 0, 1001));  // beyond the last piece
    CHECK_FALSE(o.conn->request(0, 0, 16385)); // larger than a block
    CHECK(o.conn->request(0, 16384, 16384));
    CHECK(o.conn->outgoing_requests().size() == 2);
    o.probe->inject(msg_simple(wire::MsgId::choke)); // BEP 3: choke drops all requests
    CHECK(o.conn->outgoing_requests().empty());
    o.probe->inject(msg_piece(0, 0, std::string(16384, 'z')));
    CHECK(o.events.back().find("unrequested") != std::string::npos);
    CHECK(o.conn->downloaded() == 16384);
}

TEST_CASE("connection: a request is a duplicate only while that exact block is outstanding") {
    // request() keeps a count of outstanding requests by start beside the queue (connection.hpp); every way a
    // request leaves the queue must free its start, and a same-start request of another length is no duplicate.
    SUBCASE("without the fast extension: piece, cancel and choke free the block") {
        Owner o;
        o.make_outgoing(false);
        o.probe->inject(handshake());
        CHECK(o.conn->request(0, 0, 16384));
        CHECK(o.conn->request(0, 0, 8192)); // same start, another length: not a duplicate
        CHECK_FALSE(o.conn->request(0, 0, 8192));
        o.probe->inject(msg_piece(0, 0, std::string(16384, 'a')));
        CHECK(o.conn->outgoing_requests().size() == 1);
        CHECK_FALSE(o.conn->request(0, 0, 8192)); // still outstanding
        CHECK(o.conn->request(0, 0, 16384));      // answered: may be asked again
        CHECK_FALSE(o.conn->request(0, 0, 16384));
        o.conn->cancel(0, 0, 8192);
        CHECK(o.conn->request(0, 0, 8192)); // cancelled (BEP 3 forgets it): may be asked again
        for (std::uint32_t p = 1; p < 4; ++p) CHECK(o.conn->request(p, 16384, 16384));
        CHECK(o.conn->outgoing_requests().size() == 5);
        o.probe->inject(msg_simple(wire::MsgId::choke));
        CHECK(o.conn->outgoing_requests().empty());
        CHECK(o.conn->request(0, 0, 16384)); // the choke dropped them all
        CHECK(o.conn->request(3, 16384, 16384));
        CHECK_FALSE(o.conn->request(3, 16384, 16384));
    }
    SUBCASE("with the fast extension: a reject frees the block, a cancel does not") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake());
        o.probe->inject(msg_simple(wire::MsgId::have_none));
        CHECK(o.conn->request(2, 16384, 16384));
        o.conn->cancel(2, 16384, 16384); // BEP 6: still answered by a piece or a reject, so still outstanding
        CHECK_FALSE(o.conn->request(2, 16384, 16384));
        o.probe->inject(msg_reject(2, 16384, 16384));
        CHECK(o.conn->outgoing_requests().empty());
        CHECK(o.conn->request(2, 16384, 16384));
    }
}

TEST_CASE("connection: closing and destroying from inside callbacks") {
    const std::string s = handshake() + msg_have(1) + msg_have(2) + msg_have(3);
    SUBCASE("close inside on_have stops parsing, no on_closed") {
        Owner o;
        o.make_outgoing();
        o.hook = [&](const std::string& e) {
            if (e == "have 1") o.conn->close();
        };
        o.probe->inject(s);
        CHECK(o.events.back() == "have 1");
        CHECK(o.probe->closed_by_user);
        CHECK_FALSE(o.probe->inject(msg_have(4)));
        CHECK(o.events.back() == "have 1");
    }
    SUBCASE("destroy inside on_have") {
        Owner o;
        o.make_outgoing();
        o.hook = [&](const std::string& e) {
            if (e == "have 2") o.conn.reset();
        };
        auto probe = o.probe;
        probe->inject(s);
        CHECK(o.events.back() == "have 2");
        CHECK(probe->transport == nullptr);
    }
    SUBCASE("destroy inside on_handshake and on_established") {
        for (const char* when : {"handshake", "established"}) {
            Owner o;
            o.make_outgoing();
            o.hook = [&](const std::string& e) {
                if (e.rfind(when, 0) == 0) o.conn.reset();
            };
            o.probe->inject(s);
            CHECK(o.events.back().rfind(when, 0) == 0);
            CHECK_FALSE(o.conn);
        }
    }
    SUBCASE("destroy inside on_closed after a protocol error") {
        Owner o;
        o.make_outgoing();
        o.hook = [&](const std::string& e) {
            if (e.rfind("closed", 0) == 0) o.conn.reset();
        };
        o.probe->inject(handshake() + msg_have(99) + msg_have(1));
        CHECK(o.events.back() == "closed have index 99 out of range");
        CHECK_FALSE(o.conn);
    }
    SUBCASE("destroy inside on_closed after the peer hung up") {
        Owner o;
        o.make_outgoing();
        o.hook = [&](const std::string& e) {
            if (e.rfind("closed", 0) == 0) o.conn.reset();
        };
        o.probe->inject(handshake());
        o.probe->remote_close();
        CHECK(o.events.back() == "closed connection closed by peer");
        CHECK_FALSE(o.conn);
    }
    SUBCASE("destroy inside on_piece while the payload view is live") {
        Owner o;
        o.unchoke_on_established = true;
        o.make_outgoing();
        REQUIRE(o.conn->request(9, 0, 1000));
        o.hook = [&](const std::string& e) {
            if (e.rfind("piece", 0) == 0) o.conn.reset();
        };
        o.probe->inject(handshake() + msg_piece(9, 0, std::string(1000, 'q')) + msg_have(1));
        CHECK(o.events.back().rfind("piece 9:0", 0) == 0);
    }
}

TEST_CASE("connection: rate and byte counters") {
    Owner o;
    o.make_outgoing();
    o.probe->inject(handshake());
    for (int i = 0; i < 4; ++i) REQUIRE(o.conn->request(static_cast<std::uint32_t>(i), 0, 16384));
    for (int i = 0; i < 4; ++i) {
        o.now += 500;
        o.probe->inject(msg_piece(static_cast<std::uint32_t>(i), 0, std::string(16384, 'r')));
    }
    CHECK(o.conn->downloaded() == 4 * 16384);
    CHECK(o.conn->download_rate() > 10'000);
    CHECK(o.conn->last_received_ms() == o.now);
    o.now += 10'000;
    CHECK(o.conn->download_rate() == 0);
}

TEST_CASE("connection: without metadata (BEP 9 fetch)") {
    SUBCASE("handshake, extended, choke state work; piece-index messages are ignored without events") {
        Owner o;
        o.make_metadata_only();
        CHECK_FALSE(o.closed());
        REQUIRE(o.probe->sent.size() == 68); // our handshake went out at start()
        CHECK(o.probe->sent.substr(28, 20) == kHash);
        CHECK(o.conn->metadata_only());
        std::string s = handshake();
        wire::encode_extended(s, 0, "de");
        s += msg_bitfield(std::string(1000, '\xff')); // any length: the piece count is unknown
        s += msg_have(123456);                        // any index
        s += msg_simple(wire::MsgId::unchoke);
        s += msg_cancel(7, 0, 16384);
        wire::encode_suggest(s, 99);
        wire::encode_allowed_fast(s, 99);
        s += msg_reject(5, 0, 16384);
        wire::encode_extended(s, 1, "meta");
        o.probe->inject(s);
        std::vector<std::string> expect = {"handshake " + kTheirId, "established", "extended 0 de", "unchoke",
                                           "extended 1 meta"};
        CHECK(o.events == expect);
        CHECK_FALSE(o.conn->peer_choking());
        CHECK(o.conn->state() == PeerConnection::State::Active);
    }
    SUBCASE("have_all / have_none as the first message are accepted") {
        for (wire::MsgId first : {wire::MsgId::have_all, wire::MsgId::have_none}) {
            Owner o;
            o.make_metadata_only();
            o.probe->inject(handshake() + msg_simple(first));
            CHECK(o.events == std::vector<std::string>{"handshake " + kTheirId, "established"});
            o.probe->inject(msg_simple(first)); // but not twice: the first-message rule still holds
            CHECK(o.closed());
        }
    }
    SUBCASE("we cannot announce or request pieces") {
        Owner o;
        o.make_metadata_only();
        o.probe->inject(handshake() + msg_simple(wire::MsgId::unchoke));
        o.probe->take_sent();
        o.conn->send_have_all();
        o.conn->send_bitfield(swarm::Bitfield(0, false));
        o.conn->send_have(0);
        CHECK_FALSE(o.conn->request(0, 0, 16384));
        CHECK(o.probe->sent.empty());
        o.conn->send_have_none(); // BEP 6: the honest first message
        o.conn->interested();
        o.conn->send_extended(1, "x");
        std::string expect = msg_simple(wire::MsgId::have_none) + msg_simple(wire::MsgId::interested);
        wire::encode_extended(expect, 1, "x");
        CHECK(o.probe->sent == expect);
    }
    SUBCASE("the peer's requests: rejected with fast, dropped without") {
        Owner o;
        o.make_metadata_only();
        o.probe->inject(handshake());
        o.probe->take_sent();
        o.probe->inject(msg_request(3, 0, 16384));
        CHECK(o.probe->sent == msg_reject(3, 0, 16384));
        CHECK(o.events.back() == "established");
        Owner p;
        p.make_metadata_only(false);
        p.probe->inject(handshake());
        p.probe->take_sent();
        p.probe->inject(msg_request(3, 0, 16384));
        CHECK(p.probe->sent.empty());
        CHECK_FALSE(p.closed());
    }
    SUBCASE("protocol errors") {
        struct Case {
            const char* name;
            std::string bytes;
            bool fast;
        };
        std::vector<Case> cases = {
            {"piece (never requested)", msg_piece(0, 0, "x"), true},
            {"have_all without fast", msg_simple(wire::MsgId::have_all), false},
            {"reject without fast", msg_reject(0, 0, 16384), false},
            {"wrong handshake hash", "", true},
        };
        for (const auto& c : cases) {
            CAPTURE(std::string(c.name));
            Owner o;
            o.make_metadata_only(c.fast);
            o.probe->inject(c.bytes.empty() ? handshake(true, true, kOtherHash) : handshake() + c.bytes);
            CHECK(o.closed());
            CHECK(o.probe->closed);
        }
    }
    SUBCASE("a bitfield is bounded by the largest torrent we accept (2 million pieces)") {
        for (std::size_t bytes : {std::size_t{250'000}, std::size_t{250'001}}) {
            Owner o;
            o.make_metadata_only();
            // No BEP 10: otherwise the extended-message limit (1 MiB) would be the larger bound.
            o.probe->inject(handshake(true, false) + msg_bitfield(std::string(bytes, '\0')));
            CHECK(o.closed() == (bytes > 250'000));
        }
    }
    SUBCASE("a normal outgoing connection still validates bitfield length") {
        Owner o;
        o.make_outgoing();
        o.probe->inject(handshake() + msg_bitfield(std::string(1000, '\xff')));
        CHECK(o.closed());
    }
}

// Kept for the DHT (BEP 5), which will advertise the bit and send its port to peers that set theirs.
TEST_CASE("connection: the DHT reserved bit both ways, and the PORT message (BEP 5)") {
    Owner o;
    auto t = std::make_unique<FakeTransport>();
    o.probe = t->probe();
    PeerConfig cfg = o.config();
    cfg.reserved.set_dht();
    o.conn = PeerConnection::outgoing(o, std::move(t), cfg, kHash, geometry());
    o.conn->send_port(6881); // before our handshake: ignored
    o.conn->start();
    REQUIRE(o.probe->sent.size() == 68);
    CHECK(static_cast<std::uint8_t>(o.probe->sent[20 + 7]) == 0x05); // BEP 5: the last bit; BEP 6 fast: 0x04
    CHECK_FALSE(o.conn->peer_reserved().dht());
    wire::Reserved theirs;
    theirs.set_fast().set_extensions().set_dht();
    std::string hs;
    wire::encode_handshake(hs, theirs, kHash, kTheirId);
    o.probe->inject(hs);
    CHECK(o.conn->peer_reserved().dht());
    CHECK(o.conn->peer_reserved().fast());
    o.probe->take_sent();
    o.conn->send_port(6881);
    CHECK(o.probe->sent == hx("00000003091ae1")); // length 3, id 9, port 6881
    o.conn->close();
    o.probe->take_sent();
    o.conn->send_port(6881); // closed: ignored
    CHECK(o.probe->sent.empty());
}

TEST_CASE("connection: a metadata-only connection is parked and adopted by the torrent with what the peer said") {
    Owner torrent; // the new owner; outlives the connection (declared first)
    Owner o;
    o.make_metadata_only();
    SUBCASE("bitfield first, then HAVEs and a later bitfield: reported in order, once the geometry checks them") {
        o.probe->inject(handshake() + msg_bitfield(hx("a000")) + msg_have(5) + msg_have(2) + msg_bitfield(hx("a0c0")) +
                        msg_simple(wire::MsgId::unchoke));
        CHECK_FALSE(o.closed());
        REQUIRE(o.conn->park());
        CHECK(o.probe->paused);
        CHECK_FALSE(o.conn->park()); // once
        o.events.clear();
        o.probe->inject(msg_have(7)); // a parked connection reads nothing: these bytes wait, as in the kernel
        CHECK(o.events.empty());
        REQUIRE(o.conn->adopt(torrent, geometry()));
        CHECK_FALSE(o.conn->metadata_only());
        CHECK(torrent.events.empty()); // adopt() never calls back
        REQUIRE(o.conn->resume_adopted());
        // bitfield {0, 2}; the later bitfield adds 8 and 9; the HAVEs add 5 and 7 (2 is known)
        std::string got;
        for (auto& e : torrent.events) got += e + ";";
        CHECK(got == "bitfield 2;have 8;have 9;have 5;");
        CHECK_FALSE(o.probe->paused);
        CHECK_FALSE(o.conn->peer_choking()); // its own state went on while parked
        CHECK(o.conn->request(5, 0, 16384)); // an ordinary connection now
        o.probe->inject(msg_have(1));        // reading resumed: what waited comes first
        REQUIRE(torrent.events.size() == 6);
        CHECK(torrent.events[4] == "have 7");
        CHECK(torrent.events[5] == "have 1");
        CHECK(o.events.empty());
    }
    SUBCASE("have_all; a connection the peer dialled (handed to the fetch by the session) becomes incoming") {
        o.probe->inject(handshake() + msg_simple(wire::MsgId::have_all));
        REQUIRE(o.conn->park());
        CHECK(o.conn->direction() == PeerConnection::Direction::outgoing);
        REQUIRE(o.conn->adopt(torrent, geometry(), true));
        CHECK(o.conn->direction() == PeerConnection::Direction::incoming);
        REQUIRE(o.conn->resume_adopted());
        CHECK(torrent.events == std::vector<std::string>{"have_all"});
        CHECK(o.conn->peer_has(9));
    }
    SUBCASE("pieces that do not fit the torrent: not adopted, closed, no event") {
        for (std::string bad : {msg_bitfield(std::string(1000, '\xff')), msg_have(10), msg_bitfield(hx("a001"))}) {
            Owner t2, o2;
            o2.make_metadata_only();
            o2.probe->inject(handshake() + bad);
            REQUIRE(o2.conn->park());
            CHECK_FALSE(o2.conn->adopt(t2, geometry()));
            CHECK(o2.conn->is_closed());
            CHECK(o2.probe->closed_by_user);
            CHECK(t2.events.empty());
            CHECK_FALSE(o2.conn->resume_adopted());
        }
    }
    SUBCASE("not before the handshake, not twice, and not a connection that closed while parked") {
        CHECK_FALSE(o.conn->park());
        CHECK_FALSE(o.conn->adopt(torrent, geometry()));
        o.probe->inject(handshake());
        REQUIRE(o.conn->park());
        o.conn->close();
        CHECK_FALSE(o.conn->adopt(torrent, geometry()));
    }
}
