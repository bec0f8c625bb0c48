// PeerNode and the DHT (BEP 5): one dht::DhtNode hosted on the uTP socket by a DhtHost (node/dht_host.hpp: the
// socket's hand-over, the tick timer, names resolved without blocking, the table saved beside the resume data),
// every public torrent and magnet tracked (announced, and its peers handed to the torrent or the metadata fetch),
// and PORT messages' nodes pinged.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "base/read_file.hpp"
#include "crypto/random.hpp"
#include "dht/endpoint.hpp"
#include "dht/node_id.hpp"
#include "node/peer_node_impl.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

namespace {

constexpr std::uint64_t kDhtMemoryShare = 32; // under --max-memory the DHT's store gets 1/32
constexpr std::uint64_t kStarvedEvery = 10;   // ticks (1 s) between looks for downloads without peers
const char* const kDefaultRouters[] = {
    // The well-known routers that libtorrent, Transmission and qBittorrent start from.
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
};

using dht::to_endpoint;

sockaddr_storage to_storage(const dht::Endpoint& e) { return dht::to_sockaddr(e); }

// --dht-bootstrap not given: P2PNODE_DHT_BOOTSTRAP (comma-separated HOST:PORT; "none" for none: the test suite
// sets it so that no test reaches the internet), else the well-known routers.
std::vector<std::string> default_bootstrap() {
    std::vector<std::string> out;
    if (const char* env = std::getenv("P2PNODE_DHT_BOOTSTRAP")) {
        std::string v = env;
        if (v == "none") return out;
        std::size_t at = 0;
        while (at <= v.size()) {
            const std::size_t comma = std::min(v.find(',', at), v.size());
            if (comma > at) out.push_back(v.substr(at, comma - at));
            at = comma + 1;
        }
        return out;
    }
    out.assign(std::begin(kDefaultRouters), std::end(kDefaultRouters));
    return out;
}

dht::NodeId id_of(const std::string& hash) { return dht::NodeId::from(hash); }

} // namespace

std::string PeerNode::dht_state_path() const { return data_root() + "/.p2pnode/dht.json"; }

void PeerNode::start_dht() {
    UtpSocket* sock = session_.utp();
    if (!cfg_.dht) return;
    if (!sock) {
        log_warn("dht", "off: it needs the UDP socket, and uTP could not have it");
        return;
    }
    DhtHost::Options o;
    o.state_path = dht_state_path();
    if (cfg_.max_memory) // clamped first: on a 32-bit box (armhf) a share of 128 GiB or more would wrap
        o.memory_limit = static_cast<std::size_t>(std::min<std::uint64_t>(cfg_.max_memory / kDhtMemoryShare, SIZE_MAX));
    dht_host_.reset(new DhtHost(loop_, *sock, std::move(o)));
    dht_ = &dht_host_->node();
    dht_host_->on_tick([this](std::uint64_t ticks) {
        if (ticks % kStarvedEvery == 0) dht_refresh_starved();
    });
    session_.enable_dht(sock->port(), [this](const std::string& ip, std::uint16_t port) {
        // BEP 5: a PORT message names the peer's DHT node; it is pinged and enters the table if it answers.
        if (!dht_) return;
        sockaddr_storage ss{};
        if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
            uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0)
            return;
        if (auto e = to_endpoint(reinterpret_cast<const sockaddr*>(&ss))) dht_->add_node(*e, loop_.now_ms());
    });
    std::vector<std::string> boot = cfg_.dht_bootstrap;
    if (boot.empty()) boot = default_bootstrap();
    const std::size_t queued = dht_host_->bootstrap(boot);
    log_info("dht", "node " + dht_host_->id_hex() + " on UDP port " + std::to_string(sock->port()) + ", " +
                        std::to_string(queued) + " bootstrap nodes" +
                        (dht_host_->had_saved_state() ? " and the saved table" : ""));
}

void PeerNode::DhtHostDelete::operator()(DhtHost* host) const { delete host; }

bool PeerNode::dht_save_now() { return dht_host_ && dht_host_->save_now(); }

std::string PeerNode::dht_describe() { return dht_ ? dht_->describe(loop_.now_ms()) : std::string("dht: off\n"); }

bool dht_available() { return true; }

void PeerNode::dht_resolve(const std::string& host, std::uint16_t port, bool bootstrap) {
    if (dht_host_) dht_host_->resolve(host, port, bootstrap);
}

void PeerNode::stop_dht() {
    if (dht_host_) dht_host_->stop();
}

void PeerNode::dht_track(const std::string& hash, bool is_private) {
    if (!dht_ || quitting_) return;
    if (is_private) { // BEP 27: a private torrent's peers come from its trackers only
        dht_untrack(hash);
        return;
    }
    if (!dht_first_.count(hash)) dht_first_[hash] = loop_.now_ms();
    // implied_port: the datagram's source port is the uTP socket's, the same number as TCP's (BEP 5).
    dht_->track(
        id_of(hash), session_.port(), true,
        [this, hash](const std::vector<dht::Endpoint>& peers) { dht_found(hash, peers); }, loop_.now_ms());
}

// A download or a magnet with no peer connected asks the DHT again (the DHT node spaces these out), rather than
// waiting for the 15-30 minute re-announce: the peer it found may have closed on us.
void PeerNode::dht_refresh_starved() {
    const std::uint64_t now = loop_.now_ms();
    for (const auto& [hash, item] : items_)
        if (item.download && item.torrent && !item.torrent->complete() && item.torrent->num_links() == 0)
            dht_->refresh(id_of(hash), now);
    for (const auto& row : fetches_.rows())
        if (!row.paused && row.status.with_metadata == 0 && row.status.connecting == 0) dht_->refresh(id_of(row.info_hash), now);
}

void PeerNode::dht_untrack(const std::string& hash) {
    if (dht_) dht_->untrack(id_of(hash));
}

void PeerNode::dht_found(const std::string& hash, const std::vector<dht::Endpoint>& peers) {
    if (quitting_ || peers.empty()) return;
    if (auto f = dht_first_.find(hash); f != dht_first_.end() && f->second) {
        log_info("dht", "first peers for " + to_hex(hash) + ": " + std::to_string(peers.size()) + " after " +
                            std::to_string(loop_.now_ms() - f->second) + " ms");
        f->second = 0;
    }
    // Our own announce comes back from the DHT: skip our address as the nodes see it (and as we listen on it).
    const auto& external = dht_->external();
    dht::Endpoint listen_ep;
    sockaddr_storage lss{};
    const bool have_listen =
        uv_ip4_addr(cfg_.listen_ip.c_str(), session_.port(), reinterpret_cast<sockaddr_in*>(&lss)) == 0;
    if (have_listen)
        if (auto e = to_endpoint(reinterpret_cast<const sockaddr*>(&lss))) listen_ep = *e;
    std::vector<sockaddr_storage> addrs;
    addrs.reserve(peers.size());
    for (const auto& p : peers) {
        if (p.port == session_.port() && ((external && dht::ip_key(*external) == dht::ip_key(p)) ||
                                          (have_listen && dht::same_endpoint(listen_ep, p))))
            continue;
        addrs.push_back(to_storage(p));
    }
    if (addrs.empty()) return;
    if (auto it = items_.find(hash); it != items_.end() && it->second.torrent) {
        it->second.torrent->add_candidates(addrs);
        return;
    }
    fetches_.add_candidates(hash, addrs);
}

} // namespace p2p
