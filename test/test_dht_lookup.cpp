// The iterative lookup (dht/lookup.hpp): first over a simulated network of 2000 nodes (all alive, 20% dead, some
// slow) where it must find the true 8 closest live nodes, then rule by rule with hand-made ids: alpha, each contact
// once, the frontier of k, duplicates, the candidate bound, the query cap against liars, replies that must not
// count, done(), tokens, ids that change, bootstrap endpoints.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "dht/lookup.hpp"

using namespace p2p;
using namespace p2p::dht;

namespace {

std::string hex(const NodeId& id) { return to_hex(id.view()); }

NodeId random_id(std::mt19937_64& rng) {
    NodeId id;
    for (auto& b : id.b) b = static_cast<std::uint8_t>(rng());
    return id;
}

// 10.a.b.c:6881 for node number n (n < 2^24).
Endpoint endpoint_of(std::uint32_t n, std::uint8_t first = 10) {
    Endpoint e;
    e.ip[0] = first;
    e.ip[1] = static_cast<std::uint8_t>(n >> 16);
    e.ip[2] = static_cast<std::uint8_t>(n >> 8);
    e.ip[3] = static_cast<std::uint8_t>(n);
    e.port = 6881;
    return e;
}
std::uint32_t number_of(const Endpoint& e) {
    return static_cast<std::uint32_t>(e.ip[1]) << 16 | static_cast<std::uint32_t>(e.ip[2]) << 8 | e.ip[3];
}

// --- the simulated network ---

// Node n has id ids[n] at endpoint_of(n). Its "routing table" is its 16 true nearest plus 40 random others. The 40
// are drawn as a routing table holds them, 5 at random from each of the buckets 0..7 (the nodes sharing exactly b
// leading bits with it), dead ones included (stale far buckets): 40 drawn uniformly would be 20 in bucket 0 and
// almost none in buckets 4..7, a hole no real table has, where a greedy descent can stall whatever the lookup does
// (3 misses in 500 lookups with every node alive). The 16 nearest are live nodes (a node's own neighbourhood is what
// it refreshes most: its own-id lookups, the queries its neighbours send it), unless stale_near.
struct Net {
    std::vector<NodeId> ids;
    std::vector<std::vector<std::uint32_t>> known;
    std::vector<bool> dead, sluggish;
};

Net make_net(std::size_t n, double dead_share, double slow_share, bool stale_near, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    Net net;
    for (std::size_t i = 0; i < n; ++i) net.ids.push_back(random_id(rng));
    std::uniform_real_distribution<double> u(0, 1);
    for (std::size_t i = 0; i < n; ++i) {
        const bool d = u(rng) < dead_share;
        net.dead.push_back(d);
        net.sluggish.push_back(!d && u(rng) < slow_share);
    }
    net.known.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        std::vector<std::uint32_t> near;
        std::vector<std::vector<std::uint32_t>> bucket(8);
        for (std::uint32_t j = 0; j < n; ++j) {
            if (j == i) continue;
            if (stale_near || !net.dead[j]) near.push_back(j);
            const int b = common_prefix_bits(net.ids[i], net.ids[j]);
            if (b < 8) bucket[static_cast<std::size_t>(b)].push_back(j);
        }
        std::partial_sort(near.begin(), near.begin() + 16, near.end(),
                          [&](std::uint32_t a, std::uint32_t b) { return closer(net.ids[i], net.ids[a], net.ids[b]); });
        std::set<std::uint32_t> mine(near.begin(), near.begin() + 16);
        for (auto& members : bucket) {
            std::shuffle(members.begin(), members.end(), rng);
            for (std::size_t m = 0; m < members.size() && m < 5; ++m) mine.insert(members[m]);
        }
        net.known[i].assign(mine.begin(), mine.end());
    }
    return net;
}

Contact contact_of(const Net& net, std::uint32_t i) { return Contact{net.ids[i], endpoint_of(i)}; }

// The k of `among` closest to target, as hex ids, nearest first.
std::vector<std::string> closest_of(const Net& net, std::vector<std::uint32_t> among, const NodeId& target,
                                    std::size_t k) {
    k = std::min(k, among.size());
    std::partial_sort(among.begin(), among.begin() + static_cast<std::ptrdiff_t>(k), among.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return closer(target, net.ids[a], net.ids[b]); });
    std::vector<std::string> out;
    for (std::size_t j = 0; j < k; ++j) out.push_back(hex(net.ids[among[j]]));
    return out;
}

// What node i answers to a find_node / get_peers for target: the 8 nodes it knows closest to it (BEP 5).
std::vector<std::uint32_t> answer(const Net& net, std::uint32_t i, const NodeId& target) {
    std::vector<std::uint32_t> k = net.known[i];
    std::partial_sort(k.begin(), k.begin() + 8, k.end(),
                      [&](std::uint32_t a, std::uint32_t b) { return closer(target, net.ids[a], net.ids[b]); });
    k.resize(8);
    return k;
}

struct Outcome {
    std::vector<std::string> found;   // closest_replied(), as hex ids
    std::vector<std::string> learned; // the 8 closest live nodes among the seeds and every node a reply named
    std::size_t queries = 0, failures = 0;
};

// Drives one lookup the way the DHT node will: a fake clock, each query resolved by events. A live node answers
// in 5..50 ms; a sluggish one gets slow() at 200 ms and answers at 600..900 ms; a dead one gets slow() at 200 ms
// and failed() at 1000 ms. Checked on the way: no contact twice, at most alpha in flight and not slow, in_flight()
// true, never stuck (not done, yet nothing in flight and nothing to send).
Outcome drive(const Net& net, const NodeId& target, std::mt19937_64& rng, LookupConfig cfg = {}) {
    enum Kind { reply, slow, fail };
    struct Event {
        std::uint64_t t, seq;
        std::uint32_t node;
        Kind kind;
        bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
    };
    std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
    std::uint64_t now = 0, seq = 0;
    std::set<std::uint32_t> queried, outstanding, active; // active: outstanding and not yet slow
    std::set<std::uint32_t> named;

    Lookup lk(target, cfg);
    std::vector<Contact> seeds;
    while (seeds.size() < 8) {
        const auto i = static_cast<std::uint32_t>(rng() % net.ids.size());
        seeds.push_back(contact_of(net, i));
        named.insert(i);
    }
    lk.add_candidates(seeds);

    bool stuck = false;
    for (;;) {
        for (const Contact& c : lk.next()) {
            const std::uint32_t i = number_of(c.addr);
            CHECK(queried.insert(i).second); // each contact returned once
            CHECK(hex(c.id) == hex(net.ids[i]));
            outstanding.insert(i);
            active.insert(i);
            if (net.dead[i]) {
                events.push({now + 200, seq++, i, slow});
                events.push({now + 1000, seq++, i, fail});
            } else if (net.sluggish[i]) {
                events.push({now + 200, seq++, i, slow});
                events.push({now + 600 + rng() % 300, seq++, i, reply});
            } else {
                events.push({now + 5 + rng() % 46, seq++, i, reply});
            }
        }
        CHECK(active.size() <= cfg.alpha);
        CHECK(lk.in_flight() == outstanding.size());
        if (lk.done()) break;
        if (events.empty()) {
            stuck = true;
            break;
        }
        const Event ev = events.top();
        events.pop();
        now = ev.t;
        const Contact from = contact_of(net, ev.node);
        active.erase(ev.node);
        if (ev.kind == reply) {
            std::vector<Contact> nodes;
            for (std::uint32_t j : answer(net, ev.node, target)) {
                nodes.push_back(contact_of(net, j));
                named.insert(j);
            }
            lk.replied(from, nodes, "tok" + std::to_string(ev.node));
            outstanding.erase(ev.node);
        } else if (ev.kind == slow) {
            lk.slow(from);
        } else {
            lk.failed(from);
            outstanding.erase(ev.node);
        }
    }
    CHECK_FALSE(stuck);
    CHECK(events.empty());
    CHECK(lk.in_flight() == 0);
    CHECK(lk.queries_sent() == queried.size());
    CHECK(lk.queries_sent() == lk.replies() + lk.failures());

    Outcome out;
    out.queries = lk.queries_sent();
    out.failures = lk.failures();
    for (const Lookup::Found& f : lk.closest_replied()) {
        CHECK(f.token == "tok" + std::to_string(number_of(f.contact.addr)));
        out.found.push_back(hex(f.contact.id));
    }
    std::vector<std::uint32_t> named_live;
    for (std::uint32_t i : named)
        if (!net.dead[i]) named_live.push_back(i);
    out.learned = closest_of(net, named_live, target, 8);
    return out;
}

struct Stats {
    int lookups = 50, exact = 0;
    std::size_t queries = 0, most = 0, failures = 0;
    std::size_t worst_rank = 0; // the farthest live rank (1 = the closest live node) of a node found
};

// 50 lookups for random targets, each from 8 random seeds. Every lookup must end with the 8 closest live nodes of
// all it was told about (nothing it learned is lost, whatever the network); how often that is the true 8 closest
// live nodes of the whole network depends on the network, and is counted.
Stats simulate(const Net& net, std::uint64_t seed) {
    std::vector<std::uint32_t> live;
    for (std::uint32_t i = 0; i < net.ids.size(); ++i)
        if (!net.dead[i]) live.push_back(i);
    std::mt19937_64 rng(seed);
    Stats st;
    for (int n = 0; n < st.lookups; ++n) {
        const NodeId target = random_id(rng);
        const Outcome o = drive(net, target, rng);
        CHECK(o.found == o.learned);
        const auto truth = closest_of(net, live, target, 64);
        st.exact += std::equal(o.found.begin(), o.found.end(), truth.begin(), truth.begin() + 8);
        for (const std::string& f : o.found) {
            const auto at = std::find(truth.begin(), truth.end(), f);
            st.worst_rank = std::max<std::size_t>(st.worst_rank, static_cast<std::size_t>(at - truth.begin()) + 1);
        }
        st.queries += o.queries;
        st.most = std::max(st.most, o.queries);
        st.failures += o.failures;
    }
    MESSAGE(st.exact, "/", st.lookups, " found the true 8 closest live nodes; queries per lookup mean ",
            static_cast<double>(st.queries) / st.lookups, " max ", st.most, " (cap 64); failures per lookup mean ",
            static_cast<double>(st.failures) / st.lookups, "; farthest live rank found ", st.worst_rank);
    return st;
}

// --- hand-made ids: the target is all zeros, so an id's first byte is its distance rank ---

NodeId small_id(std::uint8_t n) {
    NodeId id;
    id.b[0] = n;
    id.b[19] = 1; // not the target itself
    return id;
}
Contact c(std::uint8_t n) { return Contact{small_id(n), endpoint_of(n)}; }
std::vector<std::uint8_t> ranks(const std::vector<Contact>& cs) {
    std::vector<std::uint8_t> out;
    for (const Contact& x : cs) out.push_back(x.id.b[0]);
    return out;
}
std::vector<std::uint8_t> ranks(const std::vector<Lookup::Found>& fs) {
    std::vector<std::uint8_t> out;
    for (const auto& f : fs) out.push_back(f.contact.id.b[0]);
    return out;
}
std::vector<Contact> range(std::uint8_t from, std::uint8_t to) {
    std::vector<Contact> out;
    for (unsigned n = from; n <= to; ++n) out.push_back(c(static_cast<std::uint8_t>(n)));
    return out;
}
using R = std::vector<std::uint8_t>;
const NodeId kTarget{};

} // namespace

TEST_CASE("dht lookup: finds the true 8 closest among 2000 live nodes") {
    const Stats st = simulate(make_net(2000, 0.0, 0.0, false, 1), 101);
    CHECK(st.exact == st.lookups);
    CHECK(st.most <= 32); // well under the cap of 64
}

// With dead nodes in the far buckets, a node next to the target may name a dead node as its 8th; the live one just
// behind it is then named only by nodes no lookup has reason to ask. Measured over 500 lookups (10 networks): 494
// exact with 20% dead, 496 with 15% slow as well; each miss examined differed in its 8th node only (a live node
// ranked at most 17th instead). A wider frontier does not cure it (k = 16: 499 of 500, twice the queries), so the
// margins below.
TEST_CASE("dht lookup: finds the 8 closest live nodes when 20% are dead") {
    const Stats st = simulate(make_net(2000, 0.2, 0.0, false, 2), 102);
    CHECK(st.exact >= st.lookups - 3);
    CHECK(st.worst_rank <= 20);
    CHECK(st.failures >= static_cast<std::size_t>(st.lookups)); // the dead were met, and did not stop it
    CHECK(st.most <= 40);
}

TEST_CASE("dht lookup: finds the 8 closest live nodes with 20% dead and 15% answering after slow()") {
    const Stats st = simulate(make_net(2000, 0.2, 0.15, false, 3), 103);
    CHECK(st.exact >= st.lookups - 3);
    CHECK(st.worst_rank <= 20);
    CHECK(st.most <= 48);
}

// Tables never purged: every node's 16 nearest include the dead, so the nodes around the target hand out dead
// neighbours in their 8 and the live nodes behind them often go unnamed (measured: 370 of 500 exact). The lookup
// still ends with the closest live nodes it was told about.
TEST_CASE("dht lookup: stale tables naming the dead still give 8 live nodes near the target") {
    const Stats st = simulate(make_net(2000, 0.2, 0.15, true, 4), 104);
    CHECK(st.exact >= st.lookups / 2);
    CHECK(st.worst_rank <= 24);
    CHECK(st.most <= 48);
}

TEST_CASE("dht lookup: alpha in flight, closest first, each contact once, slow() frees a slot") {
    Lookup lk(kTarget); // alpha 3, k 8
    auto shuffled = range(1, 10);
    std::reverse(shuffled.begin(), shuffled.end());
    lk.add_candidates(shuffled);
    CHECK(ranks(lk.next()) == R{1, 2, 3});
    CHECK(lk.next().empty()); // three in flight
    CHECK(lk.in_flight() == 3);
    lk.replied(c(1), {});
    CHECK(ranks(lk.next()) == R{4});
    lk.slow(c(2));
    CHECK(lk.in_flight() == 3); // still in flight, but its slot is free
    CHECK(ranks(lk.next()) == R{5});
    lk.slow(c(2)); // twice changes nothing
    CHECK(lk.next().empty());
    lk.replied(c(2), {}); // a slow node may still answer
    CHECK(lk.next().empty());
    lk.failed(c(3));
    // c(2) is back in the frontier {1,2,4,5,6,7,8,9}; 3 failed; 6 goes out
    CHECK(ranks(lk.next()) == R{6});

    // Drive to the end, everyone answering: no contact ever comes twice.
    std::set<std::uint8_t> seen{1, 2, 3, 4, 5, 6};
    std::vector<Contact> pending{c(4), c(5), c(6)};
    while (!pending.empty()) {
        lk.replied(pending.front(), {});
        pending.erase(pending.begin());
        for (const Contact& x : lk.next()) {
            CHECK(seen.insert(x.id.b[0]).second);
            pending.push_back(x);
        }
        CHECK(lk.in_flight() <= 3);
    }
    CHECK(lk.done());
    CHECK(ranks(lk.closest_replied()) == R{1, 2, 4, 5, 6, 7, 8, 9});
    CHECK(seen.count(10) == 0); // outside the k closest live: never asked
    CHECK(lk.queries_sent() == seen.size());
}

TEST_CASE("dht lookup: only the k closest are queried; a failure lets the next one in") {
    Lookup lk(kTarget, LookupConfig{.alpha = 3, .k = 2});
    lk.add_candidates(range(1, 5));
    CHECK(ranks(lk.next()) == R{1, 2}); // alpha would allow 3, the frontier is 2
    lk.failed(c(1));
    CHECK(ranks(lk.next()) == R{3});
    lk.replied(c(2), {});
    CHECK_FALSE(lk.done());
    lk.replied(c(3), {});
    CHECK(lk.next().empty());
    CHECK(lk.done());
    CHECK(ranks(lk.closest_replied()) == R{2, 3});
    CHECK(lk.queries_sent() == 3);
    CHECK(lk.failures() == 1);
}

TEST_CASE("dht lookup: duplicates by id or endpoint, and port 0, are ignored") {
    Lookup lk(kTarget);
    lk.add_candidates({c(5)});
    Contact same_id = c(5);
    same_id.addr = endpoint_of(99);
    Contact same_endpoint = c(6);
    same_endpoint.addr = c(5).addr;
    Contact no_port = c(7);
    no_port.addr.port = 0;
    Contact other_port = c(8);
    other_port.addr = c(5).addr;
    other_port.addr.port = 6882; // same IP, another port: another node
    lk.add_candidates({same_id, same_endpoint, no_port, c(5), other_port});
    CHECK(lk.candidates() == 2);
    const auto q = lk.next();
    REQUIRE(q.size() == 2);
    CHECK(ranks(q) == R{5, 8});
    // A reply naming known nodes (and the replier itself) adds nothing.
    lk.replied(c(5), {c(5), c(8), same_id});
    CHECK(lk.candidates() == 2);
    CHECK(lk.next().empty());
}

TEST_CASE("dht lookup: max_candidates drops the farthest unqueried, never a queried one") {
    SUBCASE("the closest are kept whatever the order of arrival") {
        Lookup lk(kTarget, LookupConfig{.alpha = 1, .k = 3, .max_candidates = 10});
        auto cs = range(1, 20);
        std::mt19937_64 rng(7);
        std::shuffle(cs.begin(), cs.end(), rng);
        for (const Contact& x : cs) lk.add_candidates({x});
        CHECK(lk.candidates() == 10);
        // Fail everyone: the frontier walks the whole list, closest first.
        R asked;
        for (auto q = lk.next(); !q.empty(); q = lk.next()) {
            REQUIRE(q.size() == 1);
            asked.push_back(q[0].id.b[0]);
            lk.failed(q[0]);
        }
        CHECK(asked == R{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        CHECK(lk.done());
        CHECK(lk.closest_replied().empty());
    }
    SUBCASE("queries in flight survive a flood of closer nodes") {
        Lookup lk(kTarget, LookupConfig{.alpha = 3, .k = 3, .max_candidates = 3});
        lk.add_candidates({c(10), c(11), c(12)});
        CHECK(ranks(lk.next()) == R{10, 11, 12});
        lk.replied(c(10), range(1, 5));
        CHECK(lk.candidates() == 6); // 10, 11, 12 queried; 1, 2, 3 kept; 4, 5 dropped
        lk.replied(c(11), {});
        lk.failed(c(12));
        CHECK(lk.replies() == 2);
        CHECK(lk.failures() == 1);
        lk.add_candidates({c(4)}); // farther than every unqueried one, over the bound: dropped at once
        CHECK(lk.candidates() == 6);
        CHECK(ranks(lk.next()) == R{1, 2, 3});
    }
}

TEST_CASE("dht lookup: max_queries ends a lookup among liars returning ever-closer fake nodes") {
    // Every node answers with 8 fresh nodes, each sharing one more leading bit with the target than the replier:
    // the lookup never runs out of closer unqueried nodes. Endpoints are 11.x.y.z, numbered as they are invented.
    std::mt19937_64 rng(11);
    const NodeId target = random_id(rng);
    std::uint32_t invented = 0;
    auto fake_near = [&](int prefix_bits) {
        NodeId id = random_id(rng);
        for (int bit = 0; bit < std::min(prefix_bits, 160); ++bit) {
            const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
            id.b[bit / 8] = static_cast<std::uint8_t>((id.b[bit / 8] & ~mask) | (target.b[bit / 8] & mask));
        }
        if (prefix_bits < 160) { // exactly prefix_bits in common
            const int bit = prefix_bits;
            const std::uint8_t mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
            id.b[bit / 8] = static_cast<std::uint8_t>((id.b[bit / 8] & ~mask) | (~target.b[bit / 8] & mask));
        }
        return Contact{id, endpoint_of(++invented, 11)};
    };
    LookupConfig cfg; // alpha 3, k 8, max_queries 64
    Lookup lk(target, cfg);
    std::vector<Contact> seeds;
    for (int i = 0; i < 8; ++i) seeds.push_back(fake_near(0));
    lk.add_candidates(seeds);

    std::vector<Contact> pending;
    std::size_t rounds = 0;
    for (; rounds < 10000; ++rounds) {
        for (const Contact& x : lk.next()) pending.push_back(x);
        if (pending.empty()) break;
        const Contact from = pending.front();
        pending.erase(pending.begin());
        if (lk.queries_sent() == cfg.max_queries) CHECK_FALSE(lk.done()); // the cap is reached, replies are due
        std::vector<Contact> lies;
        const int p = common_prefix_bits(target, from.id);
        for (int i = 0; i < 8; ++i) lies.push_back(fake_near(p + 1)); // closer than the replier, by one bit
        lk.replied(from, lies);
        CHECK(lk.candidates() <= cfg.max_candidates + cfg.max_queries);
    }
    CHECK(rounds < 10000);
    CHECK(lk.done());
    CHECK(lk.queries_sent() == cfg.max_queries);
    CHECK(lk.replies() == cfg.max_queries);
    CHECK(lk.next().empty());
    CHECK(lk.closest_replied().size() == 8);
}

TEST_CASE("dht lookup: max_queries with everyone failing") {
    Lookup lk(kTarget, LookupConfig{.alpha = 2, .max_queries = 5});
    lk.add_candidates(range(1, 20));
    std::size_t asked = 0;
    for (auto q = lk.next(); !q.empty(); q = lk.next()) {
        for (const Contact& x : q) {
            ++asked;
            CHECK_FALSE(lk.done());
            lk.failed(x);
        }
    }
    CHECK(asked == 5);
    CHECK(lk.done());
}

TEST_CASE("dht lookup: replies that must not count") {
    Lookup lk(kTarget, LookupConfig{.alpha = 1});
    lk.add_candidates(range(1, 5));
    CHECK(ranks(lk.next()) == R{1});

    lk.replied(c(2), {c(50)}); // a known candidate, never queried
    Contact impostor = c(1);   // the id we queried, from another endpoint
    impostor.addr = endpoint_of(77);
    lk.replied(impostor, {c(51)});
    lk.replied(Contact{small_id(60), endpoint_of(60)}, {c(52)}); // a stranger
    CHECK(lk.replies() == 0);
    CHECK(lk.candidates() == 5);
    CHECK(lk.in_flight() == 1);
    lk.failed(c(2)); // failures and soft timeouts of nodes never queried are ignored as well
    lk.slow(c(3));
    CHECK(lk.failures() == 0);
    CHECK(lk.next().empty()); // c(1) still holds the only slot

    lk.replied(c(1), {});
    CHECK(lk.replies() == 1);
    lk.replied(c(1), {c(53)}); // a second answer
    lk.failed(c(1));           // a late failure
    CHECK(lk.replies() == 1);
    CHECK(lk.failures() == 0);
    CHECK(lk.candidates() == 5);

    // A late answer from a node that already failed does not count either.
    CHECK(ranks(lk.next()) == R{2});
    lk.failed(c(2));
    lk.replied(c(2), {c(54)});
    CHECK(lk.replies() == 1);
    CHECK(lk.candidates() == 5);
}

TEST_CASE("dht lookup: done()") {
    SUBCASE("no candidate at all") {
        Lookup lk(kTarget);
        CHECK(lk.done());
        CHECK(lk.next().empty());
    }
    SUBCASE("waits for every query in flight, even outside the frontier") {
        Lookup lk(kTarget, LookupConfig{.alpha = 3, .k = 2});
        lk.add_candidates({c(5), c(6)});
        CHECK_FALSE(lk.done());
        CHECK(ranks(lk.next()) == R{5, 6});
        lk.replied(c(5), {c(1), c(2)}); // closer nodes push c(6) out of the frontier
        CHECK(ranks(lk.next()) == R{1, 2});
        lk.replied(c(1), {});
        lk.replied(c(2), {});
        CHECK_FALSE(lk.done()); // c(6) is still in flight
        CHECK(lk.next().empty());
        lk.failed(c(6));
        CHECK(lk.done());
        CHECK(ranks(lk.closest_replied()) == R{1, 2});
    }
    SUBCASE("waits for slow queries") {
        Lookup lk(kTarget, LookupConfig{.k = 1});
        lk.add_candidates({c(1)});
        CHECK(ranks(lk.next()) == R{1});
        lk.slow(c(1));
        CHECK(lk.next().empty()); // nobody else to ask
        CHECK_FALSE(lk.done());
        lk.replied(c(1), {});
        CHECK(lk.done());
    }
    SUBCASE("fewer than k live nodes: done once all have answered or failed") {
        Lookup lk(kTarget);
        lk.add_candidates(range(1, 3));
        CHECK(ranks(lk.next()) == R{1, 2, 3});
        lk.replied(c(1), {});
        lk.failed(c(2));
        CHECK_FALSE(lk.done());
        lk.replied(c(3), {});
        CHECK(lk.done());
        CHECK(ranks(lk.closest_replied()) == R{1, 3});
    }
    SUBCASE("a new closer node reopens it") {
        Lookup lk(kTarget, LookupConfig{.k = 1});
        lk.add_candidates({c(5)});
        lk.next();
        lk.replied(c(5), {});
        CHECK(lk.done());
        lk.add_candidates({c(1)});
        CHECK_FALSE(lk.done());
        CHECK(ranks(lk.next()) == R{1});
    }
}

TEST_CASE("dht lookup: tokens come back with closest_replied, nearest first, at most k") {
    Lookup lk(kTarget, LookupConfig{.alpha = 8, .k = 3});
    lk.add_candidates(range(1, 6));
    CHECK(ranks(lk.next()) == R{1, 2, 3});
    lk.replied(c(3), {}, std::string("tok-3"));
    lk.replied(c(1), {}, std::string("tok-1"));
    lk.failed(c(2));
    CHECK(ranks(lk.next()) == R{4});
    lk.replied(c(4), {}); // no token (a find_node reply)
    CHECK(lk.done());
    const auto found = lk.closest_replied();
    REQUIRE(found.size() == 3);
    CHECK(ranks(found) == R{1, 3, 4});
    CHECK(found[0].token == "tok-1");
    CHECK(found[1].token == "tok-3");
    CHECK(found[2].token.empty());
    CHECK(same_endpoint(found[1].contact.addr, c(3).addr));
}

TEST_CASE("dht lookup: a reply under another id") {
    SUBCASE("the endpoint is believed about its own id") {
        Lookup lk(kTarget, LookupConfig{.k = 2});
        lk.add_candidates({c(5), c(6), c(7)});
        CHECK(ranks(lk.next()) == R{5, 6});
        Contact renamed = c(5);
        renamed.id = small_id(9); // it moves behind 6 and 7
        lk.replied(renamed, {});
        CHECK(lk.replies() == 1);
        CHECK(ranks(lk.next()) == R{7}); // the frontier is now {6, 7}
        lk.replied(c(6), {});
        lk.replied(c(7), {});
        CHECK(lk.done());
        CHECK(ranks(lk.closest_replied()) == R{6, 7});
        // Its new id is known: nobody may take it.
        Contact taker = c(9);
        taker.addr = endpoint_of(90);
        lk.add_candidates({taker});
        CHECK(lk.candidates() == 3);
    }
    SUBCASE("an id another candidate holds: counted as a failure, its nodes unused") {
        Lookup lk(kTarget);
        lk.add_candidates({c(5), c(6)});
        lk.next();
        Contact thief = c(5);
        thief.id = small_id(6);
        lk.replied(thief, {c(1)});
        CHECK(lk.replies() == 0);
        CHECK(lk.failures() == 1);
        CHECK(lk.candidates() == 2);
        CHECK(lk.in_flight() == 1);
    }
}

TEST_CASE("dht lookup: bootstrap endpoints go first and take the id they report") {
    Lookup lk(kTarget, LookupConfig{.alpha = 3, .k = 2});
    lk.add_candidates({c(1)});
    lk.add_bootstrap({endpoint_of(200), endpoint_of(201), endpoint_of(200), c(1).addr});
    CHECK(lk.candidates() == 3);
    const auto q = lk.next();
    REQUIRE(q.size() == 2); // the frontier of 2 is the two routers
    CHECK(number_of(q[0].addr) == 200);
    CHECK(number_of(q[1].addr) == 201);
    lk.replied(Contact{small_id(3), endpoint_of(200)}, {c(2)});
    lk.failed(Contact{NodeId{}, endpoint_of(201)});
    CHECK(ranks(lk.next()) == R{1, 2});
    lk.replied(c(1), {});
    lk.replied(c(2), {});
    CHECK(lk.done());
    CHECK(ranks(lk.closest_replied()) == R{1, 2});
    CHECK(lk.replies() == 3);
}
