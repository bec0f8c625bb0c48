// Shared vocabulary of the DHT (BEP 5): node ids, contacts, the XOR metric. Pure: no uv.h, no I/O, no clock (every
// time is a monotonic millisecond count passed in by the caller, so the routing table, lookups and storage are
// tested under a fake clock).
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "proto/krpc.hpp"

namespace p2p::dht {

using NodeId = krpc::NodeId;       // 160 bits (BEP 5), the space of info hashes
using Endpoint = udp::CompactPeer; // an IPv4 or IPv6 address and a UDP port
using TimeMs = std::uint64_t;      // monotonic milliseconds (uv_now on the loop, a counter in tests)

// A node: its id and where it answers.
struct Contact {
    NodeId id;
    Endpoint addr;
};

inline bool same_endpoint(const Endpoint& a, const Endpoint& b) { return krpc::same_peer(a, b); }

// 127/8 or ::1: one machine running several nodes (tests, a tracker's node beside a peer's). No remote host can
// send from there, so the routing table and the rate limiter key these by port too.
inline bool is_loopback(const Endpoint& e) {
    static const std::array<std::uint8_t, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return e.v6 ? e.ip == v6_loopback : e.ip[0] == 127;
}

// The address bytes only (4 or 16), without the port: the key of "one node per IP" and of rate limits.
inline std::string ip_key(const Endpoint& e) {
    return std::string(reinterpret_cast<const char*>(e.ip.data()), e.v6 ? 16 : 4);
}

// An address a DHT node can have. Refused: port 0; IPv4 (or IPv4-mapped) 0/8, multicast 224/4, reserved 240/4 and
// broadcast; IPv6 :: and ff00::/8. Forged or broken "nodes" entries aimed there would make us spray queries nowhere
// (or at a broadcast address); private ranges stay allowed, for LANs and tests.
inline bool routable(const Endpoint& e) {
    if (e.port == 0) return false;
    static constexpr std::array<std::uint8_t, 12> kV4Mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const bool v4 = !e.v6 || std::equal(kV4Mapped.begin(), kV4Mapped.end(), e.ip.begin());
    if (v4) {
        const std::uint8_t first = e.v6 ? e.ip[12] : e.ip[0];
        return first != 0 && first < 224;
    }
    bool zero = true;
    for (auto b : e.ip) zero = zero && b == 0;
    return !zero && e.ip[0] != 0xff;
}

// a XOR b (BEP 5: "distance(A,B) = |A xor B|", compared as an unsigned integer, most significant byte first).
inline NodeId distance(const NodeId& a, const NodeId& b) {
    NodeId d;
    for (std::size_t i = 0; i < d.b.size(); ++i) d.b[i] = static_cast<std::uint8_t>(a.b[i] ^ b.b[i]);
    return d;
}

// True when a is strictly closer to target than b.
inline bool closer(const NodeId& target, const NodeId& a, const NodeId& b) {
    for (std::size_t i = 0; i < target.b.size(); ++i) {
        const std::uint8_t da = a.b[i] ^ target.b[i], db = b.b[i] ^ target.b[i];
        if (da != db) return da < db;
    }
    return false;
}

// How many leading bits a and b share (160 when equal): the bucket a node falls in, seen from a.
inline int common_prefix_bits(const NodeId& a, const NodeId& b) {
    for (std::size_t i = 0; i < a.b.size(); ++i) {
        const unsigned x = a.b[i] ^ b.b[i];
        if (x) return static_cast<int>(i * 8) + __builtin_clz(x) - 24;
    }
    return 160;
}

} // namespace p2p::dht
