// The public API for embedding p2pnode: everything a host program needs to run the tracker or a peer inside its
// own process. p2p::Node (node.hpp) is a peer driven call by call on the host's libuv loop or its own. Each run_*
// call builds its own single-threaded libuv loop, runs it until a signal (SIGINT or SIGTERM), the console's quit
// or, for a peer with exit_when_done, completion, and returns an exit status.
// Only the C++ standard library is needed to include these headers.
#pragma once

#include "p2pnode/node.hpp"
#include "p2pnode/peer.hpp"
#include "p2pnode/tracker.hpp"

namespace p2p {
// "0.1.0"
const char* version();
// Faces a build may leave out for a smaller binary (meson_options.txt): false in a build configured with
// -Ddht=false (no Mainline DHT: magnets need a tracker, LSD or peers given by hand) or -Drpc=false (no --rpc-port:
// no Transmission RPC, web page, /stats or /metrics on the peer; the tracker's HTTP port is unaffected).
bool dht_available();
bool rpc_available();
} // namespace p2p
