#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "swarm/choker.hpp"

using namespace p2p::swarm;

namespace {

ChokePeer peer(PeerToken t, double down, double up = 0, bool interested = true) {
    ChokePeer p;
    p.token = t;
    p.interested = interested;
    p.download_rate = down;
    p.upload_rate = up;
    p.connected_at_ms = 0;
    return p;
}

std::set<PeerToken> as_set(const std::vector<PeerToken>& v) { return {v.begin(), v.end()}; }

constexpr std::int64_t kLater = 10 * 60 * 1000; // everyone connected long ago

} // namespace

TEST_CASE("choker: leecher unchokes the top uploaders to us plus one optimistic") {
    Choker c;
    std::vector<ChokePeer> ps = {peer(1, 100), peer(2, 500), peer(3, 50), peer(4, 400), peer(5, 300), peer(6, 10)};
    auto d = c.rechoke(ps, false, kLater);
    const auto un = as_set(d.unchoke);
    CHECK(d.unchoke.size() == 4);
    CHECK(un.count(2));
    CHECK(un.count(4));
    CHECK(un.count(5));
    REQUIRE(d.has_optimistic);
    CHECK(std::set<PeerToken>{1, 3, 6}.count(d.optimistic) == 1);
    CHECK(un.count(d.optimistic));
    CHECK(c.optimistic() == d.optimistic);
    // Regular ones come first, in rank order.
    CHECK(d.unchoke[0] == 2);
    CHECK(d.unchoke[1] == 4);
    CHECK(d.unchoke[2] == 5);
}

TEST_CASE("choker: faster uninterested peers are unchoked without using a slot") {
    ChokerOptions o;
    o.upload_slots = 3; // 2 regular + 1 optimistic
    Choker c(o);
    std::vector<ChokePeer> ps = {peer(1, 900, 0, false), peer(2, 500), peer(3, 400), peer(4, 300),
                                 peer(5, 1000, 0, false)};
    auto d = c.rechoke(ps, false, kLater);
    const auto un = as_set(d.unchoke);
    CHECK(un.count(1));
    CHECK(un.count(5));
    CHECK(un.count(2));
    CHECK(un.count(3));
    CHECK(d.optimistic == 4); // the only interested peer left
    CHECK(d.unchoke.size() == 5);
}

TEST_CASE("choker: idle unchoked peers ride along without using a slot, at most upload_slots of them") {
    ChokerOptions o;
    o.upload_slots = 2; // 1 regular + 1 optimistic
    Choker c(o);
    auto idle = [](ChokePeer p) {
        p.choked = false;
        p.idle = true; // unchoked and interested, but requesting nothing from us
        return p;
    };
    // Ranked 1 (idle), 2 (idle), 3 (idle), 4, 5, 6: the regular slot goes past the idle ones to 4; two idle ones
    // stay unchoked (the cap), the third idle one is not kept.
    std::vector<ChokePeer> ps = {idle(peer(1, 900)), idle(peer(2, 800)), idle(peer(3, 700)),
                                 peer(4, 500),       peer(5, 400),       peer(6, 300)};
    auto d = c.rechoke(ps, false, kLater);
    const auto un = as_set(d.unchoke);
    CHECK(un.count(1));
    CHECK(un.count(2));
    CHECK(un.count(4)); // without the idle rule the slot would have gone to peer 1 and 4 would be choked
    REQUIRE(d.has_optimistic);
    CHECK(d.optimistic != 4);
    CHECK(d.unchoke.size() == 4);
    CHECK((un.count(3) == 0 || d.optimistic == 3)); // only through the optimistic draw
    // Not idle any more: back to plain tit-for-tat (1 regular).
    for (auto& p : ps) p.idle = false;
    auto e = c.rechoke(ps, false, kLater);
    CHECK(e.unchoke[0] == 1);
    CHECK(e.unchoke.size() == 2);
}

TEST_CASE("choker: snubbed peers get no regular slot") {
    ChokerOptions o;
    o.upload_slots = 2; // 1 regular + 1 optimistic
    Choker c(o);
    std::vector<ChokePeer> ps = {peer(1, 1000), peer(2, 10)};
    ps[0].snubbed = true;
    auto d = c.rechoke(ps, false, kLater);
    REQUIRE(d.unchoke.size() == 2);
    CHECK(d.unchoke[0] == 2); // regular slot: the best non-snubbed
    CHECK(d.optimistic == 1); // anti-snubbing: only as the optimistic unchoke

    o.upload_slots = 1; // no optimistic slot: the snubbed peer stays choked
    Choker one(o);
    auto e = one.rechoke(ps, false, kLater);
    CHECK(e.unchoke == std::vector<PeerToken>{2});
    CHECK_FALSE(e.has_optimistic);
}

TEST_CASE("choker: optimistic unchoke rotates every third round") {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        ChokerOptions o;
        o.upload_slots = 2;
        o.seed = seed;
        Choker c(o);
        std::vector<ChokePeer> ps = {peer(1, 1000), peer(2, 0), peer(3, 0), peer(4, 0)};
        std::vector<PeerToken> opt;
        for (int round = 0; round < 9; ++round) {
            auto d = c.rechoke(ps, false, kLater + round * 10'000);
            REQUIRE(d.has_optimistic);
            CHECK(d.unchoke.front() == 1);
            CHECK(d.optimistic != 1);
            opt.push_back(d.optimistic);
        }
        CHECK(opt[0] == opt[1]);
        CHECK(opt[1] == opt[2]);
        CHECK(opt[3] != opt[2]);
        CHECK(opt[3] == opt[4]);
        CHECK(opt[4] == opt[5]);
        CHECK(opt[6] != opt[5]);
        CHECK(opt[6] == opt[8]);
    }
}

TEST_CASE("choker: optimistic replaced at once when it leaves, loses interest or becomes regular") {
    ChokerOptions o;
    o.upload_slots = 2;
    Choker c(o);
    std::vector<ChokePeer> ps = {peer(1, 1000), peer(2, 0), peer(3, 0)};
    auto d = c.rechoke(ps, false, kLater);
    REQUIRE(d.has_optimistic);
    const PeerToken first = d.optimistic;
    const PeerToken other = first == 2 ? 3 : 2;
    // It loses interest: replaced in the next round, not after three.
    for (auto& p : ps)
        if (p.token == first) p.interested = false;
    auto e = c.rechoke(ps, false, kLater);
    CHECK(e.optimistic == other);
    // It disconnects.
    ps.erase(std::remove_if(ps.begin(), ps.end(), [&](const ChokePeer& p) { return p.token == other; }), ps.end());
    auto f = c.rechoke(ps, false, kLater);
    CHECK_FALSE(f.has_optimistic);                 // the remaining one is not interested
    CHECK(f.unchoke == std::vector<PeerToken>{1}); // uninterested peers ranked below the cut stay choked
    // It earns a regular slot.
    std::vector<ChokePeer> qs = {peer(1, 10), peer(2, 0), peer(3, 0)};
    Choker g(o);
    auto r = g.rechoke(qs, false, kLater);
    const PeerToken lucky = r.optimistic;
    for (auto& q : qs)
        if (q.token == lucky) q.download_rate = 5000;
    auto s = g.rechoke(qs, false, kLater);
    CHECK(s.unchoke.front() == lucky);
    CHECK(s.optimistic != lucky);
    CHECK(s.has_optimistic);
}

TEST_CASE("choker: newly connected peers are three times as likely to be the optimistic") {
    int new_chosen = 0;
    const int trials = 3000;
    for (int t = 0; t < trials; ++t) {
        ChokerOptions o;
        o.upload_slots = 2;
        o.seed = static_cast<std::uint64_t>(t) * 7919 + 1;
        Choker c(o);
        std::vector<ChokePeer> ps = {peer(1, 1000), peer(2, 0), peer(3, 0), peer(4, 0), peer(5, 0)};
        ps[4].connected_at_ms = kLater - 5'000; // 5 s ago: new
        auto d = c.rechoke(ps, false, kLater);
        REQUIRE(d.has_optimistic);
        if (d.optimistic == 5) ++new_chosen;
    }
    // weights 3 : 1+1+1 -> 50 %; a uniform draw would give 25 %.
    const double frac = double(new_chosen) / trials;
    CHECK(frac > 0.44);
    CHECK(frac < 0.56);
}

TEST_CASE("choker: seeding ranks by upload rate to the peer") {
    ChokerOptions o;
    o.upload_slots = 3;
    Choker c(o);
    // Download rates would choose 1 and 2; as a seed we rank by what they take from us.
    std::vector<ChokePeer> ps = {peer(1, 900, 10), peer(2, 800, 20), peer(3, 0, 700), peer(4, 0, 600), peer(5, 0, 5)};
    auto d = c.rechoke(ps, true, kLater);
    REQUIRE(d.unchoke.size() == 3);
    CHECK(d.unchoke[0] == 3);
    CHECK(d.unchoke[1] == 4);
    CHECK(std::set<PeerToken>{1, 2, 5}.count(d.optimistic) == 1);
    auto l = c.rechoke(ps, false, kLater);
    CHECK(l.unchoke[0] == 1);
    CHECK(l.unchoke[1] == 2);
}

TEST_CASE("choker: rate ties keep already-unchoked peers, then the longest connected") {
    ChokerOptions o;
    o.upload_slots = 3;
    Choker c(o);
    std::vector<ChokePeer> ps = {peer(1, 0), peer(2, 0), peer(3, 0), peer(4, 0)};
    for (std::size_t i = 0; i < ps.size(); ++i) ps[i].connected_at_ms = 1000 - static_cast<std::int64_t>(i);
    ps[2].choked = false;
    auto d = c.rechoke(ps, false, kLater);
    REQUIRE(d.unchoke.size() == 3);
    CHECK(d.unchoke[0] == 3); // currently unchoked
    CHECK(d.unchoke[1] == 4); // connected earliest
}

TEST_CASE("choker: zero slots choke everyone; empty input is fine") {
    ChokerOptions o;
    o.upload_slots = 0;
    Choker c(o);
    std::vector<ChokePeer> ps = {peer(1, 10)};
    CHECK(c.rechoke(ps, false, 0).unchoke.empty());
    Choker d;
    auto r = d.rechoke({}, false, 0);
    CHECK(r.unchoke.empty());
    CHECK_FALSE(r.has_optimistic);
}

TEST_CASE("choker: pipeline depth follows the bandwidth-delay product") {
    CHECK(pipeline_depth(0, 0.05) == 4);
    CHECK(pipeline_depth(20'000, 0.05) == 4);      // 2.4 blocks -> floor 4
    CHECK(pipeline_depth(1'000'000, 0.05) == 62);  // 1 MB/s * 1 s / 16 KiB = 61.04
    CHECK(pipeline_depth(1'000'000, 2.0) == 245);  // long RTT: 2 * rtt = 4 s
    CHECK(pipeline_depth(100e6, 0.001) == 250);    // cap
    CHECK(pipeline_depth(100e6, 0.001, 64) == 64); // the peer's reqq is lower
    CHECK(pipeline_depth(100e6, 0.001, 0) == 1);   // nonsense reqq still allows one request
    CHECK(pipeline_depth(-5, -1) == 4);
    CHECK(pipeline_depth(1.0 / 0.0, 0.1) == 250);
}
