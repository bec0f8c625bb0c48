// The DHT face in a build configured with -Ddht=false (meson_options.txt), for the smallest boxes: this file
// stands in for peer_node_dht.cpp and tracker_dht.cpp, and names nothing of src/dht or node/dht_host.cpp, so none
// of it is linked (docs/cross.md has the bytes). The peer: dht_ and dht_host_ stay null, so every caller sees what
// --no-dht gives; a magnet without trackers then needs LSD, a tracker or a peer given by hand (metadata_fetches.cpp
// says so); Session::enable_dht is never called, so no handshake sets BEP 5's DHT bit. The tracker: --dht-port
// fails at start with one line naming the option.
#include "base/log.hpp"
#include "node/peer_node_impl.hpp"
#include "node/tracker_dht.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

bool dht_available() { return false; }

namespace {
constexpr const char* kNoDhtWhy = "this p2pnode was built without the DHT (meson -Ddht=false)";
} // namespace

struct TrackerDht::Impl {};

Result<std::unique_ptr<TrackerDht>> TrackerDht::open(Loop&, const std::string&, std::uint16_t, std::string) {
    return make_error("--dht-port", kNoDhtWhy, Errc::unsupported);
}

// Unreachable: open() never makes one.
TrackerDht::TrackerDht(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrackerDht::~TrackerDht() = default;
std::uint16_t TrackerDht::port() const { return 0; }
Status TrackerDht::save_now() { return ok_status(); }
void TrackerDht::stop() {}

// Never called: no host is made in this build. The DHT members only peer_node_dht.cpp calls (dht_found,
// dht_refresh_starved, dht_state_path) are not defined here.
void PeerNode::DhtHostDelete::operator()(DhtHost*) const {}

void PeerNode::start_dht() {
    if (cfg_.dht) // on by default: said once, at info level, so that a user who never asked for it is not warned
        log_info("dht", std::string("off: ") + kNoDhtWhy);
}

void PeerNode::dht_resolve(const std::string&, std::uint16_t, bool) {}
void PeerNode::stop_dht() {}
void PeerNode::dht_track(const std::string&, bool) {}
void PeerNode::dht_untrack(const std::string&) {}
bool PeerNode::dht_save_now() { return false; }
std::string PeerNode::dht_describe() { return std::string("dht: off: ") + kNoDhtWhy + "\n"; }

} // namespace p2p
