// One Mainline DHT node (BEP 5) hosted on a UDP socket the host does not own: the peer's uTP socket (--peer) and
// the tracker's --dht-port socket. What both need and used to write twice:
//   - the node fed with the socket's datagrams that are not uTP, and its own sent through send_other;
//   - the tick timer (the DHT alone does not keep the process running: the timer is unref'd), with a hook for the
//     owner's own periodic work;
//   - host names (bootstrap routers, a .torrent's "nodes") resolved one at a time without blocking the loop;
//   - the saved table (our id, good nodes) read at start and written atomically (base/write_file.hpp) every
//     kSaveEveryMs, on save_now() (SIGHUP) and at stop(), so a restart rejoins at once even after a crash. A write
//     that fails is logged once until one succeeds again (a full disk is not a line every 15 minutes).
// The owner keeps the socket alive longer than the host, and calls stop() before tearing the socket down.
// Callbacks into the owner (the tick hook) run from the timer; none of them may destroy the host.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "dht/dht_node.hpp"

namespace p2p {

class Loop;
class Timer;
class Resolver;
class UtpSocket;

class DhtHost {
public:
    static constexpr std::uint64_t kTickMs = 100;                  // the node's deadlines are checked this often
    static constexpr std::uint64_t kSaveEveryMs = 15 * 60 * 1000;  // the table saved while running
    static constexpr std::size_t kMaxStateFile = 64 * 1024;        // 200 nodes of JSON take ~20 KiB
    static constexpr std::size_t kMaxResolving = 32;               // names waiting to be resolved

    struct Options {
        std::string state_path;      // "" = nothing read or saved
        std::size_t memory_limit = 0; // bytes for the node's store (0 = its own caps only)
        std::string log_tag = "dht";
    };

    // Reads the saved id and nodes (if any), makes the node and starts its timer and the socket's hand-over.
    DhtHost(Loop& loop, UtpSocket& sock, Options opt);
    ~DhtHost();
    DhtHost(const DhtHost&) = delete;
    DhtHost& operator=(const DhtHost&) = delete;

    dht::DhtNode& node() { return *node_; }
    const dht::DhtNode& node() const { return *node_; }
    bool had_saved_state() const { return had_saved_; }
    std::string id_hex() const;

    // Run every tick after the node's own deadlines (the peer looks for downloads without peers).
    void on_tick(std::function<void(std::uint64_t ticks)> fn) { tick_hook_ = std::move(fn); }
    // HOST:PORT strings ("[v6]:port" too); malformed entries are skipped. Returns how many were queued.
    std::size_t bootstrap(const std::vector<std::string>& host_ports);
    // One name to look up: a bootstrap router (asked for nodes near us) or a node to ping (a .torrent's "nodes").
    void resolve(const std::string& host, std::uint16_t port, bool as_bootstrap);

    // Writes the table now. Nothing worth keeping (no node ever answered): nothing written, so a failed --get
    // leaves no file behind. A failure is returned, and logged as a warning once per run of failures.
    Status save_now();
    // The final save, the timer stopped and the socket's datagrams no longer handed over. Idempotent.
    void stop();

private:
    struct Name {
        std::string host;
        std::uint16_t port;
        bool bootstrap;
    };
    void resolve_next();

    Loop& loop_;
    UtpSocket& sock_;
    Options opt_;
    std::unique_ptr<dht::DhtNode> node_;
    std::unique_ptr<Timer> timer_;
    std::unique_ptr<Resolver> resolver_;
    std::deque<Name> names_;
    std::function<void(std::uint64_t)> tick_hook_;
    std::uint64_t ticks_ = 0, last_save_ = 0;
    bool had_saved_ = false, stopped_ = false, save_failing_ = false;
};

} // namespace p2p
