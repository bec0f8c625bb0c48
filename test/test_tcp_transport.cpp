#include <doctest/doctest.h>

#include <uv.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "loop/timer.hpp"
#include "net/tcp_transport.hpp"

using namespace p2p;

namespace {

// A test-owned loop; the destructor drains every close callback and checks nothing leaked a handle.
struct TestLoop {
    uv_loop_t loop{};
    TestLoop() { uv_loop_init(&loop); }
    ~TestLoop() {
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
    // Runs until done() or the deadline (so a broken test fails instead of hanging).
    bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms = 10'000) {
        const std::uint64_t deadline = uv_now(&loop) + timeout_ms;
        while (!done()) {
            if (uv_now(&loop) > deadline) return false;
            uv_run(&loop, UV_RUN_ONCE);
        }
        return true;
    }
};

// Consumes whole records of `record` bytes (or everything when record == 0) and appends them to `got`.
struct Sink : TransportUser {
    std::string got;
    std::size_t record = 0;
    bool closed = false;
    std::string why;
    std::size_t drained = 0;
    std::function<void()> on_data_hook;
    std::size_t on_data(std::string_view d) override {
        std::size_t n = record ? d.size() / record * record : d.size();
        got.append(d.substr(0, n));
        if (on_data_hook) on_data_hook();
        return n;
    }
    void on_drained() override { ++drained; }
    void on_closed(const Error& e) override {
        closed = true;
        why = e.what;
    }
};

struct Pair {
    TestLoop& tl;
    std::unique_ptr<TcpListener> listener;
    std::unique_ptr<Transport> server, client;
    std::unique_ptr<TcpConnect> connecting;
    explicit Pair(TestLoop& l) : tl(l) {
        auto lr = TcpListener::listen(&tl.loop, "127.0.0.1", 0,
                                      [this](std::unique_ptr<Transport> t) { server = std::move(t); });
        REQUIRE(lr.ok());
        listener = std::move(lr.value());
        REQUIRE(listener->port() != 0);
        auto addr = make_sockaddr("127.0.0.1", listener->port());
        REQUIRE(addr.ok());
        connecting = tcp_connect(&tl.loop, reinterpret_cast<const sockaddr*>(&*addr), 5000,
                                 [this](Result<std::unique_ptr<Transport>> r) {
                                     REQUIRE(r.ok());
                                     client = std::move(r.value());
                                 });
        REQUIRE(tl.run_until([&] { return server && client; }));
        CHECK(client->remote_address() == "127.0.0.1:" + std::to_string(listener->port()));
    }
};

std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x = x * 1664525u + 1013904223u;
        c = static_cast<char>(x >> 24);
    }
    return s;
}

} // namespace

TEST_CASE("tcp transport: a few MB cross loopback intact, owned and referenced sends mixed") {
    TestLoop tl;
    {
        Pair p(tl);
        Sink at_server, at_client;
        at_server.record = 1000; // exercise partial consumption: the tail is re-presented with the next read
        p.server->start(&at_server);
        p.client->start(&at_client);

        const std::string payload = pattern(4 << 20, 1);
        auto shared = std::make_shared<const std::string>(pattern(1 << 20, 2));
        std::string expect;
        {
            ScopedCork cork(*p.client);
            // 2 MB in small owned sends (coalesced), then 1 MB as 64 referenced 16 KiB blocks with 13-byte headers.
            for (std::size_t off = 0; off < (2u << 20); off += 777) {
                std::string chunk = payload.substr(off, std::min<std::size_t>(777, (2u << 20) - off));
                expect += chunk;
                p.client->send(std::move(chunk));
            }
            for (std::size_t i = 0; i < 64; ++i) {
                unsigned char hdr[13];
                for (int k = 0; k < 13; ++k) hdr[k] = static_cast<unsigned char>(i + k);
                p.client->send_piece(hdr, shared, i * 16384, 16384);
                expect.append(reinterpret_cast<char*>(hdr), 13);
                expect.append(*shared, i * 16384, 16384);
            }
            CHECK(p.client->queued_bytes() == expect.size());
        }
        p.client->send(payload.substr(2u << 20)); // 2 MB in one owned buffer
        expect += payload.substr(2u << 20);
        const std::size_t whole = expect.size() / 1000 * 1000;
        REQUIRE(tl.run_until([&] { return at_server.got.size() >= whole; }));
        CHECK(at_server.got.size() == whole);
        CHECK(at_server.got == expect.substr(0, whole));
        REQUIRE(tl.run_until([&] { return at_client.drained > 0; }));
        CHECK(p.client->queued_bytes() == 0);

        // Echo back the other way, then the client hangs up: the server hears about it.
        p.server->send("pong");
        REQUIRE(tl.run_until([&] { return at_client.got == "pong"; }));
        p.client->close();
        CHECK_FALSE(p.client->is_open());
        REQUIRE(tl.run_until([&] { return at_server.closed; }));
        CHECK(at_server.why == "connection closed by peer");
        CHECK_FALSE(at_client.closed); // a close we asked for is not reported
    }
}

TEST_CASE("tcp transport: destroying the transport inside its own on_data is safe") {
    TestLoop tl;
    {
        Pair p(tl);
        Sink at_server, at_client;
        at_server.on_data_hook = [&] { p.server.reset(); };
        p.server->start(&at_server);
        p.client->start(&at_client);
        p.client->send(pattern(1 << 20, 3));
        REQUIRE(tl.run_until([&] { return !p.server; }));
        REQUIRE(tl.run_until([&] { return at_client.closed; }));
        CHECK_FALSE(at_server.got.empty());
    }
}

TEST_CASE("tcp transport: destroying inside on_closed, and destroying with writes in flight") {
    TestLoop tl;
    {
        Pair p(tl);
        Sink at_server, at_client;
        p.server->start(&at_server);
        p.client->start(&at_client);
        // Lots queued, then the client transport is destroyed before the loop runs the write callbacks.
        p.client->send(pattern(8 << 20, 4));
        p.client.reset();
        struct Killer : Sink {
            std::unique_ptr<Transport>* self = nullptr;
            void on_closed(const Error& e) override {
                Sink::on_closed(e);
                self->reset();
            }
        } killer;
        killer.self = &p.server;
        p.server->start(&killer); // replaces the user
        REQUIRE(tl.run_until([&] { return !p.server; }));
        CHECK(killer.closed);
    }
}

TEST_CASE("tcp transport: connect errors are reported from the loop; cancelling is silent") {
    TestLoop tl;
    std::uint16_t port = 0;
    {
        auto lr = TcpListener::listen(&tl.loop, "127.0.0.1", 0, [](std::unique_ptr<Transport>) {});
        REQUIRE(lr.ok());
        port = lr.value()->port();
    } // closed: nobody listens on `port` any more
    uv_run(&tl.loop, UV_RUN_NOWAIT);
    auto addr = make_sockaddr("127.0.0.1", port);
    REQUIRE(addr.ok());
    bool called = false;
    std::string err;
    auto c = tcp_connect(&tl.loop, reinterpret_cast<const sockaddr*>(&*addr), 5000,
                         [&](Result<std::unique_ptr<Transport>> r) {
                             called = true;
                             CHECK_FALSE(r.ok());
                             if (!r.ok()) err = r.error().str();
                         });
    CHECK_FALSE(called); // never inside tcp_connect
    REQUIRE(tl.run_until([&] { return called; }));
    CHECK(err.find("tcp.connect") == 0);

    bool cancelled_called = false;
    auto c2 = tcp_connect(&tl.loop, reinterpret_cast<const sockaddr*>(&*addr), 5000,
                          [&](Result<std::unique_ptr<Transport>>) { cancelled_called = true; });
    c2.reset();
    uv_run(&tl.loop, UV_RUN_DEFAULT);
    CHECK_FALSE(cancelled_called);

    CHECK_FALSE(make_sockaddr("not-an-ip", 1).ok());
    CHECK(make_sockaddr("::1", 80).ok());
}

TEST_CASE("tcp transport: connect timeout") {
    TestLoop tl;
    // 192.0.2.0/24 (TEST-NET-1) is unroutable: the SYN goes nowhere, or the connect fails at once if there is no
    // route. Either way the callback reports an error and nothing leaks.
    auto addr = make_sockaddr("192.0.2.1", 9);
    REQUIRE(addr.ok());
    bool called = false;
    std::string err;
    auto c =
        tcp_connect(&tl.loop, reinterpret_cast<const sockaddr*>(&*addr), 50, [&](Result<std::unique_ptr<Transport>> r) {
            called = true;
            if (!r.ok()) err = r.error().str();
        });
    REQUIRE(tl.run_until([&] { return called; }, 5000));
    CHECK_FALSE(err.empty());
}

TEST_CASE("tcp transport: queued slices pin whole buffers only up to a bound; a piece's blocks in a row pin it once") {
    TestLoop tl;
    {
        Pair p(tl);
        Sink at_server, at_client;
        p.client->start(&at_client);
        // The server does not read yet, so the slices stay queued (corked) at the client.
        auto a = std::make_shared<const std::string>(pattern(1 << 20, 3)); // a 1 MiB piece, sent whole
        std::vector<std::shared_ptr<const std::string>> others;            // 1 MiB pieces, one block of each
        for (int i = 0; i < 6; ++i) others.push_back(std::make_shared<const std::string>(pattern(1 << 20, 10 + i)));
        auto small = std::make_shared<const std::string>(pattern(32768, 4)); // a 32 KiB piece
        unsigned char hdr[13] = {};
        std::string expect;
        auto slice = [&](const std::shared_ptr<const std::string>& buf, std::size_t off) {
            p.client->send_piece(hdr, buf, off, 16384);
            expect.append(reinterpret_cast<char*>(hdr), 13).append(*buf, off, 16384);
        };
        {
            ScopedCork cork(*p.client);
            // 64 blocks of `a` in a row: all referenced (zero copy), pinning 1 MiB once, not 64 times.
            for (std::size_t off = 0; off < a->size(); off += 16384) slice(a, off);
            CHECK(a.use_count() == 65);
            // One block of each of 6 more pieces: referenced while the pinned buffers stay within the floor (4 MiB:
            // `a` and 3 more), copied after that, since ~1.1 MB queued may pin only 4x that.
            for (auto& o : others) slice(o, 16384);
            for (int i = 0; i < 3; ++i) CHECK(others[i].use_count() == 2);
            for (int i = 3; i < 6; ++i) CHECK(others[i].use_count() == 1);
            slice(small, 16384);
            CHECK(small.use_count() == 2); // half of its buffer: always referenced
            CHECK(p.client->queued_bytes() == expect.size());
        }
        p.server->start(&at_server);
        REQUIRE(tl.run_until([&] { return at_server.got.size() >= expect.size(); }));
        CHECK(at_server.got == expect);
        REQUIRE(tl.run_until([&] { return a.use_count() == 1 && small.use_count() == 1; }));
        for (auto& o : others) CHECK(o.use_count() == 1);
    }
}

TEST_CASE("tcp transport: a user callback that throws closes that connection only (no exception crosses libuv)") {
    TestLoop tl;
    {
        Pair p(tl);
        Sink at_server, at_client;
        at_server.on_data_hook = [] { throw std::runtime_error("bug in a message handler"); };
        p.server->start(&at_server);
        p.client->start(&at_client);
        p.client->send("hello");
        REQUIRE(tl.run_until([&] { return at_server.closed && at_client.closed; }));
        CHECK(at_server.why.find("internal error") != std::string::npos);
        // The loop, the listener and other connections are fine: a second pair works.
        Pair q(tl);
        Sink s2, c2;
        q.server->start(&s2);
        q.client->start(&c2);
        q.client->send("still alive");
        REQUIRE(tl.run_until([&] { return s2.got == "still alive"; }));
    }
}
