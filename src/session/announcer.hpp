// Announces one torrent to its trackers (BEP 15 UDP or BEP 3 HTTP; BEP 12 tiers) and feeds the peers it learns
// to the torrent.
//
// Per tier, trackers are tried in order until one answers (BEP 12); the one that answered moves to the front.
// After an answer the next announce is due after the tracker's interval (clamped to 30 s..1 h); after a
// failure (the UDP client already retransmitted on BEP 15's 15*2^n schedule; the HTTP client gave up after its
// whole-request timeout) the next tracker of the tier is tried after retry_after_fail_ms. Events: started first, completed once when the download finishes,
// stopped on shutdown (best effort, short timeout). Optionally publishes the torrent's name in the tracker's
// catalog after the first successful announce (UDP trackers only: the catalog is a BEP 15 extension).
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/timer.hpp"
#include "tracker/http_client.hpp"
#include "tracker/udp_client.hpp"

namespace p2p {

struct AnnounceStats {
    std::uint64_t downloaded = 0, uploaded = 0, left = 0;
};

// One tracker as the Announcer sees it: exactly one of the two pointers is set (or neither: a URL we cannot
// speak). Both clients announce alike; only UDP trackers have the catalog.
struct TrackerRef {
    UdpTrackerClient* udp = nullptr;
    HttpTrackerClient* http = nullptr;
    explicit operator bool() const { return udp || http; }
    void announce(const AnnounceParams& p, std::function<void(Result<AnnounceResult>)> cb) const;
};

// Shared tracker clients, one per URL, so a thousand torrents on one tracker use one UDP socket (HTTP clients
// open one connection per announce). Bounded by the distinct tracker URLs of the torrents.
class TrackerClients {
public:
    explicit TrackerClients(uv_loop_t* loop, UdpClientOptions opts = {}, HttpGetOptions http_opts = {})
        : loop_(loop), opts_(opts), http_opts_(std::move(http_opts)) {}
    // udp:// -> the UDP client, http:// -> the HTTP client; empty for anything else (https://, ...).
    TrackerRef get(const std::string& url);
    // Why get(url) is empty, for the log.
    static std::string unsupported_reason(const std::string& url);
    UdpClientOptions& options() { return opts_; }
    HttpGetOptions& http_options() { return http_opts_; }

private:
    uv_loop_t* loop_;
    UdpClientOptions opts_;
    HttpGetOptions http_opts_;
    std::vector<std::unique_ptr<UdpTrackerClient>> clients_;
    std::vector<std::unique_ptr<HttpTrackerClient>> http_clients_;
};

struct AnnouncerConfig {
    std::string info_hash, peer_id;                // raw 20 bytes each
    std::uint16_t port = 0;                        // our listening port
    std::vector<std::vector<std::string>> tiers;   // BEP 12
    std::string publish_name;                      // non-empty: publish in the catalog
    std::uint64_t total_size = 0;
    std::uint64_t retry_after_fail_ms = 30'000;
};

class Announcer {
public:
    Announcer(uv_loop_t* loop, TrackerClients& clients, AnnouncerConfig cfg, std::function<AnnounceStats()> stats,
              std::function<void(const std::vector<PeerEndpoint>&)> on_peers);
    ~Announcer();
    void start();     // event started
    void completed(); // event completed, now
    // event stopped to each tier's current tracker; done runs after answers or timeout_ms, exactly once.
    void stop(std::uint64_t timeout_ms, std::function<void()> done);
    // For status: "ok", the last error, or "no tracker".
    std::string last_result() const { return last_result_; }

private:
    struct Tier {
        std::vector<std::string> urls;
        std::size_t current = 0;
        bool started_sent = false;
        bool published = false;
        std::unique_ptr<Timer> timer;
    };
    void announce(std::size_t tier, std::uint32_t event);
    AnnounceParams params(std::uint32_t event) const;

    uv_loop_t* loop_;
    TrackerClients& clients_;
    AnnouncerConfig cfg_;
    std::function<AnnounceStats()> stats_;
    std::function<void(const std::vector<PeerEndpoint>&)> on_peers_;
    std::vector<Tier> tiers_;
    std::uint32_t key_;
    std::string last_result_ = "not yet announced";
    bool stopping_ = false;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

} // namespace p2p
