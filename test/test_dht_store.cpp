// The DHT's serving-side state: write tokens, the announced-peer store, the per-address rate limit and the
// amplification guard. Everything runs under a fake clock (TimeMs values chosen by the test).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <tuple>

#include "dht/peer_store.hpp"
#include "dht/rate_limiter.hpp"
#include "dht/tokens.hpp"

using namespace p2p;
using namespace p2p::dht;

namespace {

constexpr TimeMs kMinute = 60 * 1000;

Endpoint v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    Endpoint e;
    e.ip[0] = a, e.ip[1] = b, e.ip[2] = c, e.ip[3] = d;
    e.port = port;
    return e;
}
Endpoint v4n(std::uint32_t n, std::uint16_t port) { // 10.x.y.z from a counter
    return v4(10, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n),
              port);
}
Endpoint v6n(std::uint32_t n, std::uint16_t port) { // 2001:db8::n
    Endpoint e;
    e.v6 = true;
    e.ip[0] = 0x20, e.ip[1] = 0x01, e.ip[2] = 0x0d, e.ip[3] = 0xb8;
    for (int i = 0; i < 4; ++i) e.ip[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    e.port = port;
    return e;
}
NodeId hash_of(std::uint32_t i) {
    NodeId h;
    for (int k = 0; k < 4; ++k) h.b[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(i >> (8 * k));
    h.b[19] = 0x5a;
    return h;
}
auto key_of(const Endpoint& e) { return std::make_tuple(e.v6, e.ip, e.port); }
bool contains(const std::vector<Endpoint>& v, const Endpoint& e) {
    return std::any_of(v.begin(), v.end(), [&](const Endpoint& x) { return key_of(x) == key_of(e); });
}

} // namespace

// --- Tokens ---

TEST_CASE("dht tokens: accepted now and after one rotation, refused after two") {
    TokenKeeper k;
    const Endpoint a = v4(192, 0, 2, 1, 6881);
    const TimeMs t0 = 1000;
    const std::string tok = k.make(a, t0);
    CHECK(tok.size() == kTokenSize);
    CHECK(k.check(tok, a, t0));
    CHECK(k.check(tok, a, t0 + kTokenRotateMs - 1)); // same secret
    CHECK(k.check(tok, a, t0 + kTokenRotateMs));     // one rotation: now the previous secret
    CHECK(k.make(a, t0 + kTokenRotateMs) != tok);    // a new secret makes new tokens
    CHECK(k.check(tok, a, t0 + 2 * kTokenRotateMs - 1));
    CHECK_FALSE(k.check(tok, a, t0 + 2 * kTokenRotateMs)); // two rotations: gone
}

TEST_CASE("dht tokens: an idle keeper does not keep a token alive past two periods") {
    TokenKeeper k;
    const Endpoint a = v4(192, 0, 2, 1, 6881);
    const std::string tok = k.make(a, 0);
    // Nobody calls between the make and this check: the lazy rotation must still skip two periods at once.
    CHECK_FALSE(k.check(tok, a, 2 * kTokenRotateMs + 5));
    TokenKeeper k2;
    const std::string tok2 = k2.make(a, 0);
    CHECK(k2.check(tok2, a, kTokenRotateMs + 5)); // one period: still the previous secret
    CHECK_FALSE(k2.check(tok2, a, 10 * kTokenRotateMs));
}

TEST_CASE("dht tokens: bound to the IP, not the port") {
    TokenKeeper k;
    const Endpoint a = v4(192, 0, 2, 1, 6881);
    const std::string tok = k.make(a, 0);
    Endpoint other_port = a;
    other_port.port = 51413;
    CHECK(k.make(other_port, 0) == tok);
    CHECK(k.check(tok, other_port, 10));
    CHECK_FALSE(k.check(tok, v4(192, 0, 2, 2, 6881), 10)); // another IP
    CHECK(k.make(v4(192, 0, 2, 2, 6881), 0) != tok);
    CHECK_FALSE(k.check(tok, v6n(1, 6881), 10)); // another family
    // Wrong lengths and a flipped bit are refused.
    CHECK_FALSE(k.check(tok.substr(0, 7), a, 10));
    CHECK_FALSE(k.check(tok + "x", a, 10));
    CHECK_FALSE(k.check("", a, 10));
    std::string bad = tok;
    bad[3] = static_cast<char>(bad[3] ^ 0x10);
    CHECK_FALSE(k.check(bad, a, 10));
    // Two keepers have different secrets.
    TokenKeeper k2;
    CHECK(k2.make(a, 0) != tok);
    CHECK_FALSE(k2.check(tok, a, 0));
}

TEST_CASE("dht tokens: IPv6 queriers") {
    TokenKeeper k;
    const Endpoint a = v6n(7, 1), b = v6n(8, 1);
    const std::string ta = k.make(a, 0);
    CHECK(ta.size() == kTokenSize);
    CHECK(k.check(ta, v6n(7, 2), 1));
    CHECK_FALSE(k.check(ta, b, 1));
}

// --- Peer store ---

TEST_CASE("dht store: announce, get, refresh") {
    PeerStore s;
    const NodeId h = hash_of(1);
    CHECK(s.get(h, 50, false, 0).empty());
    s.announce(h, v4(192, 0, 2, 1, 6881), false, 1000);
    s.announce(h, v4(192, 0, 2, 2, 6881), true, 1000);
    CHECK(s.torrents() == 1);
    CHECK(s.peers() == 2);
    auto got = s.get(h, 50, false, 2000);
    CHECK(got.size() == 2);
    CHECK(contains(got, v4(192, 0, 2, 1, 6881)));
    CHECK(contains(got, v4(192, 0, 2, 2, 6881)));
    CHECK(s.get(hash_of(2), 50, false, 2000).empty()); // another torrent
    CHECK(s.get(h, 0, false, 2000).empty());

    // Same address and port: a refresh, not a second entry; another port of the same IP is another peer.
    s.announce(h, v4(192, 0, 2, 1, 6881), true, 5000);
    CHECK(s.peers() == 2);
    s.announce(h, v4(192, 0, 2, 1, 6882), false, 5000);
    CHECK(s.peers() == 3);
    CHECK(s.get(h, 50, false, 6000).size() == 3);
}

TEST_CASE("dht store: peers expire 30 minutes after their last announce") {
    PeerStoreConfig cfg;
    CHECK(cfg.peer_ttl == 30 * kMinute);
    PeerStore s(cfg);
    const NodeId h = hash_of(1), h2 = hash_of(2);
    const Endpoint a = v4(192, 0, 2, 1, 1), b = v4(192, 0, 2, 2, 1);
    s.announce(h, a, false, 1000);
    s.announce(h, b, false, 1000);
    s.announce(h2, a, false, 1000);
    s.announce(h, b, false, 1000 + 10 * kMinute); // b refreshes
    const TimeMs deadline = 1000 + 30 * kMinute;
    CHECK(s.get(h, 50, false, deadline - 1).size() == 2);
    auto got = s.get(h, 50, false, deadline); // a is no longer handed out, even before expire() runs
    REQUIRE(got.size() == 1);
    CHECK(key_of(got[0]) == key_of(b));
    CHECK(s.get(h2, 50, false, deadline).empty());

    s.expire(deadline - 1); // nothing yet
    CHECK(s.peers() == 3);
    CHECK(s.torrents() == 2);
    s.expire(deadline);
    CHECK(s.peers() == 1);
    CHECK(s.torrents() == 1); // h2 was left empty and is gone
    s.expire(deadline + 10 * kMinute);
    CHECK(s.peers() == 0);
    CHECK(s.torrents() == 0);

    // A stamp in the middle of a second is rounded up: never expires early.
    s.announce(h, a, false, 1500);
    CHECK(s.get(h, 50, false, 1500 + 30 * kMinute - 1).size() == 1);
    CHECK(s.get(h, 50, false, 2000 + 30 * kMinute).empty());
}

TEST_CASE("dht store: IPv4 and IPv6 are kept apart") {
    PeerStore s;
    const NodeId h = hash_of(3);
    for (std::uint32_t i = 0; i < 5; ++i) s.announce(h, v4n(i, 6881), false, 0);
    for (std::uint32_t i = 0; i < 3; ++i) s.announce(h, v6n(i, 6881), false, 0);
    CHECK(s.peers() == 8);
    const auto four = s.get(h, 50, false, 0), six = s.get(h, 50, true, 0);
    CHECK(four.size() == 5);
    CHECK(six.size() == 3);
    for (const auto& e : four) CHECK_FALSE(e.v6);
    for (const auto& e : six) CHECK(e.v6);
    CHECK(contains(six, v6n(2, 6881)));
    // An IPv6 address whose first 4 bytes equal an IPv4 peer's is still another peer.
    Endpoint odd = v6n(0, 6881);
    std::memcpy(odd.ip.data(), v4n(0, 6881).ip.data(), 4);
    s.announce(h, odd, false, 0);
    CHECK(s.get(h, 50, false, 0).size() == 5);
    CHECK(s.get(h, 50, true, 0).size() == 4);
}

TEST_CASE("dht store: a sample is distinct, random, and of the asked size") {
    PeerStore s;
    const NodeId h = hash_of(4);
    std::set<std::tuple<bool, std::array<std::uint8_t, 16>, std::uint16_t>> all;
    for (std::uint32_t i = 0; i < 100; ++i) {
        s.announce(h, v4n(i, 6881), false, 0);
        all.insert(key_of(v4n(i, 6881)));
    }
    std::set<std::tuple<bool, std::array<std::uint8_t, 16>, std::uint16_t>> seen;
    for (int round = 0; round < 20; ++round) {
        const auto got = s.get(h, 20, false, 0);
        REQUIRE(got.size() == 20);
        std::set<std::tuple<bool, std::array<std::uint8_t, 16>, std::uint16_t>> distinct;
        for (const auto& e : got) {
            distinct.insert(key_of(e));
            CHECK(all.count(key_of(e)) == 1);
        }
        CHECK(distinct.size() == 20);
        seen.insert(distinct.begin(), distinct.end());
    }
    // 400 draws of 20 out of 100: a fixed or badly skewed choice would cover far fewer (P(< 90) is negligible).
    CHECK(seen.size() >= 90);
    // Expired peers are not sampled: refresh 10, let the other 90 expire.
    for (std::uint32_t i = 0; i < 10; ++i) s.announce(h, v4n(i, 6881), false, 20 * kMinute);
    const auto got = s.get(h, 20, false, 31 * kMinute);
    CHECK(got.size() == 10);
    for (std::uint32_t i = 0; i < 10; ++i) CHECK(contains(got, v4n(i, 6881)));
}

TEST_CASE("dht store: a full torrent replaces its oldest peer") {
    PeerStoreConfig cfg;
    cfg.max_peers_per_torrent = 4;
    PeerStore s(cfg);
    const NodeId h = hash_of(5);
    for (std::uint32_t i = 0; i < 4; ++i) s.announce(h, v4n(i, 1), false, 1000 * (i + 1));
    s.announce(h, v4n(0, 1), false, 10000); // 0 refreshes: 1 is now the oldest
    s.announce(h, v6n(9, 1), false, 11000); // the other family counts too
    CHECK(s.peers() == 4);
    auto got4 = s.get(h, 50, false, 11000);
    CHECK(got4.size() == 3);
    CHECK_FALSE(contains(got4, v4n(1, 1)));
    CHECK(contains(got4, v4n(0, 1)));
    CHECK(s.get(h, 50, true, 11000).size() == 1);
    s.announce(h, v4n(20, 1), false, 12000); // 2 is the oldest now
    got4 = s.get(h, 50, false, 12000);
    CHECK_FALSE(contains(got4, v4n(2, 1)));
    CHECK(contains(got4, v4n(20, 1)));
    CHECK(s.peers() == 4);
}

TEST_CASE("dht store: one IP's ports are capped per torrent") {
    PeerStoreConfig cfg;
    cfg.max_per_ip = 3;
    PeerStore s(cfg);
    const NodeId h = hash_of(6);
    s.announce(h, v4(198, 51, 100, 1, 1), false, 0); // someone else
    for (std::uint16_t port = 1; port <= 10; ++port) s.announce(h, v4(203, 0, 113, 7, port), false, 1000 * port);
    CHECK(s.peers() == 4);
    const auto got = s.get(h, 50, false, 20000);
    CHECK(contains(got, v4(198, 51, 100, 1, 1)));
    CHECK(contains(got, v4(203, 0, 113, 7, 10))); // the newest three of that IP stay
    CHECK(contains(got, v4(203, 0, 113, 7, 9)));
    CHECK(contains(got, v4(203, 0, 113, 7, 8)));
}

TEST_CASE("dht store: a full table replaces only a torrent with a single peer") {
    PeerStoreConfig cfg;
    cfg.max_torrents = 3;
    PeerStore s(cfg);
    // Three torrents of two peers: a new torrent is not stored.
    for (std::uint32_t t = 0; t < 3; ++t)
        for (std::uint32_t p = 0; p < 2; ++p) s.announce(hash_of(t), v4n(p, 1), false, 0);
    s.announce(hash_of(100), v4n(50, 1), false, 0);
    CHECK(s.torrents() == 3);
    CHECK(s.get(hash_of(100), 50, false, 0).empty());
    // Known torrents still take peers.
    s.announce(hash_of(0), v4n(9, 1), false, 0);
    CHECK(s.get(hash_of(0), 50, false, 0).size() == 3);
    // Once one holds a single peer (the others expired), a new torrent takes its place.
    s.announce(hash_of(1), v4n(0, 1), false, 20 * kMinute);
    s.announce(hash_of(2), v4n(0, 1), false, 20 * kMinute);
    s.announce(hash_of(2), v4n(1, 1), false, 20 * kMinute);
    s.announce(hash_of(0), v4n(0, 1), false, 20 * kMinute);
    s.announce(hash_of(0), v4n(1, 1), false, 20 * kMinute);
    s.expire(31 * kMinute); // torrent 1 is down to one peer
    CHECK(s.torrents() == 3);
    s.announce(hash_of(100), v4n(50, 1), false, 31 * kMinute);
    CHECK(s.torrents() == 3);
    CHECK(s.get(hash_of(100), 50, false, 31 * kMinute).size() == 1);
    CHECK(s.get(hash_of(1), 50, false, 31 * kMinute).empty()); // evicted
    CHECK(s.get(hash_of(0), 50, false, 31 * kMinute).size() == 2);
    CHECK(s.get(hash_of(2), 50, false, 31 * kMinute).size() == 2);
}

TEST_CASE("dht store: the bounds hold under 100000 random announces") {
    PeerStoreConfig cfg;
    cfg.max_torrents = 64;
    cfg.max_peers_per_torrent = 40;
    PeerStore s(cfg);
    std::mt19937 rng(17);
    TimeMs now = 0;
    std::size_t max_bytes = 0;
    for (int i = 0; i < 100000; ++i) {
        now += rng() % 50;
        // A skewed mix: most announces go to a few hundred hashes (some to popular ones), the rest to random ones.
        const std::uint32_t r = rng();
        const NodeId h = (r % 4 == 0) ? hash_of(r) : hash_of(r % 97 < 10 ? r % 5 : r % 300);
        const std::uint32_t addr = rng() % 5000;
        const Endpoint p = (rng() % 5 == 0) ? v6n(addr, static_cast<std::uint16_t>(rng() % 4))
                                            : v4n(addr, static_cast<std::uint16_t>(rng() % 4));
        s.announce(h, p, rng() % 2 == 0, now);
        REQUIRE(s.torrents() <= cfg.max_torrents);
        REQUIRE(s.peers() <= cfg.max_torrents * cfg.max_peers_per_torrent);
        if (i % 1000 == 999) {
            std::size_t counted = 0;
            for (std::uint32_t k = 0; k < 5; ++k) {
                const std::size_t n =
                    s.get(hash_of(k), 1000, false, now).size() + s.get(hash_of(k), 1000, true, now).size();
                CHECK(n <= cfg.max_peers_per_torrent);
                counted += n;
            }
            CHECK(counted > 0);
        }
        if (i % 20000 == 0) s.expire(now);
        max_bytes = std::max(max_bytes, s.memory_bytes());
    }
    CHECK(s.torrents() == cfg.max_torrents);
    // The popular torrents are full.
    CHECK(s.get(hash_of(0), 1000, false, now).size() + s.get(hash_of(0), 1000, true, now).size() ==
          cfg.max_peers_per_torrent);
    // Memory stays within the bound: 64 torrents, 2560 peers, at most 24 bytes each with 2x slack, ~300 per torrent.
    CHECK(max_bytes < 64 * 300 + 2560 * 24 * 2 + 4096);
}

TEST_CASE("dht store: the default caps hold too") {
    PeerStore s; // 2000 torrents x 500 peers
    std::mt19937 rng(5);
    for (std::uint32_t i = 0; i < 5000; ++i) s.announce(hash_of(i), v4n(i, 1), false, 0); // singletons: replaced
    CHECK(s.torrents() == 2000);
    CHECK(s.peers() == 2000);
    for (std::uint32_t i = 0; i < 2000; ++i) s.announce(hash_of(7), v4n(rng(), 1), false, i);
    CHECK(s.get(hash_of(7), 10000, false, 2000).size() == 500);
    CHECK(s.torrents() == 2000);
}

TEST_CASE("dht store: memory_bytes tracks the size") {
    PeerStore s;
    const std::size_t empty = s.memory_bytes();
    CHECK(empty > 0);
    CHECK(empty < 1024);
    for (std::uint32_t i = 0; i < 1000; ++i) s.announce(hash_of(1), v4n(i, 1), false, 0);
    const std::size_t one = s.memory_bytes();
    // 1000 IPv4 peers at 12 bytes, with at most 2x vector slack, plus one torrent.
    CHECK(one >= empty + 12 * 500); // capped at 500 peers
    CHECK(one <= empty + 12 * 500 * 2 + 512);
    for (std::uint32_t t = 2; t < 102; ++t) s.announce(hash_of(t), v6n(t, 1), false, 0);
    const std::size_t many = s.memory_bytes();
    CHECK(many >= one + 100 * (24 + 150)); // a torrent and an IPv6 peer each
    CHECK(many <= one + 100 * (24 + 400));
    s.expire(31 * kMinute);
    CHECK(s.peers() == 0);
    CHECK(s.memory_bytes() == empty);
    MESSAGE("store: empty ", empty, " B; +500 IPv4 peers in one torrent ", one - empty,
            " B; +100 one-peer IPv6 torrents ", many - one, " B");
}

TEST_CASE("dht store: set_limits evicts to fit at once") {
    PeerStore s;
    for (std::uint32_t t = 0; t < 10; ++t)
        for (std::uint32_t p = 0; p <= t; ++p) s.announce(hash_of(t), v4n(p, 1), false, 1000 * p); // t+1 peers
    CHECK(s.torrents() == 10);
    CHECK(s.peers() == 55);
    const std::size_t before = s.memory_bytes();
    s.set_limits(4, 5); // keeps the 4 biggest (6..9), each cut to its 5 newest peers
    CHECK(s.torrents() == 4);
    CHECK(s.peers() == 20);
    CHECK(s.memory_bytes() < before);
    for (std::uint32_t t = 0; t < 6; ++t) CHECK(s.get(hash_of(t), 50, false, 0).empty());
    for (std::uint32_t t = 6; t < 10; ++t) {
        const auto got = s.get(hash_of(t), 50, false, 0);
        CHECK(got.size() == 5);
        for (std::uint32_t p = t - 4; p <= t; ++p) CHECK(contains(got, v4n(p, 1))); // the newest
    }
    // The new bounds hold for later announces.
    for (std::uint32_t p = 100; p < 120; ++p) s.announce(hash_of(9), v4n(p, 1), false, 100000);
    CHECK(s.get(hash_of(9), 50, false, 100000).size() == 5);
    s.set_limits(0, 0);
    CHECK(s.torrents() == 0);
    CHECK(s.peers() == 0);
    s.announce(hash_of(1), v4n(1, 1), false, 0);
    CHECK(s.torrents() == 0);
}

// --- Rate limiter ---

TEST_CASE("dht rate: 49 packets pass, the 50th blocks for 5 minutes") {
    RateLimiter rl;
    const Endpoint a = v4(192, 0, 2, 1, 6881);
    const TimeMs t0 = 1000;
    for (int i = 0; i < 49; ++i) CHECK(rl.allow(a, t0 + static_cast<TimeMs>(i) * 100));
    CHECK(rl.blocked() == 0);
    CHECK_FALSE(rl.allow(a, t0 + 5000)); // the 50th within 10 s
    CHECK(rl.blocked() == 1);
    const TimeMs blocked_at = t0 + 5000;
    CHECK_FALSE(rl.allow(a, blocked_at + 1));
    CHECK_FALSE(rl.allow(a, blocked_at + 5 * kMinute - 1));
    CHECK(rl.allow(a, blocked_at + 5 * kMinute)); // allowed again, with a fresh window
    CHECK(rl.blocked() == 0);
    for (int i = 0; i < 48; ++i) CHECK(rl.allow(a, blocked_at + 5 * kMinute + 1)); // 49 in this window
    CHECK_FALSE(rl.allow(a, blocked_at + 5 * kMinute + 2));                        // and blocked again at the 50th
}

TEST_CASE("dht rate: the port is ignored, other addresses are unaffected") {
    RateLimiter rl;
    for (std::uint16_t i = 0; i < 49; ++i) CHECK(rl.allow(v4(192, 0, 2, 1, static_cast<std::uint16_t>(1000 + i)), 0));
    CHECK_FALSE(rl.allow(v4(192, 0, 2, 1, 9), 0)); // same IP, any port
    CHECK(rl.allow(v4(192, 0, 2, 2, 1000), 0));
    CHECK(rl.allow(v6n(1, 1000), 0));
    // An IPv6 address that starts with the blocked IPv4 bytes is another address.
    Endpoint odd = v6n(0, 1);
    odd.ip[0] = 192, odd.ip[1] = 0, odd.ip[2] = 2, odd.ip[3] = 1;
    CHECK(rl.allow(odd, 0));
    CHECK(rl.blocked() == 1);
    CHECK(rl.tracked() == 4);
}

TEST_CASE("dht rate: loopback nodes (one machine, several nodes) each have their own budget, by port") {
    RateLimiter rl;
    for (std::uint16_t port = 1000; port < 1060; ++port)
        for (int i = 0; i < 49; ++i) CHECK(rl.allow(v4(127, 0, 0, 1, port), 0));
    CHECK(rl.blocked() == 0);
    CHECK_FALSE(rl.allow(v4(127, 0, 0, 1, 1000), 0)); // but one of them flooding is blocked
    CHECK(rl.allow(v4(127, 0, 0, 1, 1100), 0));       // a local node that did not
    Endpoint v6lo = v6n(0, 7);
    v6lo.ip = {};
    v6lo.ip[15] = 1; // ::1
    for (int i = 0; i < 49; ++i) CHECK(rl.allow(v6lo, 0));
    v6lo.port = 8;
    CHECK(rl.allow(v6lo, 0));
}

TEST_CASE("dht rate: a slow sender is never blocked; the window is 10 s") {
    RateLimiter rl;
    const Endpoint a = v4(192, 0, 2, 1, 1);
    TimeMs now = 0;
    for (int i = 0; i < 2000; ++i, now += 210) CHECK(rl.allow(a, now)); // 4.8 per s
    // 49 in a window, then the window ends and 49 more pass.
    RateLimiter rl2;
    for (int i = 0; i < 49; ++i) CHECK(rl2.allow(a, 0));
    for (int i = 0; i < 49; ++i) CHECK(rl2.allow(a, 10 * 1000));
    CHECK_FALSE(rl2.allow(a, 10 * 1000 + 9999));
}

TEST_CASE("dht rate: the table stays bounded under a flood of distinct addresses") {
    RateLimitConfig cfg;
    cfg.max_tracked = 256;
    RateLimiter rl(cfg);
    const Endpoint flooder = v4(203, 0, 113, 9, 1);
    for (int i = 0; i < 50; ++i) rl.allow(flooder, 0);
    CHECK(rl.blocked() == 1);
    const std::size_t mem_small = rl.memory_bytes();
    for (std::uint32_t i = 0; i < 100000; ++i) {
        CHECK(rl.allow(i % 2 ? v6n(i, 1) : v4n(i, 1), 1)); // each new address passes its first packet
        REQUIRE(rl.tracked() <= cfg.max_tracked);
        if (i % 64 == 0) CHECK_FALSE(rl.allow(flooder, 1)); // still sending: kept, still blocked
    }
    CHECK(rl.tracked() == cfg.max_tracked);
    CHECK(rl.blocked() == 1);
    CHECK(rl.memory_bytes() > mem_small);
    const std::size_t per = (rl.memory_bytes() - sizeof(RateLimiter)) / rl.tracked();
    CHECK(per >= 100);
    CHECK(per <= 200);
    MESSAGE("rate limiter: ", per, " bytes per tracked address");
    // A blocked address that goes quiet is forgotten once enough others pass.
    RateLimiter rl2(cfg);
    for (int i = 0; i < 50; ++i) rl2.allow(flooder, 0);
    for (std::uint32_t i = 0; i < 256; ++i) rl2.allow(v4n(i, 1), 1);
    CHECK(rl2.blocked() == 0);
    CHECK(rl2.allow(flooder, 2));
}

TEST_CASE("dht rate: max_reply_bytes") {
    // Verified queriers get up to the unfragmented maximum.
    CHECK(max_reply_bytes(50, true) == kMaxReplyBytes);
    CHECK(max_reply_bytes(2000, true) == kMaxReplyBytes);
    // Unverified: a closest-nodes reply always fits ...
    CHECK(max_reply_bytes(0, false) == kUnverifiedReplyFloor);
    CHECK(max_reply_bytes(95, false) == kUnverifiedReplyFloor);
    CHECK(kUnverifiedReplyFloor >= 8 * 38 + 100); // 8 IPv6 contacts and the rest of the reply
    // ... and beyond the floor the reply is at most 4x the query, capped.
    CHECK(max_reply_bytes(200, false) == 800);
    CHECK(max_reply_bytes(300, false) == 1200);
    CHECK(max_reply_bytes(400, false) == kMaxReplyBytes);
    CHECK(max_reply_bytes(static_cast<std::size_t>(-1), false) == kMaxReplyBytes); // no overflow
    for (std::size_t q = 128; q < 400; ++q) CHECK(max_reply_bytes(q, false) <= 4 * q);
    CHECK(kMaxReplyBytes == udp::kMaxReplySize);
}
