#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "swarm/bitfield.hpp"
#include "swarm/seed_suggest.hpp"

using namespace p2p::swarm;

namespace {
std::vector<std::uint32_t> top_up(SeedSuggest& s, PeerToken peer, const Bitfield& has, std::size_t window,
                                  std::function<std::uint32_t(std::uint32_t)> avail = nullptr) {
    std::vector<std::uint32_t> out;
    const std::size_t n = s.top_up(peer, has, window, avail, out);
    CHECK(n == out.size());
    return out;
}
} // namespace

TEST_CASE("seed suggest: two peers get distinct never-sent pieces they lack") {
    SeedSuggest s(20, 3);
    Bitfield has_a(20);
    for (std::uint32_t i = 0; i < 10; ++i) has_a.set(i);
    auto a = top_up(s, 1, has_a, 4);
    auto b = top_up(s, 2, Bitfield(20), 4);
    REQUIRE(a.size() == 4);
    REQUIRE(b.size() == 4);
    std::set<std::uint32_t> all(a.begin(), a.end());
    all.insert(b.begin(), b.end());
    CHECK(all.size() == 8);                  // no piece suggested twice
    for (auto piece : a) CHECK(piece >= 10); // only pieces peer 1 lacks
    CHECK(top_up(s, 1, has_a, 4).empty());   // its window is full
    CHECK(s.unsent_pool() == 12);
    // A request takes the piece out of the window for good, and the window is topped up with another.
    s.on_request(1, a[0]);
    CHECK(s.sent(a[0]));
    CHECK(s.window_size(1) == 3);
    auto more = top_up(s, 1, has_a, 4);
    REQUIRE(more.size() == 1);
    CHECK(std::find(b.begin(), b.end(), more[0]) == b.end());
    s.on_request(1, a[0]); // the same piece's next block: nothing changes
    CHECK(s.window_size(1) == 4);
}

TEST_CASE("seed suggest: a released or abandoned window goes back to the pool; sent pieces never do") {
    SeedSuggest s(6, 1);
    auto a = top_up(s, 1, Bitfield(6), 4);
    REQUIRE(a.size() == 4);
    s.on_request(1, a[0]);
    auto b = top_up(s, 2, Bitfield(6), 4);
    CHECK(b.size() == 2); // only two pieces were left
    s.release(1);         // choked: its three untouched suggestions are free again, the requested one is not
    CHECK(s.window_size(1) == 0);
    CHECK(s.unsent_pool() == 3);
    auto c = top_up(s, 2, Bitfield(6), 8);
    CHECK(c.size() == 3);
    CHECK(std::find(c.begin(), c.end(), a[0]) == c.end());
    // A peer that got a suggested piece elsewhere gives it back; requesting another peer's suggestion takes it.
    s.on_have(2, c[0]);
    CHECK_FALSE(s.suggested_to(c[0], 2));
    CHECK(s.unsent_pool() == 1);
    s.on_request(3, c[1]);
    CHECK_FALSE(s.suggested_to(c[1], 2));
    CHECK(s.window_size(2) == 3);
    s.forget(2);
    CHECK(s.num_peers() == 2);
    CHECK(s.unsent_pool() == 4);
}

TEST_CASE("seed suggest: the least available candidate wins, and nothing is suggested once all was sent") {
    SeedSuggest s(4, 9);
    // Piece 2 is held by nobody, the others by 3 peers each: it is the one suggested first.
    auto a = top_up(s, 1, Bitfield(4), 1, [](std::uint32_t p) { return p == 2 ? 0u : 3u; });
    REQUIRE(a.size() == 1);
    CHECK(a[0] == 2);
    for (std::uint32_t i = 0; i < 4; ++i) s.on_request(1, i);
    CHECK(s.unsent_pool() == 0);
    CHECK(top_up(s, 2, Bitfield(4), 4).empty());
    CHECK(top_up(s, 2, Bitfield(5), 4).empty()); // wrong size: ignored
}

TEST_CASE("seed suggest: a choked peer's unfinished pieces and a departed peer's lone pieces are suggested anew") {
    SeedSuggest s(8, 5);
    auto a = top_up(s, 1, Bitfield(8), 3);
    REQUIRE(a.size() == 3);
    s.on_request(1, a[0]);
    s.on_request(1, a[1]);
    s.release(1, {a[1]}); // a[1] is half-sent when we choke it (its requests are rejected)
    CHECK(s.sent(a[0]));
    CHECK_FALSE(s.sent(a[1]));
    CHECK(s.unsent_pool() == 7);
    // It leaves holding a[0], which nobody else has: a[0] is unsent again. Pieces others have stay sent.
    s.on_request(2, a[2]);
    Bitfield gone(8);
    gone.set(a[0]);
    gone.set(a[2]);
    CHECK(s.repool_lost(gone, [&](std::uint32_t p) { return p == a[2] ? 1u : 0u; }) == 1);
    CHECK_FALSE(s.sent(a[0]));
    CHECK(s.sent(a[2]));
}
