// The iterative lookup (BEP 5). The rules are written in lookup.hpp; this file keeps entries_ sorted and the
// counters true. Sizes are small (at most max_candidates + max_queries entries, 192 by default), so a sorted vector
// with binary search by distance (an id has exactly one distance to the target) and a linear scan by endpoint are
// cheaper than any index.
#include "dht/lookup.hpp"

#include <algorithm>
#include <utility>

#include "base/assert.hpp"

namespace p2p::dht {

Lookup::Lookup(NodeId target, LookupConfig cfg) : target_(target), cfg_(cfg) {
    cfg_.alpha = std::max<std::size_t>(cfg_.alpha, 1);
    cfg_.k = std::max<std::size_t>(cfg_.k, 1);
    cfg_.max_candidates = std::max(cfg_.max_candidates, cfg_.k);
}

bool Lookup::before(const Entry& a, const Entry& b) const {
    if (a.id_known != b.id_known) return !a.id_known;
    if (!a.id_known) return false; // unknown ids keep their order of arrival
    return closer(target_, a.contact.id, b.contact.id);
}

std::size_t Lookup::position(const Entry& e) const {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), e,
                               [this](const Entry& x, const Entry& y) { return before(x, y); });
    return static_cast<std::size_t>(it - entries_.begin());
}

bool Lookup::has_id(const NodeId& id) const {
    Entry probe;
    probe.contact.id = id;
    auto it = std::lower_bound(entries_.begin(), entries_.end(), probe,
                               [this](const Entry& x, const Entry& y) { return before(x, y); });
    return it != entries_.end() && it->id_known && it->contact.id == id;
}

std::size_t Lookup::find_endpoint(const Endpoint& addr) const {
    for (std::size_t i = 0; i < entries_.size(); ++i)
        if (same_endpoint(entries_[i].contact.addr, addr)) return i;
    return entries_.size();
}

std::size_t Lookup::find_queried(const Endpoint& addr) const {
    // Endpoints are unique in entries_ (add_* refuse a known one, and an id change keeps the endpoint).
    const std::size_t i = find_endpoint(addr);
    if (i == entries_.size()) return i;
    const State s = entries_[i].state;
    return s == State::in_flight || s == State::slow ? i : entries_.size();
}

void Lookup::insert(Entry e) {
    const std::size_t at = position(e);
    entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(at), std::move(e));
    trim();
}

// Drops the farthest unqueried candidates beyond max_candidates. Queried ones stay: a reply must find its query,
// and a node that failed must not come back as new.
void Lookup::trim() {
    std::size_t fresh = 0;
    for (const Entry& e : entries_) fresh += e.state == State::fresh;
    for (std::size_t i = entries_.size(); i-- > 0 && fresh > cfg_.max_candidates;) {
        if (entries_[i].state != State::fresh) continue;
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        --fresh;
    }
}

void Lookup::add_candidates(const std::vector<Contact>& nodes) {
    for (const Contact& c : nodes) {
        if (c.addr.port == 0) continue; // nobody answers there
        if (has_id(c.id) || find_endpoint(c.addr) != entries_.size()) continue;
        insert(Entry{c, true, State::fresh, {}});
    }
}

void Lookup::add_bootstrap(const std::vector<Endpoint>& addrs) {
    for (const Endpoint& a : addrs) {
        if (a.port == 0 || find_endpoint(a) != entries_.size()) continue;
        insert(Entry{Contact{NodeId{}, a}, false, State::fresh, {}});
    }
}

std::vector<Contact> Lookup::next() {
    std::vector<Contact> out;
    std::size_t frontier = 0;
    for (Entry& e : entries_) {
        if (frontier == cfg_.k || active_ >= cfg_.alpha || queries_sent_ >= cfg_.max_queries) break;
        if (e.state == State::failed || e.state == State::slow) continue; // out of the frontier
        ++frontier;
        if (e.state != State::fresh) continue;
        e.state = State::in_flight;
        ++active_;
        ++in_flight_;
        ++queries_sent_;
        out.push_back(e.contact);
    }
    return out;
}

void Lookup::replied(const Contact& from, const std::vector<Contact>& nodes, std::optional<std::string> token) {
    const std::size_t i = find_queried(from.addr);
    if (i == entries_.size()) return; // never queried, already answered or already failed: it does not count
    Entry& e = entries_[i];
    P2P_ASSERT(in_flight_ > 0, "lookup: a reply with no query in flight");
    if (in_flight_ > 0) --in_flight_;
    if (e.state == State::in_flight) {
        P2P_ASSERT(active_ > 0, "lookup: an active query not counted");
        if (active_ > 0) --active_;
    }
    if (!e.id_known || !(e.contact.id == from.id)) {
        if (has_id(from.id)) { // two endpoints claim one id: believe neither's answer
            e.state = State::failed;
            ++failures_;
            return;
        }
        Entry moved = std::move(e);
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        moved.contact.id = from.id;
        moved.id_known = true;
        moved.state = State::replied;
        moved.token = token.value_or(std::string());
        entries_.insert(entries_.begin() + static_cast<std::ptrdiff_t>(position(moved)), std::move(moved));
    } else {
        e.state = State::replied;
        e.token = token.value_or(std::string());
    }
    ++replies_;
    add_candidates(nodes);
}

void Lookup::failed(const Contact& from) {
    const std::size_t i = find_queried(from.addr);
    if (i == entries_.size()) return;
    Entry& e = entries_[i];
    P2P_ASSERT(in_flight_ > 0, "lookup: a failure with no query in flight");
    if (in_flight_ > 0) --in_flight_;
    if (e.state == State::in_flight) {
        P2P_ASSERT(active_ > 0, "lookup: an active query not counted");
        if (active_ > 0) --active_;
    }
    e.state = State::failed;
    ++failures_;
}

void Lookup::slow(const Contact& from) {
    const std::size_t i = find_queried(from.addr);
    if (i == entries_.size() || entries_[i].state != State::in_flight) return;
    entries_[i].state = State::slow;
    P2P_ASSERT(active_ > 0, "lookup: an active query not counted");
    if (active_ > 0) --active_;
}

bool Lookup::done() const {
    if (in_flight_ > 0) return false;
    if (queries_sent_ >= cfg_.max_queries) return true;
    std::size_t frontier = 0;
    for (const Entry& e : entries_) {
        if (frontier == cfg_.k) break;
        if (e.state == State::failed) continue; // nothing is slow or in flight here
        if (e.state == State::fresh) return false;
        ++frontier;
    }
    return true;
}

std::vector<Lookup::Found> Lookup::closest_replied() const {
    std::vector<Found> out;
    for (const Entry& e : entries_) {
        if (out.size() == cfg_.k) break;
        if (e.state == State::replied) out.push_back(Found{e.contact, e.token});
    }
    return out;
}

} // namespace p2p::dht
