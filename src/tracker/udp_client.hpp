// Asynchronous BEP 15 client on the libuv loop, for our peers' announces and for the CLI's catalog commands.
//
// One client talks to one tracker URL (udp://host:port or udp://host:port/announce). The host is resolved
// once (tracker/resolver.hpp: never blocking the loop); the first address is the tracker's. Each operation runs connect -> request; a connection
// id is reused for up to 60 s (BEP 15). Lost packets are retransmitted on the BEP 15 schedule: wait
// 15 * 2^n seconds, n = 0..8, then give up; options.timeout_s > 0 cuts an operation short after that many
// seconds in total. Results come back through callbacks as Result<...>, always from the loop, never from
// inside the call that started the operation. Replies from any address but the tracker's are ignored.
//
// Bounds: at most kMaxPending operations at once (more fail at once with an error). Destroying the client
// drops pending operations without calling their callbacks; a callback may destroy the client.
#pragma once
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "proto/udp_tracker.hpp"
#include "tracker/resolver.hpp"

namespace p2p {

struct UdpTrackerUrl {
    std::string host; // without brackets for IPv6 literals
    std::uint16_t port = 0;
};
// udp://host:port, udp://host:port/announce, udp://[::1]:port. Port is required and nonzero.
Result<UdpTrackerUrl> parse_udp_tracker_url(std::string_view url);

struct AnnounceParams {
    udp::Hash20 info_hash, peer_id;
    std::uint64_t downloaded = 0, left = 0, uploaded = 0;
    std::uint32_t event = udp::kEventNone;
    std::int32_t numwant = -1; // -1 = tracker default
    std::uint16_t port = 0;    // our listening port
    std::uint32_t key = 0;
};

struct PeerEndpoint {
    std::string ip; // text form, e.g. "10.0.0.2" or "fe80::1"
    std::uint16_t port = 0;
    sockaddr_storage addr{}; // ready for uv_tcp_connect
};

// Turns decoded tracker peers (BEP 15 or HTTP replies) into endpoints ready for uv_tcp_connect.
std::vector<PeerEndpoint> to_endpoints(const std::vector<udp::CompactPeer>& peers);

struct AnnounceResult {
    std::uint32_t interval = 0, leechers = 0, seeders = 0;
    std::vector<PeerEndpoint> peers;
};

struct CatalogPage {
    std::uint32_t total = 0;
    std::uint32_t next = udp::kListNoMore;
    std::vector<udp::CatalogEntry> entries;
};

struct UdpClientOptions {
    double timeout_s = 0;                      // 0 = the whole BEP 15 schedule
    std::uint64_t retransmit_base_ms = 15'000; // BEP 15: 15 s; lowered only by tests
    unsigned max_retransmits = 8;              // BEP 15: n goes up to 8
};

class UdpTrackerClient {
public:
    template <class T>
    using Callback = std::function<void(Result<T>)>;
    static constexpr std::size_t kMaxPending = 256;
    static constexpr std::size_t kMaxListEntries = 1'000'000; // list_all stops there

    UdpTrackerClient(uv_loop_t* loop, std::string url, UdpClientOptions options = {});
    ~UdpTrackerClient();
    UdpTrackerClient(const UdpTrackerClient&) = delete;
    UdpTrackerClient& operator=(const UdpTrackerClient&) = delete;

    void announce(const AnnounceParams& p, Callback<AnnounceResult> cb);
    void scrape(std::vector<udp::Hash20> hashes, Callback<std::vector<udp::ScrapeEntry>> cb); // 1..74
    void publish(std::string name, const udp::Hash20& info_hash, std::uint64_t total_size, Callback<Unit> cb);
    void list(std::uint32_t start, Callback<CatalogPage> cb);
    void list_all(Callback<std::vector<udp::CatalogEntry>> cb); // follows the pages to the end
    void lookup(std::string name, Callback<std::optional<udp::CatalogEntry>> cb);

    const std::string& url() const { return url_; }

private:
    struct Op;
    struct Socket;
    using Build = std::function<std::string(std::uint64_t conn, std::uint32_t tid)>;
    using Done = std::function<void(Result<std::string>)>; // the raw reply of the expected action, or an error

    void submit(std::uint32_t action, Build build, Done done, std::optional<Error> pre = std::nullopt);
    void resolve();
    void on_resolved(Result<Resolver::Addrs> addrs);
    Status open_socket();
    void begin(Op* op);
    void send_current(Op* op);
    void arm(Op* op);
    void on_timer(Op* op);
    void on_datagram(std::string_view data, const sockaddr* from);
    void finish(Op* op, Result<std::string> r); // removes op, then calls its callback
    bool conn_valid() const;
    std::string where() const;
    void list_from(std::uint32_t start, std::shared_ptr<std::vector<udp::CatalogEntry>> acc,
                   Callback<std::vector<udp::CatalogEntry>> cb);

    uv_loop_t* loop_;
    std::string url_;
    UdpClientOptions opt_;
    Result<UdpTrackerUrl> parsed_;
    std::vector<std::unique_ptr<Op>> ops_; // bounded by kMaxPending
    Resolver resolver_;                    // the tracker's address, looked up once
    Socket* socket_ = nullptr;             // freed in its close callback
    sockaddr_storage tracker_{};
    bool resolved_ = false;
    std::uint64_t conn_id_ = 0, conn_at_ms_ = 0;
    bool have_conn_ = false;
    LifeToken life_; // for on_resolved, whose callbacks may destroy the client
};

} // namespace p2p
