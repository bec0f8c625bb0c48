// HTTP tracker client (BEP 3 announce over HTTP/1.1, compact peers per BEP 23, IPv6 peers per BEP 7), shaped like
// UdpTrackerClient's announce so the Announcer can treat both transports alike.
//
// One client talks to one announce URL (http://host[:port]/path[?query]); each announce is one HttpGet
// (src/tracker/http_get.hpp: async lookup, connect, GET, bounded body, whole-request timeout, redirects).
// A status other than 200 is an error naming the status (and the tracker's "failure reason" when the body
// carries one); a "failure reason" in a 200 answer is an error too; a "warning message" is logged.
//
// Bounds: at most kMaxPending announces at once (more fail at once, from the loop). Results come back through
// the callback, always from the loop, never inside announce(). Destroying the client cancels pending announces
// without calling their callbacks; a callback may destroy the client.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/timer.hpp"
#include "proto/http_tracker.hpp"
#include "tracker/http_get.hpp"
#include "tracker/udp_client.hpp" // AnnounceParams, AnnounceResult, PeerEndpoint

namespace p2p {

class HttpTrackerClient {
public:
    template <class T>
    using Callback = std::function<void(Result<T>)>;
    static constexpr std::size_t kMaxPending = 64;

    HttpTrackerClient(uv_loop_t* loop, std::string url, HttpGetOptions options = {});
    ~HttpTrackerClient();
    HttpTrackerClient(const HttpTrackerClient&) = delete;
    HttpTrackerClient& operator=(const HttpTrackerClient&) = delete;

    void announce(const AnnounceParams& p, Callback<AnnounceResult> cb);
    // BEP 48 scrape of 1..kMaxScrapeHashes info hashes on the announce URL's scrape URL; one entry per hash, in
    // order (zeros for a hash the tracker does not list, as a BEP 15 tracker answers). An announce URL with no
    // scrape form (its last path component does not start with "announce") fails with Errc::unsupported.
    void scrape(const std::vector<udp::Hash20>& hashes, Callback<std::vector<udp::ScrapeEntry>> cb);

    const std::string& url() const { return url_; }
    std::size_t pending() const { return ops_.size(); }
    // The "min interval" of the tracker's last successful answer, in seconds (0: it gave none). The Announcer's
    // quick re-announces of a download without peers never come sooner (announcer.hpp, AnnounceBackoff).
    std::uint32_t min_interval_s() const { return min_interval_s_; }

private:
    struct Op {
        std::unique_ptr<HttpGet> get; // the request, or
        std::unique_ptr<Timer> fail;  // an error delivered on the next loop turn
    };
    std::unique_ptr<Op> take(Op* op); // removes op from ops_; nullptr when it is gone already
    // One GET of `url` (or `url`'s error, delivered from the loop): a transport error or a status other than 200
    // comes back as an error naming this tracker (with the body's "failure reason" when it has one); otherwise
    // the body. `handle` runs last in its callback and may destroy this client.
    void get(Result<std::string> url, const char* what, std::function<void(Result<std::string>)> handle);
    std::string where() const;

    uv_loop_t* loop_;
    std::string url_;
    HttpGetOptions opt_;
    Result<http_tracker::Url> parsed_;
    std::vector<std::unique_ptr<Op>> ops_; // bounded by kMaxPending
    std::uint32_t min_interval_s_ = 0;
};

} // namespace p2p
