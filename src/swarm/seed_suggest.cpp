#include "swarm/seed_suggest.hpp"

#include <algorithm>

#include "swarm/splitmix.hpp"

namespace p2p::swarm {

SeedSuggest::SeedSuggest(std::uint32_t num_pieces, std::uint64_t seed)
    : pool_pos_(num_pieces, kNone), sent_(num_pieces, false), owner_(num_pieces, 0), owned_(num_pieces, false),
      rng_state_(seed) {
    pool_.reserve(num_pieces);
    for (std::uint32_t i = 0; i < num_pieces; ++i) pool_insert(i);
}

std::uint64_t SeedSuggest::next_random() { return splitmix64(rng_state_); }

void SeedSuggest::pool_insert(std::uint32_t piece) {
    if (pool_pos_[piece] != kNone) return;
    pool_pos_[piece] = static_cast<std::uint32_t>(pool_.size());
    pool_.push_back(piece);
}

void SeedSuggest::pool_erase(std::uint32_t piece) {
    const std::uint32_t at = pool_pos_[piece];
    if (at == kNone) return;
    pool_[at] = pool_.back();
    pool_pos_[pool_[at]] = at;
    pool_.pop_back();
    pool_pos_[piece] = kNone;
}

bool SeedSuggest::erase_from(std::vector<std::uint32_t>& v, std::uint32_t piece) {
    auto it = std::find(v.begin(), v.end(), piece);
    if (it == v.end()) return false;
    v.erase(it); // keeps the order: windows are short (≤ kMaxWindow)
    return true;
}

std::size_t SeedSuggest::top_up(PeerToken peer, const Bitfield& peer_has, std::size_t window,
                                const std::function<std::uint32_t(std::uint32_t)>& avail,
                                std::vector<std::uint32_t>& out) {
    if (peer_has.size() != sent_.size() || pool_.empty()) return 0;
    window = std::min(window, kMaxWindow);
    Peer& p = peers_[peer];
    std::size_t added = 0;
    while (p.window.size() < window && !pool_.empty()) {
        // A few random candidates the peer lacks; the least available wins (random among equals). The peer may
        // hold most of the pool (it got the pieces from others), so the scan is bounded and may come back empty.
        std::uint32_t best = kNone, best_avail = 0;
        std::size_t found = 0;
        const std::size_t sz = pool_.size();
        const std::size_t start = static_cast<std::size_t>(((next_random() >> 32) * sz) >> 32);
        for (std::size_t k = 0; k < sz && k < 64 * kSample && found < kSample; ++k) {
            std::size_t at = start + k;
            if (at >= sz) at -= sz;
            const std::uint32_t piece = pool_[at];
            if (peer_has.get(piece)) continue;
            ++found;
            const std::uint32_t a = avail ? avail(piece) : 0;
            if (best == kNone || a < best_avail) best = piece, best_avail = a;
        }
        if (best == kNone) break;
        pool_erase(best);
        owned_[best] = true;
        owner_[best] = peer;
        p.window.push_back(best);
        out.push_back(best);
        ++added;
    }
    return added;
}

void SeedSuggest::on_request(PeerToken peer, std::uint32_t piece) {
    if (piece >= sent_.size()) return;
    Peer& p = peers_[peer];
    if (std::find(p.recent.begin(), p.recent.end(), piece) != p.recent.end()) return; // same piece, next block
    if (p.recent.size() >= kRecent) p.recent.erase(p.recent.begin());
    p.recent.push_back(piece);
    if (owned_[piece]) {
        // Usually its own suggestion; if another peer's, that peer loses it (it is sent now) and is topped up
        // on its next request.
        auto it = peers_.find(owner_[piece]);
        if (it != peers_.end()) erase_from(it->second.window, piece);
        owned_[piece] = false;
    }
    pool_erase(piece);
    sent_[piece] = true;
}

void SeedSuggest::on_have(PeerToken peer, std::uint32_t piece) {
    if (piece >= sent_.size() || !owned_[piece] || owner_[piece] != peer) return;
    auto it = peers_.find(peer);
    if (it != peers_.end()) erase_from(it->second.window, piece);
    owned_[piece] = false;
    if (!sent_[piece]) pool_insert(piece);
}

void SeedSuggest::release(PeerToken peer, const std::vector<std::uint32_t>& unfinished) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) return;
    for (std::uint32_t piece : it->second.window) {
        owned_[piece] = false;
        if (!sent_[piece]) pool_insert(piece);
    }
    it->second.window.clear();
    for (std::uint32_t piece : unfinished) {
        if (piece >= sent_.size() || owned_[piece]) continue;
        sent_[piece] = false;
        pool_insert(piece);
        erase_from(it->second.recent, piece); // when it asks again, the piece counts as sent to it again
    }
}

void SeedSuggest::forget(PeerToken peer, const std::vector<std::uint32_t>& unfinished) {
    release(peer, unfinished);
    peers_.erase(peer);
}

std::size_t SeedSuggest::repool_lost(const Bitfield& gone_had,
                                     const std::function<std::uint32_t(std::uint32_t)>& avail) {
    if (gone_had.size() != sent_.size() || !avail) return 0;
    std::size_t n = 0;
    gone_had.for_each_set([&](std::uint32_t piece) {
        if (!sent_[piece] || owned_[piece] || avail(piece) != 0) return;
        sent_[piece] = false;
        pool_insert(piece);
        ++n;
    });
    return n;
}

std::size_t SeedSuggest::window_size(PeerToken peer) const {
    auto it = peers_.find(peer);
    return it == peers_.end() ? 0 : it->second.window.size();
}

bool SeedSuggest::suggested_to(std::uint32_t piece, PeerToken peer) const {
    return piece < owned_.size() && owned_[piece] && owner_[piece] == peer;
}

} // namespace p2p::swarm
