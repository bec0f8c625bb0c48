#include "dht/rate_limiter.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "crypto/random.hpp"

namespace p2p::dht {

namespace {
constexpr std::size_t kMallocOverhead = 16; // glibc: an 8-byte header, sizes rounded up to 16
constexpr std::size_t kListNodeBytes = 2 * sizeof(void*);
// libstdc++'s unordered_map node: next pointer, the value, the cached hash (kept for hashers not marked "fast").
constexpr std::size_t kIndexNodeExtraBytes = 2 * sizeof(void*);
} // namespace

std::size_t RateLimiter::KeyHash::operator()(const Key& k) const {
    unsigned char buf[19];
    std::memcpy(buf, k.ip.data(), 16);
    buf[16] = k.v6 ? 1 : 0;
    buf[17] = static_cast<unsigned char>(k.port >> 8);
    buf[18] = static_cast<unsigned char>(k.port);
    return static_cast<std::size_t>(short_mac(secret.data(), std::string_view(reinterpret_cast<char*>(buf), 19)));
}

RateLimiter::Key RateLimiter::key_of(const Endpoint& e) {
    Key k;
    k.v6 = e.v6;
    std::memcpy(k.ip.data(), e.ip.data(), e.v6 ? 16 : 4); // the tail of an IPv4 address stays zero
    if (is_loopback(e)) k.port = e.port;
    return k;
}

RateLimiter::KeyHash RateLimiter::random_hash() {
    KeyHash h;
    random_bytes(h.secret.data(), h.secret.size());
    return h;
}

RateLimiter::RateLimiter(RateLimitConfig cfg) : cfg_(cfg), index_(16, random_hash()) {
    if (cfg_.max_tracked == 0) cfg_.max_tracked = 1;
    if (cfg_.max_packets == 0) cfg_.max_packets = 1;
}

bool RateLimiter::allow(const Endpoint& from, TimeMs now) {
    last_now_ = std::max(last_now_, now);
    const Key key = key_of(from);
    auto found = index_.find(key);
    List::iterator it;
    if (found == index_.end()) {
        if (entries_.size() >= cfg_.max_tracked) {
            // Reuse the least recently seen entry: move its index node to the new key, its list node to the front.
            it = std::prev(entries_.end());
            auto node = index_.extract(it->key);
            node.key() = key;
            entries_.splice(entries_.begin(), entries_, it);
            index_.insert(std::move(node));
        } else {
            entries_.push_front(Entry{});
            it = entries_.begin();
            index_.emplace(key, it);
        }
        *it = Entry{};
        it->key = key;
        it->window_start = now;
    } else {
        it = found->second;
        entries_.splice(entries_.begin(), entries_, it); // seen now, blocked or not
        if (now < it->blocked_until) return false;
        if (it->blocked_until != 0 || now < it->window_start || now - it->window_start >= cfg_.window) {
            // The block is over, or the window ran out (or the clock went back): this packet opens a new window.
            it->blocked_until = 0;
            it->window_start = now;
            it->count = 0;
        }
    }
    if (++it->count >= cfg_.max_packets) {
        it->blocked_until = now + cfg_.block_for;
        return false;
    }
    return true;
}

std::size_t RateLimiter::blocked() const {
    return static_cast<std::size_t>(
        std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return last_now_ < e.blocked_until; }));
}

std::size_t RateLimiter::memory_bytes() const {
    const std::size_t list_node = kListNodeBytes + sizeof(Entry) + kMallocOverhead;
    const std::size_t index_node =
        kIndexNodeExtraBytes + sizeof(std::pair<const Key, List::iterator>) + kMallocOverhead;
    return sizeof(*this) + entries_.size() * (list_node + index_node) + index_.bucket_count() * sizeof(void*);
}

std::size_t max_reply_bytes(std::size_t query_bytes, bool querier_verified) {
    if (querier_verified) return kMaxReplyBytes;
    const std::size_t scaled = query_bytes > kMaxReplyBytes ? kMaxReplyBytes : query_bytes * kAmplification;
    return std::min(kMaxReplyBytes, std::max(kUnverifiedReplyFloor, scaled));
}

} // namespace p2p::dht
