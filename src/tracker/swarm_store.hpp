// Swarms keyed by info hash, and the peers in each: what a BEP 15 tracker remembers between announces.
//
// Memory (a big tracker holds millions of peers, most swarms hold a handful):
//  - an IPv4 peer is 8 bytes (address, port, and 16 bits of seeder flag + coarse last-seen stamp), an IPv6 peer
//    20 bytes; each family lives in its own array, sorted by (address, port), so a peer is found by binary
//    search and a reply is a sample of one array. Arrays grow by ~1.25x, sized to fill malloc's chunks, and
//    shrink when they fall below a quarter of their capacity.
//  - a swarm is one 64-byte record in a dense vector; an open-addressing table of 8-byte slots {record index,
//    32 bits of the keyed hash} finds it (linear probing, load <= 3/4, backward-shift deletion).
// Bounds: at most limits.max_swarms swarms and limits.max_peers peers in all; when the swarm cap is hit, empty
// swarms are evicted first, then the least recently active ones.
// Time is wall-clock seconds (u32, good until 2106) passed in by the caller, so tests need no clock and saved
// last-seen stamps stay meaningful across restarts. Stored stamps keep 15 bits of (seconds >> shift), read
// modulo 2^15 against the newest time the store has seen; shift is the smallest that keeps the window at least
// 4x the peer TTL (0, i.e. exact seconds, for TTLs up to ~2 h; the default 3660 s). Stamps stay unambiguous
// because no stored peer gets older than the window: expire() drops peers past the TTL and announce() runs
// expire() itself if nobody did for half a window.
#pragma once
#include <array>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "proto/udp_tracker.hpp"

namespace p2p {

using udp::Hash20;

// A peer as the store's users see it (restore input, find/for_each output); not the stored form.
struct PeerEntry {
    std::array<std::uint8_t, 16> ip{}; // IPv4 uses the first 4 bytes, the rest stay zero
    std::uint16_t port = 0;
    std::uint8_t v6 = 0;
    std::uint8_t seeder = 0;
    std::uint32_t last_seen = 0; // wall-clock seconds (rounded down to the store's stamp unit)
};

// Stored forms. meta: bit 15 = seeder, bits 0..14 = last-seen stamp (see StampCodec).
struct Peer4 {
    std::uint8_t ip[4];
    std::uint16_t port;
    std::uint16_t meta;
};
struct Peer6 {
    std::uint8_t ip[16];
    std::uint16_t port;
    std::uint16_t meta;
};
static_assert(sizeof(Peer4) == 8 && sizeof(Peer6) == 20, "keep peers small: a big tracker holds millions");

// 15-bit wrapping last-seen stamps: units of 2^shift seconds, read back against a reference time `ref` that is
// no older than the stamp and less than window() seconds newer.
struct StampCodec {
    static constexpr std::uint32_t kBits = 15, kMask = (1u << kBits) - 1;
    unsigned shift = 0;
    // Smallest shift whose window exceeds 4 * (ttl + one unit).
    static unsigned shift_for_ttl(std::uint32_t ttl_s);
    std::uint64_t window() const { return std::uint64_t{1} << (kBits + shift); }
    std::uint16_t encode(std::uint32_t t) const { return static_cast<std::uint16_t>((t >> shift) & kMask); }
    std::uint32_t decode(std::uint16_t stamp, std::uint32_t ref) const {
        std::uint32_t rq = ref >> shift;
        return (rq - ((rq - stamp) & kMask)) << shift;
    }
};

// A growable array of trivially copyable peers with 32-bit size/capacity (16 bytes), grown by ~1.25x with
// realloc so that each block fills its malloc chunk. Owns its block; freed in the destructor.
template <class P>
class PeerArray {
public:
    PeerArray() = default;
    ~PeerArray() { std::free(p_); }
    PeerArray(PeerArray&& o) noexcept : p_(o.p_), n_(o.n_), cap_(o.cap_) { o.p_ = nullptr, o.n_ = o.cap_ = 0; }
    PeerArray& operator=(PeerArray&& o) noexcept {
        if (this != &o) {
            std::free(p_);
            p_ = o.p_, n_ = o.n_, cap_ = o.cap_;
            o.p_ = nullptr, o.n_ = o.cap_ = 0;
        }
        return *this;
    }
    PeerArray(const PeerArray&) = delete;
    PeerArray& operator=(const PeerArray&) = delete;

    P* begin() { return p_; }
    P* end() { return p_ + n_; }
    const P* begin() const { return p_; }
    const P* end() const { return p_ + n_; }
    std::uint32_t size() const { return n_; }
    std::uint32_t capacity() const { return cap_; }
    bool empty() const { return n_ == 0; }

    // Inserts v before index i; false (nothing changed) if memory ran out.
    bool insert(std::uint32_t i, const P& v);
    void erase(std::uint32_t i);
    // Keeps the first n entries (after the caller compacted them), then shrinks if sparse.
    void truncate(std::uint32_t n);
    bool assign(const P* src, std::uint32_t n);
    // Capacity for n entries that fills the malloc chunk (glibc: 16-byte multiples, 8 bytes of header).
    static std::uint32_t fit(std::uint32_t n);

private:
    bool reallocate(std::uint32_t cap);
    P* p_ = nullptr;
    std::uint32_t n_ = 0, cap_ = 0;
};

// The stored swarm record (64 bytes). leechers = peers - seeders.
struct SwarmRec {
    Hash20 hash;
    std::uint32_t downloaded = 0;
    std::uint32_t seeders = 0;
    std::uint32_t last_activity = 0; // last announce (wall-clock seconds)
    PeerArray<Peer4> v4;
    PeerArray<Peer6> v6;
    std::uint32_t peer_count() const { return v4.size() + v6.size(); }
};
static_assert(sizeof(SwarmRec) <= 64, "keep swarm records small"); // 64 bytes; 56 with 32-bit pointers (armhf)

// A decoded copy of one swarm, for the console, the state file and tests (cold paths).
struct Swarm {
    std::vector<PeerEntry> peers; // IPv4 sorted by (address, port), then IPv6 likewise
    std::uint32_t seeders = 0, leechers = 0, downloaded = 0;
    std::uint32_t last_activity = 0;
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
    std::size_t max_peers = 4'000'000;        // ~40 MB of IPv4 peers at most (IPv6: ~100 MB)
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
    bool seeder = false; // left == 0
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

    // Decoded copies (allocate: console, state file, tests).
    std::optional<Swarm> find(const Hash20& h) const;
    void for_each(const std::function<void(const Hash20&, const Swarm&)>& fn) const;
    void for_each_hash(const std::function<void(const Hash20&)>& fn) const; // no copies: for the state writer
    // For loading saved state: adds a swarm with these peers (sorted and de-duplicated here); caps apply.
    void restore(const Hash20& h, std::uint32_t downloaded, std::vector<PeerEntry> peers, std::uint32_t now);
    void clear();

    std::size_t swarm_count() const { return recs_.size(); }
    std::size_t peer_count() const { return peers_; }
    const SwarmLimits& limits() const { return limits_; }
    void set_peer_ttl(std::uint32_t s);
    std::uint64_t capped() const { return capped_; }
    // Told when a swarm's seeder count leaves 0 (true) or reaches 0 (false; also when a swarm that had seeders
    // is removed): the catalog frees the names of swarms without a seeder (catalog.hpp). Called from announce,
    // expire and restore; it must not change the store. clear() calls nothing (its owner clears the catalog).
    using SeederHook = std::function<void(const Hash20&, bool has_seeder)>;
    void set_seeder_hook(SeederHook fn) { seeder_hook_ = std::move(fn); }
    // Seconds per last-seen unit (1 unless the TTL is over ~2 h).
    std::uint32_t stamp_unit_s() const { return 1u << codec_.shift; }

private:
    struct Slot {
        std::uint32_t idx1 = 0; // record index + 1; 0 = empty
        std::uint32_t tag = 0;  // low 32 bits of the keyed hash; tag & mask is the home slot
    };
    static constexpr std::uint32_t kNone = 0xffffffffu;

    std::uint32_t lookup(const Hash20& h, std::uint32_t tag) const;
    std::uint32_t tag_of(const Hash20& h) const { return static_cast<std::uint32_t>(hasher_(h)); }
    std::size_t slot_of(std::uint32_t tag, std::uint32_t idx) const;
    void slot_insert(std::uint32_t tag, std::uint32_t idx);
    void slot_remove(std::size_t pos);
    void rebuild_slots(std::size_t n);
    void erase_rec(std::uint32_t idx);
    std::uint32_t get_or_create(const Hash20& h, std::uint32_t tag, std::uint32_t now);
    bool evict_swarms(std::uint32_t now);
    void note_cap(const char* what, std::uint32_t now);
    void advance_clock(std::uint32_t now);
    void tick(std::uint32_t now); // a mutation at `now`: sweeps first if none ran for half a window
    std::uint16_t stamp_at(std::uint32_t t) const;
    bool stale(std::uint32_t t, std::uint32_t now) const { return now > t && now - t > limits_.peer_ttl_s; }
    template <class P>
    void announce_in(SwarmRec& s, PeerArray<P>& arr, const P& me, const AnnounceInput& in, std::uint32_t now);
    template <class P>
    std::size_t select_peers(const PeerArray<P>& arr, const P& asker, std::size_t want, std::string& out);
    template <class P>
    std::size_t expire_in(SwarmRec& s, PeerArray<P>& arr, std::uint32_t now);
    Swarm decode(const SwarmRec& r) const;
    std::uint64_t next_random();
    void seeders_changed(const Hash20& h, std::uint32_t before, std::uint32_t after) {
        if ((before == 0) != (after == 0) && seeder_hook_) seeder_hook_(h, after != 0);
    }

    SwarmLimits limits_;
    Hash20Hasher hasher_;
    std::vector<SwarmRec> recs_; // dense; erasing moves the last record into the hole
    std::vector<Slot> slots_;    // power-of-two size, at most 3/4 full
    StampCodec codec_;
    std::uint32_t clock_ = 0;      // newest time seen: the reference for reading stamps
    std::uint32_t last_sweep_ = 0; // time of the last expire()
    std::size_t peers_ = 0;
    std::uint64_t capped_ = 0;
    std::uint32_t last_cap_log_ = 0;
    std::uint64_t rng_; // xorshift64*: peer sampling needs speed, not secrecy
    SeederHook seeder_hook_;
};

} // namespace p2p
