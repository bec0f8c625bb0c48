// Announces one torrent to its trackers (BEP 15 UDP or BEP 3 HTTP; BEP 12 tiers) and feeds the peers it learns
// to the torrent.
//
// Per tier, trackers are tried in order until one answers (BEP 12); the one that answered moves to the front.
// After an answer the next announce is due after the tracker's interval (clamped to 30 s..1 h), unless the owner
// wants peers (AnnouncerConfig::wants_peers: downloading and no connected peer): then it is due 15 s after the
// answer, then 30, 60, ... doubling up to the interval, never sooner than an HTTP tracker's "min interval"
// (AnnounceBackoff). Why: a download whose first announce found nobody (its seed announced a moment later) would
// otherwise wait opentracker's 30 minutes to hear of it. After a failure (the UDP client already
// retransmitted on BEP 15's 15*2^n schedule; the HTTP client gave up after its whole-request timeout) the next
// tracker of the tier is tried after retry_after_fail_ms. An announce still unanswered after silent_warn_ms is
// warned about once per tracker (TrackerClients::note_silent), since the UDP client's own failure comes hours
// later. Events: started first, completed once when the download finishes, stopped on shutdown (best effort,
// short timeout). Optionally publishes the torrent's name in the tracker's catalog after the first successful
// announce (UDP trackers only: the catalog is a BEP 15 extension). trackers() reports each tracker's state.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "loop/life_token.hpp"
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
    // udp:// -> the UDP client, http:// and https:// -> the HTTP client; empty for anything else (wss://, ...).
    TrackerRef get(const std::string& url);
    // Why get(url) is empty, for the log.
    static std::string unsupported_reason(const std::string& url);

    // Silence warnings, once per tracker however many torrents use it: note_silent(url) is true the first time an
    // announce to url goes unanswered since url last answered (the caller warns then); note_answer(url) re-arms
    // it and is true when url had been reported silent (the caller may say it is back).
    bool note_silent(const std::string& url);
    bool note_answer(const std::string& url);
    // url has answered an announce at least once: an announce to it now in flight will likely reach it too.
    bool has_answered(const std::string& url) const { return answered_.count(url) > 0; }
    std::size_t silent_warnings() const { return silent_warnings_; } // warnings given so far, for tests and stats

private:
    uv_loop_t* loop_;
    UdpClientOptions opts_;
    HttpGetOptions http_opts_;
    std::vector<std::unique_ptr<UdpTrackerClient>> clients_;
    std::vector<std::unique_ptr<HttpTrackerClient>> http_clients_;
    std::set<std::string> silent_;   // URLs warned about and not answering since; bounded by the URLs above
    std::set<std::string> answered_; // URLs that answered at least once; bounded likewise
    std::size_t silent_warnings_ = 0;
};

// When the next announce to one tracker is due, as a delay from its last answer: soon while peers are wanted, so
// a download does not wait a whole interval for a seed that announced just after it. Pure: no loop.
//  - nobody wants peers: the tracker's interval;
//  - peers are wanted: first_ms (15 s), then twice the previous step after each answer that still leaves us
//    wanting, up to the interval; never below the tracker's "min interval" (BEP 3 practice, HTTP only);
//  - peers found: back to the interval, and the next want starts again at first_ms.
class AnnounceBackoff {
public:
    explicit AnnounceBackoff(std::uint64_t first_ms = 15'000) : first_ms_(first_ms) {}
    // An answer with this interval and min interval (ms; 0 = none) arrived; wants: the owner wants peers now.
    // Returns the delay to the next announce.
    std::uint64_t answered(std::uint64_t interval_ms, std::uint64_t min_interval_ms, bool wants);
    // Between answers: the delay from the last answer to the next announce, given whether peers are wanted now
    // (a want that starts now starts at first_ms; one that ended goes back to the interval).
    std::uint64_t recheck(bool wants);
    std::uint64_t step_ms() const { return step_ms_; } // 0: not backing off

private:
    std::uint64_t clamp(std::uint64_t step) const;
    std::uint64_t first_ms_;
    std::uint64_t interval_ms_ = 0, floor_ms_ = 0;
    std::uint64_t step_ms_ = 0;
};

// One tracker's state as the Announcer sees it, for the console's `trackers` command. Times are loop times (ms).
struct TrackerStatus {
    std::string url;
    std::size_t tier = 0;               // its BEP 12 tier (0 = first)
    std::uint64_t last_announce_ms = 0; // loop time of its last answer; 0 = never answered
    std::uint64_t next_announce_ms = 0; // loop time its next announce is due; 0 = none scheduled (in flight, a
                                        // backup of its tier, or unusable)
    std::string last_error;             // empty after an answer; "no answer for 45 s (still trying)" while silent
    std::uint32_t seeders = 0, leechers = 0, peers = 0; // of its last answer
    bool working = false;                               // its last announce was answered
    bool updating = false;                              // an announce to it is in flight
};

struct AnnouncerConfig {
    std::string info_hash, peer_id;              // raw 20 bytes each
    std::uint16_t port = 0;                      // our listening port
    std::vector<std::vector<std::string>> tiers; // BEP 12
    std::string publish_name;                    // non-empty: publish in the catalog
    std::uint64_t total_size = 0;
    std::uint64_t retry_after_fail_ms = 30'000;
    // Null: announces come every interval. Set: true while the owner wants peers (downloading, or fetching the
    // metadata, and no connected peer): announces come sooner (AnnounceBackoff). Polled after each answer and
    // every recheck_ms (so a download that loses its last peer asks again soon), from the loop; must not destroy
    // the Announcer.
    std::function<bool()> wants_peers;
    std::uint64_t wanting_first_ms = 15'000;     // the first quick re-announce (AnnounceBackoff); tests lower it
    std::uint64_t recheck_ms = 15'000;           // how often wants_peers is polled between announces
    std::uint64_t shortest_interval_ms = 30'000; // a tracker's interval is raised to this; tests lower it
    std::uint64_t silent_warn_ms = 45'000;       // an announce unanswered this long is warned about
};

class Announcer {
public:
    Announcer(uv_loop_t* loop, TrackerClients& clients, AnnouncerConfig cfg, std::function<AnnounceStats()> stats,
              std::function<void(const std::vector<PeerEndpoint>&)> on_peers);
    ~Announcer();
    void start();     // event started
    void completed(); // event completed, now
    // Announce now to every tier not already asking and not answered within shortest_interval_ms (a user's
    // "reannounce": the RPC's torrent-reannounce). Returns how many tiers were asked.
    std::size_t reannounce();
    // event stopped to each tier's current tracker; done runs after answers or timeout_ms, exactly once. A tier
    // whose `completed` is still unanswered sends its `stopped` after that answer (or half of timeout_ms): two
    // HTTP announces travel on two connections, and a tracker that saw `stopped` first would list us as a seed
    // again on `completed`, a dead peer handed out until it expires. Likewise a tier whose first `started` is
    // still in flight to a tracker that has answered before (has_answered): sent before, or not at all, `stopped`
    // would leave us listed once `started` arrives.
    void stop(std::uint64_t timeout_ms, std::function<void()> done);
    // For status: "ok", the last error, or "no tracker".
    std::string last_result() const { return last_result_; }
    // Every tracker of the configuration, tier by tier (unusable URLs too, with the reason as last_error).
    std::vector<TrackerStatus> trackers() const;

private:
    struct Tier {
        std::size_t index = 0; // in cfg_.tiers
        std::vector<std::string> urls;
        std::size_t current = 0;
        bool started_sent = false;
        bool published = false;
        std::unique_ptr<Timer> timer;   // the next announce (or the next look at wants_peers)
        std::unique_ptr<Timer> silence; // the "no answer for 45 s" warning of the announce in flight
        AnnounceBackoff backoff;
        std::uint64_t answered_at = 0; // loop time of the last answer
        std::uint64_t due_at = 0;      // loop time the next announce is due (0: none scheduled)
        std::uint64_t seq = 0;         // announces sent; an answer to an older one does not reschedule
        bool in_flight = false;        // announce number seq is unanswered
        // The announce a `stopped` must follow (0: none): the `completed` still unanswered, or, set by stop(), the
        // first `started` still unanswered (a tracker that gets `stopped` before `started` keeps us as a leecher).
        std::uint64_t follow_seq = 0;
        std::function<void()> after_answer; // stop(): sends `stopped` once announce follow_seq is answered
    };
    void announce(std::size_t tier, std::uint32_t event);
    void on_answer(std::size_t tier, std::uint32_t event, const std::string& url, std::uint64_t seq,
                   Result<AnnounceResult> r);
    void on_silent(std::size_t tier, std::uint64_t seq, const std::string& url);
    void send_held_stop(Tier& t); // the tier's `stopped` held back by stop(), if any, now and once
    void publish_once(Tier& t, const std::string& url);
    void arm(std::size_t tier, std::uint64_t due);
    void on_due(std::size_t tier);
    bool wants() const { return cfg_.wants_peers && cfg_.wants_peers(); }
    TrackerStatus* status_of(std::size_t tier_index, const std::string& url);
    AnnounceParams params(std::uint32_t event) const;
    std::uint64_t now() const { return uv_now(loop_); }

    uv_loop_t* loop_;
    TrackerClients& clients_;
    AnnouncerConfig cfg_;
    std::function<AnnounceStats()> stats_;
    std::function<void(const std::vector<PeerEndpoint>&)> on_peers_;
    std::vector<Tier> tiers_;
    std::vector<TrackerStatus> status_; // one per configured URL; bounded by the configuration
    std::uint32_t key_;
    std::string last_result_ = "not yet announced";
    bool stopping_ = false;
    std::unique_ptr<Timer> stop_timer_; // stop(): the `stopped` still waiting for an answer go at half time
    LifeToken life_; // tracker answers may come after we are gone: they check it
};

} // namespace p2p
