// The DHT routing table (dht/routing_table.hpp) and node ids (dht/node_id.hpp): BEP 42's test vectors and
// exemptions, bucket splitting around our id, replacements, one node per IP, node states and ping-before-evict under
// a fake clock, refresh targets, a new id, closest() against brute force, memory and the 160-bucket bound.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "base/bytes.hpp"
#include "dht/node_id.hpp"
#include "dht/routing_table.hpp"

using namespace p2p;
using namespace p2p::dht;
using Outcome = RoutingTable::Outcome;

namespace {

constexpr TimeMs kMin = 60 * 1000;
constexpr TimeMs kQ = 15 * kMin; // RoutingConfig's questionable_after and refresh_after

NodeId id_hex(const std::string& hex) {
    std::string raw;
    REQUIRE(from_hex(hex, raw));
    REQUIRE(raw.size() == 20);
    return NodeId::from(raw);
}

Endpoint v4(int a, int b, int c, int d, std::uint16_t port = 6881) {
    Endpoint e;
    e.ip[0] = static_cast<std::uint8_t>(a);
    e.ip[1] = static_cast<std::uint8_t>(b);
    e.ip[2] = static_cast<std::uint8_t>(c);
    e.ip[3] = static_cast<std::uint8_t>(d);
    e.port = port;
    return e;
}

Endpoint v6_hex(const std::string& hex32, std::uint16_t port = 6881) {
    std::string raw;
    REQUIRE(from_hex(hex32, raw));
    REQUIRE(raw.size() == 16);
    Endpoint e;
    e.v6 = true;
    std::copy(raw.begin(), raw.end(), e.ip.begin());
    e.port = port;
    return e;
}

// Deterministic randomness for the tests' own ids and addresses.
struct Rng {
    std::mt19937_64 g;
    explicit Rng(std::uint64_t seed) : g(seed) {}
    NodeId id() {
        NodeId n;
        for (auto& b : n.b) b = static_cast<std::uint8_t>(g());
        return n;
    }
    // An id sharing exactly p leading bits with self.
    NodeId id_at(const NodeId& self, int p) {
        NodeId n = id();
        for (int bit = 0; bit <= p; ++bit) {
            const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
            const std::uint8_t want = bit < p ? (self.b[bit / 8] & mask) : (~self.b[bit / 8] & mask);
            n.b[bit / 8] = static_cast<std::uint8_t>((n.b[bit / 8] & ~mask) | want);
        }
        return n;
    }
    // A public IPv4 address (1.0.0.0 - 223.255.255.255, none of BEP 42's exempt blocks).
    Endpoint addr() {
        for (;;) {
            Endpoint e = v4(static_cast<int>(1 + g() % 223), static_cast<int>(g() % 256), static_cast<int>(g() % 256),
                            static_cast<int>(g() % 256), static_cast<std::uint16_t>(1024 + g() % 60000));
            if (!is_exempt_address(e)) return e;
        }
    }
};

RoutingConfig open_cfg() {
    RoutingConfig c;
    c.one_node_per_ip = false;
    return c;
}

std::vector<Contact> brute_closest(std::vector<Contact> all, const NodeId& target, std::size_t n) {
    std::sort(all.begin(), all.end(), [&](const Contact& a, const Contact& b) { return closer(target, a.id, b.id); });
    if (all.size() > n) all.resize(n);
    return all;
}

bool same_ids(const std::vector<Contact>& a, const std::vector<Contact>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!(a[i].id == b[i].id)) return false;
    return true;
}

bool has(const std::vector<Contact>& v, const NodeId& id) {
    return std::any_of(v.begin(), v.end(), [&](const Contact& c) { return c.id == id; });
}

} // namespace

// ------------------------------------------------------------------------------------------------ node ids

TEST_CASE("dht routing: crc32c check value") {
    const std::string s = "123456789";
    CHECK(crc32c(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()) == 0xE3069283u); // CRC-32C's check value
    CHECK(crc32c(nullptr, 0) == 0);
}

TEST_CASE("dht routing: BEP 42 test vectors") {
    struct Row {
        Endpoint ip;
        std::uint8_t r;
        const char* example; // BEP 42's "example node ID"
    };
    const Row rows[] = {
        {v4(124, 31, 75, 21), 1, "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"},
        {v4(21, 75, 31, 124), 86, "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"},
        {v4(65, 23, 51, 170), 22, "a5d43220bc8f112a3d426c84764f8c2a1150e616"},
        {v4(84, 124, 73, 14), 65, "1b0321dd1bb1fe518101ceef99462b947a01ff41"},
        {v4(43, 213, 53, 83), 90, "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"},
    };
    for (const auto& row : rows) {
        CAPTURE(row.example);
        const NodeId example = id_hex(row.example);
        CHECK(bep42_valid(example, row.ip));
        // Ours: the same 21 bits (the bold part of the table; byte 2 only its top 5 bits) and r as the last byte.
        for (int trial = 0; trial < 8; ++trial) {
            const NodeId id = bep42_node_id(row.ip, row.r);
            CHECK(id.b[0] == example.b[0]);
            CHECK(id.b[1] == example.b[1]);
            CHECK((id.b[2] & 0xf8) == (example.b[2] & 0xf8));
            CHECK(id.b[19] == row.r);
            CHECK(bep42_valid(id, row.ip));
        }
        // The id does not fit another address, nor another r.
        Endpoint other = row.ip;
        other.ip[3] ^= 0x01;
        CHECK_FALSE(bep42_valid(example, other));
        NodeId bad_r = example;
        bad_r.b[19] ^= 0x01; // r's low bit enters the CRC
        CHECK_FALSE(bep42_valid(bad_r, row.ip));
        NodeId bad_prefix = example;
        bad_prefix.b[2] ^= 0x08; // the 21st bit
        CHECK_FALSE(bep42_valid(bad_prefix, row.ip));
        NodeId free_bits = example;
        free_bits.b[2] ^= 0x07; // random bits, not checked
        free_bits.b[10] ^= 0xff;
        CHECK(bep42_valid(free_bits, row.ip));
        // Only r's low 3 bits enter the CRC: r and r ^ 0xf8 give the same prefix.
        const NodeId high = bep42_node_id(row.ip, static_cast<std::uint8_t>(row.r ^ 0xf8));
        CHECK(high.b[0] == example.b[0]);
        CHECK(high.b[1] == example.b[1]);
    }
    // Bits outside BEP 42's IPv4 mask (03 0f 3f ff) do not matter: 124.31.75.21 and 128.31.139.21 agree on the
    // masked bits (0x7c & 0x03 = 0x80 & 0x03, 0x4b & 0x3f = 0x8b & 0x3f).
    CHECK(bep42_valid(id_hex("5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"), v4(0x80, 0x1f, 0x8b, 21)));
    // A random r draws a valid id too.
    CHECK(bep42_valid(bep42_node_id(v4(124, 31, 75, 21)), v4(124, 31, 75, 21)));
}

TEST_CASE("dht routing: BEP 42 exemptions, IPv6 and mapped addresses") {
    const NodeId any = id_hex("0000000000000000000000000000000000000000");
    // BEP 42's local blocks, with their edges.
    CHECK(is_exempt_address(v4(10, 0, 0, 1)));
    CHECK(is_exempt_address(v4(10, 255, 255, 255)));
    CHECK_FALSE(is_exempt_address(v4(11, 0, 0, 1)));
    CHECK_FALSE(is_exempt_address(v4(172, 15, 255, 255)));
    CHECK(is_exempt_address(v4(172, 16, 0, 0)));
    CHECK(is_exempt_address(v4(172, 31, 255, 255)));
    CHECK_FALSE(is_exempt_address(v4(172, 32, 0, 0)));
    CHECK(is_exempt_address(v4(192, 168, 1, 1)));
    CHECK_FALSE(is_exempt_address(v4(192, 169, 1, 1)));
    CHECK(is_exempt_address(v4(169, 254, 3, 4)));
    CHECK_FALSE(is_exempt_address(v4(169, 253, 3, 4)));
    CHECK(is_exempt_address(v4(127, 0, 0, 1)));
    CHECK_FALSE(is_exempt_address(v4(8, 8, 8, 8)));
    CHECK(bep42_valid(any, v4(192, 168, 1, 1)));
    CHECK_FALSE(bep42_valid(any, v4(8, 8, 8, 8)));
    // IPv6: loopback, link-local, site-local, unique local; not global unicast.
    CHECK(is_exempt_address(v6_hex("00000000000000000000000000000001")));
    CHECK(is_exempt_address(v6_hex("fe800000000000000000000000000001")));
    CHECK(is_exempt_address(v6_hex("febf0000000000000000000000000001")));
    CHECK(is_exempt_address(v6_hex("fec00000000000000000000000000001")));
    CHECK(is_exempt_address(v6_hex("fd123456789a00000000000000000001")));
    CHECK(is_exempt_address(v6_hex("fc000000000000000000000000000001")));
    CHECK_FALSE(is_exempt_address(v6_hex("20010db8000000000000000000000001")));
    CHECK_FALSE(is_exempt_address(v6_hex("00000000000000000000000000000002")));
    // IPv4-mapped addresses are judged as IPv4.
    CHECK(is_exempt_address(v6_hex("00000000000000000000ffff0a000001")));       // ::ffff:10.0.0.1
    CHECK_FALSE(is_exempt_address(v6_hex("00000000000000000000ffff7c1f4b15"))); // ::ffff:124.31.75.21
    CHECK(bep42_valid(id_hex("5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"), v6_hex("00000000000000000000ffff7c1f4b15")));

    // IPv6 (BEP 42 has no vectors): the high 8 bytes under the mask 01 03 07 0f 1f 3f 7f ff.
    const Endpoint a = v6_hex("2a0104f8010a1b2c0000000000000001");
    for (int r = 0; r < 8; ++r) {
        const NodeId id = bep42_node_id(a, static_cast<std::uint8_t>(r));
        CHECK(id.b[19] == r);
        CHECK(bep42_valid(id, a));
        CHECK_FALSE(bep42_valid(id, v4(124, 31, 75, 21)));
        Endpoint low = a; // the low 64 bits are not hashed
        low.ip[15] ^= 0xff;
        low.ip[9] ^= 0x42;
        CHECK(bep42_valid(id, low));
        Endpoint masked_out = a; // bits outside the mask in the high 64 bits do not matter either
        masked_out.ip[0] ^= 0xfe;
        masked_out.ip[3] ^= 0xf0;
        CHECK(bep42_valid(id, masked_out));
        Endpoint moved = a; // a masked bit does
        moved.ip[7] ^= 0x01;
        CHECK_FALSE(bep42_valid(id, moved));
    }
    // Computed by hand from the formula: crc32c of (ip & mask) | r << 61 as 8 big-endian bytes.
    const std::uint8_t in[8] = {0x00 | (5 << 5), 0x01 & 0x03, 0x04 & 0x07, 0xf8 & 0x0f,
                                0x01 & 0x1f,     0x0a & 0x3f, 0x1b & 0x7f, 0x2c & 0xff};
    const std::uint32_t c = crc32c(in, 8);
    const NodeId id5 = bep42_node_id(a, 5);
    CHECK(id5.b[0] == static_cast<std::uint8_t>(c >> 24));
    CHECK(id5.b[1] == static_cast<std::uint8_t>(c >> 16));
    CHECK((id5.b[2] & 0xf8) == ((c >> 8) & 0xf8));
}

TEST_CASE("dht routing: random ids inside a bucket") {
    const NodeId self = random_node_id();
    for (int p = 0; p < 160; ++p) {
        for (int trial = 0; trial < 4; ++trial) {
            const NodeId t = random_id_in_bucket(self, p);
            CHECK(common_prefix_bits(self, t) == p);
        }
    }
    CHECK(common_prefix_bits(self, random_id_in_bucket(self, 500)) == 159); // clamped
    CHECK(common_prefix_bits(self, random_id_in_bucket(self, -3)) == 0);
    CHECK(!(random_node_id() == random_node_id()));
}

// ------------------------------------------------------------------------------------------------ the table

TEST_CASE("dht routing: splitting around our id, far nodes go to replacements") {
    Rng rng(1);
    const NodeId self = rng.id();
    RoutingTable t(self);
    TimeMs now = 1000;

    // 8 nodes that differ from us in the first bit fill the only bucket.
    std::vector<Contact> far;
    for (int i = 0; i < 9; ++i) far.push_back({rng.id_at(self, 0), rng.addr()});
    for (int i = 0; i < 8; ++i) CHECK(t.heard_from(far[i], now, true) == Outcome::added);
    CHECK(t.bucket_count() == 1);
    CHECK(t.size() == 8);
    // The 9th splits the bucket (it covers our id), but all of them share 0 bits with us: bucket 0 stays full and
    // cannot split again, so it waits as a replacement.
    CHECK(t.heard_from(far[8], now, true) == Outcome::replacement);
    CHECK(t.bucket_count() == 2);
    CHECK(t.size() == 8);
    CHECK(t.replacement_count() == 1);
    CHECK(t.heard_from(far[8], now, true) == Outcome::updated); // known, as a replacement
    CHECK(t.check_invariants());

    // 9 nodes sharing exactly 5 bits: the last bucket splits until they sit in bucket 5, the 9th is a replacement.
    std::vector<Contact> mid;
    for (int i = 0; i < 9; ++i) mid.push_back({rng.id_at(self, 5), rng.addr()});
    for (int i = 0; i < 8; ++i) CHECK(t.heard_from(mid[i], now, true) == Outcome::added);
    CHECK(t.heard_from(mid[8], now, true) == Outcome::replacement);
    CHECK(t.bucket_count() == 7); // 0..5, and 6 for everything closer
    for (const auto& c : mid) CHECK(t.bucket_of(c.id) == 5);
    // Closer nodes still find room in the last bucket.
    for (int i = 0; i < 8; ++i) CHECK(t.heard_from({rng.id_at(self, 6 + i), rng.addr()}, now, true) == Outcome::added);
    CHECK(t.bucket_count() == 7);
    // ...and a 9th close one splits again.
    CHECK(t.heard_from({rng.id_at(self, 40), rng.addr()}, now, true) == Outcome::added);
    CHECK(t.bucket_count() > 7);
    CHECK(t.check_invariants());

    const auto st = t.stats(now);
    REQUIRE(st.size() == t.bucket_count());
    CHECK(st[0].prefix_bits == 0);
    CHECK(st[0].good == 8);
    CHECK(st[0].replacements == 1);
    CHECK(st[5].good == 8);
    CHECK(st[5].replacements == 1);
    std::size_t total = 0;
    for (const auto& s : st) total += s.good + s.questionable + s.bad;
    CHECK(total == t.size());

    // A node that only queried us neither splits a bucket nor evicts a good node.
    RoutingTable u(self);
    for (int i = 0; i < 8; ++i) REQUIRE(u.heard_from({rng.id_at(self, 3), rng.addr()}, now, true) == Outcome::added);
    CHECK(u.heard_from({rng.id_at(self, 2), rng.addr()}, now, false) == Outcome::replacement);
    CHECK(u.bucket_count() == 1);
    CHECK(u.check_invariants());
}

TEST_CASE("dht routing: node states follow BEP 5") {
    Rng rng(2);
    const NodeId self = rng.id();
    RoutingTable t(self);
    const Contact a{rng.id(), rng.addr()}, b{rng.id(), rng.addr()};
    CHECK(t.heard_from(a, 0, true) == Outcome::added);
    CHECK(t.heard_from(b, 0, false) == Outcome::added);
    CHECK(t.state_of(a, 0) == NodeState::good);
    CHECK(t.state_of(b, 0) == NodeState::questionable); // only queried us: maybe behind a NAT
    CHECK(t.state_of(a, kQ - 1) == NodeState::good);
    CHECK(t.state_of(a, kQ) == NodeState::questionable);       // 15 minutes of silence
    CHECK(t.heard_from(a, kQ + 5, false) == Outcome::updated); // it answered once, and queries us: good again
    CHECK(t.state_of(a, kQ + 5) == NodeState::good);
    CHECK(t.heard_from(b, 10, true) == Outcome::updated);
    CHECK(t.state_of(b, 10) == NodeState::good);
    t.timed_out(b, 20);
    CHECK(t.state_of(b, 20) == NodeState::questionable); // one unanswered query
    t.timed_out(b, 30);
    CHECK(t.state_of(b, 30) == NodeState::bad); // max_fails = 2
    CHECK(t.size(NodeState::bad, 30) == 1);
    CHECK_FALSE(has(t.closest(b.id, 8, 30), b.id));
    CHECK(t.heard_from(b, 40, true) == Outcome::updated); // an answer clears it
    CHECK(t.state_of(b, 40) == NodeState::good);

    CHECK(t.heard_from({self, rng.addr()}, 0, true) == Outcome::refused_self);
    CHECK(t.heard_from({rng.id(), v4(8, 8, 8, 8, 0)}, 0, true) == Outcome::refused_bad);
    CHECK(t.heard_from({rng.id(), v4(0, 0, 0, 0)}, 0, true) == Outcome::refused_bad);
    CHECK(t.heard_from({rng.id(), v4(239, 1, 2, 3)}, 0, true) == Outcome::refused_bad);
    CHECK(t.heard_from({rng.id(), v4(255, 255, 255, 255)}, 0, true) == Outcome::refused_bad);
    CHECK(t.heard_from({rng.id(), v6_hex("00000000000000000000000000000000")}, 0, true) == Outcome::refused_bad);
    CHECK(t.heard_from({rng.id(), v6_hex("ff020000000000000000000000000001")}, 0, true) == Outcome::refused_bad);
    CHECK(t.size() == 2);
    // timed_out for an unknown id, or a known id at another address, changes nothing.
    t.timed_out({rng.id(), rng.addr()}, 50);
    t.timed_out({a.id, rng.addr()}, 50);
    t.timed_out({a.id, rng.addr()}, 50);
    CHECK(t.state_of(a, 50) == NodeState::good);
    CHECK(t.state_of({a.id, rng.addr()}, 50) == std::nullopt);
    CHECK(t.check_invariants());
}

TEST_CASE("dht routing: closest() is the true n closest") {
    Rng rng(3);
    const NodeId self = rng.id();
    RoutingTable t(self);
    const TimeMs now = 5000;
    for (int i = 0; i < 500; ++i) {
        // Half of them near us, so the table grows many buckets.
        const NodeId id = (i % 2) ? rng.id() : rng.id_at(self, static_cast<int>(rng.g() % 24));
        t.heard_from({id, rng.addr()}, now, i % 7 != 0);
    }
    REQUIRE(t.check_invariants());
    REQUIRE(t.bucket_count() > 8);
    std::vector<Contact> all = t.closest(self, 100000, now); // every non-bad node
    CHECK(all.size() == t.size());
    std::vector<Contact> replied = t.good_nodes(now);
    CHECK(replied.size() < all.size());
    for (int trial = 0; trial < 50; ++trial) {
        NodeId target = (trial % 3 == 0) ? self : rng.id();
        if (trial % 3 == 1) target = rng.id_at(self, static_cast<int>(rng.g() % 20));
        for (std::size_t n : {1u, 8u, 16u, 50u}) {
            CHECK(same_ids(t.closest(target, n, now), brute_closest(all, target, n)));
            CHECK(same_ids(t.closest(target, n, now, true), brute_closest(replied, target, n)));
        }
    }
    CHECK(t.closest(self, 0, now).empty());
    // Bad nodes are left out.
    const Contact first = t.closest(self, 1, now)[0];
    t.timed_out(first, now);
    t.timed_out(first, now);
    if (t.state_of(first, now) == NodeState::bad)
        CHECK_FALSE(has(t.closest(self, 8, now), first.id));
    else
        CHECK(t.state_of(first, now) == std::nullopt); // replaced by a replacement
}

TEST_CASE("dht routing: one node per IP") {
    Rng rng(4);
    const NodeId self = rng.id();
    const Endpoint ip1 = v4(81, 2, 3, 4, 1000), ip1_other_port = v4(81, 2, 3, 4, 2000);
    const Contact a{rng.id(), ip1};
    SUBCASE("on") {
        RoutingTable t(self);
        CHECK(t.heard_from(a, 0, true) == Outcome::added);
        CHECK(t.heard_from({rng.id(), ip1}, 0, true) == Outcome::refused_ip);
        CHECK(t.heard_from({rng.id(), ip1_other_port}, 0, true) == Outcome::refused_ip);
        // The same id from another address is refused while the old one is alive...
        const Endpoint elsewhere = v4(91, 2, 3, 4);
        CHECK(t.heard_from({a.id, elsewhere}, 0, true) == Outcome::refused_ip);
        CHECK(t.state_of(a, 0) == NodeState::good);
        // ...and taken once it is bad.
        t.timed_out(a, 1);
        t.timed_out(a, 2);
        CHECK(t.state_of(a, 2) == NodeState::bad);
        CHECK(t.heard_from({a.id, elsewhere}, 3, true) == Outcome::added);
        CHECK(t.state_of({a.id, elsewhere}, 3) == NodeState::good);
        CHECK(t.state_of(a, 3) == std::nullopt);
        // The address is free again: another id may use it. When that one goes bad, a third id may take the IP.
        const Contact b{rng.id(), ip1_other_port};
        CHECK(t.heard_from(b, 4, true) == Outcome::added);
        t.timed_out(b, 5);
        t.timed_out(b, 6);
        const Contact c{rng.id(), ip1};
        CHECK(t.heard_from(c, 7, true) == Outcome::added);
        CHECK(t.state_of(b, 7) == std::nullopt);
        CHECK(t.size() == 2);
        // libtorrent's rule: one node per /24 in a bucket (here both ids share 0 bits with us: the same bucket).
        RoutingTable u(self);
        CHECK(u.heard_from({rng.id_at(self, 0), v4(81, 2, 3, 4)}, 0, true) == Outcome::added);
        CHECK(u.heard_from({rng.id_at(self, 0), v4(81, 2, 3, 200)}, 0, true) == Outcome::refused_ip);
        CHECK(u.heard_from({rng.id_at(self, 0), v4(81, 2, 4, 4)}, 0, true) == Outcome::added);
        // Local networks are spared (a LAN shares one /24), but still one node per IP.
        CHECK(u.heard_from({rng.id_at(self, 0), v4(192, 168, 1, 2)}, 0, true) == Outcome::added);
        CHECK(u.heard_from({rng.id_at(self, 0), v4(192, 168, 1, 3)}, 0, true) == Outcome::added);
        CHECK(u.heard_from({rng.id_at(self, 0), v4(192, 168, 1, 3, 7000)}, 0, true) == Outcome::refused_ip);
        CHECK(u.check_invariants());
        CHECK(t.check_invariants());
    }
    SUBCASE("off") {
        RoutingTable t(self, open_cfg());
        CHECK(t.heard_from(a, 0, true) == Outcome::added);
        CHECK(t.heard_from({rng.id(), ip1_other_port}, 0, true) == Outcome::added); // another port: another node
        CHECK(t.heard_from({rng.id(), ip1}, 0, true) == Outcome::refused_ip);       // the same endpoint
        CHECK(t.heard_from({a.id, ip1_other_port}, 0, true) == Outcome::refused_ip);
        for (int i = 0; i < 20; ++i)
            CHECK(t.heard_from({rng.id(), v4(127, 0, 0, 1, static_cast<std::uint16_t>(3000 + i))}, 0, true) !=
                  Outcome::refused_ip);
        CHECK(t.check_invariants());
    }
}

TEST_CASE("dht routing: timed out nodes go bad and a replacement takes their place") {
    Rng rng(5);
    const NodeId self = rng.id();
    RoutingTable t(self);
    TimeMs now = 0;
    std::vector<Contact> far;
    for (int i = 0; i < 8; ++i) {
        far.push_back({rng.id_at(self, 0), rng.addr()});
        REQUIRE(t.heard_from(far.back(), now, true) == Outcome::added);
    }
    const Contact r1{rng.id_at(self, 0), rng.addr()}, r2{rng.id_at(self, 0), rng.addr()};
    REQUIRE(t.heard_from(r1, now, false) == Outcome::replacement); // only queried us
    REQUIRE(t.heard_from(r2, now, true) == Outcome::replacement);  // answered: preferred
    CHECK(t.replacement_count() == 2);

    now = 10;
    t.timed_out(far[0], now);
    CHECK(t.state_of(far[0], now) == NodeState::questionable); // BEP 5: try once more
    t.timed_out(far[0], now);
    CHECK(t.state_of(far[0], now) == std::nullopt); // bad, and replaced
    CHECK(t.state_of(r2, now) == NodeState::good);  // by the replacement that answered
    CHECK(t.replacement_count() == 1);
    CHECK(t.size() == 8);
    t.timed_out(far[1], now);
    t.timed_out(far[1], now);
    CHECK(t.state_of(r1, now) == NodeState::questionable);
    CHECK(t.replacement_count() == 0);
    CHECK(t.check_invariants());

    // No replacement left: a bad node stays (not handed out) until a newcomer takes its slot.
    t.timed_out(far[2], now);
    t.timed_out(far[2], now);
    CHECK(t.state_of(far[2], now) == NodeState::bad);
    CHECK_FALSE(has(t.closest(far[2].id, 8, now), far[2].id));
    const Contact n{rng.id_at(self, 0), rng.addr()};
    CHECK(t.heard_from(n, now, false) == Outcome::added);
    CHECK(t.state_of(far[2], now) == std::nullopt);
    CHECK(t.size() == 8);

    // A replacement that keeps failing is dropped.
    const Contact r3{rng.id_at(self, 0), rng.addr()};
    // r3 answers, the bucket is full of good nodes and two that never answered (r1, n): it takes the place of the one
    // heard from longest ago, r1, which moves to the replacements.
    CHECK(t.heard_from(r3, now + 1, true) == Outcome::added);
    CHECK(t.state_of(r1, now + 1) == std::nullopt);
    CHECK(t.replacement_count() == 1);
    t.timed_out(r1, now);
    t.timed_out(r1, now);
    CHECK(t.replacement_count() == 0);
    CHECK(t.check_invariants());
}

TEST_CASE("dht routing: verified and answering nodes are preferred in full buckets") {
    Rng rng(6);
    const NodeId self = id_hex("0000000000000000000000000000000000000000");
    RoutingTable t(self);
    // Bucket 0 (first bit 1) full of nodes that answered but whose ids do not match their addresses.
    std::vector<Contact> unverified;
    for (int i = 0; i < 8; ++i) {
        Contact c{rng.id_at(self, 0), rng.addr()};
        if (bep42_valid(c.id, c.addr)) c.id.b[1] ^= 0xff; // (unlikely) make sure
        REQUIRE(!bep42_valid(c.id, c.addr));
        REQUIRE(t.heard_from(c, 0, true) == Outcome::added);
        unverified.push_back(c);
    }
    // A verified node that answers while they are all good waits as a replacement (BEP 5 keeps good nodes).
    const Endpoint eb = v4(65, 23, 51, 170); // BEP 42's third vector: a5d43..., first bit 1, so bucket 0
    const Contact verified{bep42_node_id(eb, 22), eb};
    REQUIRE(bep42_valid(verified.id, verified.addr));
    REQUIRE(t.bucket_of(verified.id) == 0);
    CHECK(t.heard_from(verified, 0, true) == Outcome::replacement);
    // 15 minutes on, they are questionable: a reply from the verified one lets it take an unverified one's place.
    const TimeMs later = kQ + 1;
    CHECK(t.heard_from(verified, later, true) == Outcome::updated);
    CHECK(t.state_of(verified, later) == NodeState::good);
    CHECK(t.replacement_count() == 1); // the one it displaced waits in its place
    CHECK(t.check_invariants());
}

TEST_CASE("dht routing: ping-before-evict") {
    Rng rng(7);
    const NodeId self = rng.id();
    RoutingTable t(self);
    std::vector<Contact> far;
    for (int i = 0; i < 8; ++i) {
        far.push_back({rng.id_at(self, 0), rng.addr()});
        REQUIRE(t.heard_from(far.back(), 0, true) == Outcome::added);
    }
    const Contact waiting{rng.id_at(self, 0), rng.addr()};
    REQUIRE(t.heard_from(waiting, 0, true) == Outcome::replacement);
    CHECK(t.to_ping(1, 16).empty()); // all good

    // far[0] goes quiet; the others answer now and then.
    for (int i = 1; i < 8; ++i) t.heard_from(far[i], kQ - 1, true);
    TimeMs now = kQ + 1;
    auto p = t.to_ping(now, 16);
    REQUIRE(p.size() == 1);
    CHECK(p[0].id == far[0].id);
    CHECK(t.to_ping(now, 16).empty());        // not twice
    CHECK(t.to_ping(now + 5000, 16).empty()); // still outstanding
    t.timed_out(far[0], now + 5000);
    p = t.to_ping(now + 5001, 16); // BEP 5: "try once more"
    REQUIRE(p.size() == 1);
    CHECK(p[0].id == far[0].id);
    t.timed_out(far[0], now + 10000);
    CHECK(t.state_of(far[0], now + 10000) == std::nullopt);
    CHECK(t.state_of(waiting, now + 10000) == NodeState::questionable); // it answered at 0, quiet since

    // A reply ends it: far[1] goes quiet too, and answers the ping.
    const Contact newcomer{rng.id_at(self, 0), rng.addr()};
    REQUIRE(t.heard_from(newcomer, now + 10000, true) == Outcome::replacement);
    now = 2 * kQ;
    p = t.to_ping(now, 16);
    CHECK(p.size() == 8); // every questionable node of the full bucket, then none twice
    CHECK(t.to_ping(now, 16).empty());
    for (const auto& c : p) t.heard_from(c, now + 1, true);
    CHECK(t.to_ping(now + 2, 16).empty()); // all good again
    CHECK(t.replacement_count() == 1);     // nobody evicted

    // `max` bounds the answer.
    now = 4 * kQ;
    CHECK(t.to_ping(now, 3).size() == 3);
    CHECK(t.to_ping(now, 3).size() == 3);
    CHECK(t.to_ping(now, 3).size() == 2);
    CHECK(t.to_ping(now, 3).empty());
    // A lost ping (neither answered nor timed out) is asked again questionable_after later.
    CHECK(t.to_ping(now + kQ, 16).size() == 8);
    CHECK(t.check_invariants());
}

TEST_CASE("dht routing: a node that only queried us is pinged once, then once per 15 minutes") {
    Rng rng(8);
    const NodeId self = rng.id();
    RoutingTable t(self);
    const Contact q{rng.id(), rng.addr()};
    REQUIRE(t.heard_from(q, 0, false) == Outcome::added);
    auto p = t.to_ping(0, 8);
    REQUIRE(p.size() == 1);
    CHECK(p[0].id == q.id);
    CHECK(t.to_ping(1, 8).empty());
    t.timed_out(q, 5000);
    CHECK(t.to_ping(6000, 8).empty()); // a bucket with room: no hurry
    CHECK(t.to_ping(kQ + 1, 8).size() == 1);
    CHECK(t.heard_from(q, kQ + 2, true) == Outcome::updated);
    CHECK(t.state_of(q, kQ + 2) == NodeState::good);
    CHECK(t.to_ping(kQ + 3, 8).empty());
}

TEST_CASE("dht routing: refresh targets after 15 minutes land in their buckets") {
    Rng rng(9);
    const NodeId self = rng.id();
    RoutingTable t(self);
    CHECK(t.refresh_targets(10 * kQ, 8).empty()); // an empty table has nobody to ask
    const TimeMs t0 = 10 * kQ;
    for (int i = 0; i < 200; ++i) t.heard_from({rng.id_at(self, static_cast<int>(rng.g() % 12)), rng.addr()}, t0, true);
    const std::size_t nb = t.bucket_count();
    REQUIRE(nb > 4);
    CHECK(t.refresh_targets(t0 + kQ - 1, 200).empty());
    // A bucket whose node answers stays fresh.
    const Contact fresh = t.closest(random_id_in_bucket(self, 0), 1, t0)[0];
    REQUIRE(t.bucket_of(fresh.id) == 0);
    t.heard_from(fresh, t0 + 10, true);
    auto targets = t.refresh_targets(t0 + kQ, 200);
    CHECK(targets.size() == nb - 1);
    std::set<int> seen;
    for (const auto& id : targets) {
        const int b = t.bucket_of(id);
        CHECK(b != 0);
        CHECK(seen.insert(b).second); // one per bucket
        if (b + 1 < static_cast<int>(nb))
            CHECK(common_prefix_bits(self, id) == b);
        else
            CHECK(common_prefix_bits(self, id) >= b);
    }
    CHECK(t.refresh_targets(t0 + kQ, 200).empty());            // marked refreshed
    CHECK(t.refresh_targets(t0 + kQ + 10, 200).size() == 1);   // bucket 0's turn
    CHECK(t.refresh_targets(t0 + 2 * kQ + 10, 2).size() == 2); // at most max
}

TEST_CASE("dht routing: set_self re-buckets every node") {
    Rng rng(10);
    const NodeId self = rng.id();
    RoutingTable t(self, open_cfg());
    std::vector<Contact> in;
    for (int i = 0; i < 300; ++i) {
        const Contact c{i % 2 ? rng.id() : rng.id_at(self, static_cast<int>(rng.g() % 16)), rng.addr()};
        if (t.heard_from(c, 0, true) == Outcome::added) in.push_back(c);
    }
    const NodeId fresh = rng.id_at(self, 0); // far from the old id
    const Contact at_new_id{fresh, rng.addr()};
    REQUIRE(t.heard_from(at_new_id, 0, true) != Outcome::refused_self);
    const std::size_t before = t.size();
    t.set_self(fresh, 100);
    CHECK(t.self() == fresh);
    CHECK(t.check_invariants()); // every entry in its bucket around the new id
    CHECK(t.heard_from(at_new_id, 100, true) == Outcome::refused_self);
    CHECK(t.state_of(at_new_id, 100) == std::nullopt);
    CHECK(t.size() > 0);
    CHECK(t.size() <= before);
    // Nodes keep what we knew: they are still good.
    CHECK(t.size(NodeState::good, 100) == t.size());
    // The table now splits around the new id: the nodes near the old one share one bucket, bucket 0.
    std::size_t near_old = 0;
    for (const auto& c : t.good_nodes(100)) near_old += common_prefix_bits(self, c.id) >= 1;
    CHECK(near_old <= 8u); // they all share 0 bits with the new id: one bucket of k
    CHECK(same_ids(t.closest(fresh, 16, 100), brute_closest(t.good_nodes(100), fresh, 16)));
}

TEST_CASE("dht routing: memory_bytes grows with nodes") {
    Rng rng(11);
    RoutingTable t(rng.id());
    const std::size_t empty = t.memory_bytes();
    CHECK(empty > sizeof(RoutingTable));
    std::size_t last = empty;
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 100; ++i)
            t.heard_from({rng.id_at(t.self(), static_cast<int>(rng.g() % 20)), rng.addr()}, 0, true);
        const std::size_t m = t.memory_bytes();
        CHECK(m > last);
        last = m;
    }
    const std::size_t entries = t.size() + t.replacement_count();
    const std::size_t per = (last - empty) / entries;
    CHECK(per >= 100); // an entry and its index node
    CHECK(per <= 400);
    MESSAGE("bytes per node: ", per, " (", entries, " entries)");
}

TEST_CASE("dht routing: bounded under 100000 random inserts") {
    Rng rng(12);
    const NodeId self = rng.id();
    RoutingConfig cfg;
    RoutingTable t(self, cfg);
    TimeMs now = 0;
    for (int i = 0; i < 100000; ++i) {
        // Ids at every depth (even 159 shared bits), so the table is pushed to its 160 buckets.
        const NodeId id = (i % 4 == 0) ? rng.id() : rng.id_at(self, static_cast<int>(rng.g() % 160));
        const Contact c{id, rng.addr()};
        t.heard_from(c, now, rng.g() % 3 != 0);
        if (i % 5 == 0) t.timed_out(c, now);
        if (i % 97 == 0) t.to_ping(now, 8);
        if (i % 1000 == 0) {
            t.refresh_targets(now, 4);
            REQUIRE(t.check_invariants());
        }
        now += 50;
    }
    CHECK(t.check_invariants());
    CHECK(t.bucket_count() <= 160);
    CHECK(t.bucket_count() > 100);
    CHECK(t.size() <= 160 * cfg.k);
    CHECK(t.replacement_count() <= 160 * cfg.replacements);
    CHECK(t.memory_bytes() < 1024 * 1024);
    MESSAGE("buckets ", t.bucket_count(), ", nodes ", t.size(), ", replacements ", t.replacement_count(), ", bytes ",
            t.memory_bytes());
}
