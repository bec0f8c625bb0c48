#include "dht/peer_store.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "crypto/random.hpp"

namespace p2p::dht {

namespace {

constexpr std::size_t kMallocOverhead = 16;                // glibc: an 8-byte header, sizes rounded up to 16
constexpr std::size_t kTreeNodeHeader = 4 * sizeof(void*); // libstdc++'s red-black node: colour, 3 pointers

template <class P>
bool same_ip(const P& p, const Endpoint& e) {
    return std::memcmp(p.ip.data(), e.ip.data(), p.ip.size()) == 0;
}

template <class P>
Endpoint endpoint_of(const P& p) {
    Endpoint e;
    e.v6 = p.ip.size() == 16;
    std::memcpy(e.ip.data(), p.ip.data(), p.ip.size());
    e.port = p.port;
    return e;
}

template <class P>
std::size_t vector_bytes(const std::vector<P>& v) {
    return v.capacity() == 0 ? 0 : v.capacity() * sizeof(P) + kMallocOverhead;
}

// A vector whose capacity is more than twice its size (and more than a few entries) gives the rest back.
template <class P>
void trim_capacity(std::vector<P>& v) {
    if (v.capacity() > 4 && v.capacity() > 2 * v.size()) v.shrink_to_fit();
}

} // namespace

PeerStore::PeerStore(PeerStoreConfig cfg) : cfg_(cfg) {
    if (cfg_.max_per_ip == 0) cfg_.max_per_ip = 1;
    random_bytes(salt_key_.data(), salt_key_.size());
}

std::uint32_t PeerStore::stamp(TimeMs now) {
    const TimeMs s = now / 1000 + (now % 1000 != 0); // rounded up: a peer never expires early
    return s > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                         : static_cast<std::uint32_t>(s);
}

bool PeerStore::live(std::uint32_t seen_s, TimeMs now) const {
    return now < static_cast<TimeMs>(seen_s) * 1000 + cfg_.peer_ttl;
}

void PeerStore::erase_torrent(Map::iterator it) {
    const Torrent& t = it->second;
    by_size_.erase(Rank{t.size(), t.salt, it->first});
    peers_ -= t.size();
    torrents_.erase(it);
}

void PeerStore::resize_rank(Map::iterator it, std::size_t old_size) {
    const Torrent& t = it->second;
    if (t.size() == old_size) return;
    by_size_.erase(Rank{old_size, t.salt, it->first});
    by_size_.emplace(t.size(), t.salt, it->first);
}

bool PeerStore::evict_oldest(Torrent& t, const Endpoint* ip) {
    // The least recently announced peer, over both families (or over one IP's entries).
    std::uint32_t oldest = std::numeric_limits<std::uint32_t>::max();
    int family = -1;
    std::size_t at = 0;
    auto scan = [&](const auto& v, int fam) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (ip && !same_ip(v[i], *ip)) continue;
            if (family < 0 || v[i].seen_s < oldest) oldest = v[i].seen_s, family = fam, at = i;
        }
    };
    if (!ip || !ip->v6) scan(t.v4, 4);
    if (!ip || ip->v6) scan(t.v6, 6);
    if (family < 0) return false;
    auto remove = [&](auto& v) { // order does not matter: swap with the last
        v[at] = v.back();
        v.pop_back();
    };
    if (family == 4)
        remove(t.v4);
    else
        remove(t.v6);
    --peers_;
    return true;
}

void PeerStore::announce(const NodeId& info_hash, const Endpoint& peer, bool seed, TimeMs now) {
    if (cfg_.max_torrents == 0 || cfg_.max_peers_per_torrent == 0) return;
    auto it = torrents_.find(info_hash);
    if (it == torrents_.end()) {
        if (torrents_.size() >= cfg_.max_torrents) {
            const auto& [size, salt, victim] = *by_size_.begin();
            if (size > cfg_.replaceable_peers) return; // the smallest is worth more than one new announce
            erase_torrent(torrents_.find(victim));
        }
        it = torrents_.emplace(info_hash, Torrent{}).first;
        it->second.salt = short_mac(salt_key_.data(), info_hash.view());
        by_size_.emplace(0, it->second.salt, info_hash);
    }
    Torrent& t = it->second;
    const std::size_t old_size = t.size();
    const std::uint32_t seen = stamp(now);

    auto upsert = [&](auto& v) {
        std::size_t same = 0; // entries of this IP
        for (auto& p : v) {
            if (!same_ip(p, peer)) continue;
            if (p.port == peer.port) {
                p.seen_s = seen; // refresh
                p.seed = seed;
                return;
            }
            ++same;
        }
        if (same >= cfg_.max_per_ip) evict_oldest(t, &peer); // the IP's own oldest makes room
        if (t.size() >= cfg_.max_peers_per_torrent) evict_oldest(t, nullptr);
        auto& p = v.emplace_back();
        std::memcpy(p.ip.data(), peer.ip.data(), p.ip.size());
        p.port = peer.port;
        p.seed = seed ? 1 : 0;
        p.seen_s = seen;
        ++peers_;
    };
    if (peer.v6)
        upsert(t.v6);
    else
        upsert(t.v4);
    resize_rank(it, old_size);
}

std::vector<Endpoint> PeerStore::get(const NodeId& info_hash, std::size_t max, bool v6, TimeMs now) {
    std::vector<Endpoint> out;
    const auto it = torrents_.find(info_hash);
    if (it == torrents_.end() || max == 0) return out;
    auto sample = [&](const auto& v) {
        std::vector<std::uint32_t> idx; // the live ones
        idx.reserve(v.size());
        for (std::size_t i = 0; i < v.size(); ++i)
            if (live(v[i].seen_s, now)) idx.push_back(static_cast<std::uint32_t>(i));
        const std::size_t k = std::min(max, idx.size());
        // The first k steps of a Fisher-Yates shuffle: a uniform sample without repetition. Modulo bias is below
        // 2^-20 for the few hundred entries a torrent holds.
        if (k < idx.size()) {
            for (std::size_t i = 0; i < k; ++i) {
                const std::size_t j = i + random_u32() % (idx.size() - i);
                std::swap(idx[i], idx[j]);
            }
        }
        out.reserve(k);
        for (std::size_t i = 0; i < k; ++i) out.push_back(endpoint_of(v[idx[i]]));
    };
    if (v6)
        sample(it->second.v6);
    else
        sample(it->second.v4);
    return out;
}

void PeerStore::expire(TimeMs now) {
    for (auto it = torrents_.begin(); it != torrents_.end();) {
        Torrent& t = it->second;
        const std::size_t old_size = t.size();
        auto dead = [&](const auto& p) { return !live(p.seen_s, now); };
        std::erase_if(t.v4, dead);
        std::erase_if(t.v6, dead);
        trim_capacity(t.v4);
        trim_capacity(t.v6);
        if (t.size() == old_size) {
            ++it;
            continue;
        }
        peers_ -= old_size - t.size();
        if (t.size() == 0) {
            by_size_.erase(Rank{old_size, t.salt, it->first});
            it = torrents_.erase(it);
            continue;
        }
        resize_rank(it, old_size);
        ++it;
    }
}

void PeerStore::trim_torrent(Map::iterator it, std::size_t max_peers) {
    Torrent& t = it->second;
    const std::size_t old_size = t.size();
    if (old_size <= max_peers) return;
    // Keep the max_peers most recently announced: find the cut by sorting the stamps, not by evicting one at a time.
    struct Ref {
        std::uint32_t seen_s;
        bool v6;
        std::uint32_t at;
    };
    std::vector<Ref> refs;
    refs.reserve(old_size);
    for (std::size_t i = 0; i < t.v4.size(); ++i)
        refs.push_back({t.v4[i].seen_s, false, static_cast<std::uint32_t>(i)});
    for (std::size_t i = 0; i < t.v6.size(); ++i) refs.push_back({t.v6[i].seen_s, true, static_cast<std::uint32_t>(i)});
    std::nth_element(refs.begin(), refs.begin() + static_cast<std::ptrdiff_t>(max_peers), refs.end(),
                     [](const Ref& a, const Ref& b) { return a.seen_s > b.seen_s; });
    refs.resize(max_peers);
    std::vector<Peer4> v4;
    std::vector<Peer6> v6;
    for (const Ref& r : refs) {
        if (r.v6)
            v6.push_back(t.v6[r.at]);
        else
            v4.push_back(t.v4[r.at]);
    }
    t.v4 = std::move(v4);
    t.v6 = std::move(v6);
    peers_ -= old_size - t.size();
    resize_rank(it, old_size);
}

void PeerStore::set_limits(std::size_t max_torrents, std::size_t max_peers_per_torrent) {
    cfg_.max_torrents = max_torrents;
    cfg_.max_peers_per_torrent = max_peers_per_torrent;
    while (torrents_.size() > max_torrents) erase_torrent(torrents_.find(std::get<2>(*by_size_.begin())));
    for (auto it = torrents_.begin(); it != torrents_.end();) {
        if (max_peers_per_torrent == 0) {
            erase_torrent(it++);
            continue;
        }
        trim_torrent(it, max_peers_per_torrent);
        ++it;
    }
}

std::size_t PeerStore::memory_bytes() const {
    const std::size_t map_node = kTreeNodeHeader + sizeof(Map::value_type) + kMallocOverhead;
    const std::size_t set_node = kTreeNodeHeader + sizeof(Rank) + kMallocOverhead;
    std::size_t n = sizeof(*this) + torrents_.size() * (map_node + set_node);
    for (const auto& [id, t] : torrents_) n += vector_bytes(t.v4) + vector_bytes(t.v6);
    return n;
}

} // namespace p2p::dht
