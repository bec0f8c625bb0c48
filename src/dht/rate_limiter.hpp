// Two guards of the DHT's serving side against abuse of a UDP service: a per-address packet rate limit, and a bound
// on how much bigger a reply may be than its query (so we are a poor reflector for spoofed-source floods).
//
// RateLimiter follows libtorrent's dos_blocker (dht_block_ratelimit = 5 packets/s counted over 10 s, so "an address
// sending >= 50 packets in 10 s is ignored", dht_block_timeout = 5 minutes), keyed by IP (the port is ignored: one
// host can send from as many ports as it likes). Differences, chosen on purpose:
//  - windows are fixed: the first packet opens a 10 s window, the 50th packet inside it is refused and starts the
//    block; a packet after the window opens a new one (so a steady sender gets at most 2 * 49 through in any 10 s);
//  - a block lasts block_for from the packet that caused it; libtorrent extends it on every packet received while
//    blocked ("until it's silent for 5 minutes"). A fixed block lets the hosts of a busy NAT back in, and a flooder
//    that keeps flooding is blocked again after 49 more packets, i.e. it gets 49 packets per 5 minutes through;
//  - libtorrent remembers 20 addresses; we remember max_tracked (4096), the least recently seen forgotten first. A
//    blocked address that keeps sending stays recently seen, so a flood of other (spoofed) addresses cannot push its
//    block out; one that went quiet may be forgotten, which costs nothing.
// The table is an LRU list plus a hash index keyed by SipHash under a random key (the addresses are chosen by the
// senders, an unkeyed hash would let them pick colliding ones). A full table reuses its oldest entry in place: no
// allocation per packet once it is full.
//
// Memory: ~146 bytes per tracked address (list node 56 + index node 48, each with ~16 bytes of malloc overhead,
// about one 8-byte bucket), so 4096 addresses are ~590 KiB. memory_bytes() adds it up from the containers.
//
// Pure: no I/O, no clock; `now` is the caller's monotonic milliseconds.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

#include "dht/types.hpp"

namespace p2p::dht {

struct RateLimitConfig {
    std::size_t max_packets = 50;     // libtorrent: dht_block_ratelimit (5/s) * 10 s: an address sending >= 50 ...
    TimeMs window = 10 * 1000;        // ... packets in 10 s ...
    TimeMs block_for = 5 * 60 * 1000; // ... is ignored for 5 minutes (libtorrent's dht_block_timeout)
    std::size_t max_tracked = 4096;   // addresses remembered (the least recently seen are forgotten)
};

class RateLimiter {
public:
    explicit RateLimiter(RateLimitConfig cfg = {});

    // Counts one packet from this IP (the port is ignored). False while the IP is blocked, and for the packet that
    // reaches max_packets inside a window (which starts the block). Packets refused while blocked are not counted.
    bool allow(const Endpoint& from, TimeMs now);

    std::size_t blocked() const; // addresses blocked at the latest `now` seen (a scan of the table: for statistics)
    std::size_t tracked() const { return entries_.size(); }
    std::size_t memory_bytes() const;

private:
    struct Key {
        std::array<std::uint8_t, 16> ip{}; // IPv4 in the first 4 bytes, the rest zero
        bool v6 = false;
        std::uint16_t port = 0; // loopback only: each local node has its own budget (types.hpp, is_loopback)
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::array<unsigned char, 16> secret{};
        std::size_t operator()(const Key& k) const;
    };
    struct Entry {
        Key key;
        std::uint32_t count = 0;  // packets in the current window
        TimeMs window_start = 0;  // when the current window opened
        TimeMs blocked_until = 0; // refused while now < blocked_until
    };
    using List = std::list<Entry>; // most recently seen first
    static Key key_of(const Endpoint& e);
    static KeyHash random_hash();

    RateLimitConfig cfg_;
    List entries_;
    std::unordered_map<Key, List::iterator, KeyHash> index_; // one entry per element of entries_
    TimeMs last_now_ = 0;
};

// --- Amplification guard ---
// A UDP reply can be sent to a forged source address; a reply much bigger than its query makes us an amplifier.
// BEP 5 sets no bound; libtorrent bounds a get_peers reply by count (dht_max_peers_reply = 100 values, a quarter of
// that for IPv6). We bound it by bytes, by how sure we are of the querier's address:
//  - verified (the address answered one of our queries, so it really is there and talks DHT): up to
//    kMaxReplyBytes, the most any reply of ours ever needs;
//  - unverified: at most kAmplification times the query's size, but never less than kUnverifiedReplyFloor, so the
//    answer every DHT query needs (the id, a token and the 8 closest nodes: ~290 bytes with IPv4 contacts, ~390
//    with IPv6 ones, plus "t", "y", "v" and "ip") always fits and unknown nodes can use us. Only the optional part
//    (the "values" of a get_peers reply) is cut to fit; a querier that wants more can ask again once verified.
// With these numbers the worst case (a ~95-byte get_peers) is amplified ~5.4x instead of the ~12x of a full
// 1200-byte values reply, and any query of 128 bytes or more at most 4x.
inline constexpr std::size_t kMaxReplyBytes = 1232;       // 1280 (IPv6 minimum MTU, RFC 8200) - 40 - 8: never fragments
inline constexpr std::size_t kAmplification = 4;          // unverified: reply <= 4 * query ...
inline constexpr std::size_t kUnverifiedReplyFloor = 512; // ... but a closest-nodes reply always fits

// The largest reply (whole bencoded datagram) we send for a query of query_bytes.
std::size_t max_reply_bytes(std::size_t query_bytes, bool querier_verified);

} // namespace p2p::dht
