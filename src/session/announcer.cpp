// TrackerClients, AnnounceBackoff and the Announcer: see announcer.hpp.
#include "session/announcer.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "tracker/tls_client.hpp"

namespace p2p {

void TrackerRef::announce(const AnnounceParams& p, std::function<void(Result<AnnounceResult>)> cb) const {
    if (udp)
        udp->announce(p, std::move(cb));
    else
        http->announce(p, std::move(cb));
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
    } else if (auto h = http_tracker::parse_url(url); h && (!h->tls || tls_available())) {
        http_clients_.push_back(std::make_unique<HttpTrackerClient>(loop_, url, http_opts_));
        ref.http = http_clients_.back().get();
    }
    return ref;
}

bool TrackerClients::note_silent(const std::string& url) {
    if (!silent_.insert(url).second) return false;
    ++silent_warnings_;
    return true;
}

bool TrackerClients::note_answer(const std::string& url) {
    answered_.insert(url);
    return silent_.erase(url) > 0;
}

std::string TrackerClients::unsupported_reason(const std::string& url) {
    auto h = http_tracker::parse_url(url);
    if (url.rfind("http", 0) == 0 && !h) return h.error().what; // "user info in tracker URL ...: URL"
    if (h && h->tls && !tls_available()) return kNoTlsWhy;
    auto u = parse_udp_tracker_url(url);
    if (url.rfind("udp", 0) == 0 && !u) return u.error().what;
    return "only udp://, http:// and https:// trackers are supported";
}

// ---------------------------------------------------------------- AnnounceBackoff

std::uint64_t AnnounceBackoff::clamp(std::uint64_t step) const {
    return std::min(std::max(step, floor_ms_), interval_ms_);
}

std::uint64_t AnnounceBackoff::answered(std::uint64_t interval_ms, std::uint64_t min_interval_ms, bool wants) {
    interval_ms_ = interval_ms;
    floor_ms_ = std::min(min_interval_ms, interval_ms);
    if (!wants) {
        step_ms_ = 0;
        return interval_ms_;
    }
    step_ms_ = clamp(step_ms_ == 0 ? first_ms_ : step_ms_ * 2);
    return step_ms_;
}

std::uint64_t AnnounceBackoff::recheck(bool wants) {
    if (!wants) {
        step_ms_ = 0;
        return interval_ms_;
    }
    if (step_ms_ == 0) step_ms_ = clamp(first_ms_);
    return step_ms_;
}

// ---------------------------------------------------------------- Announcer

Announcer::Announcer(uv_loop_t* loop, TrackerClients& clients, AnnouncerConfig cfg,
                     std::function<AnnounceStats()> stats,
                     std::function<void(const std::vector<PeerEndpoint>&)> on_peers)
    : loop_(loop), clients_(clients), cfg_(std::move(cfg)), stats_(std::move(stats)), on_peers_(std::move(on_peers)),
      key_(random_u32()) {
    for (std::size_t i = 0; i < cfg_.tiers.size(); ++i) {
        Tier t;
        t.index = i;
        t.backoff = AnnounceBackoff(cfg_.wanting_first_ms);
        for (const auto& u : cfg_.tiers[i]) {
            TrackerStatus st;
            st.url = u;
            st.tier = i;
            if (clients_.get(u)) {
                t.urls.push_back(u);
            } else {
                st.last_error = TrackerClients::unsupported_reason(u);
                log_warn("announce", "skipping tracker " + u + ": " + st.last_error);
            }
            status_.push_back(std::move(st));
        }
        if (t.urls.empty()) continue;
        t.timer = std::make_unique<Timer>(loop_);
        t.silence = std::make_unique<Timer>(loop_);
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

TrackerStatus* Announcer::status_of(std::size_t tier_index, const std::string& url) {
    for (auto& st : status_)
        if (st.tier == tier_index && st.url == url) return &st;
    return nullptr;
}

std::vector<TrackerStatus> Announcer::trackers() const {
    std::vector<TrackerStatus> out = status_;
    for (auto& st : out) {
        for (const auto& t : tiers_) {
            if (t.index != st.tier || t.urls[t.current] != st.url) continue;
            st.updating = t.in_flight;
            st.next_announce_ms = t.in_flight || stopping_ ? 0 : t.due_at;
        }
    }
    return out;
}

void Announcer::start() {
    for (std::size_t i = 0; i < tiers_.size(); ++i) announce(i, udp::kEventStarted);
}

void Announcer::completed() {
    for (std::size_t i = 0; i < tiers_.size(); ++i) announce(i, udp::kEventCompleted);
}

std::size_t Announcer::reannounce() {
    std::size_t n = 0;
    for (std::size_t i = 0; i < tiers_.size(); ++i) {
        const Tier& t = tiers_[i];
        if (stopping_ || t.in_flight || (t.answered_at && now() - t.answered_at < cfg_.shortest_interval_ms)) continue;
        announce(i, udp::kEventNone);
        ++n;
    }
    return n;
}

void Announcer::announce(std::size_t ti, std::uint32_t event) {
    if (stopping_) return;
    Tier& t = tiers_[ti];
    t.timer->stop();
    if (!t.started_sent && event == udp::kEventNone) event = udp::kEventStarted;
    std::string url = t.urls[t.current];
    TrackerRef client = clients_.get(url);
    const std::uint64_t seq = ++t.seq;
    t.in_flight = true;
    if (event == udp::kEventCompleted) t.follow_seq = seq;
    t.due_at = 0;
    // The UDP client keeps retransmitting for hours (BEP 15) before it reports a failure: say something sooner.
    t.silence->start(cfg_.silent_warn_ms, 0, [this, ti, seq, url] { on_silent(ti, seq, url); });
    client.announce(params(event), life_.bind([this, ti, event, url, seq](Result<AnnounceResult> r) {
        Tier& tier = tiers_[ti];
        if (seq == tier.follow_seq) { // answered or failed: a `stopped` held back for it may go now
            tier.follow_seq = 0;
            send_held_stop(tier);
        }
        if (stopping_) return;
        on_answer(ti, event, url, seq, std::move(r));
    }));
}

void Announcer::on_silent(std::size_t ti, std::uint64_t seq, const std::string& url) {
    Tier& t = tiers_[ti];
    if (stopping_ || !t.in_flight || t.seq != seq) return;
    const std::uint64_t ms = cfg_.silent_warn_ms;
    const std::string waited = ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
    const std::string what = "no answer for " + waited + " (still trying)";
    if (TrackerStatus* st = status_of(t.index, url)) {
        st->last_error = what;
        st->working = false;
    }
    last_result_ = url + ": " + what;
    if (clients_.note_silent(url))
        log_warn("announce", url + ": " + what);
    else
        log_debug("announce", url + ": " + what);
}

void Announcer::on_answer(std::size_t ti, std::uint32_t event, const std::string& url, std::uint64_t seq,
                          Result<AnnounceResult> r) {
    Tier& t = tiers_[ti];
    // Only the answer to the latest announce of the tier schedules the next one; an older one (a `completed`
    // sent while a regular announce was in flight) still brings its peers and counts.
    const bool latest = seq == t.seq;
    if (latest) {
        t.in_flight = false;
        t.silence->stop();
    }
    TrackerStatus* st = status_of(t.index, url);
    if (!r) {
        last_result_ = r.error().str();
        log_warn("announce", url + ": " + last_result_);
        if (st) {
            st->last_error = last_result_;
            st->working = false;
        }
        if (!latest) return;
        t.current = (t.current + 1) % t.urls.size(); // BEP 12: next tracker of the tier
        t.due_at = now() + cfg_.retry_after_fail_ms;
        t.timer->start(cfg_.retry_after_fail_ms, 0, [this, ti, event] { announce(ti, event); });
        return;
    }
    if (clients_.note_answer(url)) log_info("announce", url + ": answering again");
    last_result_ = "ok";
    if (st) {
        st->last_announce_ms = now();
        st->last_error.clear();
        st->working = true;
        st->seeders = r->seeders;
        st->leechers = r->leechers;
        st->peers = static_cast<std::uint32_t>(r->peers.size());
    }
    if (event == udp::kEventStarted) t.started_sent = true;
    // BEP 12: a tracker that answered moves to the front of its tier.
    auto pos = std::find(t.urls.begin(), t.urls.end(), url);
    if (latest && pos != t.urls.end()) {
        std::rotate(t.urls.begin(), pos, pos + 1);
        t.current = 0;
    }
    log_debug("announce", url + ": " + std::to_string(r->peers.size()) + " peers, " + std::to_string(r->seeders) +
                              " seeders, " + std::to_string(r->leechers) + " leechers");
    if (!r->peers.empty()) on_peers_(r->peers);
    if (latest) {
        const std::uint64_t interval_ms =
            std::clamp<std::uint64_t>(std::uint64_t{r->interval} * 1000, cfg_.shortest_interval_ms, 3'600'000);
        HttpTrackerClient* http = clients_.get(url).http;
        const std::uint64_t min_ms = http ? std::uint64_t{http->min_interval_s()} * 1000 : 0; // none in BEP 15
        t.answered_at = now();
        const std::uint64_t delay = t.backoff.answered(interval_ms, min_ms, wants());
        if (delay < interval_ms)
            log_debug("announce", url + ": still looking for peers; next announce in " +
                                      std::to_string((delay + 999) / 1000) + " s");
        arm(ti, t.answered_at + delay);
    }
    publish_once(t, url);
}

// After the tier's first answer: our name in the tracker's catalog, if we have one to publish.
void Announcer::publish_once(Tier& t, const std::string& url) {
    UdpTrackerClient* catalog = clients_.get(url).udp; // the catalog is a BEP 15 extension: UDP only
    if (cfg_.publish_name.empty() || t.published || !catalog) return;
    t.published = true;
    catalog->publish(cfg_.publish_name, udp::Hash20::from(cfg_.info_hash), cfg_.total_size,
                     [url, name = cfg_.publish_name](Result<Unit> pr) {
                         if (!pr) log_warn("announce", url + ": publishing " + name + ": " + pr.error().str());
                     });
}

// The timer fires at the due time, or earlier (every recheck_ms) to look at wants_peers again, so a download
// that loses its peers between announces asks again soon instead of at the end of the interval.
void Announcer::arm(std::size_t ti, std::uint64_t due) {
    Tier& t = tiers_[ti];
    t.due_at = due;
    const std::uint64_t n = now();
    std::uint64_t delay = due > n ? due - n : 0;
    if (cfg_.wants_peers) delay = std::min(delay, std::max<std::uint64_t>(cfg_.recheck_ms, 1));
    t.timer->start(delay, 0, [this, ti] { on_due(ti); });
}

void Announcer::on_due(std::size_t ti) {
    if (stopping_) return;
    Tier& t = tiers_[ti];
    const std::uint64_t due = t.answered_at + t.backoff.recheck(wants());
    if (now() >= due) return announce(ti, udp::kEventNone);
    arm(ti, due);
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
    // A tier whose first `started` is still in flight to a tracker that answers may be known to it any moment: it
    // is told too, after that answer. One never heard from is not waited for (a dead tracker would hold every
    // exit for timeout_ms).
    auto told = [this](const Tier& t) {
        return t.started_sent || (t.in_flight && clients_.has_answered(t.urls[t.current]));
    };
    for (auto& t : tiers_) {
        t.timer->stop();
        t.silence->stop();
        if (told(t)) ++w->remaining;
    }
    if (w->remaining == 0) return w->fire();
    w->timer = std::make_unique<Timer>(loop_);
    w->timer->start(timeout_ms, 0, [w] { w->fire(); });
    bool held = false;
    for (auto& t : tiers_) {
        if (!told(t)) continue;
        // To the tracker that has (or is being told) our latest state, whatever a failure of `completed` does
        // to t.current meanwhile.
        auto send = [this, w, url = t.urls[t.current]] {
            clients_.get(url).announce(params(udp::kEventStopped), [w](Result<AnnounceResult>) {
                if (--w->remaining == 0) w->fire();
            });
        };
        if (!t.started_sent) t.follow_seq = t.seq; // the `started` in flight (see told)
        if (t.follow_seq == 0) {
            send();
        } else {
            t.after_answer = send;
            held = true;
        }
    }
    if (!held) return;
    stop_timer_ = std::make_unique<Timer>(loop_);
    stop_timer_->start(timeout_ms / 2, 0, [this] {
        for (auto& t : tiers_) send_held_stop(t);
    });
}

void Announcer::send_held_stop(Tier& t) {
    auto send = std::move(t.after_answer);
    t.after_answer = nullptr; // a moved-from function is not guaranteed empty
    if (send) send();
}

} // namespace p2p
