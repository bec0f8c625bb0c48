// PeerNode and Local Service Discovery (BEP 14): one LsdService (lsd_service.hpp) announcing every public torrent
// and magnet to the LAN while it is seeded, downloaded or fetched; the peers it hears of go to the torrent, or to
// the metadata fetch of a magnet that has no metadata yet, like a tracker's or the DHT's (HACKING.md, "A discovery
// source"). Private torrents never (BEP 27: peers come from their trackers only).
#include <uv.h>

#include "base/log.hpp"
#include "net/tcp_transport.hpp" // is_loopback_ip
#include "node/peer_node_impl.hpp"

namespace p2p {

void PeerNode::start_lsd() {
    if (!cfg_.lsd) return;
    const std::string& ip = cfg_.listen_ip;
    // Announce where we listen: a LAN peer dials the datagram's source address at our port.
    if (is_loopback_ip(ip)) {
        log_debug("lsd", "off: listening on " + ip + ", which no peer on the LAN can reach");
        return;
    }
    LsdService::Config c;
    c.listen_port = session_.port();
    sockaddr_in a4{};
    sockaddr_in6 a6{};
    if (uv_ip4_addr(ip.c_str(), 0, &a4) == 0) {
        c.ipv6 = false;                           // an IPv4 listener: no peer could use our IPv6 address
        if (ip != "0.0.0.0") c.interface_v4 = ip; // join and send on that address's interface, as libtorrent does
    } else if (uv_ip6_addr(ip.c_str(), 0, &a6) == 0) {
        c.ipv4 = ip == "::"; // the wildcard takes IPv4 too
    } else {
        log_warn("lsd", "off: cannot tell the family of " + ip);
        return;
    }
    lsd_ = std::make_unique<LsdService>(
        loop_.get(), c, [this](const udp::Hash20& h, const sockaddr_storage& peer) { lsd_peer(h, peer); });
    if (auto st = lsd_->start(); !st) {
        // E.g. a program holds UDP port 6771 without SO_REUSEADDR: the peer runs on, without LSD.
        log_warn("lsd", "Local Service Discovery off: " + st.error().str());
        lsd_.reset();
    }
}

void PeerNode::stop_lsd() {
    // Quitting: nothing more is announced or dialled. Deferred: quit() may run inside one of its callbacks.
    if (lsd_) loop_.defer_delete(std::move(lsd_));
}

void PeerNode::lsd_add(const std::string& hash, bool is_private) {
    if (!lsd_ || quitting_ || hash.size() != 20) return;
    const udp::Hash20 h = udp::Hash20::from(hash);
    if (is_private) { // BEP 27; also when a magnet's fetched metadata turns out private
        lsd_->remove(h);
        return;
    }
    lsd_->add(h);
}

void PeerNode::lsd_remove(const std::string& hash) {
    if (lsd_ && hash.size() == 20) lsd_->remove(udp::Hash20::from(hash));
}

void PeerNode::lsd_peer(const udp::Hash20& h, const sockaddr_storage& peer) {
    if (quitting_) return;
    const std::string hash = h.str();
    const std::vector<sockaddr_storage> one{peer};
    if (auto it = items_.find(hash); it != items_.end()) {
        Item& item = it->second;
        // Another client may announce a private torrent's hash: BEP 27 still says no.
        if (item.torrent && !item.failed && !item.torrent->meta().is_private) item.torrent->add_candidates(one);
        return;
    }
    fetches_.add_candidates(hash, one); // a magnet still fetching its metadata (ignored when there is none)
}

} // namespace p2p
