// DhtNode: transactions, serving, routing-table upkeep, BEP 42. Design and bounds: dht_node.hpp.
#include "dht/dht_node.hpp"

#include <algorithm>
#include <cstring>

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "dht/node_id.hpp"

namespace p2p::dht {

namespace {

constexpr std::size_t kVotesForExternal = 3; // BEP 42: agree on our address only when several nodes say so
constexpr std::size_t kMaxVotes = 64;
constexpr TimeMs kMaintainMs = 5000;
constexpr TimeMs kExpireMs = 60 * 1000;

} // namespace

DhtNode::DhtNode(DhtConfig cfg, Send send, NodeId id, TimeMs now)
    : cfg_(std::move(cfg)), send_(std::move(send)), table_(id, cfg_.routing), store_(cfg_.store), limiter_(cfg_.rate) {
    next_maintain_ = now + kMaintainMs;
    next_expire_ = now + kExpireMs;
    next_tid_ = static_cast<std::uint16_t>(random_u32());
}

DhtNode::~DhtNode() = default;

// ---------------------------------------------------------------- input

void DhtNode::on_datagram(std::string_view d, const Endpoint& from, TimeMs now) {
    ++counters_.packets_in;
    counters_.bytes_in += d.size();
    if (!routable(from)) {
        ++counters_.dropped_in;
        return;
    }
    if (!limiter_.allow(from, now)) { // libtorrent's rule: a flooding address is ignored for a while
        ++counters_.rate_limited;
        return;
    }
    auto m = krpc::decode(d);
    if (!m) {
        ++counters_.dropped_in;
        // BEP 5: a malformed query gets error 203; a broken reply gets nothing (no ping-pong between two nodes).
        if (auto t = krpc::query_transaction(d); t && !cfg_.read_only)
            send_reply(from, krpc::encode_error(*t, krpc::kErrorProtocol, "malformed query", from, cfg_.version));
        return;
    }
    switch (m->kind()) {
    case krpc::Kind::query:
        ++counters_.queries_in;
        if (!cfg_.read_only) handle_query(*m, d.size(), from, now);
        return;
    case krpc::Kind::response:
    case krpc::Kind::error: handle_reply(*m, from, now); return;
    }
}

std::vector<krpc::NodeInfo> DhtNode::nodes_for(const NodeId& target, bool v6, TimeMs now) const {
    std::vector<krpc::NodeInfo> out;
    // Only nodes that have answered us: one heard only by its queries may be behind a NAT (unreachable).
    for (const auto& c : table_.closest(target, cfg_.routing.k * 2, now, true)) {
        if (c.addr.v6 != v6) continue;
        out.push_back({c.id, c.addr});
        if (out.size() == cfg_.routing.k) break;
    }
    return out;
}

bool DhtNode::verified_querier(const Endpoint& from, const NodeId& id, TimeMs now) const {
    // A querier in our table under this address has answered one of our queries (or at least reached us before
    // from there): its source address is not spoofed, so a full reply cannot be aimed at a victim.
    // Good means it has answered one of our queries (a node heard only by its queries stays questionable), so
    // its source address is real; spoofed queries alone never make an address "verified".
    const auto st = table_.state_of(Contact{id, from}, now);
    return st && *st == NodeState::good;
}

void DhtNode::handle_query(const krpc::Message& m, std::size_t size, const Endpoint& from, TimeMs now) {
    const krpc::Query& q = *m.query();
    if (q.method == krpc::Method::unknown) {
        send_reply(from, krpc::encode_error(m.t, krpc::kErrorMethodUnknown, "method unknown", from, cfg_.version));
        return;
    }
    if (q.id == table_.self()) return;                      // our own query, looped back
    if (!m.ro) table_.heard_from({q.id, from}, now, false); // BEP 43: read-only nodes stay out of tables
    krpc::Response r;
    r.id = table_.self();
    switch (q.method) {
    case krpc::Method::ping: break;
    case krpc::Method::find_node: r.nodes = nodes_for(q.target, from.v6, now); break;
    case krpc::Method::get_peers: {
        r.token = tokens_.make(from, now);
        r.values = store_.get(q.info_hash, kMaxPeersPerReply, from.v6, now);
        r.nodes = nodes_for(q.info_hash, from.v6, now);
        // No amplification: a querier whose address is unproven gets a reply bounded by its query's size.
        const std::size_t limit = max_reply_bytes(size, verified_querier(from, q.id, now));
        std::string out = krpc::encode_response(m.t, r, from, cfg_.version);
        while (out.size() > limit && (!r.values.empty() || !r.nodes.empty())) {
            if (!r.values.empty())
                r.values.resize(r.values.size() / 2);
            else
                r.nodes.resize(r.nodes.size() / 2);
            out = krpc::encode_response(m.t, r, from, cfg_.version);
        }
        send_reply(from, std::move(out));
        return;
    }
    case krpc::Method::announce_peer: {
        if (!tokens_.check(q.token, from, now)) {
            send_reply(from, krpc::encode_error(m.t, krpc::kErrorProtocol, "bad token", from, cfg_.version));
            return;
        }
        Endpoint peer = from;
        if (!q.implied_port) peer.port = q.port; // BEP 5: implied_port = use the datagram's source port
        if (peer.port == 0) {
            send_reply(from, krpc::encode_error(m.t, krpc::kErrorProtocol, "port 0", from, cfg_.version));
            return;
        }
        store_.announce(q.info_hash, peer, false, now);
        break;
    }
    case krpc::Method::unknown: break;
    }
    send_reply(from, krpc::encode_response(m.t, r, from, cfg_.version));
}

void DhtNode::handle_reply(const krpc::Message& m, const Endpoint& from, TimeMs now) {
    auto it = pending_.find(m.t);
    // A reply must come from where its query went: a forged transaction id from elsewhere is dropped, and the
    // real reply can still arrive.
    if (it == pending_.end() || !same_endpoint(it->second.to.addr, from)) {
        ++counters_.dropped_in;
        return;
    }
    Pending p = it->second;
    pending_.erase(it);
    if (m.kind() == krpc::Kind::error) {
        ++counters_.errors_in;
        if (p.purpose == Purpose::search) search_failed(p, false, now);
        return;
    }
    ++counters_.replies_in;
    const krpc::Response& r = *m.response();
    if (p.id_known && !(r.id == p.to.id)) table_.timed_out(p.to, now); // that id is not there any more
    if (r.id == table_.self()) return;
    if (!m.ro) table_.heard_from({r.id, from}, now, true);
    if (m.ip) note_external(*m.ip, from, now);
    switch (p.purpose) {
    case Purpose::ping:
    case Purpose::announce: return;
    case Purpose::bootstrap: {
        // Look ourselves up through what the bootstrap node returned: the nodes that answer fill the table.
        std::vector<Contact> seeds{{r.id, from}};
        for (const auto& n : r.nodes)
            if (routable(n.addr) && !(n.id == table_.self())) seeds.push_back({n.id, n.addr});
        bool running = false;
        for (auto& [id, s] : searches_)
            if (!s->get_peers && s->target == table_.self()) {
                s->lookup.add_candidates(seeds);
                running = true;
                if (s->running) step(*s, now);
                break;
            }
        if (!running) start_search(table_.self(), false, 0, false, nullptr, nullptr, now, seeds);
        return;
    }
    case Purpose::search: search_reply(p, m, from, now); return;
    }
}

void DhtNode::note_external(const Endpoint& reported, const Endpoint& from, TimeMs now) {
    (void)from;
    if (reported.v6 != from.v6) return;
    if (ip_votes_.size() >= kMaxVotes) ip_votes_.clear();
    const std::string key = ip_key(reported);
    if (++ip_votes_[key] < kVotesForExternal) return;
    ip_votes_.clear();
    external_ = reported;
    // BEP 42: once we know our address, an id that does not match it is replaced, so verifying nodes keep us.
    if (!is_exempt_address(reported) && !bep42_valid(table_.self(), reported)) {
        const NodeId id = bep42_node_id(reported, static_cast<std::uint8_t>(random_u32()));
        log_info("dht", "a new node id for our external address (BEP 42)");
        table_.set_self(id, now);
    }
}

// ---------------------------------------------------------------- output

void DhtNode::send_reply(const Endpoint& to, std::string datagram) {
    ++counters_.packets_out;
    counters_.bytes_out += datagram.size();
    send_(to, std::move(datagram));
}

bool DhtNode::send_query(const Endpoint& to, const std::optional<NodeId>& id, const krpc::Query& q, Purpose purpose,
                         std::uint64_t search, TimeMs now) {
    if (pending_.size() >= kMaxPending || !routable(to)) return false;
    // Transaction ids: a counter (unique among kMaxPending in flight) and 2 random bytes, so an off-path sender
    // cannot guess the id of a query in flight; the reply must also come from the address queried.
    const std::uint16_t n = next_tid_++;
    const std::uint16_t salt = static_cast<std::uint16_t>(random_u32());
    std::string t{static_cast<char>(n >> 8), static_cast<char>(n & 0xff), static_cast<char>(salt >> 8),
                  static_cast<char>(salt & 0xff)};
    Pending p;
    p.to.addr = to;
    if (id) {
        p.to.id = *id;
        p.id_known = true;
    }
    p.purpose = purpose;
    p.search = search;
    p.sent = now;
    std::string d = krpc::encode_query(t, q, cfg_.read_only, cfg_.version);
    pending_[t] = p;
    ++counters_.packets_out;
    counters_.bytes_out += d.size();
    send_(to, std::move(d));
    return true;
}

void DhtNode::add_bootstrap(const Endpoint& addr, TimeMs now) {
    for (const auto& b : bootstrap_)
        if (same_endpoint(b, addr)) return;
    if (bootstrap_.size() >= kMaxBootstrap || !routable(addr)) return;
    bootstrap_.push_back(addr);
    send_query(addr, std::nullopt, krpc::find_node(table_.self(), table_.self()), Purpose::bootstrap, 0, now);
    next_bootstrap_ = now + kBootstrapRetryMs;
    tick_tracked(now); // torrents waiting for a first node to ask start now, not at the next tick
}

void DhtNode::add_node(const Endpoint& addr, TimeMs now) {
    send_query(addr, std::nullopt, krpc::ping(table_.self()), Purpose::ping, 0, now);
}

// ---------------------------------------------------------------- time

void DhtNode::tick(TimeMs now) {
    expire_pending(now);
    if (now >= next_maintain_) {
        next_maintain_ = now + kMaintainMs;
        maintain(now);
    }
    tick_tracked(now);
    run_queue(now);
}

void DhtNode::expire_pending(TimeMs now) {
    // Collected first: a lookup step sends queries (pending_ grows) and may finish a search.
    std::vector<std::pair<std::string, bool>> due; // tid, hard
    for (auto& [t, p] : pending_) {
        const TimeMs age = now - p.sent;
        if (age >= kQueryTimeoutMs)
            due.push_back({t, true});
        else if (age >= kSoftTimeoutMs && !p.slow && p.purpose == Purpose::search)
            due.push_back({t, false});
    }
    for (const auto& [t, hard] : due) {
        auto it = pending_.find(t);
        if (it == pending_.end()) continue;
        if (!hard) {
            it->second.slow = true;
            const Pending copy = it->second; // the step below may insert into pending_
            search_failed(copy, true, now);
            continue;
        }
        Pending p = it->second;
        pending_.erase(it);
        ++counters_.timeouts;
        if (p.id_known) table_.timed_out(p.to, now);
        if (p.purpose == Purpose::search) search_failed(p, false, now);
    }
}

void DhtNode::maintain(TimeMs now) {
    // BEP 5: ping questionable nodes before a replacement takes their place; refresh quiet buckets.
    for (const auto& c : table_.to_ping(now, 8))
        send_query(c.addr, c.id, krpc::ping(table_.self()), Purpose::ping, 0, now);
    if (table_.size(NodeState::good, now) >= kMinHealthyNodes) {
        for (const auto& target : table_.refresh_targets(now, 2))
            start_search(target, false, 0, false, nullptr, nullptr, now);
    } else if (now >= next_bootstrap_ && !bootstrap_.empty()) {
        next_bootstrap_ = now + kBootstrapRetryMs;
        for (const auto& b : bootstrap_)
            send_query(b, std::nullopt, krpc::find_node(table_.self(), table_.self()), Purpose::bootstrap, 0, now);
    }
    if (now >= next_expire_) {
        next_expire_ = now + kExpireMs;
        store_.expire(now);
    }
}

std::size_t DhtNode::memory_bytes() const {
    std::size_t n = table_.memory_bytes() + store_.memory_bytes() + limiter_.memory_bytes();
    n += pending_.size() * (sizeof(Pending) + 64);
    for (const auto& [id, s] : searches_) n += sizeof(Search) + s->seen_peers.size() * 64 + 4096;
    n += tracked_.size() * (sizeof(Tracked) + 64);
    return n;
}

void DhtNode::set_memory_limit(std::size_t bytes) {
    // The store is the part that grows with other nodes' announces; the table is bounded by 160 x K anyway.
    const std::size_t per_peer = 64, per_torrent = 256;
    const std::size_t torrents = std::max<std::size_t>(16, bytes / 4 / per_torrent);
    const std::size_t peers = std::max<std::size_t>(
        8, std::min(cfg_.store.max_peers_per_torrent, bytes / 2 / per_peer / std::max<std::size_t>(1, torrents / 8)));
    store_.set_limits(std::min(torrents, cfg_.store.max_torrents), peers);
}

} // namespace p2p::dht
