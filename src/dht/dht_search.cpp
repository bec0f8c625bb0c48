// DhtNode's lookups: find_node and get_peers driven through dht::Lookup, announce_peer at the end, and the
// torrents tracked for periodic re-announce. Design and bounds: dht_node.hpp.
#include <algorithm>

#include "crypto/random.hpp"
#include "dht/dht_node.hpp"

namespace p2p::dht {

namespace {

constexpr std::size_t kMaxSeenPeers = 4096; // distinct peers remembered per lookup (64 bytes each at most)
constexpr TimeMs kFirstBackoffMs = 2000;
constexpr TimeMs kMaxBackoffMs = 60 * 1000;
constexpr TimeMs kWaitForNodesMs = 50; // an empty table: look again at the next tick
constexpr TimeMs kMinRefreshGapMs = 5 * kSoftTimeoutMs;

std::string peer_key(const Endpoint& e) {
    std::string k = ip_key(e);
    k.push_back(static_cast<char>(e.port >> 8));
    k.push_back(static_cast<char>(e.port & 0xff));
    return k;
}

} // namespace

std::uint64_t DhtNode::start_search(const NodeId& target, bool get_peers, std::uint16_t port, bool implied, Peers peers,
                                    Done done, TimeMs now, const std::vector<Contact>& seeds) {
    if (queue_.size() >= kMaxTracked) return 0;
    const std::uint64_t id = next_search_++;
    auto s = std::make_unique<Search>(id, target, cfg_.lookup);
    s->get_peers = get_peers;
    s->announce_port = port;
    s->implied = implied;
    s->peers = std::move(peers);
    s->done = std::move(done);
    s->started = now;
    s->lookup.add_candidates(table_.closest(target, cfg_.lookup.k * 2, now));
    s->lookup.add_candidates(seeds);
    // A table still filling: the bootstrap nodes are asked too (their ids come with their replies).
    if (table_.size() < cfg_.lookup.k && !bootstrap_.empty()) s->lookup.add_bootstrap(bootstrap_);
    Search& ref = *s;
    searches_[id] = std::move(s);
    if (searches_.size() - queue_.size() <= kMaxSearches) {
        ref.running = true;
        step(ref, now); // may finish (and erase) it
    } else {
        queue_.push_back(id);
    }
    return id;
}

std::uint64_t DhtNode::get_peers(const NodeId& info_hash, std::uint16_t announce_port, bool implied, Peers peers,
                                 Done done, TimeMs now) {
    return start_search(info_hash, true, announce_port, implied, std::move(peers), std::move(done), now);
}

void DhtNode::cancel(std::uint64_t search_id) {
    searches_.erase(search_id); // its queries in flight find no search when they answer
    queue_.erase(std::remove(queue_.begin(), queue_.end(), search_id), queue_.end());
    for (auto& [ih, t] : tracked_)
        if (t.search == search_id) t.search = 0;
}

void DhtNode::step(Search& s, TimeMs now) {
    const std::uint64_t id = s.id;
    for (const auto& c : s.lookup.next()) {
        const krpc::Query q =
            s.get_peers ? krpc::get_peers(table_.self(), s.target) : krpc::find_node(table_.self(), s.target);
        static const NodeId kUnknown{};
        const std::optional<NodeId> known = c.id == kUnknown ? std::nullopt : std::optional<NodeId>(c.id);
        if (!send_query(c.addr, known, q, Purpose::search, id, now)) s.lookup.failed(c);
    }
    if (s.lookup.done()) finish(id, now);
}

void DhtNode::search_reply(Pending& p, const krpc::Message& m, const Endpoint& from, TimeMs now) {
    auto it = searches_.find(p.search);
    if (it == searches_.end()) return;
    Search& s = *it->second;
    const krpc::Response& r = *m.response();
    std::vector<Contact> nodes;
    for (const auto& n : r.nodes)
        if (routable(n.addr) && !(n.id == table_.self())) nodes.push_back({n.id, n.addr});
    s.lookup.replied({r.id, from}, nodes, r.token);
    if (s.get_peers && !r.values.empty()) {
        std::vector<Endpoint> fresh;
        for (const auto& v : r.values) {
            if (!routable(v) || s.seen_peers.size() >= kMaxSeenPeers) continue;
            if (s.seen_peers.insert(peer_key(v)).second) fresh.push_back(v);
        }
        if (!fresh.empty()) {
            s.found += fresh.size();
            if (s.peers) {
                const std::uint64_t id = s.id;
                s.peers(fresh); // may cancel this search
                it = searches_.find(id);
                if (it == searches_.end()) return;
            }
        }
    }
    step(*it->second, now);
}

void DhtNode::search_failed(const Pending& p, bool soft, TimeMs now) {
    auto it = searches_.find(p.search);
    if (it == searches_.end()) return; // the lookup matches by endpoint: an unknown id is fine
    if (soft)
        it->second->lookup.slow(p.to);
    else
        it->second->lookup.failed(p.to);
    if (it->second->running) step(*it->second, now);
}

void DhtNode::finish(std::uint64_t search_id, TimeMs now) {
    auto it = searches_.find(search_id);
    if (it == searches_.end()) return;
    std::unique_ptr<Search> s = std::move(it->second);
    searches_.erase(it);
    ++counters_.lookups_done;
    counters_.lookup_queries += s->lookup.queries_sent();
    if (s->get_peers && s->announce_port) {
        // BEP 5: announce to the closest nodes that answered, each with the token it gave.
        for (const auto& f : s->lookup.closest_replied()) {
            if (f.token.empty()) continue;
            send_query(f.contact.addr, f.contact.id,
                       krpc::announce_peer(table_.self(), s->target, s->announce_port, f.token, s->implied),
                       Purpose::announce, 0, now);
        }
    }
    if (s->get_peers) {
        if (auto t = tracked_.find(s->target); t != tracked_.end() && t->second.search == search_id) {
            t->second.search = 0;
            if (s->found) {
                t->second.backoff = 0;
                t->second.next = now + kReannounceMinMs +
                                 random_u32() % static_cast<std::uint32_t>(kReannounceMaxMs - kReannounceMinMs);
            } else {
                // Nothing yet (an empty table while bootstrapping, or nobody has announced): ask again soon.
                t->second.backoff =
                    std::min(kMaxBackoffMs, t->second.backoff ? t->second.backoff * 2 : kFirstBackoffMs);
                t->second.next = now + t->second.backoff;
            }
        }
    }
    if (s->done) s->done(s->found);
    run_queue(now);
}

void DhtNode::run_queue(TimeMs now) {
    while (!queue_.empty() && searches_.size() - queue_.size() < kMaxSearches) {
        const std::uint64_t id = queue_.front();
        queue_.erase(queue_.begin());
        auto it = searches_.find(id);
        if (it == searches_.end()) continue;
        it->second->running = true;
        // Candidates taken now: the table may have grown while it waited.
        it->second->lookup.add_candidates(table_.closest(it->second->target, cfg_.lookup.k * 2, now));
        step(*it->second, now);
    }
}

bool DhtNode::track(const NodeId& info_hash, std::uint16_t announce_port, bool implied, Peers peers, TimeMs now) {
    auto it = tracked_.find(info_hash);
    if (it == tracked_.end()) {
        if (tracked_.size() >= kMaxTracked) return false;
        it = tracked_.emplace(info_hash, Tracked{}).first;
        it->second.next = now;
    }
    it->second.port = announce_port;
    it->second.implied = implied;
    it->second.peers = std::move(peers);
    tick_tracked(now);
    return true;
}

void DhtNode::untrack(const NodeId& info_hash) {
    auto it = tracked_.find(info_hash);
    if (it == tracked_.end()) return;
    const std::uint64_t s = it->second.search;
    tracked_.erase(it);
    if (s) cancel(s);
}

void DhtNode::refresh(const NodeId& info_hash, TimeMs now) {
    auto it = tracked_.find(info_hash);
    if (it == tracked_.end() || it->second.search || now - it->second.last_refresh < kMinRefreshGapMs) return;
    it->second.next = now;
}

void DhtNode::tick_tracked(TimeMs now) {
    std::vector<NodeId> due;
    for (auto& [ih, t] : tracked_)
        if (!t.search && t.next <= now) due.push_back(ih);
    for (const auto& ih : due) {
        auto it = tracked_.find(ih);
        if (it == tracked_.end() || it->second.search) continue;
        if (table_.size() == 0 && bootstrap_.empty()) { // nobody to ask yet (the bootstrap names still resolving)
            it->second.next = now + kWaitForNodesMs;
            continue;
        }
        it->second.last_refresh = now;
        const NodeId key = ih;
        Peers forward = [this, key](const std::vector<Endpoint>& peers) {
            auto t = tracked_.find(key);
            if (t != tracked_.end() && t->second.peers) t->second.peers(peers);
        };
        it->second.search = next_search_; // the id start_search will use: finish() may run inside it
        const std::uint64_t id =
            start_search(ih, true, it->second.port, it->second.implied, std::move(forward), nullptr, now);
        if (id == 0) { // refused (the queue is full): later
            if (auto again = tracked_.find(key); again != tracked_.end()) {
                again->second.search = 0;
                again->second.next = now + kMaxBackoffMs;
            }
        }
    }
}

} // namespace p2p::dht
