// TrackerDht (tracker_dht.hpp): the socket and the DhtHost on it, destroyed in that order's reverse.
#include "node/tracker_dht.hpp"

#include "loop/loop.hpp"
#include "net/utp_socket.hpp"
#include "node/dht_host.hpp"

namespace p2p {

struct TrackerDht::Impl {
    std::unique_ptr<UtpSocket> sock;
    std::unique_ptr<DhtHost> host; // declared after the socket: destroyed before it
};

Result<std::unique_ptr<TrackerDht>> TrackerDht::open(Loop& loop, const std::string& ip, std::uint16_t port,
                                                     std::string state_path) {
    auto s = UtpSocket::open(loop.get(), ip, port, nullptr);
    if (!s) return make_error("cannot open the DHT port " + std::to_string(port), s.error().str());
    auto impl = std::make_unique<Impl>();
    impl->sock = std::move(*s);
    DhtHost::Options o;
    o.state_path = std::move(state_path);
    impl->host = std::make_unique<DhtHost>(loop, *impl->sock, std::move(o));
    return std::unique_ptr<TrackerDht>(new TrackerDht(std::move(impl)));
}

TrackerDht::TrackerDht(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrackerDht::~TrackerDht() = default;

std::uint16_t TrackerDht::port() const { return impl_->sock->port(); }
Status TrackerDht::save_now() { return impl_->host->save_now(); }
void TrackerDht::stop() { impl_->host->stop(); }

} // namespace p2p
