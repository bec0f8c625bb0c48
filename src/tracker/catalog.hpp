// The tracker's catalog: human names for torrents its users publish (catalog extension,
// docs/catalog-protocol.md). name -> {info hash, total size, publisher, time of the last publish}.
//
// The rule ("Who owns a name" in docs/catalog-protocol.md): a name belongs to a torrent while that torrent's
// swarm has a seeder. So the catalog knows which swarms have a seeder (a predicate set by the owner, and two
// calls, swarm_seeded / swarm_unseeded, made when a swarm's seeder count leaves or reaches 0):
//   - live entries: their swarm has a seeder. Only these are listed and looked up. When the swarm's last
//     seeder goes (stopped, expired, evicted, or it became a leecher) its entries are removed: the names are
//     free again.
//   - pending entries: published for a swarm with no seeder yet (a publish racing its seeder's first announce,
//     or a `--publish` before the seeder starts). Invisible; live as soon as the swarm gets a seeder; dropped
//     after grace_s otherwise.
//   - a name with an entry (live, or pending within the grace) is taken: publishing it for another info hash
//     fails, except for its publisher (the source IP address of the publish that created the entry), who may
//     move it to a new info hash at any time (the file changed), even while the old swarm still has seeders.
//
// Containers, all bounded by max_entries in total: live entries in one vector sorted by name (byte order), so
// a listing page is an index range and a lookup is a binary search; an index (info hash, name) of the live
// entries, so a swarm losing its last seeder frees its names in O(log n) without scanning the catalog; pending
// entries in a small unsorted vector (at most kMaxPending, searched linearly).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp"

namespace p2p {

// Who published an entry: an IPv4 or IPv6 address (no port: a client's port changes between requests).
struct PublisherAddr {
    std::array<std::uint8_t, 16> ip{}; // IPv4 in the first 4 bytes
    std::uint8_t family = 0;           // 4, 6, or 0 = unknown (an entry loaded from an older state file)
    bool known() const { return family != 0; }
    bool operator==(const PublisherAddr&) const = default;
    // "192.0.2.1", "2001:db8::1"; "" when unknown.
    std::string str() const;
    // Parses the text form (inet_pton); false if it is neither an IPv4 nor an IPv6 address.
    static bool parse(const std::string& text, PublisherAddr& out);
    static PublisherAddr v4(const std::uint8_t* ip4);
    static PublisherAddr v6(const std::uint8_t* ip16); // an IPv4-mapped address becomes the IPv4 one
};

struct CatalogRecord {
    std::string name;
    udp::Hash20 info_hash;
    std::uint64_t total_size = 0;
    std::uint32_t last_seen = 0; // wall-clock seconds of the last publish
    PublisherAddr publisher;
};

class Catalog {
public:
    // Does the swarm of this info hash have a seeder now? Unset = every swarm counts as seeded (a catalog
    // used without a swarm store: tests, tools).
    using Seeded = std::function<bool(const udp::Hash20&)>;
    static constexpr std::uint32_t kDefaultGrace = 120; // s a pending entry waits for its swarm's first seeder
    static constexpr std::size_t kMaxPending = 1024;    // so unseeded publishes cannot crowd out live names

    explicit Catalog(std::size_t max_entries = 100'000, std::uint32_t grace_s = kDefaultGrace);

    void set_seeded(Seeded fn) { seeded_ = std::move(fn); }

    // Adds, refreshes or moves name (rules in the file comment). Errors (op "catalog.publish"): invalid name,
    // name taken by another torrent, catalog full. Publishing the same name with the same info hash refreshes
    // the size and time and keeps the publisher.
    Status publish(std::string_view name, const udp::Hash20& info_hash, std::uint64_t total_size, std::uint32_t now,
                   const PublisherAddr& from = {});
    // Live entries only.
    const CatalogRecord* find_name(std::string_view name) const;
    const CatalogRecord* find_hash(const udp::Hash20& h) const; // the first name of h, by the index
    const std::vector<CatalogRecord>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }
    std::size_t pending() const { return pending_.size(); }

    // The swarm of h got its first seeder: its pending entries go live. Returns how many.
    std::size_t swarm_seeded(const udp::Hash20& h);
    // The swarm of h lost its last seeder (or was removed): its live entries are removed. Returns how many.
    std::size_t swarm_unseeded(const udp::Hash20& h);
    // The periodic check, and after loading saved state: drops pending entries past the grace and live entries
    // whose swarm has no seeder; promotes pending entries whose swarm has one. Returns the entries dropped.
    std::size_t sweep(std::uint32_t now);

    // For loading saved state: inserts as live without the taken-name rule (the newest last_seen wins); the
    // loader then calls sweep() to drop the ones whose swarm has no seeder.
    void restore(CatalogRecord r);
    void clear();

private:
    bool seeded(const udp::Hash20& h) const { return !seeded_ || seeded_(h); }
    std::vector<CatalogRecord>::iterator lower(std::string_view name);
    std::vector<CatalogRecord>::iterator find_pending(std::string_view name);
    bool pending_expired(const CatalogRecord& r, std::uint32_t now) const {
        return now > r.last_seen && now - r.last_seen > grace_s_;
    }
    std::size_t drop_expired_pending(std::uint32_t now);
    void insert_live(CatalogRecord r);                        // the name must be free
    void erase_live(std::vector<CatalogRecord>::iterator it); // and its index entry

    std::vector<CatalogRecord> entries_;                    // live, sorted by name
    std::set<std::pair<udp::Hash20, std::string>> by_hash_; // (info hash, name) of every live entry
    std::vector<CatalogRecord> pending_;                    // unsorted, <= kMaxPending
    std::size_t max_entries_;                               // live + pending
    std::uint32_t grace_s_;
    Seeded seeded_;
};

} // namespace p2p
