// The tracker's state document (state_file.hpp), written a part at a time, so that saving never holds the whole
// document, or a copy of every swarm, in memory, and a caller on the event loop can spread it over many loop turns.
//
// The bytes are those nlohmann::json's dump() gives for the document (compact, object keys sorted): version 1 of
// the format, which state_file.cpp's parser reads:
//   {"catalog":[{"info_hash":H,"last_seen":N,"name":S,"publisher":IP,"size":N},...],"counters":{...},
//    "format":"p2pnode-tracker-state","saved_at":N,"swarms":[{"downloaded":N,"info_hash":H,
//    "peers":[[IP,PORT,LAST_SEEN,SEEDER],...]},...],"version":1}\n
// Swarms in info hash order, catalog entries in name order: the same state always gives the same bytes.
// "publisher" (the address that published the name, catalog.hpp) is absent when unknown: a file written before
// it was kept still loads (its entries get an unknown publisher) and older readers skip the key. Only live
// catalog entries are saved: pending ones would be dropped on loading anyway (their swarm has no seeder).
//
// Consistency while the tracker keeps serving: the writer snapshots the counters, the time and the sorted info
// hashes of the swarms at construction (20 bytes a swarm), and reads each swarm and catalog entry when its turn
// comes. A swarm removed meanwhile is skipped; one created meanwhile waits for the next save; a catalog entry is
// found again by name (binary search), so entries added or removed meanwhile never derail the walk.
// The store and catalog must outlive the writer (or the writer must not be called again).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tracker/catalog.hpp"
#include "tracker/swarm_store.hpp"

namespace p2p {

inline constexpr const char* kStateFormat = "p2pnode-tracker-state"; // the document's "format"
inline constexpr int kStateVersion = 1;                              // and "version"

class StateWriter {
public:
    StateWriter(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& counters, std::uint32_t now);

    // Appends the next part of the document to `out` until it has grown by at least `budget` bytes (one swarm
    // may go past it) or the document is complete. Returns true while more remains.
    bool next(std::string& out, std::size_t budget);
    bool done() const { return phase_ == Phase::done; }
    std::size_t swarms_written() const { return swarms_written_; }

private:
    enum class Phase { catalog, middle, swarms, done };
    void write_entry(std::string& out, const CatalogRecord& r);
    void write_swarm(std::string& out, const Hash20& h, const Swarm& s);

    const SwarmStore& store_;
    const Catalog& catalog_;
    std::string middle_;         // from the catalog's end to the first swarm: counters, format, saved_at
    std::vector<Hash20> hashes_; // sorted; cleared once written
    std::size_t next_swarm_ = 0;
    std::size_t swarms_written_ = 0;
    std::string last_name_; // the catalog entry written last ("" before the first)
    bool opened_ = false, any_entry_ = false, any_swarm_ = false;
    Phase phase_ = Phase::catalog;
};

// Appends s as a JSON string (quotes included), escaped as nlohmann::json escapes it (UTF-8 kept as is).
void append_json_string(std::string& out, std::string_view s);

} // namespace p2p
