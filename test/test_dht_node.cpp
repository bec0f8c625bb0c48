// DhtNode (dht/dht_node.hpp) in a simulated network: many nodes in one process on a fake UDP transport (a queue of
// datagrams delivered by address) under a fake clock. Serving is checked datagram by datagram against the KRPC
// codec; lookups and announces across the whole network; the hostile cases (forged replies, floods, unroutable
// nodes) leave a node working and bounded.
#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

#include "crypto/random.hpp"
#include "dht/dht_node.hpp"
#include "dht/node_id.hpp"

using namespace p2p;
using namespace p2p::dht;

namespace {

Endpoint ep(std::uint32_t n, std::uint16_t port = 6881) {
    Endpoint e;
    e.ip = {10, static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
    e.port = port;
    return e;
}

std::string key(const Endpoint& e) { return ip_key(e) + std::to_string(e.port); }

NodeId rid() {
    NodeId id;
    random_bytes(id.b.data(), id.b.size());
    return id;
}

struct Net {
    struct Packet {
        Endpoint from, to;
        std::string bytes;
    };
    TimeMs now = 1'000'000;
    std::deque<Packet> wire;
    std::map<std::string, std::unique_ptr<DhtNode>> nodes;
    std::map<std::string, Endpoint> addr_of;
    std::set<std::string> dead; // nodes that never answer
    std::size_t delivered = 0;
    std::vector<Packet> to_outside; // datagrams sent to addresses no node has

    DhtNode& add(const Endpoint& where, DhtConfig cfg = {}) {
        const std::string k = key(where);
        auto n = std::make_unique<DhtNode>(
            cfg,
            [this, where](const Endpoint& to, std::string d) {
                wire.push_back({where, to, std::move(d)});
                return true;
            },
            rid(), now);
        DhtNode& ref = *n;
        nodes[k] = std::move(n);
        addr_of[k] = where;
        return ref;
    }
    void deliver_all(std::size_t max = 1'000'000) {
        while (!wire.empty() && max--) {
            Packet p = std::move(wire.front());
            wire.pop_front();
            auto it = nodes.find(key(p.to));
            if (it == nodes.end()) {
                to_outside.push_back(std::move(p));
                continue;
            }
            if (dead.count(key(p.to))) continue;
            ++delivered;
            it->second->on_datagram(p.bytes, p.from, now);
        }
    }
    // Advances the clock in steps of `step` ms, delivering everything in flight at each step.
    void run(TimeMs ms, TimeMs step = 100) {
        for (TimeMs t = 0; t < ms; t += step) {
            deliver_all();
            now += step;
            for (auto& [k, n] : nodes) n->tick(now);
        }
        deliver_all();
    }
};

// Sends one datagram to `n` from `from` and returns what it answered (empty if nothing).
std::vector<std::string> exchange(Net& net, DhtNode& n, const Endpoint& from, const std::string& d) {
    n.on_datagram(d, from, net.now);
    std::vector<std::string> out;
    for (auto it = net.wire.begin(); it != net.wire.end();) {
        if (same_endpoint(it->to, from)) {
            out.push_back(it->bytes);
            it = net.wire.erase(it);
        } else {
            ++it;
        }
    }
    return out;
}

} // namespace

TEST_CASE("dht node: serving ping, find_node, get_peers, announce_peer and errors") {
    Net net;
    DhtNode& n = net.add(ep(1));
    const Endpoint q = ep(2, 7000);
    const NodeId qid = rid();

    auto r = exchange(net, n, q, krpc::encode_query("aa", krpc::ping(qid)));
    REQUIRE(r.size() == 1);
    auto m = krpc::decode(r[0]);
    REQUIRE(m);
    CHECK(m->t == "aa");
    REQUIRE(m->response());
    CHECK(m->response()->id == n.id());
    REQUIRE(m->ip); // BEP 42: the querier's address as we saw it
    CHECK(same_endpoint(*m->ip, q));

    // get_peers: a token, and no values yet
    const NodeId ih = rid();
    r = exchange(net, n, q, krpc::encode_query("gp", krpc::get_peers(qid, ih)));
    REQUIRE(r.size() == 1);
    m = krpc::decode(r[0]);
    REQUIRE(m);
    REQUIRE(m->response());
    REQUIRE(m->response()->token);
    CHECK(m->response()->values.empty());
    const std::string token = *m->response()->token;

    // announce_peer with a bad token: error 203; with the token: stored, and get_peers returns it
    r = exchange(net, n, q, krpc::encode_query("a1", krpc::announce_peer(qid, ih, 5555, "bogus")));
    REQUIRE(r.size() == 1);
    m = krpc::decode(r[0]);
    REQUIRE(m);
    REQUIRE(m->error());
    CHECK(m->error()->code == krpc::kErrorProtocol);
    r = exchange(net, n, q, krpc::encode_query("a2", krpc::announce_peer(qid, ih, 5555, token)));
    REQUIRE(r.size() == 1);
    m = krpc::decode(r[0]);
    REQUIRE(m);
    CHECK(m->response());
    const Endpoint other = ep(3, 7001);
    r = exchange(net, n, other, krpc::encode_query("g2", krpc::get_peers(rid(), ih)));
    REQUIRE(r.size() == 1);
    m = krpc::decode(r[0]);
    REQUIRE(m);
    REQUIRE(m->response());
    REQUIRE(m->response()->values.size() == 1);
    Endpoint want = q;
    want.port = 5555;
    CHECK(same_endpoint(m->response()->values[0], want));
    // implied_port: the datagram's source port counts
    r = exchange(net, n, other, krpc::encode_query("g3", krpc::get_peers(rid(), ih)));
    m = krpc::decode(r.at(0));
    const std::string token2 = *m->response()->token;
    r = exchange(net, n, other, krpc::encode_query("a3", krpc::announce_peer(rid(), ih, 1, token2, true)));
    r = exchange(net, n, ep(4), krpc::encode_query("g4", krpc::get_peers(rid(), ih)));
    m = krpc::decode(r.at(0));
    REQUIRE(m->response());
    CHECK(m->response()->values.size() == 2);

    // unknown method: 204; a broken query: 203; a broken reply: nothing
    krpc::Query unk;
    unk.method = krpc::Method::unknown;
    unk.unknown_name = "sample_infohashes";
    unk.id = qid;
    r = exchange(net, n, q, krpc::encode_query("u1", unk));
    m = krpc::decode(r.at(0));
    REQUIRE(m->error());
    CHECK(m->error()->code == krpc::kErrorMethodUnknown);
    r = exchange(net, n, q, "d1:t2:xx1:y1:q1:q4:pinge");
    m = krpc::decode(r.at(0));
    REQUIRE(m);
    REQUIRE(m->error());
    CHECK(m->error()->code == krpc::kErrorProtocol);
    CHECK(m->t == "xx");
    CHECK(exchange(net, n, q, "d1:t2:xx1:y1:r1:rdee").empty());
    CHECK(exchange(net, n, q, "garbage").empty());
}

TEST_CASE("dht node: a network of 300 nodes bootstraps, announces and finds peers") {
    Net net;
    DhtNode& boot = net.add(ep(1));
    (void)boot;
    for (std::uint32_t i = 2; i <= 300; ++i) {
        DhtNode& n = net.add(ep(i));
        n.add_bootstrap(ep(1), net.now);
        if (i % 25 == 0) net.run(200); // joins spread out over time, as in life
    }
    net.run(20'000);
    std::size_t with_nodes = 0;
    for (auto& [k, n] : net.nodes)
        if (n->stats(net.now).good >= 8) ++with_nodes;
    MESSAGE("nodes with >= 8 good contacts: " << with_nodes << " of " << net.nodes.size());
    CHECK(with_nodes >= 290);

    // Node 150 announces a torrent (as a seed on port 7777); node 275 looks it up.
    const NodeId ih = rid();
    DhtNode& seed = *net.nodes[key(ep(150))];
    CHECK(seed.track(ih, 7777, false, nullptr, net.now));
    net.run(5000);
    DhtNode& leech = *net.nodes[key(ep(275))];
    std::vector<Endpoint> found;
    std::size_t done_with = 999;
    const auto id = leech.get_peers(
        ih, 0, false, [&](const std::vector<Endpoint>& p) { found.insert(found.end(), p.begin(), p.end()); },
        [&](std::size_t n) { done_with = n; }, net.now);
    CHECK(id != 0);
    net.run(5000);
    REQUIRE(found.size() == 1);
    Endpoint want = ep(150);
    want.port = 7777;
    CHECK(same_endpoint(found[0], want));
    CHECK(done_with == 1);
    const auto st = leech.stats(net.now);
    CHECK(st.lookups_done >= 1);
    MESSAGE("queries per lookup (all lookups of node 275): " << st.lookup_queries / st.lookups_done);
    CHECK(st.lookup_queries / st.lookups_done < 64);
}

TEST_CASE("dht node: lookups survive dead nodes and the table drops them") {
    Net net;
    net.add(ep(1));
    for (std::uint32_t i = 2; i <= 120; ++i) {
        net.add(ep(i)).add_bootstrap(ep(1), net.now);
        net.run(100);
    }
    net.run(10'000);
    for (std::uint32_t i = 60; i <= 90; ++i) net.dead.insert(key(ep(i))); // a quarter of the network goes away
    const NodeId ih = rid();
    net.nodes[key(ep(100))]->track(ih, 7000, false, nullptr, net.now);
    net.run(30'000);
    std::vector<Endpoint> found;
    bool done = false;
    net.nodes[key(ep(5))]->get_peers(
        ih, 0, false, [&](const std::vector<Endpoint>& p) { found.insert(found.end(), p.begin(), p.end()); },
        [&](std::size_t) { done = true; }, net.now);
    net.run(30'000);
    CHECK(done);
    CHECK(found.size() == 1);
}

TEST_CASE("dht node: forged replies, unroutable nodes and floods") {
    Net net;
    DhtNode& n = net.add(ep(1));
    // The node pings a node; the reply is forged from elsewhere, then with a wrong transaction id: both dropped.
    n.add_node(ep(2), net.now);
    REQUIRE(net.wire.size() == 1);
    auto ping = krpc::decode(net.wire.front().bytes);
    REQUIRE(ping);
    net.wire.clear();
    krpc::Response r;
    r.id = rid();
    const auto before = n.stats(net.now);
    n.on_datagram(krpc::encode_response(ping->t, r), ep(3), net.now); // right id, wrong sender
    n.on_datagram(krpc::encode_response("zzzz", r), ep(2), net.now);  // right sender, wrong id
    auto after = n.stats(net.now);
    CHECK(after.dropped_in == before.dropped_in + 2);
    CHECK(after.nodes == 0);
    n.on_datagram(krpc::encode_response(ping->t, r), ep(2), net.now); // the real one
    CHECK(n.stats(net.now).nodes == 1);

    // A reply full of nodes in unroutable space (0/8, multicast, port 0) sends nothing there.
    const NodeId ih = rid();
    n.get_peers(ih, 0, false, nullptr, nullptr, net.now);
    REQUIRE(!net.wire.empty());
    auto q = krpc::decode(net.wire.back().bytes);
    REQUIRE(q);
    net.wire.clear();
    krpc::Response bad;
    bad.id = r.id;
    for (int i = 0; i < 8; ++i) {
        Endpoint e = ep(static_cast<std::uint32_t>(i));
        if (i < 3)
            e.ip[0] = 0;
        else if (i < 6)
            e.ip[0] = 239;
        else
            e.port = 0;
        bad.nodes.push_back({rid(), e});
    }
    n.on_datagram(krpc::encode_response(q->t, bad), ep(2), net.now);
    for (const auto& p : net.wire) {
        CHECK(p.to.ip[0] != 0);
        CHECK(p.to.ip[0] < 224);
        CHECK(p.to.port != 0);
    }

    // A flood from one address: answered at first, then ignored; memory stays bounded.
    net.wire.clear();
    std::size_t answered = 0;
    for (int i = 0; i < 5000; ++i) {
        n.on_datagram(krpc::encode_query("f" + std::to_string(i % 100), krpc::find_node(rid(), rid())), ep(9), net.now);
        answered += net.wire.size();
        net.wire.clear();
    }
    MESSAGE("answered " << answered << " of 5000 queries from one address");
    CHECK(answered < 100);
    CHECK(n.stats(net.now).rate_limited > 4000);
    // Another address is still served.
    auto ok = exchange(net, n, ep(10), krpc::encode_query("ok", krpc::ping(rid())));
    CHECK(ok.size() == 1);
    // A flood of distinct addresses (spoofed sources) leaves the node bounded.
    for (std::uint32_t i = 0; i < 20000; ++i) {
        n.on_datagram(krpc::encode_query("x", krpc::get_peers(rid(), rid())), ep(1000 + i), net.now);
        net.wire.clear();
    }
    MESSAGE("memory after 20000 spoofed queriers: " << n.memory_bytes() << " bytes");
    CHECK(n.memory_bytes() < 4u << 20);
}

TEST_CASE("dht node: replies to unverified queriers stay small (no amplification)") {
    Net net;
    DhtNode& n = net.add(ep(1));
    // Many peers announced for one torrent, through valid tokens from many addresses.
    const NodeId ih = rid();
    for (std::uint32_t i = 0; i < 200; ++i) {
        auto r = exchange(net, n, ep(100 + i), krpc::encode_query("g", krpc::get_peers(rid(), ih)));
        auto m = krpc::decode(r.at(0));
        exchange(net, n, ep(100 + i),
                 krpc::encode_query("a", krpc::announce_peer(rid(), ih, 6000, *m->response()->token)));
    }
    const std::string query = krpc::encode_query("gp", krpc::get_peers(rid(), ih));
    auto r = exchange(net, n, ep(5000), query);
    REQUIRE(r.size() == 1);
    MESSAGE("query " << query.size() << " bytes, reply to an unverified querier " << r[0].size() << " bytes");
    CHECK(r[0].size() <= max_reply_bytes(query.size(), false));
    CHECK(r[0].size() <= krpc::kMaxDatagram);
}

TEST_CASE("dht node: the saved state brings the id and the nodes back") {
    Net net;
    net.add(ep(1));
    for (std::uint32_t i = 2; i <= 40; ++i) net.add(ep(i)).add_bootstrap(ep(1), net.now);
    net.run(10'000);
    DhtNode& n = *net.nodes[key(ep(7))];
    const std::string saved = n.save_state(net.now);
    auto id = DhtNode::saved_id(saved);
    REQUIRE(id);
    CHECK(*id == n.id());
    // A fresh node at a new address loads it: it pings the saved nodes, which answer and fill its table.
    DhtNode& again = net.add(ep(77));
    again.load_nodes(saved, net.now);
    net.run(2000);
    CHECK(again.stats(net.now).good >= 8);
    CHECK_FALSE(DhtNode::saved_id("{not json"));
    again.load_nodes("{\"nodes\": [1, {\"ip\": \"x\"}, {\"ip\": \"10.0.0.1\", \"port\": 0}]}", net.now); // ignored
}
