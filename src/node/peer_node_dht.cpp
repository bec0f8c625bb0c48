// PeerNode and the DHT (BEP 5): one dht::DhtNode on the uTP socket (datagrams that are not uTP come to it through
// UtpSocket::on_other and its own go out through send_other), a timer for its deadlines, the bootstrap names
// resolved without blocking, every public torrent and magnet tracked (announced, and its peers handed to the torrent
// or the metadata fetch), PORT messages' nodes pinged, and the table saved at exit beside the resume data.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

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

namespace p2p {

namespace {

constexpr std::uint64_t kDhtTickMs = 100;        // the DHT's deadlines are checked this often
constexpr std::size_t kMaxStateFile = 64 * 1024; // 200 nodes of JSON take ~20 KiB
constexpr std::uint64_t kDhtMemoryShare = 32;
constexpr std::size_t kMaxResolving = 32; // names waiting to be resolved for the DHT
constexpr std::uint64_t kStarvedEvery =
    10; // ticks (1 s) between looks for downloads without peers             // under --max-memory the DHT's store gets 1/32
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
    const std::uint64_t now = loop_.now_ms();
    std::optional<std::string> saved;
    if (auto text = read_file(dht_state_path(), kMaxStateFile)) saved = *text;
    dht::NodeId id = dht::random_node_id();
    if (saved)
        if (auto s = dht::DhtNode::saved_id(*saved)) id = *s;
    dht::DhtConfig dc;
    dht_ = std::make_unique<dht::DhtNode>(
        dc,
        [this](const dht::Endpoint& to, std::string d) {
            dht_send(to, std::move(d));
            return true;
        },
        id, now);
    if (cfg_.max_memory) dht_->set_memory_limit(static_cast<std::size_t>(cfg_.max_memory / kDhtMemoryShare));
    sock->on_other([this](std::string_view d, const sockaddr* from) {
        if (!dht_) return;
        if (auto e = to_endpoint(from)) dht_->on_datagram(d, *e, loop_.now_ms());
    });
    dht_timer_ = std::make_unique<Timer>(loop_.get());
    dht_timer_->start(kDhtTickMs, kDhtTickMs, [this] {
        if (!dht_) return;
        dht_->tick(loop_.now_ms());
        if (++dht_ticks_ % kStarvedEvery == 0) dht_refresh_starved();
    });
    dht_timer_->unref(); // the DHT alone does not keep the peer running
    session_.enable_dht(sock->port(), [this](const std::string& ip, std::uint16_t port) {
        // BEP 5: a PORT message names the peer's DHT node; it is pinged and enters the table if it answers.
        if (!dht_) return;
        sockaddr_storage ss{};
        if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
            uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0)
            return;
        if (auto e = to_endpoint(reinterpret_cast<const sockaddr*>(&ss))) dht_->add_node(*e, loop_.now_ms());
    });
    if (saved) dht_->load_nodes(*saved, now);
    std::vector<std::string> boot = cfg_.dht_bootstrap;
    if (boot.empty()) boot = default_bootstrap();
    for (const auto& hp : boot) {
        const auto colon = hp.rfind(':');
        if (colon == std::string::npos) continue;
        std::string host = hp.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        const int port = std::atoi(hp.c_str() + colon + 1);
        if (port <= 0 || port > 65535) continue;
        dht_resolve(host, static_cast<std::uint16_t>(port), true);
    }
    log_info("dht", "node " + to_hex(std::string_view(reinterpret_cast<const char*>(id.b.data()), id.b.size())) +
                        " on UDP port " + std::to_string(sock->port()) + ", " + std::to_string(boot.size()) +
                        " bootstrap nodes" + (saved ? " and the saved table" : ""));
}

void PeerNode::dht_resolve(const std::string& host, std::uint16_t port, bool bootstrap) {
    if (!dht_ || dht_names_.size() >= kMaxResolving) return;
    dht_names_.push_back({host, port, bootstrap});
    dht_resolve_next();
}

// One name at a time: getaddrinfo runs on libuv's threadpool, which storage and hashing share, and a resolver
// that cannot reach its server (an offline box) holds a thread for seconds.
void PeerNode::dht_resolve_next() {
    if (!dht_ || dht_names_.empty() || (dht_resolver_ && dht_resolver_->busy())) return;
    if (!dht_resolver_) dht_resolver_ = std::make_unique<Resolver>(loop_.get());
    const DhtName n = dht_names_.front();
    dht_names_.pop_front();
    const std::string what = n.host + ":" + std::to_string(n.port);
    const bool bootstrap = n.bootstrap;
    auto st = dht_resolver_->start(n.host, n.port, SOCK_DGRAM, [this, what, bootstrap](Result<Resolver::Addrs> a) {
        if (!dht_) return;
        if (!a) {
            log_warn("dht", (bootstrap ? "bootstrap " : "node ") + what + ": " + a.error().str());
        } else {
            for (const auto& ss : *a) {
                auto e = to_endpoint(reinterpret_cast<const sockaddr*>(&ss));
                if (!e) continue;
                if (bootstrap)
                    dht_->add_bootstrap(*e, loop_.now_ms());
                else
                    dht_->add_node(*e, loop_.now_ms());
            }
        }
        loop_.defer([this] { dht_resolve_next(); }); // not from inside the resolver's own callback
    });
    if (!st) loop_.defer([this] { dht_resolve_next(); });
}

void PeerNode::dht_send(const dht::Endpoint& to, std::string datagram) {
    UtpSocket* sock = session_.utp();
    if (!sock) return;
    const sockaddr_storage ss = to_storage(to);
    sock->send_other(reinterpret_cast<const sockaddr*>(&ss), std::move(datagram));
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
        if (row.status.with_metadata == 0 && row.status.connecting == 0) dht_->refresh(id_of(row.info_hash), now);
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

void PeerNode::save_dht() {
    // Nothing worth keeping (no node ever answered): nothing written, so a failed --get leaves no file behind.
    if (!dht_ || dht_->stats(loop_.now_ms()).good == 0) return;
    const std::string path = dht_state_path();
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    if (ec) return; // a read-only folder: nothing saved, the next start bootstraps again
    const std::string tmp = path + ".tmp";
    const std::string text = dht_->save_state(loop_.now_ms());
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) return;
    const bool ok =
        std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
    if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        log_warn("dht", "could not save " + path);
    }
}

} // namespace p2p
