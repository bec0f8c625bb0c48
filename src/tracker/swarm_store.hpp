// Swarms keyed by info hash, and the peers in each: what a BEP 15 tracker remembers between announces.
//
// Memory: one PeerEntry is 24 bytes; each swarm holds its peers in one flat vector sorted by (family, address,
// port), so IPv4 peers form one contiguous range and IPv6 peers the next, a peer is found by binary search and
// a reply is a slice of one range. Bounds: at most limits.max_swarms swarms and limits.max_peers peers in all;
// when the swarm cap is hit, empty swarms are evicted first, then the least recently active ones.
// Time is wall-clock seconds (u32, good until 2106) passed in by the caller, so tests need no clock and saved
// last-seen stamps stay meaningful across restarts.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "proto/udp_tracker.hpp"

namespace p2p {

using udp::Hash20;

struct PeerEntry {
    std::array<std::uint8_t, 16> ip{}; // IPv4 uses the first 4 bytes, the rest stay zero
    std::uint16_t port = 0;
    std::uint8_t v6 = 0;
    std::uint8_t seeder = 0;
    std::uint32_t last_seen = 0; // wall-clock seconds
};
static_assert(sizeof(PeerEntry) == 24, "keep peers small: a big tracker holds millions");

struct Swarm {
    std::vector<PeerEntry> peers; // sorted by (v6, ip, port); bounded by the store's global peer cap
    std::uint32_t seeders = 0, leechers = 0, downloaded = 0;
    std::uint32_t last_activity = 0; // last announce (wall-clock seconds)
};

// Traffic counters kept beside the swarms (server increments them; `stats` prints them; persisted).
struct TrackerCounters {
    std::uint64_t connects = 0, announces = 0, scrapes = 0, catalog = 0;
    std::uint64_t malformed = 0;      // dropped: too short, bad protocol id, unknown action, bad lengths
    std::uint64_t bad_connection = 0; // dropped: connection id forged, expired or from another address
    std::uint64_t send_drops = 0;     // reply dropped because the socket buffer was full
    std::uint64_t errors = 0;         // error replies sent
    std::uint64_t capped = 0;         // peers/swarms refused by the global caps
};

struct SwarmLimits {
    std::size_t max_swarms = 200'000;
    std::size_t max_peers = 4'000'000; // ~100 MB of PeerEntry at most
    std::uint32_t peer_ttl_s = 2 * 1800 + 60; // a peer not seen for ~2 announce intervals is dropped
};

// Keyed so that info hashes an attacker picks cannot all land in one bucket (the key is drawn at start-up).
struct Hash20Hasher {
    std::uint64_t k0 = 0, k1 = 0;
    std::size_t operator()(const Hash20& h) const noexcept;
};

struct AnnounceInput {
    Hash20 info_hash;
    udp::CompactPeer peer; // the announcer's address (family decides the reply's peer format)
    std::uint32_t event = udp::kEventNone;
    bool seeder = false;    // left == 0
    std::int32_t num_want = -1;
};

struct AnnounceCounts {
    std::uint32_t seeders = 0, leechers = 0;
    std::size_t peers_written = 0;
};

class SwarmStore {
public:
    static constexpr std::size_t kDefaultNumWant = 50; // when the client sends a negative num_want
    static constexpr std::size_t kMaxNumWant = 200;
    // Most peers one reply may carry: 200, and the reply within udp::kMaxReplySize (IPv6: 67).
    static std::size_t max_reply_peers(bool v6);

    explicit SwarmStore(SwarmLimits limits = {});

    // Records the announce and appends compact peers of the announcer's family (excluding the announcer) to out.
    AnnounceCounts announce(const AnnounceInput& in, std::uint32_t now, std::string& out);
    udp::ScrapeEntry scrape(const Hash20& h) const;
    // Drops peers not seen for peer_ttl_s and empty swarms idle as long. Returns the peers dropped.
    std::size_t expire(std::uint32_t now);

    const Swarm* find(const Hash20& h) const;
    void for_each(const std::function<void(const Hash20&, const Swarm&)>& fn) const;
    // For loading saved state: adds a swarm with these peers (sorted and de-duplicated here); caps apply.
    void restore(const Hash20& h, std::uint32_t downloaded, std::vector<PeerEntry> peers, std::uint32_t now);
    void clear();

    std::size_t swarm_count() const { return swarms_.size(); }
    std::size_t peer_count() const { return peers_; }
    const SwarmLimits& limits() const { return limits_; }
    void set_peer_ttl(std::uint32_t s) { limits_.peer_ttl_s = s; }
    std::uint64_t capped() const { return capped_; }

private:
    Swarm* get_or_create(const Hash20& h, std::uint32_t now);
    bool evict_swarms(std::uint32_t now);
    void note_cap(const char* what, std::uint32_t now);
    std::size_t select_peers(const Swarm& s, const PeerEntry& asker, std::size_t want, std::string& out);
    std::uint64_t next_random();

    SwarmLimits limits_;
    std::unordered_map<Hash20, Swarm, Hash20Hasher> swarms_;
    std::size_t peers_ = 0;
    std::uint64_t capped_ = 0;
    std::uint32_t last_cap_log_ = 0;
    std::uint64_t rng_; // xorshift64*: peer sampling needs speed, not secrecy
};

} // namespace p2p
