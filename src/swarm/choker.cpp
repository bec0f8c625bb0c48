#include "swarm/choker.hpp"

#include <algorithm>

#include "swarm/splitmix.hpp"

namespace p2p::swarm {

Choker::Choker(ChokerOptions options) : opt_(options), rng_state_(options.seed) {
    if (opt_.optimistic_every == 0) opt_.optimistic_every = 1;
    if (opt_.new_peer_weight == 0) opt_.new_peer_weight = 1;
}

std::uint64_t Choker::next_random() { return splitmix64(rng_state_); }

// Regular slots: rank the non-snubbed peers (by the rate they give us, or take from us when seeding; unchoked
// first on a tie, then the longest connected), walk down the ranking until regular_slots interested peers are
// in; uninterested ones above the cut ride along (BEP 3). Returns membership by peer index.
std::vector<bool> Choker::choose_regular(std::span<const ChokePeer> peers, bool seeding, std::uint32_t regular_slots,
                                         ChokeDecision& out) {
    order_.clear();
    for (std::uint32_t i = 0; i < peers.size(); ++i)
        if (!peers[i].snubbed) order_.push_back(i);
    auto rate = [&](const ChokePeer& p) { return seeding ? p.upload_rate : p.download_rate; };
    std::sort(order_.begin(), order_.end(), [&](std::uint32_t x, std::uint32_t y) {
        const ChokePeer& a = peers[x];
        const ChokePeer& b = peers[y];
        if (rate(a) != rate(b)) return rate(a) > rate(b);
        if (a.choked != b.choked) return !a.choked;
        if (a.connected_at_ms != b.connected_at_ms) return a.connected_at_ms < b.connected_at_ms;
        return a.token < b.token;
    });
    std::vector<bool> regular(peers.size(), false);
    std::uint32_t filled = 0, idle_riders = 0;
    for (std::uint32_t i : order_) {
        if (filled == regular_slots) break;
        const bool idle = peers[i].interested && peers[i].idle;
        if (idle && idle_riders == opt_.upload_slots) continue;
        regular[i] = true;
        out.unchoke.push_back(peers[i].token);
        if (idle)
            ++idle_riders;
        else if (peers[i].interested)
            ++filled;
    }
    return regular;
}

// The optimistic slot: a weighted draw (new peers weigh more) among interested peers outside the regular set,
// the current optimistic excluded when anyone else qualifies (so the slot actually rotates).
void Choker::draw_optimistic(std::span<const ChokePeer> peers, const std::vector<bool>& regular, std::int64_t now_ms) {
    std::uint64_t total = 0;
    std::size_t candidates = 0;
    bool current_is_candidate = false;
    auto eligible = [&](std::uint32_t i) { return peers[i].interested && !regular[i]; };
    auto weight = [&](const ChokePeer& p) -> std::uint64_t {
        return now_ms - p.connected_at_ms < opt_.new_peer_ms ? opt_.new_peer_weight : 1;
    };
    for (std::uint32_t i = 0; i < peers.size(); ++i) {
        if (!eligible(i)) continue;
        ++candidates;
        if (has_optimistic_ && peers[i].token == optimistic_) current_is_candidate = true;
    }
    const bool exclude_current = current_is_candidate && candidates > 1;
    auto drawable = [&](std::uint32_t i) { return eligible(i) && !(exclude_current && peers[i].token == optimistic_); };
    for (std::uint32_t i = 0; i < peers.size(); ++i)
        if (drawable(i)) total += weight(peers[i]);
    has_optimistic_ = false;
    if (total == 0) return;
    std::uint64_t pick = next_random() % total;
    for (std::uint32_t i = 0; i < peers.size(); ++i) {
        if (!drawable(i)) continue;
        const std::uint64_t w = weight(peers[i]);
        if (pick < w) {
            optimistic_ = peers[i].token;
            has_optimistic_ = true;
            optimistic_since_ = rounds_;
            return;
        }
        pick -= w;
    }
}

ChokeDecision Choker::rechoke(std::span<const ChokePeer> peers, bool seeding, std::int64_t now_ms) {
    ++rounds_;
    ChokeDecision out;
    if (opt_.upload_slots < 2) { // one slot (or none): regular only, no optimistic unchoke
        if (opt_.upload_slots == 1) choose_regular(peers, seeding, 1, out);
        has_optimistic_ = false;
        return out;
    }
    const std::vector<bool> regular = choose_regular(peers, seeding, opt_.upload_slots - 1, out);
    // Keep the optimistic peer while it is still here, interested, not regular and its period has not run out.
    bool keep = false;
    if (has_optimistic_ && rounds_ - optimistic_since_ < opt_.optimistic_every) {
        for (std::uint32_t i = 0; i < peers.size(); ++i)
            if (peers[i].token == optimistic_) {
                keep = peers[i].interested && !regular[i];
                break;
            }
    }
    if (!keep) draw_optimistic(peers, regular, now_ms);
    if (has_optimistic_) {
        out.unchoke.push_back(optimistic_);
        out.optimistic = optimistic_;
        out.has_optimistic = true;
    }
    return out;
}

std::uint32_t pipeline_depth(double download_rate_bytes_per_s, double rtt_seconds, std::uint32_t peer_reqq) {
    constexpr double kBlock = 16 * 1024; // BEP 3 request size
    constexpr std::uint32_t kMin = 4, kMax = 250;
    const std::uint32_t hi = std::max<std::uint32_t>(1, std::min(kMax, peer_reqq));
    const std::uint32_t lo = std::min(kMin, hi);
    // NaN and negatives count as 0 (the comparisons are false for NaN).
    const double rate = download_rate_bytes_per_s > 0 ? download_rate_bytes_per_s : 0;
    const double rtt = rtt_seconds > 0 ? rtt_seconds : 0;
    const double exact = rate * std::max(1.0, 2 * rtt) / kBlock;
    if (!(exact < hi)) return hi; // also catches +inf
    // Rounded up by hand: std::ceil would pull in libm, 0.3 MiB of resident pages for one call (docs/memory-bench.md).
    auto want = static_cast<std::uint32_t>(exact);
    if (want < exact) ++want;
    return std::max(lo, want);
}

} // namespace p2p::swarm
