// Tests for src/tracker/resolver: the one asynchronous lookup of the tracker clients (HttpGet, UdpTrackerClient).
// A bare libuv loop: uv_run returns only once every request is finished, so a cancelled lookup is seen through to
// the callback that frees it (LeakSanitizer in `make check-asan` reports a block that is never freed).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <uv.h>

#include <memory>
#include <optional>

#include "tracker/resolver.hpp"

using namespace p2p;

namespace {

struct BareLoop {
    uv_loop_t loop;
    BareLoop() { uv_loop_init(&loop); }
    ~BareLoop() {
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
    uv_loop_t* get() { return &loop; }
    void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

std::uint16_t port_of(const sockaddr_storage& s) {
    if (s.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(s).sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6&>(s).sin6_port);
}

bool is_loopback(const sockaddr_storage& s) {
    if (s.ss_family == AF_INET) return ntohl(reinterpret_cast<const sockaddr_in&>(s).sin_addr.s_addr) >> 24 == 127;
    if (s.ss_family == AF_INET6) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6&>(s).sin6_addr);
    return false;
}

} // namespace

TEST_CASE("resolver: an IPv4 literal, from the loop and never inside start()") {
    BareLoop loop;
    Resolver r(loop.get());
    std::optional<Result<Resolver::Addrs>> got;
    REQUIRE(r.start("127.0.0.1", 6969, SOCK_DGRAM, [&](Result<Resolver::Addrs> a) { got = std::move(a); }));
    CHECK_FALSE(got);
    CHECK(r.busy());
    loop.run();
    REQUIRE(got);
    REQUIRE(got->ok());
    REQUIRE((*got)->size() == 1);
    const sockaddr_storage& a = (*got)->front();
    REQUIRE(a.ss_family == AF_INET);
    CHECK(reinterpret_cast<const sockaddr_in&>(a).sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    CHECK(port_of(a) == 6969);
    CHECK_FALSE(r.busy());
}

TEST_CASE("resolver: localhost gives loopback addresses with the port, at most kMaxAddrs") {
    BareLoop loop;
    Resolver r(loop.get());
    std::optional<Result<Resolver::Addrs>> got;
    REQUIRE(r.start("localhost", 80, SOCK_STREAM, [&](Result<Resolver::Addrs> a) { got = std::move(a); }));
    loop.run();
    REQUIRE(got);
    REQUIRE_MESSAGE(got->ok(), got->error().str());
    CHECK_FALSE((*got)->empty());
    CHECK((*got)->size() <= Resolver::kMaxAddrs);
    for (const auto& a : **got) {
        CHECK(is_loopback(a));
        CHECK(port_of(a) == 80);
    }
}

TEST_CASE("resolver: destroyed before its callback, done never runs and nothing leaks") {
    BareLoop loop;
    int calls = 0;
    auto r = std::make_unique<Resolver>(loop.get());
    REQUIRE(r->start("127.0.0.1", 1, SOCK_DGRAM, [&](Result<Resolver::Addrs>) { ++calls; }));
    r.reset();
    loop.run(); // returns once libuv called back and the detached request was freed
    CHECK(calls == 0);
}

TEST_CASE("resolver: cancel() and a new start(): only the second lookup answers") {
    BareLoop loop;
    Resolver r(loop.get());
    int first = 0, second = 0;
    REQUIRE(r.start("127.0.0.1", 1, SOCK_DGRAM, [&](Result<Resolver::Addrs>) { ++first; }));
    r.cancel();
    CHECK_FALSE(r.busy());
    REQUIRE(r.start("127.0.0.1", 2, SOCK_DGRAM, [&](Result<Resolver::Addrs> a) {
        ++second;
        CHECK(a.ok());
    }));
    // A start() while a lookup is in flight cancels that one.
    REQUIRE(r.start("127.0.0.1", 3, SOCK_DGRAM, [&](Result<Resolver::Addrs> a) {
        ++second;
        REQUIRE(a.ok());
        CHECK(port_of(a->front()) == 3);
    }));
    loop.run();
    CHECK(first == 0);
    CHECK(second == 1);
}

TEST_CASE("resolver: its owner may destroy it inside the callback") {
    BareLoop loop;
    struct Owner {
        Resolver r;
        explicit Owner(uv_loop_t* l) : r(l) {}
    };
    auto owner = std::make_unique<Owner>(loop.get());
    bool called = false;
    REQUIRE(owner->r.start("localhost", 1, SOCK_STREAM, [&](Result<Resolver::Addrs> a) {
        called = true;
        CHECK(a.ok());
        owner.reset(); // the Resolver and its owner go while the callback runs
    }));
    loop.run();
    CHECK(called);
    CHECK_FALSE(owner);
}
