#include <doctest/doctest.h>
#include <netinet/in.h>
#include <uv.h>

#include "crypto/random.hpp"
#include "test_util.hpp"
#include "tracker/connection_id.hpp"

using namespace p2p;
using p2p::test::sa;
using p2p::test::v4;
using p2p::test::v6;

TEST_CASE("tracker connection id: accepted from the asker, rejected from anyone else") {
    std::uint64_t now = 6000;
    ConnectionIds ids([&] { return now; }, 60);
    auto a = v4("10.0.0.1", 6881), other_port = v4("10.0.0.1", 6882), other_ip = v4("10.0.0.2", 6881);
    std::uint64_t id = ids.issue(sa(a));
    CHECK(ids.check(id, sa(a)));
    CHECK_FALSE(ids.check(id, sa(other_port)));
    CHECK_FALSE(ids.check(id, sa(other_ip)));
    auto b = v6("2001:db8::1", 6881);
    std::uint64_t id6 = ids.issue(sa(b));
    CHECK(ids.check(id6, sa(b)));
    CHECK_FALSE(ids.check(id6, sa(v6("2001:db8::2", 6881))));
    CHECK_FALSE(ids.check(id, sa(b)));
}

TEST_CASE("tracker connection id: forged ids are rejected") {
    std::uint64_t now = 6000;
    ConnectionIds ids([&] { return now; }, 60);
    auto a = v4("192.0.2.7", 1234);
    std::uint64_t id = ids.issue(sa(a));
    CHECK_FALSE(ids.check(id ^ 2, sa(a)));
    CHECK_FALSE(ids.check(id ^ 1, sa(a))); // the other window's parity
    CHECK_FALSE(ids.check(0x41727101980ULL, sa(a)));
    int accepted = 0;
    for (int i = 0; i < 2000; ++i) {
        std::uint64_t guess;
        random_bytes(&guess, sizeof guess);
        accepted += ids.check(guess, sa(a));
    }
    CHECK(accepted == 0);
    // another server (another key) does not accept our ids
    ConnectionIds other([&] { return now; }, 60);
    CHECK_FALSE(other.check(id, sa(a)));
}

TEST_CASE("tracker connection id: current and previous window accepted, older rejected") {
    std::uint64_t now = 60 * 1000 + 59; // last second of a window
    ConnectionIds ids([&] { return now; }, 60);
    auto a = v4("10.1.2.3", 40000);
    std::uint64_t id = ids.issue(sa(a));
    now += 1; // next window
    CHECK(ids.check(id, sa(a)));
    now += 59; // still the next window
    CHECK(ids.check(id, sa(a)));
    now += 1; // two windows later
    CHECK_FALSE(ids.check(id, sa(a)));
    now += 60 * 10;
    CHECK_FALSE(ids.check(id, sa(a)));
    // an id issued now lives ~2 minutes at most
    std::uint64_t fresh = ids.issue(sa(a));
    CHECK(ids.check(fresh, sa(a)));
    now += 120;
    CHECK_FALSE(ids.check(fresh, sa(a)));
}
