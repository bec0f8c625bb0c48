// Tracker persistence: swarms with their peers and last-seen stamps, the catalog and the counters, as one
// JSON document (nlohmann/json, non-throwing use only).
//
// Saving is crash-safe: the document goes to FILE.tmp.<pid> in the same folder, is fsynced, renamed over FILE,
// and the folder is fsynced, so FILE is always either the old or the new document. Loading never crashes: a
// missing file is a fresh start; an empty, truncated or otherwise bad file is logged, moved aside to
// FILE.corrupt (kept for a human to look at) and the tracker starts empty.
// save_state: plain blocking POSIX calls, the document produced a part at a time (state_writer.hpp), so memory
// stays at one part however many peers there are; used at exit. While serving, the server saves through
// StateSaver (state_saver.hpp): the same document, one part per loop turn, written with libuv.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "base/write_file.hpp" // write_file_atomic, write_atomic_parts, folder_of
#include "tracker/catalog.hpp"
#include "tracker/state_reader.hpp"
#include "tracker/swarm_store.hpp"

namespace p2p {

std::string serialize_state(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& counters,
                            std::uint32_t now);
// parse_state (all or nothing, op "state.parse"): state_reader.hpp.

inline constexpr std::size_t kStateChunk = 256u << 10; // bytes of document produced per part

Status save_state(const std::string& path, const SwarmStore& store, const Catalog& catalog,
                  const TrackerCounters& counters, std::uint32_t now);

enum class LoadOutcome { fresh, loaded, corrupt };
// See the file comment. Returns what happened; a corrupt file is renamed to path + ".corrupt".
LoadOutcome load_state(const std::string& path, TrackerState into, std::uint32_t now);

// Checked once at start, so a bad --state fails then rather than at the first save or at exit: the folder of
// path exists, is a folder and takes a new file (a temporary one is created and removed there), and path is
// not itself a folder. Errors carry only the reason in `what` ("folder /x does not exist", "cannot create a
// file in /x: Permission denied", ...). An existing file is not read here: loading deals with its contents.
Status check_state_path(const std::string& path);

// Current wall-clock time in seconds, the unit of every stamp in the tracker.
std::uint32_t wall_seconds();

} // namespace p2p
