// File descriptors (RLIMIT_NOFILE): how a peer shares its limit between torrent files and connections.
//
// A peer holds descriptors for: torrent files (one session-wide FdCache, which also lends slots to resume files
// being read or written), peer connections (Session::max_connections counts outgoing attempts and the connections
// of metadata fetches too), incoming connections still in their handshake (max_pending_incoming), and a fixed
// handful (stdio, the epoll and signal descriptors, listeners, tracker sockets, inotify, a torrent being hashed, a
// share-cache file). Without a plan, 1000 shared files meant 1000 descriptors and, at the common soft limit of
// 1024, "Too many open files" for resume files and sockets.
#pragma once
#include <cstddef>
#include <cstdint>

namespace p2p {

struct FdPlan {
    std::uint64_t limit = 0;     // the soft RLIMIT_NOFILE it was made for
    std::size_t files = 0;       // FdCache bound (SessionConfig::max_open_files)
    std::size_t connections = 0; // SessionConfig::max_connections: at most what was asked for
};

// Descriptors kept aside for everything that is neither a file nor a counted connection.
inline constexpr std::size_t kFdReserve = 48;
// Enough for a folder of a few thousand files to stay open while it downloads: its pieces come in rarest-first
// (random) order, so with 128 a 2,000-file download opened each file ~3.5 times and closed it again (7,000
// openat and close, ~1 leecher CPU s/GiB, disk-bench.md). An unused descriptor still closes after 60 s.
inline constexpr std::size_t kMaxFileFds = 4096;
inline constexpr std::size_t kMinFileFds = 4;
inline constexpr std::size_t kMinConnections = 8;

// Pure arithmetic: files get a quarter of what is left after the reserve and the pending incoming connections
// (kMinFileFds..kMaxFileFds), connections the rest (at least kMinConnections, at most want_connections).
// A limit too small for the minimums still gives them; the process may then see EMFILE, reported as errors.
FdPlan plan_descriptors(std::uint64_t soft_limit, std::size_t want_connections, std::size_t pending_incoming);

// Raises the soft RLIMIT_NOFILE to the hard one (at most 65536: more is never used) and returns the soft limit
// in force afterwards. A failure leaves the limit as it was (and returns it).
std::uint64_t raise_fd_limit();

} // namespace p2p
