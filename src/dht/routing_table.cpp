// The DHT routing table. Design, bounds and how to drive it: routing_table.hpp.
#include "dht/routing_table.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>

#include "crypto/random.hpp"
#include "dht/node_id.hpp"

namespace p2p::dht {

namespace {

constexpr std::size_t kMaxBuckets = 160; // BEP 5: one bucket per bit of the 160-bit id space
// What malloc adds to each block it hands out (glibc: an 8-byte header, 16-byte granularity), for memory_bytes().
constexpr std::size_t kAllocOverhead = 16;

TimeMs age(TimeMs now, TimeMs then) { return now > then ? now - then : 0; }

} // namespace

std::size_t RoutingTable::AddrKeyHash::operator()(const AddrKey& k) const {
    std::uint64_t h = 0xcbf29ce484222325ull ^ seed; // FNV-1a, seeded so colliding addresses cannot be picked ahead
    for (auto b : k) h = (h ^ b) * 0x100000001b3ull;
    return static_cast<std::size_t>(h ^ (h >> 29));
}

namespace {
std::uint64_t random_seed() {
    std::uint64_t seed;
    random_bytes(&seed, sizeof seed);
    return seed;
}
} // namespace

RoutingTable::RoutingTable(NodeId self, RoutingConfig cfg)
    : self_(self), cfg_(cfg), by_addr_(0, AddrKeyHash{random_seed()}) {
    if (cfg_.k == 0) cfg_.k = 1;
    if (cfg_.max_fails < 1) cfg_.max_fails = 1;
    buckets_.emplace_back();
}

// ------------------------------------------------------------------------------------------------ small helpers

NodeState RoutingTable::state(const Entry& e, TimeMs now) const {
    if (e.fail_count >= cfg_.max_fails) return NodeState::bad;
    // BEP 5: good = answered within 15 minutes, or has ever answered and sent us a query within 15 minutes.
    if (e.replied && e.fail_count == 0 && age(now, e.last_heard) < cfg_.questionable_after) return NodeState::good;
    return NodeState::questionable;
}

RoutingTable::AddrKey RoutingTable::key_of(const Endpoint& a) const {
    AddrKey k{};
    k[0] = a.v6 ? 1 : 0;
    std::memcpy(k.data() + 1, a.ip.data(), a.v6 ? 16 : 4);
    if (!cfg_.one_node_per_ip || is_loopback(a)) { // loopback: several nodes of one machine (types.hpp)
        k[17] = static_cast<std::uint8_t>(a.port >> 8);
        k[18] = static_cast<std::uint8_t>(a.port);
    }
    return k;
}

// libtorrent's "too close to trust both" test: the same /24 (IPv4) or /64 (IPv6).
bool RoutingTable::same_cidr(const Endpoint& a, const Endpoint& b) {
    const bool a4 = !a.v6 || is_v4_mapped(a), b4 = !b.v6 || is_v4_mapped(b);
    if (a4 != b4) return false;
    if (a4) {
        const std::uint8_t* x = a.v6 ? a.ip.data() + 12 : a.ip.data();
        const std::uint8_t* y = b.v6 ? b.ip.data() + 12 : b.ip.data();
        return std::memcmp(x, y, 3) == 0;
    }
    return std::memcmp(a.ip.data(), b.ip.data(), 8) == 0;
}

std::size_t RoutingTable::bucket_index(const NodeId& id) const {
    const auto cpb = static_cast<std::size_t>(common_prefix_bits(self_, id));
    return std::min(cpb, buckets_.size() - 1);
}

int RoutingTable::bucket_of(const NodeId& id) const { return static_cast<int>(bucket_index(id)); }

RoutingTable::Entry* RoutingTable::find_live(Bucket& b, const NodeId& id) {
    for (auto& e : b.live)
        if (e.c.id == id) return &e;
    return nullptr;
}

RoutingTable::Entry* RoutingTable::find_repl(Bucket& b, const NodeId& id) {
    for (auto& e : b.repl)
        if (e.c.id == id) return &e;
    return nullptr;
}

namespace {
// Preference between two candidates for one place: answered us, then BEP 42-verified, then no unanswered query, then
// the most recently heard.
auto rank(bool replied, bool verified, std::uint8_t fails, TimeMs heard) {
    return std::make_tuple(replied, verified, fails == 0, heard);
}
// How much a node is worth keeping in a full bucket, when a newcomer that answered us asks for its place.
int strength(bool replied, bool verified) { return (replied ? 2 : 0) + (verified ? 1 : 0); }
} // namespace

void RoutingTable::erase(const NodeId& id) {
    Bucket& b = buckets_[bucket_index(id)];
    for (auto* v : {&b.live, &b.repl}) {
        for (auto it = v->begin(); it != v->end(); ++it) {
            if (!(it->c.id == id)) continue;
            auto k = by_addr_.find(key_of(it->c.addr));
            if (k != by_addr_.end() && k->second == id) by_addr_.erase(k);
            v->erase(it);
            return;
        }
    }
}

void RoutingTable::refill(std::size_t i, TimeMs now) {
    Bucket& b = buckets_[i];
    while (b.live.size() < cfg_.k && !b.repl.empty()) {
        auto best = std::max_element(b.repl.begin(), b.repl.end(), [](const Entry& x, const Entry& y) {
            return rank(x.replied, x.verified, x.fail_count, x.last_heard) <
                   rank(y.replied, y.verified, y.fail_count, y.last_heard);
        });
        b.live.push_back(*best);
        b.repl.erase(best);
        b.last_changed = now; // BEP 5: "a node in a bucket is replaced with another node"
    }
}

RoutingTable::Outcome RoutingTable::add_replacement(std::size_t i, const Entry& e) {
    Bucket& b = buckets_[i];
    if (cfg_.replacements == 0) return Outcome::refused_full;
    if (b.repl.size() < cfg_.replacements) {
        b.repl.push_back(e);
        by_addr_[key_of(e.c.addr)] = e.c.id;
        return Outcome::replacement;
    }
    auto worst = std::min_element(b.repl.begin(), b.repl.end(), [](const Entry& x, const Entry& y) {
        return rank(x.replied, x.verified, x.fail_count, x.last_heard) <
               rank(y.replied, y.verified, y.fail_count, y.last_heard);
    });
    if (!(rank(worst->replied, worst->verified, worst->fail_count, worst->last_heard) <
          rank(e.replied, e.verified, e.fail_count, e.last_heard)))
        return Outcome::refused_full;
    auto k = by_addr_.find(key_of(worst->c.addr));
    if (k != by_addr_.end() && k->second == worst->c.id) by_addr_.erase(k);
    *worst = e;
    by_addr_[key_of(e.c.addr)] = e.c.id;
    return Outcome::replacement;
}

void RoutingTable::split_last(TimeMs now) {
    const std::size_t n = buckets_.size(); // the new bucket's index; it takes the nodes sharing >= n bits with us
    buckets_.emplace_back();
    Bucket& old = buckets_[n - 1];
    Bucket& fresh = buckets_[n];
    auto moves = [&](const Entry& e) { return static_cast<std::size_t>(common_prefix_bits(self_, e.c.id)) >= n; };
    for (const auto& pair : {std::make_pair(&old.live, &fresh.live), std::make_pair(&old.repl, &fresh.repl)}) {
        auto& from = *pair.first;
        auto& to = *pair.second;
        for (const auto& e : from)
            if (moves(e)) to.push_back(e);
        from.erase(std::remove_if(from.begin(), from.end(), moves), from.end());
    }
    old.last_changed = fresh.last_changed = now;
    refill(n - 1, now);
    refill(n, now);
}

// ------------------------------------------------------------------------------------------------ placing nodes

RoutingTable::Outcome RoutingTable::place(Entry e, TimeMs now) {
    const bool good = state(e, now) == NodeState::good;
    for (;;) {
        const std::size_t i = bucket_index(e.c.id);
        Bucket& b = buckets_[i];
        // libtorrent's rule: one node per /24 (/64) per bucket, so an address block cannot fill a bucket. Local
        // networks (BEP 42's exempt blocks) are spared: a LAN or a test bed shares one /24 honestly.
        if (cfg_.one_node_per_ip && !is_exempt_address(e.c.addr)) {
            for (const auto* v : {&b.live, &b.repl})
                for (const auto& x : *v)
                    if (state(x, now) != NodeState::bad && same_cidr(x.c.addr, e.c.addr)) return Outcome::refused_ip;
        }
        auto added = [&](Entry& slot) {
            slot = e;
            by_addr_[key_of(e.c.addr)] = e.c.id;
            b.last_changed = now;
            return Outcome::added;
        };
        if (b.live.size() < cfg_.k) {
            b.live.emplace_back();
            return added(b.live.back());
        }
        // BEP 5: "If any nodes in the bucket are known to have become bad, then one is replaced by the new node."
        Entry* bad = nullptr;
        for (auto& x : b.live)
            if (state(x, now) == NodeState::bad &&
                (!bad || x.fail_count > bad->fail_count ||
                 (x.fail_count == bad->fail_count && x.last_heard < bad->last_heard)))
                bad = &x;
        if (bad) {
            auto k = by_addr_.find(key_of(bad->c.addr));
            if (k != by_addr_.end() && k->second == bad->c.id) by_addr_.erase(k);
            return added(*bad);
        }
        // BEP 5: the bucket covering our own id splits. Only for a node that answered: a node we only heard
        // queries from (perhaps spoofed) must not reshape the table.
        if (i + 1 == buckets_.size() && buckets_.size() < kMaxBuckets && good) {
            split_last(now);
            continue;
        }
        // A node that answered just now takes the place of the weakest questionable node, if weaker than it: one
        // that never answered us, or (if the newcomer is BEP 42-verified) an unverified one. Good nodes stay (BEP 5).
        if (good) {
            Entry* victim = weakest_questionable(b, now);
            if (victim && strength(victim->replied, victim->verified) < strength(e.replied, e.verified)) {
                const Entry old = *victim;
                auto k = by_addr_.find(key_of(old.c.addr));
                if (k != by_addr_.end() && k->second == old.c.id) by_addr_.erase(k);
                const Outcome o = added(*victim);
                add_replacement(i, old); // it may wait for a slot, if better than a replacement
                return o;
            }
        }
        // BEP 5: a full bucket of good nodes discards the newcomer; we keep it as a replacement for ping-before-evict.
        return add_replacement(i, e);
    }
}

// The questionable node of bucket b that a better node may displace: the lowest strength, then the longest silent.
RoutingTable::Entry* RoutingTable::weakest_questionable(Bucket& b, TimeMs now) {
    Entry* victim = nullptr;
    for (auto& x : b.live) {
        if (state(x, now) != NodeState::questionable) continue;
        const int sx = strength(x.replied, x.verified);
        if (!victim || sx < strength(victim->replied, victim->verified) ||
            (sx == strength(victim->replied, victim->verified) && x.last_heard < victim->last_heard))
            victim = &x;
    }
    return victim;
}

void RoutingTable::maybe_promote(std::size_t i, const NodeId& id, TimeMs now) {
    Bucket& b = buckets_[i];
    if (b.live.size() < cfg_.k) { // cannot happen while the invariants hold; heal rather than assume
        refill(i, now);
        return;
    }
    Entry* r = find_repl(b, id);
    if (!r) return;
    Entry* victim = weakest_questionable(b, now);
    if (!victim || !(strength(victim->replied, victim->verified) < strength(r->replied, r->verified))) return;
    std::swap(*victim, *r); // both stay in the table: the index is unchanged
    b.last_changed = now;
}

RoutingTable::Outcome RoutingTable::heard_from(const Contact& c, TimeMs now, bool replied) {
    if (c.id == self_) return Outcome::refused_self;
    if (!routable(c.addr)) return Outcome::refused_bad;
    const std::size_t i = bucket_index(c.id);
    Bucket& b = buckets_[i];
    Entry* e = find_live(b, c.id);
    const bool live = e != nullptr;
    if (!e) e = find_repl(b, c.id);
    if (e) {
        if (!same_endpoint(e->c.addr, c.addr)) {
            // The same id from another address: a node that moved, or someone claiming its id. Only a node we have
            // given up on may be replaced (replacements never are bad: they are dropped instead).
            if (state(*e, now) != NodeState::bad) return Outcome::refused_ip;
            erase(c.id);
            refill(i, now);
        } else {
            e->last_heard = now;
            if (replied) {
                e->replied = true;
                e->last_reply = now;
                e->fail_count = 0;
                e->ping_outstanding = false;
                if (live)
                    b.last_changed = now; // BEP 5: "When a node in a bucket is pinged and it responds"
                else
                    maybe_promote(i, c.id, now);
            }
            return Outcome::updated;
        }
    }
    // A new node. Its address may be in the table under another id.
    if (auto k = by_addr_.find(key_of(c.addr)); k != by_addr_.end()) {
        const NodeId other = k->second;
        const std::size_t j = bucket_index(other);
        const Entry* o = find_live(buckets_[j], other);
        if (o && state(*o, now) != NodeState::bad) return Outcome::refused_ip;
        if (!o && find_repl(buckets_[j], other)) return Outcome::refused_ip;
        if (o) {
            erase(other);
            refill(j, now);
        } else {
            by_addr_.erase(k); // stale (cannot happen while the invariants hold)
        }
    }
    Entry n;
    n.c = c;
    n.last_heard = now;
    n.replied = replied;
    n.last_reply = replied ? now : 0;
    n.verified = bep42_valid(c.id, c.addr);
    return place(n, now);
}

void RoutingTable::timed_out(const Contact& c, TimeMs now) {
    const std::size_t i = bucket_index(c.id);
    Bucket& b = buckets_[i];
    if (Entry* e = find_live(b, c.id)) {
        if (!same_endpoint(e->c.addr, c.addr)) return;
        if (e->fail_count < 255) ++e->fail_count;
        e->ping_outstanding = false;
        if (state(*e, now) == NodeState::bad && !b.repl.empty()) {
            erase(c.id);
            refill(i, now);
        }
        return;
    }
    if (Entry* e = find_repl(b, c.id)) {
        if (!same_endpoint(e->c.addr, c.addr)) return;
        if (e->fail_count < 255) ++e->fail_count;
        if (e->fail_count >= cfg_.max_fails) erase(c.id);
    }
}

void RoutingTable::set_self(const NodeId& id, TimeMs now) {
    std::vector<Entry> live, repl;
    for (auto& b : buckets_) {
        for (auto& e : b.live)
            if (state(e, now) != NodeState::bad) live.push_back(e);
        for (auto& e : b.repl) repl.push_back(e);
    }
    // Good nodes first, so they are the ones that take the slots.
    std::stable_partition(live.begin(), live.end(), [&](const Entry& e) { return state(e, now) == NodeState::good; });
    self_ = id;
    buckets_.clear();
    buckets_.emplace_back();
    buckets_[0].last_changed = now;
    by_addr_.clear();
    for (auto* v : {&live, &repl})
        for (const auto& e : *v)
            if (!(e.c.id == self_)) place(e, now);
}

// ------------------------------------------------------------------------------------------------ queries

std::vector<Contact> RoutingTable::closest(const NodeId& target, std::size_t n, TimeMs now, bool replied_only) const {
    std::vector<const Entry*> all;
    for (const auto& b : buckets_)
        for (const auto& e : b.live) {
            const NodeState s = state(e, now);
            if (s == NodeState::bad || (replied_only && !e.replied)) continue;
            all.push_back(&e);
        }
    const std::size_t m = std::min(n, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(m), all.end(),
                      [&](const Entry* x, const Entry* y) { return closer(target, x->c.id, y->c.id); });
    std::vector<Contact> out;
    out.reserve(m);
    for (std::size_t i = 0; i < m; ++i) out.push_back(all[i]->c);
    return out;
}

std::vector<Contact> RoutingTable::to_ping(TimeMs now, std::size_t max) {
    struct Candidate {
        int priority; // 0: a full bucket with replacements waiting; 1: any questionable node due for a ping
        TimeMs heard;
        Entry* e;
    };
    std::vector<Candidate> cands;
    for (auto& b : buckets_) {
        const bool evicting = b.live.size() >= cfg_.k && !b.repl.empty();
        for (auto& e : b.live) {
            if (state(e, now) != NodeState::questionable) continue;
            const bool recent = e.pinged && age(now, e.last_ping) < cfg_.questionable_after;
            if (e.ping_outstanding && recent) continue; // asked, no answer nor timeout yet
            if (evicting)
                cands.push_back({0, e.last_heard, &e});
            else if (!recent)
                cands.push_back({1, e.last_heard, &e});
        }
    }
    std::sort(cands.begin(), cands.end(), [](const Candidate& x, const Candidate& y) {
        return std::tie(x.priority, x.heard) < std::tie(y.priority, y.heard);
    });
    std::vector<Contact> out;
    for (const auto& c : cands) {
        if (out.size() >= max) break;
        c.e->pinged = true;
        c.e->ping_outstanding = true;
        c.e->last_ping = now;
        out.push_back(c.e->c);
    }
    return out;
}

std::vector<NodeId> RoutingTable::refresh_targets(TimeMs now, std::size_t max) {
    std::vector<NodeId> out;
    if (size() == 0) return out; // nobody to ask
    std::vector<std::size_t> due;
    for (std::size_t i = 0; i < buckets_.size(); ++i)
        if (age(now, buckets_[i].last_changed) >= cfg_.refresh_after) due.push_back(i);
    std::stable_sort(due.begin(), due.end(),
                     [&](std::size_t x, std::size_t y) { return buckets_[x].last_changed < buckets_[y].last_changed; });
    for (std::size_t i : due) {
        if (out.size() >= max) break;
        NodeId t;
        if (i + 1 < buckets_.size()) {
            t = random_id_in_bucket(self_, static_cast<int>(i));
        } else { // the last bucket holds every id sharing at least i bits with us
            t = random_node_id();
            for (std::size_t bit = 0; bit < i; ++bit) {
                const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
                t.b[bit / 8] = static_cast<std::uint8_t>((t.b[bit / 8] & ~mask) | (self_.b[bit / 8] & mask));
            }
        }
        out.push_back(t);
        buckets_[i].last_changed = now;
    }
    return out;
}

std::vector<Contact> RoutingTable::good_nodes(TimeMs now) const {
    std::vector<Contact> out;
    for (const auto& b : buckets_)
        for (const auto& e : b.live)
            if (state(e, now) == NodeState::good) out.push_back(e.c);
    return out;
}

std::size_t RoutingTable::size() const {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.live.size();
    return n;
}

std::size_t RoutingTable::size(NodeState s, TimeMs now) const {
    std::size_t n = 0;
    for (const auto& b : buckets_)
        for (const auto& e : b.live) n += state(e, now) == s;
    return n;
}

std::size_t RoutingTable::replacement_count() const {
    std::size_t n = 0;
    for (const auto& b : buckets_) n += b.repl.size();
    return n;
}

std::vector<BucketStats> RoutingTable::stats(TimeMs now) const {
    std::vector<BucketStats> out;
    out.reserve(buckets_.size());
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        BucketStats s{static_cast<int>(i), 0, 0, 0, buckets_[i].repl.size()};
        for (const auto& e : buckets_[i].live) {
            switch (state(e, now)) {
            case NodeState::good: ++s.good; break;
            case NodeState::questionable: ++s.questionable; break;
            case NodeState::bad: ++s.bad; break;
            }
        }
        out.push_back(s);
    }
    return out;
}

std::optional<NodeState> RoutingTable::state_of(const Contact& c, TimeMs now) const {
    const Bucket& b = buckets_[bucket_index(c.id)];
    for (const auto& e : b.live)
        if (e.c.id == c.id) return same_endpoint(e.c.addr, c.addr) ? std::optional(state(e, now)) : std::nullopt;
    return std::nullopt;
}

std::size_t RoutingTable::memory_bytes() const {
    std::size_t n = sizeof(*this) + buckets_.capacity() * sizeof(Bucket) + kAllocOverhead;
    for (const auto& b : buckets_) {
        if (b.live.capacity()) n += b.live.capacity() * sizeof(Entry) + kAllocOverhead;
        if (b.repl.capacity()) n += b.repl.capacity() * sizeof(Entry) + kAllocOverhead;
    }
    // libstdc++'s hash node: the next pointer, the value, the cached hash; one pointer per hash bucket.
    using Value = decltype(by_addr_)::value_type;
    n += by_addr_.size() * (sizeof(void*) + sizeof(Value) + sizeof(std::size_t) + kAllocOverhead);
    n += by_addr_.bucket_count() * sizeof(void*) + kAllocOverhead;
    return n;
}

bool RoutingTable::check_invariants() const {
    if (buckets_.empty() || buckets_.size() > kMaxBuckets) return false;
    std::set<NodeId> ids;
    std::size_t entries = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        const Bucket& b = buckets_[i];
        if (b.live.size() > cfg_.k || b.repl.size() > cfg_.replacements) return false;
        if (!b.repl.empty() && b.live.size() != cfg_.k) return false;
        for (const auto* v : {&b.live, &b.repl}) {
            for (const auto& e : *v) {
                if (e.c.id == self_ || bucket_index(e.c.id) != i) return false;
                if (!ids.insert(e.c.id).second) return false;
                auto k = by_addr_.find(key_of(e.c.addr));
                if (k == by_addr_.end() || !(k->second == e.c.id)) return false;
                if (e.fail_count >= cfg_.max_fails && (v == &b.repl || !b.repl.empty())) return false;
                ++entries;
            }
        }
    }
    return entries == by_addr_.size();
}

} // namespace p2p::dht
