// The tracker's catalog: human names for torrents its users publish (catalog extension,
// docs/catalog-protocol.md). name -> {info hash, total size, publisher last seen}.
//
// Entries live in one vector sorted by name (byte order), so a listing page is an index range and a lookup
// by name is a binary search. Bounded: at most max_entries; entries not republished for ttl_s expire.
// A name belongs to its info hash until it expires: publishing it for another hash is refused.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp"

namespace p2p {

struct CatalogRecord {
    std::string name;
    udp::Hash20 info_hash;
    std::uint64_t total_size = 0;
    std::uint32_t last_seen = 0; // wall-clock seconds of the last publish
};

class Catalog {
public:
    explicit Catalog(std::size_t max_entries = 100'000, std::uint32_t ttl_s = 7 * 24 * 3600);

    // Adds or refreshes name. Errors (op "catalog.publish"): invalid name, name taken by another info hash,
    // catalog full.
    Status publish(std::string_view name, const udp::Hash20& info_hash, std::uint64_t total_size, std::uint32_t now);
    const CatalogRecord* find_name(std::string_view name) const;
    const CatalogRecord* find_hash(const udp::Hash20& h) const; // linear: for the console and the CLI only
    // Entries in name order: [start, start + n) clipped to the size.
    const std::vector<CatalogRecord>& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }
    std::size_t expire(std::uint32_t now);
    // For loading saved state: inserts without the taken-name rule (the newest last_seen wins).
    void restore(CatalogRecord r);
    void clear() { entries_.clear(); }

private:
    std::vector<CatalogRecord>::iterator lower(std::string_view name);
    std::vector<CatalogRecord> entries_;
    std::size_t max_entries_;
    std::uint32_t ttl_s_;
};

} // namespace p2p
