#pragma once
#include "cli/args.hpp"

namespace p2p {
// --make-torrent: hashes through the loop with a progress bar, writes the .torrent, prints hash and magnet.
int run_make_torrent(const CliOptions& opts);
} // namespace p2p
