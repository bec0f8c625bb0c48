// peer/mse_stream: two MseStreams (initiator and responder) over FakeTransports, the bytes pumped between them by
// hand: RC4 and plaintext streams, sends queued before the handshake, pieces, a refused handshake, destruction
// inside a callback, the receive bound. The plaintext fallback over real TCP is in test_session.cpp (policies).
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "net/fake_transport.hpp"
#include "peer/mse_stream.hpp"
#include "test_util.hpp"

using namespace p2p;

namespace {

const std::string kHash = std::string(20, '\x11');

// A TransportUser that keeps everything and may destroy its transport on the first data.
struct Sink : TransportUser {
    std::string got;
    bool closed = false;
    Error why;
    std::unique_ptr<Transport>* destroy_on_data = nullptr;
    std::size_t consume_at_most = SIZE_MAX;
    std::size_t on_data(std::string_view d) override {
        if (destroy_on_data) {
            destroy_on_data->reset();
            return 0;
        }
        std::size_t n = std::min(d.size(), consume_at_most);
        got.append(d.substr(0, n));
        return n;
    }
    void on_closed(const Error& e) override {
        closed = true;
        why = e;
    }
};

struct Link {
    std::shared_ptr<FakeProbe> a_wire, b_wire; // what A and B sent on their sockets
    std::unique_ptr<Transport> a, b;
    Sink ua, ub;

    Link(Encryption ea, Encryption eb, std::string known = kHash) {
        auto fa = std::make_unique<FakeTransport>("198.51.100.1:1");
        auto fb = std::make_unique<FakeTransport>("198.51.100.2:2");
        a_wire = fa->probe();
        b_wire = fb->probe();
        a = MseStream::initiate(std::move(fa), kHash, mse_policy(ea));
        auto lookup = [known](std::string_view req2) -> std::optional<std::string> {
            if (mse::req2_hash(known) == req2) return known;
            return std::nullopt;
        };
        b = MseStream::respond(std::move(fb), lookup, mse_policy(eb), {});
        a->start(&ua);
        b->start(&ub);
    }
    // Moves bytes both ways, `chunk` at a time, until nothing moves.
    void pump(std::size_t chunk = SIZE_MAX) {
        for (int round = 0; round < 10000; ++round) {
            bool moved = false;
            for (auto [from, to] : {std::pair{a_wire, b_wire}, std::pair{b_wire, a_wire}}) {
                std::string bytes = from->take_sent();
                for (std::size_t at = 0; at < bytes.size(); at += chunk) {
                    moved = true;
                    if (!to->inject(std::string_view(bytes).substr(at, chunk))) break;
                }
            }
            if (!moved) return;
        }
    }
    MseStream& ma() { return static_cast<MseStream&>(*a); }
    MseStream& mb() { return static_cast<MseStream&>(*b); }
};

} // namespace

TEST_CASE("mse stream: prefer to prefer is RC4; sends made before the handshake arrive after it, in order") {
    for (std::size_t chunk : {std::size_t(1), std::size_t(7), SIZE_MAX}) {
        Link l(Encryption::prefer, Encryption::prefer);
        l.a->send("hello ");
        l.a->send("from A");
        l.pump(chunk);
        REQUIRE(l.ma().established());
        REQUIRE(l.mb().established());
        CHECK(l.ma().method() == mse::kRc4);
        CHECK(l.mb().info_hash() == kHash);
        CHECK(l.ub.got == "hello from A");
        l.b->send("and B");
        l.pump(chunk);
        CHECK(l.ua.got == "and B");
    }
}

TEST_CASE("mse stream: RC4 on the wire: the payload is not visible, a piece is encrypted like any send") {
    Link l(Encryption::require, Encryption::require);
    l.pump();
    REQUIRE(l.ma().established());
    const std::string secret(100, 'Z');
    l.a->send(secret);
    std::string on_wire = l.a_wire->sent;
    CHECK(on_wire.size() == secret.size());
    CHECK(on_wire.find("ZZZZZZZZ") == std::string::npos);
    l.pump();
    CHECK(l.ub.got == secret);

    auto payload = std::make_shared<const std::string>(test::pseudo_random(40'000, 3));
    unsigned char header[13] = {0, 0, 0x40, 0x09, 7, 0, 0, 0, 1, 0, 0, 0, 0};
    l.b->send_piece(header, payload, 1000, 16384);
    l.pump();
    REQUIRE(l.ua.got.size() == 13 + 16384);
    CHECK(l.ua.got.compare(0, 13, std::string(reinterpret_cast<char*>(header), 13)) == 0);
    CHECK(l.ua.got.substr(13) == payload->substr(1000, 16384));
}

TEST_CASE("mse stream: a responder that only allows plaintext and an initiator that requires RC4 do not connect") {
    Link l(Encryption::require, Encryption::prefer);
    // prefer allows both; require offers RC4 only: RC4 it is.
    l.pump();
    CHECK(l.ma().method() == mse::kRc4);

    Link refused(Encryption::require, Encryption::disable); // disable allows plaintext only inside MSE
    refused.pump();
    CHECK_FALSE(refused.mb().established());
    CHECK(refused.ub.closed);
}

TEST_CASE("mse stream: an unknown info hash closes the responder; without a fallback the initiator sees the close") {
    Link l(Encryption::require, Encryption::require, std::string(20, '\x22'));
    l.a->send("handshake");
    l.pump();
    CHECK(l.ub.closed);
    CHECK(l.ub.why.code == Errc::not_found);
    CHECK(l.b_wire->closed_by_user);
    l.b_wire->closed = true;
    l.a_wire->remote_close("peer closed");
    CHECK(l.ua.closed);
    CHECK_FALSE(l.ma().established());
    CHECK(l.ub.got.empty());
}

TEST_CASE("mse stream: garbage instead of a handshake is refused within the handshake's bound") {
    auto fb = std::make_unique<FakeTransport>();
    auto wire = fb->probe();
    Sink u;
    std::unique_ptr<Transport> b = MseStream::respond(std::move(fb), [](std::string_view) { return std::nullopt; },
                                                      mse_policy(Encryption::prefer), {});
    b->start(&u);
    std::string garbage = test::pseudo_random(mse::Handshake::kMaxHandshakeIn + 100, 9);
    for (std::size_t at = 0; at < garbage.size() && !u.closed; at += 100) wire->inject(garbage.substr(at, 100));
    CHECK(u.closed);
    CHECK(u.got.empty());
}

TEST_CASE("mse stream: the user may destroy the stream inside on_data (the first payload bytes)") {
    Link l(Encryption::prefer, Encryption::prefer);
    l.a->send("first");
    l.ub.destroy_on_data = &l.b;
    l.pump();
    CHECK(l.b == nullptr);
    CHECK(l.b_wire->closed_by_user);
}

TEST_CASE("mse stream: bytes the user leaves unconsumed come back with the next ones, and are bounded") {
    Link l(Encryption::prefer, Encryption::prefer);
    l.pump();
    REQUIRE(l.mb().established());
    l.ub.consume_at_most = 0;
    l.a->send("abc");
    l.pump();
    CHECK(l.ub.got.empty());
    l.ub.consume_at_most = SIZE_MAX;
    l.a->send("def");
    l.pump();
    CHECK(l.ub.got == "abcdef");

    TransportLimits small;
    small.max_unconsumed = 1000;
    l.b->set_limits(small);
    l.ub.consume_at_most = 0;
    l.a->send(std::string(2000, 'x'));
    l.pump();
    CHECK(l.ub.closed);
}

// --encryption allow: plaintext first; an MSE retry through the redial when the peer closes before answering.
namespace {

struct NoOp : Connecting {};

struct Probe {
    std::shared_ptr<FakeProbe> wire;
    std::unique_ptr<Transport> a;
    Sink ua;
    int redials = 0;
    ConnectCallback pending; // the redial's callback, run by the test as the loop would

    Probe() {
        auto fa = std::make_unique<FakeTransport>("198.51.100.1:1");
        wire = fa->probe();
        a = encrypt_outgoing(std::move(fa), Encryption::allow, kHash, [this](ConnectCallback cb) {
            ++redials;
            pending = std::move(cb);
            return std::make_unique<NoOp>();
        });
        a->start(&ua);
    }
    MseStream& m() { return static_cast<MseStream&>(*a); }
};

} // namespace

TEST_CASE("mse stream: allow sends plaintext first and becomes a pass-through at the peer's first byte") {
    Probe p;
    p.a->send("\x13" "BitTorrent protocol");
    CHECK(p.wire->sent == "\x13" "BitTorrent protocol"); // no MSE: the handshake as is, at once
    CHECK_FALSE(p.m().established());
    CHECK(p.a->is_open());
    p.wire->inject("their handshake");
    CHECK(p.m().established());
    CHECK(p.m().method() == 0);
    CHECK_FALSE(p.a->encrypted());
    CHECK(p.ua.got == "their handshake");
    p.a->send("more");
    CHECK(p.wire->take_sent() == "\x13" "BitTorrent protocolmore");
    // Closed after answering: no retry, the user sees it.
    p.wire->remote_close("bye");
    CHECK(p.ua.closed);
    CHECK(p.redials == 0);
}

TEST_CASE("mse stream: allow retries with MSE when the peer closes before answering, and resends what was sent") {
    Probe p;
    p.a->send("hand");
    p.a->send("shake");
    p.wire->remote_close("plaintext refused");
    CHECK_FALSE(p.ua.closed); // the user sees one connection that took longer
    REQUIRE(p.redials == 1);
    CHECK(p.a->is_open());
    p.a->send(" and more"); // while the second dial is in flight

    // The second connection reaches a peer that requires RC4.
    auto fa = std::make_unique<FakeTransport>("198.51.100.1:1");
    auto fb = std::make_unique<FakeTransport>("198.51.100.2:2");
    auto a_wire = fa->probe();
    auto b_wire = fb->probe();
    auto lookup = [](std::string_view req2) -> std::optional<std::string> {
        if (mse::req2_hash(kHash) == req2) return kHash;
        return std::nullopt;
    };
    std::unique_ptr<Transport> b = MseStream::respond(std::move(fb), lookup, mse_policy(Encryption::require), {});
    Sink ub;
    b->start(&ub);
    ConnectCallback cb = std::move(p.pending);
    cb(std::unique_ptr<Transport>(std::move(fa)));
    CHECK(a_wire->sent.find("hand") == std::string::npos); // Ya first, nothing in plaintext
    for (int round = 0; round < 100; ++round) {
        std::string ab = a_wire->take_sent(), ba = b_wire->take_sent();
        if (ab.empty() && ba.empty()) break;
        if (!ab.empty()) b_wire->inject(ab);
        if (!ba.empty()) a_wire->inject(ba);
    }
    REQUIRE(p.m().established());
    CHECK(p.m().method() == mse::kRc4);
    CHECK(p.a->encrypted());
    CHECK(ub.got == "handshake and more");

    // A peer that refuses the retry too is closed: no third dial.
    Probe q;
    q.a->send("x");
    q.wire->remote_close("refused");
    REQUIRE(q.redials == 1);
    ConnectCallback qcb = std::move(q.pending);
    qcb(make_error("dial", "connection refused"));
    CHECK(q.ua.closed);
    CHECK(q.redials == 1);
}

TEST_CASE("mse stream: allow as a responder selects plaintext when the initiator offers both") {
    Link l(Encryption::prefer, Encryption::allow);
    l.a->send("hi");
    l.pump();
    REQUIRE(l.mb().established());
    CHECK(l.mb().method() == mse::kPlaintext);
    CHECK(l.ub.got == "hi");
}
