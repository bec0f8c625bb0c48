// net/utp_socket and session/dialer over real loopback UDP: connect and accept, 3 MB both ways byte-identical,
// back-pressure through queued_bytes, destruction inside callbacks (on_data, on_closed, the connect callback),
// graceful close and the peer's end, refused SYNs (bounds, no acceptor) answered by a RESET, garbage datagrams,
// a silent port timing out, the socket destroyed under live transports, and the uTP-then-TCP race of the dialer.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "loop/loop.hpp"
#include "net/tcp_transport.hpp"
#include "net/utp_socket.hpp"
#include "session/dialer.hpp"
#include "test_util.hpp"

using namespace p2p;
using namespace p2p::test;

namespace {

struct Sink : TransportUser {
    std::string got;
    bool closed = false, drained = false;
    Error why;
    std::unique_ptr<Transport>* destroy_on_data = nullptr;
    std::unique_ptr<Transport>* destroy_on_close = nullptr;
    std::size_t on_data(std::string_view d) override {
        if (destroy_on_data) {
            destroy_on_data->reset();
            return 0;
        }
        got.append(d);
        return d.size();
    }
    void on_drained() override { drained = true; }
    void on_closed(const Error& e) override {
        closed = true;
        why = e;
        if (destroy_on_close) destroy_on_close->reset();
    }
};

struct Pair {
    Loop loop;
    std::unique_ptr<UtpSocket> a, b;
    std::unique_ptr<Transport> accepted, dialled;
    std::unique_ptr<Connecting> op;
    bool connect_done = false;
    std::optional<Error> connect_error;
    Sink sa, sb; // sa: the dialling side's user, sb: the accepting side's

    explicit Pair(UtpSocketConfig cb = {}) {
        auto x = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
        REQUIRE(x);
        a = std::move(*x);
        auto y = UtpSocket::open(
            loop.get(), "127.0.0.1", 0,
            [this](std::unique_ptr<Transport> t) {
                accepted = std::move(t);
                accepted->start(&sb);
            },
            {}, cb);
        REQUIRE(y);
        b = std::move(*y);
    }
    void connect(std::uint64_t timeout_ms = 5000) {
        auto to = loopback(b->port());
        op = a->connect(sa_of(to), timeout_ms, [this](Result<std::unique_ptr<Transport>> r) {
            connect_done = true;
            if (!r) {
                connect_error = r.error();
                return;
            }
            dialled = std::move(*r);
            dialled->start(&sa);
        });
    }
    static const sockaddr* sa_of(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }
};

} // namespace

TEST_CASE("utp socket: connect, 3 MB both ways byte-identical, then a graceful close reaches the other side") {
    Pair p;
    p.connect();
    REQUIRE(run_until_flag(p.loop, p.connect_done));
    REQUIRE(p.dialled);
    CHECK(std::string(p.dialled->kind()) == "utp");
    REQUIRE(run_until(
        p.loop, [&] { return p.accepted != nullptr; }, 5000));
    CHECK(p.dialled->remote_address() == "127.0.0.1:" + std::to_string(p.b->port()));

    const std::string up = pseudo_random(3'000'001, 1), down = pseudo_random(3'000'017, 2);
    // Sent in pieces of varied size, as the peer wire protocol does: 13-byte headers and 16 KiB blocks.
    auto payload = std::make_shared<const std::string>(up);
    std::size_t off = 0;
    const unsigned char hdr[13] = {};
    while (off < up.size()) {
        std::size_t n = std::min<std::size_t>(16384, up.size() - off);
        if (off % 3 == 0) {
            p.dialled->send(up.substr(off, n));
        } else {
            // send_piece writes a 13-byte header first: build the expectation the same way
            p.dialled->send_piece(hdr, payload, off, n);
        }
        off += n;
    }
    p.accepted->send(down);
    CHECK(p.accepted->queued_bytes() > 0);
    REQUIRE(run_until(
        p.loop, [&] { return p.sa.got.size() == down.size() && p.accepted != nullptr && p.sb.got.size() >= up.size(); },
        20000));
    CHECK(p.sa.got == down);
    // Rebuild what the dialler sent (headers included) and compare.
    std::string expect;
    for (std::size_t o = 0; o < up.size(); o += 16384) {
        std::size_t n = std::min<std::size_t>(16384, up.size() - o);
        if (o % 3 != 0) expect.append(reinterpret_cast<const char*>(hdr), 13);
        expect.append(up, o, n);
    }
    REQUIRE(run_until(
        p.loop, [&] { return p.sb.got.size() == expect.size(); }, 20000));
    CHECK(p.sb.got == expect);
    CHECK(p.sa.drained); // the queues emptied into the connections: on_drained
    CHECK(p.sb.drained);

    // The dialler closes: the acceptor sees the end after every byte, then the flow goes away on both sides.
    p.dialled.reset();
    REQUIRE(run_until(
        p.loop, [&] { return p.sb.closed; }, 5000));
    CHECK(p.sb.why.str().find("closed by peer") != std::string::npos);
    p.accepted.reset();
    REQUIRE(run_until(
        p.loop, [&] { return p.a->flows() == 0 && p.b->flows() == 0; }, 5000));
    CHECK(p.a->counters().send_batches > 0);
    CHECK(p.b->counters().recv_batches > 0);
}

TEST_CASE("utp socket: a user destroying its transport inside on_data and inside on_closed") {
    Pair p;
    p.connect();
    REQUIRE(run_until(
        p.loop, [&] { return p.dialled && p.accepted; }, 5000));
    p.sb.destroy_on_data = &p.accepted;
    // The acceptor's flow lingers with its FIN; the dialler hears of the end and destroys itself in on_closed.
    p.sa.destroy_on_close = &p.dialled;
    p.dialled->send(std::string(50'000, 'x'));
    REQUIRE(run_until(
        p.loop, [&] { return p.accepted == nullptr; }, 5000));
    REQUIRE(run_until(
        p.loop, [&] { return p.sa.closed && p.dialled == nullptr; }, 5000));
    REQUIRE(run_until(
        p.loop, [&] { return p.a->flows() == 0 && p.b->flows() == 0; }, 20000));
}

TEST_CASE("utp socket: the connect callback may drop the transport; the acceptor then sees the end") {
    Pair p;
    auto to = loopback(p.b->port());
    bool called = false;
    p.op = p.a->connect(Pair::sa_of(to), 5000, [&](Result<std::unique_ptr<Transport>> r) {
        called = true;
        REQUIRE(r);
        p.op.reset(); // destroying the attempt inside its own callback is allowed
        // the transport (r) is dropped here
    });
    REQUIRE(run_until_flag(p.loop, called));
    REQUIRE(run_until(
        p.loop, [&] { return p.sb.closed; }, 5000));
    p.accepted.reset(); // its FIN ends the dialler's lingering flow
    REQUIRE(run_until(
        p.loop, [&] { return p.a->flows() == 0 && p.b->flows() == 0; }, 5000));
}

TEST_CASE("utp socket: SYNs past the bounds, or with no acceptor, get a RESET: the connect fails at once") {
    SUBCASE("no half-open connection allowed") {
        UtpSocketConfig cfg;
        cfg.max_half_open = 0;
        Pair p(cfg);
        p.connect(10'000);
        REQUIRE(run_until_flag(p.loop, p.connect_done, 3000)); // far sooner than the 10 s timeout
        REQUIRE(p.connect_error);
        CHECK(p.b->counters().refused_syn == 1);
        CHECK(p.b->flows() == 0);
    }
    SUBCASE("a socket without an acceptor") {
        Loop loop;
        auto a = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
        auto b = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
        REQUIRE(a);
        REQUIRE(b);
        auto to = loopback((*b)->port());
        bool done = false, failed = false;
        auto op = (*a)->connect(Pair::sa_of(to), 10'000, [&](Result<std::unique_ptr<Transport>> r) {
            done = true;
            failed = !r;
        });
        REQUIRE(run_until_flag(loop, done, 3000));
        CHECK(failed);
    }
}

TEST_CASE("utp socket: garbage datagrams are counted and dropped; a silent port times out; cancel is silent") {
    Loop loop;
    auto s = UtpSocket::open(loop.get(), "127.0.0.1", 0, [](std::unique_ptr<Transport>) { FAIL("no accept"); });
    REQUIRE(s);
    std::vector<std::string> other_seen;
    (*s)->on_other([&](std::string_view d, const sockaddr*) { other_seen.emplace_back(d); });
    // A DHT-looking message, a short one, a uTP-looking header with a bad extension chain, random bytes.
    uv_udp_t sender;
    uv_udp_init(loop.get(), &sender);
    auto to = loopback((*s)->port());
    std::vector<std::string> junk = {"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe", "\x41",
                                     unhex("0101000100000000000000000000ffff00010000ff05"), pseudo_random(1400, 7)};
    for (auto& j : junk) {
        uv_buf_t b = uv_buf_init(j.data(), static_cast<unsigned>(j.size()));
        REQUIRE(uv_udp_try_send(&sender, &b, 1, Pair::sa_of(to)) >= 0);
    }
    REQUIRE(run_until(
        loop, [&] { return (*s)->counters().datagrams_in >= junk.size(); }, 3000));
    REQUIRE_FALSE(other_seen.empty());
    CHECK(other_seen.front().substr(0, 3) == "d1:"); // the DHT's, handed on
    CHECK((*s)->counters().not_utp >= 2);
    CHECK((*s)->flows() == 0);

    // A UDP port that never answers: the attempt fails after its timeout.
    SilentSocket silent(loop.get());
    auto dead = loopback(silent.port);
    bool done = false;
    std::optional<Error> err;
    auto op = (*s)->connect(Pair::sa_of(dead), 1200, [&](Result<std::unique_ptr<Transport>> r) {
        done = true;
        if (!r) err = r.error();
    });
    REQUIRE(run_until_flag(loop, done, 5000));
    REQUIRE(err);
    CHECK(silent.received >= 2); // the SYN and its resend at 1 s
    CHECK((*s)->flows() == 0);

    // Cancelling: the callback never runs, the flow goes.
    bool called = false;
    auto op2 = (*s)->connect(Pair::sa_of(dead), 5000, [&](Result<std::unique_ptr<Transport>>) { called = true; });
    run_until(
        loop, [] { return false; }, 100);
    op2.reset();
    run_until(
        loop, [] { return false; }, 200);
    CHECK_FALSE(called);
    CHECK((*s)->flows() == 0);
    uv_close(reinterpret_cast<uv_handle_t*>(&sender), nullptr);
    run_until(
        loop, [] { return false; }, 20);
}

TEST_CASE("utp socket: destroyed under live transports, which then report closed and make no callbacks") {
    Pair p;
    p.connect();
    REQUIRE(run_until(
        p.loop, [&] { return p.dialled && p.accepted; }, 5000));
    p.a.reset();
    CHECK_FALSE(p.dialled->is_open());
    p.dialled->send("after"); // ignored
    CHECK(p.dialled->queued_bytes() == 0);
    // The other side gets the RESET sent on the way out.
    REQUIRE(run_until(
        p.loop, [&] { return p.sb.closed; }, 5000));
    p.dialled.reset();
    CHECK_FALSE(p.sa.closed);
}

TEST_CASE("dialer: uTP wins against a uTP peer; TCP after the delay against a silent UDP port; at once on a RESET") {
    Loop loop;
    std::unique_ptr<Transport> got_tcp;
    auto listener =
        TcpListener::listen(loop.get(), "127.0.0.1", 0, [&](std::unique_ptr<Transport> t) { got_tcp = std::move(t); });
    REQUIRE(listener);
    const std::uint16_t port = (*listener)->port();
    auto ours = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
    REQUIRE(ours);

    auto dial = [&](bool tcp, std::uint64_t& ms, std::string& kind) {
        bool done = false;
        const std::uint64_t t0 = uv_hrtime();
        auto to = loopback(port);
        auto op = dial_peer(loop.get(), ours->get(), tcp, to, 5000,
                            [&](Result<std::unique_ptr<Transport>> r) {
                                done = true;
                                kind = r ? (*r)->kind() : "error";
                            },
                            {});
        REQUIRE(run_until_flag(loop, done, 8000));
        ms = (uv_hrtime() - t0) / 1'000'000;
    };
    std::uint64_t ms = 0;
    std::string kind;
    SUBCASE("a silent UDP port of the same number: TCP after kTcpAfterMs") {
        // Only a TCP listener on `port`; make the UDP port silent by binding it (nothing answers).
        uv_udp_t quiet;
        uv_udp_init(loop.get(), &quiet);
        auto a = loopback(port);
        REQUIRE(uv_udp_bind(&quiet, Pair::sa_of(a), 0) == 0);
        dial(true, ms, kind);
        CHECK(kind == "tcp");
        CHECK(ms >= kTcpAfterMs - 50);
        CHECK(ms < kTcpAfterMs + 1500);
        uv_close(reinterpret_cast<uv_handle_t*>(&quiet), nullptr);
        run_until(
            loop, [] { return false; }, 20);
    }
    SUBCASE("a uTP socket that refuses: TCP at once") {
        auto refusing = UtpSocket::open(loop.get(), "127.0.0.1", port, nullptr);
        REQUIRE(refusing);
        dial(true, ms, kind);
        CHECK(kind == "tcp");
        CHECK(ms < kTcpAfterMs / 2);
    }
    SUBCASE("a uTP peer: uTP, well before TCP would start") {
        std::unique_ptr<Transport> got_utp;
        auto peer = UtpSocket::open(loop.get(), "127.0.0.1", port,
                                    [&](std::unique_ptr<Transport> t) { got_utp = std::move(t); });
        REQUIRE(peer);
        dial(true, ms, kind);
        CHECK(kind == "utp");
        CHECK(ms < kTcpAfterMs / 2);
    }
    SUBCASE("uTP only, against a port without uTP: an error, not TCP") {
        auto refusing = UtpSocket::open(loop.get(), "127.0.0.1", port, nullptr);
        REQUIRE(refusing);
        dial(false, ms, kind);
        CHECK(kind == "error");
    }
    run_until(
        loop, [] { return false; }, 20);
}

TEST_CASE("utp socket: a SYN finding the half-open flows full evicts the oldest, so a SYN flood cannot lock out") {
    Loop loop;
    UtpSocketConfig cfg;
    cfg.max_half_open = 2;
    std::vector<std::unique_ptr<Transport>> kept;
    std::vector<std::unique_ptr<Sink>> users;
    auto server = UtpSocket::open(
        loop.get(), "127.0.0.1", 0,
        [&](std::unique_ptr<Transport> t) {
            users.push_back(std::make_unique<Sink>());
            t->start(users.back().get());
            kept.push_back(std::move(t));
        },
        {}, cfg);
    auto client = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
    REQUIRE(server);
    REQUIRE(client);
    auto to = loopback((*server)->port());
    std::vector<std::unique_ptr<Transport>> mine;
    std::vector<std::unique_ptr<Connecting>> ops;
    for (int i = 0; i < 3; ++i) {
        ops.push_back(
            (*client)->connect(reinterpret_cast<const sockaddr*>(&to), 5000, [&](Result<std::unique_ptr<Transport>> r) {
                REQUIRE(r);
                mine.push_back(std::move(*r));
            }));
        REQUIRE(run_until(
            loop, [&] { return mine.size() == static_cast<std::size_t>(i + 1); }, 3000));
    }
    // Three connections that never sent a byte: the first was evicted by the third.
    REQUIRE(kept.size() == 3);
    CHECK(users[0]->closed);
    CHECK(users[0]->why.str().find("evicted") != std::string::npos);
    CHECK_FALSE(users[1]->closed);
    CHECK_FALSE(users[2]->closed);
    CHECK((*server)->counters().evicted_half_open == 1);
    // A connection that has sent data is no longer half-open: it is never evicted.
    mine[1]->send("hello");
    REQUIRE(run_until(
        loop, [&] { return users[1]->got == "hello"; }, 3000));
    for (int i = 0; i < 2; ++i) {
        ops.push_back(
            (*client)->connect(reinterpret_cast<const sockaddr*>(&to), 5000, [&](Result<std::unique_ptr<Transport>> r) {
                REQUIRE(r);
                mine.push_back(std::move(*r));
            }));
        REQUIRE(run_until(
            loop, [&] { return mine.size() == static_cast<std::size_t>(4 + i); }, 3000));
    }
    CHECK_FALSE(users[1]->closed);
    CHECK(users[2]->closed); // the oldest half-open one at the time
}

TEST_CASE("utp socket: packet_boundary() ends a packet: bytes before it and after it leave in separate datagrams") {
    Pair p;
    p.connect();
    REQUIRE(run_until(
        p.loop, [&] { return p.dialled && p.accepted; }, 5000));
    run_until(
        p.loop, [] { return false; }, 100); // let the handshake's acks settle
    auto burst = [&](bool boundary) {
        const auto before = p.a->counters().datagrams_out;
        const std::size_t had = p.sb.got.size();
        p.dialled->send(std::string(100, 'a'));
        if (boundary) p.dialled->packet_boundary();
        p.dialled->send(std::string(100, 'b'));
        REQUIRE(run_until(
            p.loop, [&] { return p.sb.got.size() == had + 200; }, 3000));
        return p.a->counters().datagrams_out - before;
    };
    CHECK(burst(false) == 1);
    CHECK(burst(true) == 2);
    CHECK(p.sb.got == std::string(100, 'a') + std::string(100, 'b') + std::string(100, 'a') + std::string(100, 'b'));
}
