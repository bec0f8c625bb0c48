#include "node/metadata_fetches.hpp"

#include "base/bytes.hpp"

namespace p2p {

MetadataFetches::MetadataFetches(Loop& loop, Session& session, TrackerClients& clients,
                                 std::vector<std::string> cli_trackers, Done done)
    : loop_(loop), session_(session), clients_(clients), cli_trackers_(std::move(cli_trackers)),
      done_(std::move(done)) {}

MetadataFetches::~MetadataFetches() {
    for (auto& [h, f] : fetches_) {
        loop_.defer_delete(std::move(f.fetch));
        loop_.defer_delete(std::move(f.announcer));
    }
}

void MetadataFetches::add_candidates(const std::string& info_hash, const std::vector<sockaddr_storage>& addrs) {
    auto it = fetches_.find(info_hash);
    if (it == fetches_.end() || !it->second.fetch) return;
    it->second.fetch->add_candidates(addrs);
}

Status MetadataFetches::start(const std::string& hash, const std::string& label,
                              const std::vector<std::string>& magnet_trackers, std::uint64_t give_up_ms,
                              const std::vector<sockaddr_storage>& peers) {
    const std::string hex = to_hex(hash);
    if (fetches_.count(hash)) return ok_status();
    if (fetches_.size() >= std::min(kMaxFetches, session_.memory_plan().max_fetches))
        return make_error(hex, "too many metadata fetches at once");
    TrackerTiers magnet_tiers = tiers_of(magnet_trackers);
    TrackerTiers tiers = merge_tiers(cli_trackers_, magnet_tiers); // the tiers the torrent will use too
    if (tiers.empty() && !trackerless_ok_ && peers.empty())
        return make_error(hex, "no tracker to find peers on (give --tracker URL, or a magnet with tr=; the DHT and "
                               "LSD are off)");
    Fetch& f = fetches_[hash];
    f.label = label.empty() ? hex.substr(0, 12) : label;
    f.tiers = std::move(magnet_tiers);
    f.all_tiers = std::move(tiers);
    f.peers = peers;
    f.give_up_ms = give_up_ms;
    launch(hash, f);
    return ok_status();
}

void MetadataFetches::launch(const std::string& hash, Fetch& f) {
    const std::string hex = to_hex(hash);
    MetadataFetchConfig mc;
    mc.info_hash = hash;
    mc.listen_port = session_.port();
    mc.peer = session_.peer_config();
    mc.client = mc.peer.client;
    mc.max_peers = std::min(mc.max_peers, session_.memory_plan().fetch_peers);
    mc.connections = session_.connection_counter(); // its sockets count against --max-connections too
    mc.incoming = session_.incoming_fetches();      // peers that dial us for this hash are handed to the fetch
    mc.transport = session_.transport_limits();
    mc.dial = session_.dialer(); // uTP first, then TCP, as the session dials
    auto alive = life_.watch();
    f.fetch = std::make_unique<MetadataFetch>(loop_, mc, [this, alive, hash](Result<Metainfo> r) {
        if (alive) finished(hash, std::move(r));
    });
    AnnouncerConfig ac;
    ac.info_hash = hash;
    ac.peer_id = session_.peer_id();
    ac.port = session_.port();
    ac.tiers = f.all_tiers;
    ac.wants_peers = [this, hash] { // no peer yet: ask the trackers again soon (announcer.hpp)
        auto it = fetches_.find(hash);
        // Peers connected that lack the metadata (another magnet user) do not count.
        return it != fetches_.end() && it->second.fetch && it->second.fetch->status().with_metadata == 0;
    };
    f.announcer = std::make_unique<Announcer>(
        loop_.get(), clients_, ac,
        [] {
            return AnnounceStats{0, 0, 1};
        }, // left: unknown, but not 0 (a seed)
        [this, hash](const std::vector<PeerEndpoint>& peers) {
            auto it = fetches_.find(hash);
            if (it == fetches_.end() || !it->second.fetch) return;
            std::vector<sockaddr_storage> addrs;
            for (const auto& p : peers) addrs.push_back(p.addr);
            it->second.fetch->add_candidates(addrs);
        });
    f.announcer->start();
    if (!f.peers.empty()) f.fetch->add_candidates(f.peers);
    if (f.give_up_ms > 0) {
        const std::uint64_t give_up_ms = f.give_up_ms;
        f.deadline = std::make_unique<Timer>(loop_.get());
        f.deadline->start(give_up_ms, 0, [this, hash, hex, give_up_ms] {
            auto it = fetches_.find(hash);
            if (it == fetches_.end() || !it->second.fetch) return;
            MetadataFetchStatus st = it->second.fetch->status();
            it->second.fetch->give_up(make_error(hex,
                                                 "no peer sent the metadata within " +
                                                     std::to_string((give_up_ms + 500) / 1000) + " s (" +
                                                     std::to_string(st.tried) + " peers tried, " +
                                                     std::to_string(st.with_metadata) + " offering it now)",
                                                 Errc::timeout));
        });
    }
}

void MetadataFetches::halt(Fetch& f) {
    // Destroyed now, not deferred: the hash must leave the session's incoming registry before a resume in the
    // same turn registers a new fetch for it. Safe: we are in a command, not in a callback of the fetch.
    f.fetch.reset();
    f.deadline.reset();
    if (f.announcer) retire(std::move(f.announcer));
}

bool MetadataFetches::pause(const std::string& hash) {
    auto it = fetches_.find(hash);
    if (it == fetches_.end() || !it->second.fetch) return false;
    halt(it->second);
    return true;
}

bool MetadataFetches::resume(const std::string& hash) {
    auto it = fetches_.find(hash);
    if (it == fetches_.end() || it->second.fetch) return false;
    launch(hash, it->second);
    return true;
}

bool MetadataFetches::cancel(const std::string& hash) {
    auto it = fetches_.find(hash);
    if (it == fetches_.end()) return false;
    Fetch f = std::move(it->second);
    fetches_.erase(it);
    halt(f);
    return true;
}

// Runs inside the fetch's callback: the fetch and its timer are destroyed after it returns.
void MetadataFetches::finished(const std::string& hash, Result<Metainfo> r) {
    auto it = fetches_.find(hash);
    if (it == fetches_.end()) return;
    Fetch f = std::move(it->second);
    fetches_.erase(it);
    FetchedMetadata out{hash, f.label, std::move(r), f.fetch->good_peers(), std::move(f.tiers), f.fetch->take_handed()};
    loop_.defer_delete(std::move(f.fetch));
    loop_.defer_delete(std::move(f.deadline));
    // `stopped` in every case: on success the torrent announces `started` itself once its files are placed, and
    // a torrent that fails before that (a bad --into) must not leave this fetch's leecher on the tracker.
    retire(std::move(f.announcer));
    done_(std::move(out)); // may destroy us: nothing after this
}

void MetadataFetches::retire(std::unique_ptr<Announcer> a, std::function<void()> done) {
    Announcer* raw = a.get();
    auto holder = std::make_shared<std::unique_ptr<Announcer>>(std::move(a));
    Loop& loop = loop_;
    raw->stop(kStopTimeoutMs, [&loop, holder, done = std::move(done)] {
        loop.defer_delete(std::move(*holder)); // we run inside the announcer
        if (done) done();
    });
}

std::vector<FetchRow> MetadataFetches::rows() const {
    std::vector<FetchRow> out;
    for (const auto& [h, f] : fetches_)
        out.push_back(FetchRow{h, f.label, !f.fetch, f.fetch ? f.fetch->status() : MetadataFetchStatus{},
                               f.announcer ? f.announcer->trackers() : std::vector<TrackerStatus>{}});
    return out;
}

void MetadataFetches::stop_all(std::function<void()> done) {
    auto remaining = std::make_shared<std::size_t>(fetches_.size() + 1);
    auto one = [remaining, done = std::move(done)] {
        if (--*remaining == 0 && done) done();
    };
    std::map<std::string, Fetch> all = std::move(fetches_);
    fetches_.clear();
    for (auto& [h, f] : all) {
        loop_.defer_delete(std::move(f.fetch));
        loop_.defer_delete(std::move(f.deadline));
        if (f.announcer)
            retire(std::move(f.announcer), one);
        else
            one(); // paused: its `stopped` went out at pause
    }
    one();
}

} // namespace p2p
