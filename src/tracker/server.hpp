// The UDP tracker (BEP 15 + catalog extension) on the libuv loop.
//
// One uv_udp_t per bound address (default 0.0.0.0 and ::, IPv6 tolerated missing). Each datagram is decoded
// and answered at once from the receive callback with uv_udp_try_send; when the socket buffer is full the
// reply is dropped and counted (a UDP client retransmits). Nothing is queued, so there is no queue to bound.
//
// Rules for what gets an answer (anti-amplification):
//   - malformed packets (shorter than 16 bytes, bad protocol id, unknown action, bad lengths) are dropped;
//   - announce/scrape/catalog packets with a connection id that is not valid for the source address are
//     dropped, so replies go only to addresses that proved they receive (the connect reply is 16 bytes, the
//     size of the request);
//   - error replies are sent only for a valid header with bad content, cut to at most the request's size.
// The announcer's address is the packet's source; the IPv4 "ip" field is honoured only with trust_ip_field.
//
// Buffers: the server owns one receive slab (kSlabSize, reused for every read; libuv only writes into it
// during a read call, and every datagram is handled before the callback returns) and one reply string
// reused for every answer, so the steady state allocates nothing per request.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "loop/timer.hpp"
#include "tracker/catalog.hpp"
#include "tracker/connection_id.hpp"
#include "tracker/state_file.hpp"
#include "tracker/state_saver.hpp"
#include "tracker/swarm_store.hpp"

namespace p2p {

struct ServerConfig {
    std::vector<std::string> bind; // literal addresses; empty = {"0.0.0.0", "::"}
    std::uint16_t port = 6969;     // 0 = one ephemeral port, shared by all bound addresses if possible
    std::uint32_t interval = 1800; // announce interval told to clients (BEP 15 "interval"), seconds
    bool trust_ip_field = false;   // honour the announce "ip" field (IPv4) instead of the source address
    SwarmLimits limits;            // peer_ttl_s is set to 2 * interval + 60
    std::size_t max_catalog = 100'000;
    std::uint32_t catalog_grace_s = Catalog::kDefaultGrace; // an unseeded publish waits this long for a seeder
    std::string state_file;                                 // empty = no persistence
    std::uint32_t save_every_s = 60;
    std::uint32_t sweep_every_s = 60;
};

struct BoundAddress {
    std::string address; // as bound, e.g. "0.0.0.0" or "::"
    std::uint16_t port = 0;
    bool v6 = false;
    std::string url() const; // udp://0.0.0.0:6969, udp://[::]:6969
};

class TrackerServer {
public:
    using WallClock = std::function<std::uint32_t()>;
    static constexpr std::size_t kSlabSize = 20 * 64 * 1024; // libuv recvmmsg: up to 20 datagrams of 64 KiB

    TrackerServer(uv_loop_t* loop, ServerConfig config, WallClock wall = wall_seconds,
                  ConnectionIds::Clock id_clock = ConnectionIds::steady_clock());
    ~TrackerServer();
    TrackerServer(const TrackerServer&) = delete;
    TrackerServer& operator=(const TrackerServer&) = delete;

    // Binds every address, then loads the state file (if any; catalog names whose swarm has no seeder are
    // dropped), starts the timers. Fails only if nothing could be bound, with one error whose `what` is the whole
    // story: "cannot listen on UDP port 6969 (0.0.0.0: address already in use; [::]: ...)". Addresses that fail
    // while others bind are logged as warnings.
    Status start();
    // Stops receiving and timers; closes sockets (freed in their close callbacks). Safe to call twice.
    void close();
    const std::vector<BoundAddress>& bound() const { return bound_; }

    // The whole protocol, without sockets: fills `reply` (cleared first) and returns true if it must be sent.
    bool handle(std::string_view packet, const sockaddr* from, std::string& reply);

    // The whole state, now, with blocking writes (exit, console): cancels a background save. No-op without a
    // state file.
    Status save();
    // What the save timer runs: the same document spread over loop turns (state_saver.hpp); `done` gets the
    // outcome. Returns false when a background save is still running (nothing started) or there is no file.
    bool save_in_background(std::function<void(Status)> done);
    // What SIGHUP runs: a background save now, logged ([info]) when written. If one is being written, another
    // follows it, so the file ends up holding the state of after the request. False (nothing to do) without a
    // state file or once closed.
    bool request_save();
    // The announce path of both transports (UDP here, HTTP in tracker/http_front.cpp): the store records the
    // announce at the server's wall clock and appends compact peers of the announcer's family to `peers`.
    AnnounceCounts announce(const AnnounceInput& in, std::string& peers) { return store_.announce(in, wall_(), peers); }
    // The announcer's address as the store keeps it, from a datagram's or a connection's source: an IPv4 client
    // on a dual-stack socket (IPv4-mapped IPv6) is IPv4. Port left 0. False for a family that is neither.
    static bool source_peer(const sockaddr* from, udp::CompactPeer& peer);
    SwarmStore& store() { return store_; }
    Catalog& catalog() { return catalog_; }
    TrackerCounters& counters() { return counters_; }
    const SwarmStore& store() const { return store_; }
    const Catalog& catalog() const { return catalog_; }
    const TrackerCounters& counters() const { return counters_; }
    const ConnectionIds& ids() const { return ids_; }
    const ServerConfig& config() const { return config_; }
    std::uint32_t now() const { return wall_(); }

private:
    struct Socket;
    Status bind_one(const std::string& address, std::uint16_t port, bool v6only);
    bool handle_announce(std::string_view pkt, const sockaddr* from, std::string& reply);
    bool handle_scrape(std::string_view pkt, std::string& reply);
    bool handle_catalog(std::uint32_t action, std::string_view pkt, const sockaddr* from, std::string& reply);
    bool background_save(bool requested); // requested: by request_save (logged at info), else by the timer
    bool error_reply(std::uint32_t tid, std::string_view msg, std::size_t request_size, std::string& reply);
    void on_datagram(Socket* s, std::string_view pkt, const sockaddr* from);
    udp::CatalogEntry entry_of(const CatalogRecord& r) const;

    uv_loop_t* loop_;
    ServerConfig config_;
    WallClock wall_;
    ConnectionIds ids_;
    SwarmStore store_;
    Catalog catalog_;
    TrackerCounters counters_;
    std::vector<Socket*> sockets_; // owned; each freed in its uv close callback
    std::vector<BoundAddress> bound_;
    std::unique_ptr<char[]> slab_; // receive buffer, see the file comment
    std::string reply_;            // reused for every reply
    std::unique_ptr<Timer> sweep_timer_, save_timer_;
    bool resave_ = false; // request_save() came while a save was being written: save again when it ends
    bool closed_ = false;
    // The periodic save, a part per loop turn. Declared after the store and catalog its writer reads, so it is
    // destroyed (and its job cancelled) first.
    std::unique_ptr<StateSaver> saver_;
};

} // namespace p2p
