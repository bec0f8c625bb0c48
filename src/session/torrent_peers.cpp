// Torrent::peer_summaries(): what the peer console's `peers` shows about each connection. Kept apart from
// torrent.cpp (the data flow) because it only reads state.
#include "session/torrent.hpp"

namespace p2p {

std::vector<Torrent::PeerSummary> Torrent::peer_summaries() const {
    std::vector<PeerSummary> out;
    out.reserve(links_.size()); // bounded by cfg_.max_peers
    for (const auto& l : links_) {
        if (l->dead || !l->conn || l->conn->is_closed()) continue;
        PeerConnection& c = *l->conn;
        PeerSummary s;
        s.address = l->address;
        s.peer_id = c.peer_id();
        s.incoming = c.direction() == PeerConnection::Direction::incoming;
        std::size_t pieces = c.peer_pieces().size();
        if (l->has_all)
            s.have = 1;
        else if (pieces)
            s.have = static_cast<double>(c.peer_pieces().count()) / static_cast<double>(pieces);
        s.down_rate = c.download_rate();
        s.up_rate = c.upload_rate();
        s.downloaded = c.downloaded();
        s.uploaded = c.uploaded();
        s.am_choking = c.am_choking();
        s.am_interested = c.am_interested();
        s.peer_choking = c.peer_choking();
        s.peer_interested = c.peer_interested();
        s.snubbed = l->snubbed;
        s.utp = std::string_view(c.transport_kind()) == "utp";
        s.encrypted = c.encrypted();
        out.push_back(std::move(s));
    }
    return out;
}

} // namespace p2p
