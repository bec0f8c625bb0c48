// A metadata fetch's connection handed to the torrent its metadata made: BEP 9 and then the download on one
// connection, as libtorrent does with its own magnets. A client that still holds our fetch's connection refuses a
// second one with our peer id until it has seen the first one close (libtorrent: about 2 s), so closing the
// fetch's connections and dialling again cost every magnet download that long.
//
// Ownership: the MetadataFetch parks the connection (PeerConnection::park: reading paused, events dropped) and
// moves it here; the owner of the fetch passes it on to Torrent::adopt_handed, which adopts it once its files
// are placed, or closes it. Dropping a HandedPeer closes the connection (its destructor) and gives its slot back.
#pragma once
#include <sys/socket.h>

#include <memory>
#include <optional>
#include <string>

#include "peer/connection.hpp"
#include "session/connection_count.hpp"

namespace p2p {

struct HandedPeer {
    std::unique_ptr<PeerConnection> conn; // parked, established, metadata-only until adopted
    std::string address;                  // "ip:port" as connected or accepted
    std::optional<sockaddr_storage> dialled;
    std::string ext_handshake; // the peer's BEP 10 handshake payload, replayed to the torrent's extensions
    ConnectionSlot slot;       // its place under the session's connection cap until the torrent counts it
    // It dialled us. The torrent must see it as incoming: both ends of a duplicate pair (a simultaneous open)
    // decide which one to keep by who dialled (Torrent::on_handshake), and must agree.
    bool accepted = false;
};

} // namespace p2p
