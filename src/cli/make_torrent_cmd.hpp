#pragma once
#include "cli/args.hpp"

namespace p2p {
// --make-torrent: hashes through the loop with a progress bar (none with --quiet), writes the .torrent, prints
// hash and magnet. An existing output (without --force) or a missing or unwritable output folder is refused
// before any hashing. Returns the exit code: 0, or 1 with one line on stderr.
int run_make_torrent(const CliOptions& opts);
} // namespace p2p
