// One peer connection as the session layer sees it: the connection plus what the torrent tracks about it.
// Owned by its Torrent (or by the Session while an incoming connection has not said which torrent it wants).
// A link is never destroyed inside one of its connection's callbacks: once closed it is marked dead and handed to
// retire_link(), which destroys it after the current callback has returned (Loop::defer_delete).
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "loop/loop.hpp"
#include "peer/connection.hpp"

namespace p2p {

class Torrent;

// What a link knows about the peer's BEP 10 extensions and what we exchanged with it (session/torrent_extensions).
struct LinkExtensions {
    bool handshake_seen = false;         // its BEP 10 handshake arrived
    std::uint8_t ut_metadata = 0;        // the id the peer assigned to ut_metadata (BEP 9); 0 = unsupported
    std::uint8_t ut_pex = 0;             // the id the peer assigned to ut_pex (BEP 11); 0 = unsupported
    std::uint16_t listen_port = 0;       // its "p": with its IP, the address other peers can reach it at
    std::uint32_t reqq = 0;              // its "reqq": our pipeline to it stays at or below this (0 = none)
    std::uint32_t metadata_requests = 0; // ut_metadata requests it made; capped per connection lifetime
    std::uint64_t pex_due_ms = 0;        // when we send it the next PEX message (0 = not scheduled)
    std::uint64_t last_pex_in_ms = 0;    // when its last PEX message was accepted
    bool pex_in_seen = false;            // it sent a PEX message before (the first is never rate-limited)
    // Addresses ("ip:port") our PEX messages told it about and did not drop since: the base of the next diff.
    // Bounded: entries come from our connected peers (TorrentConfig::max_peers) and leave when they are dropped;
    // TorrentExtensions also caps it at kMaxPexTold.
    std::set<std::string> pex_told;
};

struct PeerLink {
    std::uint64_t token = 0;    // picker/choker identity; never reused in a process
    Torrent* torrent = nullptr; // nullptr while an incoming handshake is pending
    std::unique_ptr<PeerConnection> conn;
    std::string address;                     // "ip:port" as connected/accepted
    std::optional<sockaddr_storage> dialled; // the address we dialled (outgoing links)
    std::int64_t connected_at_ms = 0;
    std::uint64_t last_block_ms = 0;      // last time a requested block arrived (snub detection)
    bool registered_availability = false; // its bitfield / have-all is counted in the picker
    bool has_all = false;                 // counted through add_have_all()
    bool snubbed = false;
    std::uint32_t upload_idle_ticks = 0;  // ticks in a row it was unchoked, interested and requesting nothing
    std::uint32_t suggest_idle_ticks = 0; // ticks in a row its pending suggestions left us idle (torrent_choke.cpp)
    bool reading_piece = false;           // a storage read for its front request is in flight
    bool read_throttled = false;          // its reading is paused by a download limit (Torrent::count_received)
    // Closed: no callback of its connection follows, and code still holding a pointer to it (a loop over a
    // snapshot of the links, a caller up the stack) must leave it alone. Destroyed after the current callback.
    bool dead = false;
    LinkExtensions ext; // BEP 10 / 9 / 11 state of this peer
};

// Lets go of a closed link from anywhere, its own callbacks included: marks it dead and destroys it after the
// current callback has returned.
inline void retire_link(Loop& loop, std::unique_ptr<PeerLink> link) {
    link->dead = true;
    loop.defer_delete(std::move(link));
}

} // namespace p2p
