// Tracker persistence: swarms with their peers and last-seen stamps, the catalog and the counters, as one
// JSON document (nlohmann/json, non-throwing use only).
//
// Saving is crash-safe: the document goes to FILE.tmp.<pid> in the same folder, is fsynced, renamed over FILE,
// and the folder is fsynced, so FILE is always either the old or the new document. Loading never crashes: a
// missing file is a fresh start; an empty, truncated or otherwise bad file is logged, moved aside to
// FILE.corrupt (kept for a human to look at) and the tracker starts empty.
// Plain blocking POSIX calls: the document is written once a minute and at exit. (A tracker with millions of
// peers would want this on a worker thread; the file is a few tens of MB at the default caps.)
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "tracker/catalog.hpp"
#include "tracker/swarm_store.hpp"

namespace p2p {

struct TrackerState {
    SwarmStore& store;
    Catalog& catalog;
    TrackerCounters& counters;
};

std::string serialize_state(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& counters,
                            std::uint32_t now);
// All or nothing: on error (op "state.parse") nothing in `into` is changed.
Status parse_state(std::string_view text, TrackerState into, std::uint32_t now);

// Writes data to path atomically (temp file, fsync, rename, fsync folder).
Status write_file_atomic(const std::string& path, std::string_view data);
Status save_state(const std::string& path, const SwarmStore& store, const Catalog& catalog,
                  const TrackerCounters& counters, std::uint32_t now);

enum class LoadOutcome { fresh, loaded, corrupt };
// See the file comment. Returns what happened; a corrupt file is renamed to path + ".corrupt".
LoadOutcome load_state(const std::string& path, TrackerState into, std::uint32_t now);

// Current wall-clock time in seconds, the unit of every stamp in the tracker.
std::uint32_t wall_seconds();

} // namespace p2p
