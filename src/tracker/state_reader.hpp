// Reading the tracker's state document (format in state_writer.hpp) without building it in memory: nlohmann's
// SAX interface feeds a small state machine, one value at a time, from a string or straight from the file.
//
// All or nothing, in two passes over the input: the first checks everything (format, version, counters, every
// swarm, peer and catalog entry) and changes nothing; only if it passes does the second clear `into` and restore
// each swarm and entry as it is read. Memory: one swarm's peers at a time (the DOM of a 50 MB document with a
// million peers took ~400 MB, kept by the allocator afterwards). Unknown keys are skipped, as before.
// Errors: op "state.parse" and what was wrong ("not valid JSON", "bad peer", "unsupported version", ...).
#pragma once
#include <cstdint>
#include <cstdio>
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

Status parse_state(std::string_view text, TrackerState into, std::uint32_t now);
// The same from an open file, read from its start (rewound between the passes).
Status parse_state_file(std::FILE* f, TrackerState into, std::uint32_t now);

} // namespace p2p
