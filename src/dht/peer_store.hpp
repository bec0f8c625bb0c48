// The peers other nodes announced to us (BEP 5 announce_peer), handed out again in get_peers replies ("values").
//
// Bounds: at most max_torrents info hashes, at most max_peers_per_torrent peers in each (IPv4 and IPv6 together),
// at most max_per_ip entries per torrent from one IP (one host announcing many ports must not fill a torrent).
// When a bound is hit:
//  - a known peer (same address and port) is refreshed, never refused;
//  - a full torrent replaces its oldest peer (the least recently announced: the likeliest to be gone), and an IP at
//    max_per_ip replaces its own oldest entry instead;
//  - a full table lets a new torrent in only by evicting the torrent with the fewest peers, and only if that one
//    holds at most `replaceable_peers` (1) peers: a fresh announce is worth at least as much as one other peer's
//    announce from earlier, but a torrent several peers vouch for is not given up for one peer's word (nor for a
//    flood of random info hashes). Otherwise the new torrent is not stored (libtorrent drops every announce for a
//    new torrent once its table is full). Ties among the smallest are broken by a keyed hash of the info hash, so a
//    sender cannot choose which one goes.
// Expiry: a peer is returned for peer_ttl after its last announce (BEP 5 practice: 30 minutes, libtorrent's
// announce_interval; clients re-announce every 15-30 minutes), to the second and never early: stamps are kept in
// whole seconds, rounded up. expire() drops the expired peers and the torrents left empty; the node calls it every
// minute, and get() never returns an expired peer in between.
//
// Memory (memory_bytes() adds these up from the containers' real capacities; malloc's overhead counted as 16 bytes
// a block):
//  - a stored peer is 12 bytes (IPv4: address, port, seed flag, u32 last-announce second) or 24 bytes (IPv6), in a
//    vector per family and torrent (vector slack: up to 2x right after growth; expire() trims a vector that is
//    more than twice too big);
//  - a torrent costs 216 bytes besides its peers (a std::map node with the two vectors, a std::set node of the
//    eviction order, their malloc overhead), plus 16 for each family vector in use;
// So the default bounds (2000 torrents x 500 peers) hold at most ~12 MiB of IPv4 peers (24 MiB if all were IPv6).
//
// Lookups of an info hash are O(log torrents) in a std::map (the keys are chosen by senders: no unkeyed hashing);
// announce and get are O(peers of that torrent), at most max_peers_per_torrent.
//
// Pure: no I/O, no clock; `now` is the caller's monotonic milliseconds.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "dht/types.hpp"

namespace p2p::dht {

struct PeerStoreConfig {
    std::size_t max_torrents = 2000;         // libtorrent's dht_max_torrents
    std::size_t max_peers_per_torrent = 500; // libtorrent's dht_max_peers (IPv4 and IPv6 together here)
    TimeMs peer_ttl = 30 * 60 * 1000;        // BEP 5 practice: announced peers expire after 30 minutes
    std::size_t max_per_ip = 8;              // ours: entries (ports) of one IP in one torrent
    std::size_t replaceable_peers = 1;       // ours: a full table evicts a torrent for a new one only this small
};

class PeerStore {
public:
    explicit PeerStore(PeerStoreConfig cfg = {});

    // announce_peer: add the peer, or refresh it (same address and port; the seed flag is updated). See the bounds
    // above for a full torrent or table.
    void announce(const NodeId& info_hash, const Endpoint& peer, bool seed, TimeMs now);
    // get_peers: at most `max` live peers of this torrent of one family (`v6`), distinct; a uniform random sample
    // when more are stored. The caller picks `max` so the reply fits (see max_reply_bytes in rate_limiter.hpp).
    std::vector<Endpoint> get(const NodeId& info_hash, std::size_t max, bool v6, TimeMs now);
    // Drop the expired peers and the torrents left empty (the node calls it every minute). O(all peers).
    void expire(TimeMs now);

    std::size_t torrents() const { return torrents_.size(); }
    std::size_t peers() const { return peers_; } // stored, including expired ones expire() has not dropped yet
    std::size_t memory_bytes() const;            // O(torrents): for statistics and the memory budget
    // --max-memory lowers the bounds: evicts the smallest torrents, then the oldest peers of each, to fit at once.
    void set_limits(std::size_t max_torrents, std::size_t max_peers_per_torrent);

private:
    template <std::size_t N>
    struct Stored {
        std::array<std::uint8_t, N> ip;
        std::uint16_t port;
        std::uint8_t seed;
        std::uint32_t seen_s; // last announce, in seconds, rounded up
    };
    using Peer4 = Stored<4>;
    using Peer6 = Stored<16>;
    static_assert(sizeof(Peer4) == 12 && sizeof(Peer6) == 24, "keep stored peers small");

    // The eviction order of torrents: fewest peers first, then a keyed hash of the info hash.
    using Rank = std::tuple<std::size_t, std::uint64_t, NodeId>;
    struct Torrent {
        std::vector<Peer4> v4;
        std::vector<Peer6> v6;
        std::uint64_t salt = 0; // keyed hash of the info hash: the tie-break of Rank
        std::size_t size() const { return v4.size() + v6.size(); }
    };
    using Map = std::map<NodeId, Torrent>;

    bool live(std::uint32_t seen_s, TimeMs now) const;
    static std::uint32_t stamp(TimeMs now);
    // Removes the least recently announced peer of t (of one IP when ip != nullptr). False when none matched.
    bool evict_oldest(Torrent& t, const Endpoint* ip);
    void erase_torrent(Map::iterator it);
    void resize_rank(Map::iterator it, std::size_t old_size); // after it->second's size changed from old_size
    void trim_torrent(Map::iterator it, std::size_t max_peers);

    PeerStoreConfig cfg_;
    Map torrents_;
    std::set<Rank> by_size_; // one entry per torrent: {size, salt, info hash}
    std::size_t peers_ = 0;
    std::array<unsigned char, 16> salt_key_{};
};

} // namespace p2p::dht
