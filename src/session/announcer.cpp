#include "session/announcer.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "crypto/random.hpp"

namespace p2p {

void TrackerRef::announce(const AnnounceParams& p, std::function<void(Result<AnnounceResult>)> cb) const {
    if (udp) udp->announce(p, std::move(cb));
    else http->announce(p, std::move(cb));
}

TrackerRef TrackerClients::get(const std::string& url) {
    TrackerRef ref;
    for (auto& c : clients_)
        if (c->url() == url) ref.udp = c.get();
    for (auto& c : http_clients_)
        if (c->url() == url) ref.http = c.get();
    if (ref) return ref;
    if (parse_udp_tracker_url(url)) {
        clients_.push_back(std::make_unique<UdpTrackerClient>(loop_, url, opts_));
        ref.udp = clients_.back().get();
    } else if (http_tracker::parse_url(url)) {
        http_clients_.push_back(std::make_unique<HttpTrackerClient>(loop_, url, http_opts_));
        ref.http = http_clients_.back().get();
    }
    return ref;
}

std::string TrackerClients::unsupported_reason(const std::string& url) {
    auto h = http_tracker::parse_url(url);
    if (url.rfind("http", 0) == 0 && !h) return h.error().what; // "https trackers are not supported: ..."
    auto u = parse_udp_tracker_url(url);
    if (url.rfind("udp", 0) == 0 && !u) return u.error().what;
    return "only udp:// and http:// trackers are supported";
}

Announcer::Announcer(uv_loop_t* loop, TrackerClients& clients, AnnouncerConfig cfg,
                     std::function<AnnounceStats()> stats, std::function<void(const std::vector<PeerEndpoint>&)> on_peers)
    : loop_(loop), clients_(clients), cfg_(std::move(cfg)), stats_(std::move(stats)), on_peers_(std::move(on_peers)),
      key_(random_u32()) {
    for (const auto& urls : cfg_.tiers) {
        Tier t;
        for (const auto& u : urls)
            if (clients_.get(u)) t.urls.push_back(u);
            else log_warn("announce", "skipping tracker " + u + ": " + TrackerClients::unsupported_reason(u));
        if (t.urls.empty()) continue;
        t.timer = std::make_unique<Timer>(loop_);
        tiers_.push_back(std::move(t));
    }
    if (tiers_.empty()) last_result_ = "no tracker";
}

Announcer::~Announcer() = default;

AnnounceParams Announcer::params(std::uint32_t event) const {
    AnnounceParams p;
    p.info_hash = udp::Hash20::from(cfg_.info_hash);
    p.peer_id = udp::Hash20::from(cfg_.peer_id);
    AnnounceStats s = stats_();
    p.downloaded = s.downloaded;
    p.uploaded = s.uploaded;
    p.left = s.left;
    p.event = event;
    p.numwant = 50;
    p.port = cfg_.port;
    p.key = key_;
    return p;
}

void Announcer::start() {
    for (std::size_t i = 0; i < tiers_.size(); ++i) announce(i, udp::kEventStarted);
}

void Announcer::completed() {
    for (std::size_t i = 0; i < tiers_.size(); ++i) announce(i, udp::kEventCompleted);
}

void Announcer::announce(std::size_t ti, std::uint32_t event) {
    if (stopping_) return;
    Tier& t = tiers_[ti];
    t.timer->stop();
    if (!t.started_sent && event == udp::kEventNone) event = udp::kEventStarted;
    std::string url = t.urls[t.current];
    TrackerRef client = clients_.get(url);
    std::weak_ptr<int> alive = alive_;
    client.announce(params(event), [this, alive, ti, event, url](Result<AnnounceResult> r) {
        if (alive.expired() || stopping_) return;
        Tier& t = tiers_[ti];
        if (!r) {
            last_result_ = r.error().str();
            log_warn("announce", url + ": " + last_result_);
            t.current = (t.current + 1) % t.urls.size(); // BEP 12: next tracker of the tier
            t.timer->start(cfg_.retry_after_fail_ms, 0, [this, ti, event] { announce(ti, event); });
            return;
        }
        last_result_ = "ok";
        if (event == udp::kEventStarted) t.started_sent = true;
        // BEP 12: a tracker that answered moves to the front of its tier.
        if (t.current != 0) {
            std::rotate(t.urls.begin(), t.urls.begin() + static_cast<std::ptrdiff_t>(t.current),
                        t.urls.begin() + static_cast<std::ptrdiff_t>(t.current) + 1);
            t.current = 0;
        }
        log_debug("announce", url + ": " + std::to_string(r->peers.size()) + " peers, " +
                                  std::to_string(r->seeders) + " seeders, " + std::to_string(r->leechers) +
                                  " leechers");
        if (!r->peers.empty()) on_peers_(r->peers);
        std::uint64_t interval_s = std::clamp<std::uint64_t>(r->interval, 30, 3600);
        t.timer->start(interval_s * 1000, 0, [this, ti] { announce(ti, udp::kEventNone); });
        UdpTrackerClient* catalog = clients_.get(url).udp; // the catalog is a BEP 15 extension: UDP only
        if (!cfg_.publish_name.empty() && !t.published && catalog) {
            t.published = true;
            catalog->publish(cfg_.publish_name, udp::Hash20::from(cfg_.info_hash), cfg_.total_size,
                             [url, name = cfg_.publish_name](Result<Unit> pr) {
                                 if (!pr) log_warn("announce", url + ": publishing " + name + ": " + pr.error().str());
                             });
        }
    });
}

void Announcer::stop(std::uint64_t timeout_ms, std::function<void()> done) {
    stopping_ = true;
    struct Waiter {
        std::function<void()> done;
        std::size_t remaining = 0;
        std::unique_ptr<Timer> timer;
        void fire() {
            if (!done) return;
            auto d = std::move(done);
            done = nullptr;
            timer.reset();
            d();
        }
    };
    auto w = std::make_shared<Waiter>();
    w->done = std::move(done);
    for (auto& t : tiers_) {
        t.timer->stop();
        if (t.started_sent) ++w->remaining;
    }
    if (w->remaining == 0) return w->fire();
    w->timer = std::make_unique<Timer>(loop_);
    w->timer->start(timeout_ms, 0, [w] { w->fire(); });
    for (auto& t : tiers_) {
        if (!t.started_sent) continue;
        clients_.get(t.urls[t.current]).announce(params(udp::kEventStopped), [w](Result<AnnounceResult>) {
            if (--w->remaining == 0) w->fire();
        });
    }
}

} // namespace p2p
