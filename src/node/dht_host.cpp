#include "node/dht_host.hpp"

#include <cstdlib>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "base/read_file.hpp"
#include "base/write_file.hpp"
#include "dht/endpoint.hpp"
#include "dht/node_id.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "net/utp_socket.hpp"
#include "tracker/resolver.hpp"

namespace p2p {

DhtHost::DhtHost(Loop& loop, UtpSocket& sock, Options opt) : loop_(loop), sock_(sock), opt_(std::move(opt)) {
    const std::uint64_t now = loop_.now_ms();
    std::optional<std::string> saved;
    if (!opt_.state_path.empty())
        if (auto text = read_file(opt_.state_path, kMaxStateFile)) saved = *text;
    dht::NodeId id = dht::random_node_id();
    if (saved)
        if (auto s = dht::DhtNode::saved_id(*saved)) id = *s;
    UtpSocket* s = &sock_;
    node_ = std::make_unique<dht::DhtNode>(
        dht::DhtConfig{},
        [s](const dht::Endpoint& to, std::string d) {
            const sockaddr_storage ss = dht::to_sockaddr(to);
            return s->send_other(reinterpret_cast<const sockaddr*>(&ss), std::move(d));
        },
        id, now);
    if (opt_.memory_limit) node_->set_memory_limit(opt_.memory_limit);
    dht::DhtNode* n = node_.get();
    sock_.on_other([n, this](std::string_view d, const sockaddr* from) {
        if (auto e = dht::to_endpoint(from)) n->on_datagram(d, *e, loop_.now_ms());
    });
    if (saved) {
        had_saved_ = true;
        node_->load_nodes(*saved, now);
    }
    last_save_ = now;
    timer_ = std::make_unique<Timer>(loop_.get());
    timer_->start(kTickMs, kTickMs, [this] {
        const std::uint64_t t = loop_.now_ms();
        node_->tick(t);
        ++ticks_;
        if (tick_hook_) tick_hook_(ticks_);
        if (t - last_save_ >= kSaveEveryMs) (void)save_now();
    });
    timer_->unref(); // the DHT alone does not keep the process running
}

DhtHost::~DhtHost() { stop(); }

std::string DhtHost::id_hex() const {
    const auto& id = node_->id();
    return to_hex(std::string_view(reinterpret_cast<const char*>(id.b.data()), id.b.size()));
}

std::size_t DhtHost::bootstrap(const std::vector<std::string>& host_ports) {
    std::size_t queued = 0;
    for (const auto& hp : host_ports) {
        const auto colon = hp.rfind(':');
        if (colon == std::string::npos) continue;
        std::string host = hp.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
        const int port = std::atoi(hp.c_str() + colon + 1);
        if (port <= 0 || port > 65535) continue;
        resolve(host, static_cast<std::uint16_t>(port), true);
        ++queued;
    }
    return queued;
}

void DhtHost::resolve(const std::string& host, std::uint16_t port, bool as_bootstrap) {
    if (stopped_ || names_.size() >= kMaxResolving) return;
    names_.push_back({host, port, as_bootstrap});
    resolve_next();
}

// One name at a time: getaddrinfo runs on libuv's threadpool, which storage and hashing share, and a resolver
// that cannot reach its server (an offline box) holds a thread for seconds.
void DhtHost::resolve_next() {
    if (stopped_ || names_.empty() || (resolver_ && resolver_->busy())) return;
    if (!resolver_) resolver_ = std::make_unique<Resolver>(loop_.get());
    const Name n = names_.front();
    names_.pop_front();
    const std::string what = n.host + ":" + std::to_string(n.port);
    const bool boot = n.bootstrap;
    auto st = resolver_->start(n.host, n.port, SOCK_DGRAM, [this, what, boot](Result<Resolver::Addrs> a) {
        if (stopped_) return;
        if (!a) {
            log_warn(opt_.log_tag, (boot ? "bootstrap " : "node ") + what + ": " + a.error().str());
        } else {
            for (const auto& ss : *a) {
                auto e = dht::to_endpoint(reinterpret_cast<const sockaddr*>(&ss));
                if (!e) continue;
                if (boot)
                    node_->add_bootstrap(*e, loop_.now_ms());
                else
                    node_->add_node(*e, loop_.now_ms());
            }
        }
        loop_.defer([this] { resolve_next(); }); // not from inside the resolver's own callback
    });
    if (!st) loop_.defer([this] { resolve_next(); });
}

Status DhtHost::save_now() {
    const std::uint64_t now = loop_.now_ms();
    last_save_ = now;
    if (opt_.state_path.empty() || node_->stats(now).good == 0) return ok_status();
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(opt_.state_path).parent_path(), ec);
    Status st = ec ? Status(make_error("mkdir " + folder_of(opt_.state_path), ec.message(), Errc::io))
                   : write_file_atomic(opt_.state_path, node_->save_state(now));
    if (!st && !save_failing_)
        log_warn(opt_.log_tag, "could not save the DHT table: " + st.error().str() +
                                   " (the next start bootstraps again; retried every " +
                                   std::to_string(kSaveEveryMs / 60000) + " minutes)");
    else if (st && save_failing_)
        log_info(opt_.log_tag, "the DHT table is saved again to " + opt_.state_path);
    save_failing_ = !st;
    return st;
}

void DhtHost::stop() {
    if (stopped_) return;
    (void)save_now();
    stopped_ = true;
    if (timer_) timer_->stop();
    if (resolver_) resolver_->cancel();
    names_.clear();
    sock_.on_other(nullptr);
}

} // namespace p2p
