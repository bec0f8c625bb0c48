// One peer connection as the session layer sees it: the connection plus what the torrent tracks about it.
// Owned by its Torrent (or by the Session while an incoming connection has not said which torrent it wants).
// A link is never destroyed inside one of its connection's callbacks: it is marked dead and handed to
// Session::reap(), which destroys it after the current callback has returned.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "peer/connection.hpp"

namespace p2p {

class Torrent;

struct PeerLink {
    std::uint64_t token = 0;                 // picker/choker identity; never reused in a process
    Torrent* torrent = nullptr;              // nullptr while an incoming handshake is pending
    std::unique_ptr<PeerConnection> conn;
    std::string address;                     // "ip:port" as connected/accepted
    std::int64_t connected_at_ms = 0;
    std::uint64_t last_block_ms = 0;         // last time a requested block arrived (snub detection)
    bool registered_availability = false;    // its bitfield / have-all is counted in the picker
    bool has_all = false;                    // counted through add_have_all()
    bool snubbed = false;
    bool reading_piece = false;              // a storage read for its front request is in flight
    bool dead = false;                       // closed; waiting for the reaper
};

} // namespace p2p
