// Reading a small file whole (a .torrent, a share-cache stamp), with a size bound so a wrong path (a device, a
// huge file) costs an error, not memory. Plain open/read, not an ifstream: the first iostream of a process sets up
// every locale facet, ~100 KiB more of libstdc++ resident in an idle seeder for nothing (docs/memory-bench.md).
#pragma once
#include <cstddef>
#include <string>

#include "base/result.hpp"

namespace p2p {

// The whole file, or an error "read PATH: <why>" (the system's reason, or "larger than MAX bytes").
Result<std::string> read_file(const std::string& path, std::size_t max);

} // namespace p2p
