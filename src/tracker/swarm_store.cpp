#include "tracker/swarm_store.hpp"

#include <algorithm>
#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/random.hpp"

namespace p2p {
namespace {

// Orders peers by family first so each family is one contiguous range, then address, then port.
bool peer_less(const PeerEntry& a, const PeerEntry& b) {
    if (a.v6 != b.v6) return a.v6 < b.v6;
    int c = std::memcmp(a.ip.data(), b.ip.data(), 16);
    if (c) return c < 0;
    return a.port < b.port;
}
bool same_peer(const PeerEntry& a, const PeerEntry& b) {
    return a.v6 == b.v6 && a.port == b.port && a.ip == b.ip;
}

std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

} // namespace

std::size_t Hash20Hasher::operator()(const Hash20& h) const noexcept {
    // Multiply-fold of all 20 bytes under a secret key (a wyhash-style mix): a few cycles, and colliding
    // hashes cannot be chosen without the key.
    std::uint32_t tail;
    std::memcpy(&tail, h.b.data() + 16, 4);
    __extension__ typedef unsigned __int128 u128; // GCC/Clang; __extension__ keeps -Wpedantic quiet
    u128 m = static_cast<u128>(load64(h.b.data()) ^ k0) *
                          (load64(h.b.data() + 8) ^ k1 ^ (std::uint64_t{tail} << 17));
    return static_cast<std::size_t>(static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64));
}

std::size_t SwarmStore::max_reply_peers(bool v6) {
    std::size_t psize = v6 ? udp::kPeerSizeV6 : udp::kPeerSizeV4;
    return std::min(kMaxNumWant, (udp::kMaxReplySize - udp::kAnnounceResponseHeaderSize) / psize);
}

SwarmStore::SwarmStore(SwarmLimits limits) : limits_(limits) {
    Hash20Hasher hasher;
    random_bytes(&hasher.k0, sizeof hasher.k0);
    random_bytes(&hasher.k1, sizeof hasher.k1);
    swarms_ = decltype(swarms_)(16, hasher);
    random_bytes(&rng_, sizeof rng_);
    rng_ |= 1; // xorshift state must not be zero
}

std::uint64_t SwarmStore::next_random() {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
}

void SwarmStore::note_cap(const char* what, std::uint32_t now) {
    ++capped_;
    // One line per minute at most: a flood must not turn into a flood of log lines.
    if (last_cap_log_ != 0 && now - last_cap_log_ < 60) return;
    last_cap_log_ = now ? now : 1;
    log_warn("tracker", std::string(what) + " (swarms " + std::to_string(swarms_.size()) + "/" +
                            std::to_string(limits_.max_swarms) + ", peers " + std::to_string(peers_) + "/" +
                            std::to_string(limits_.max_peers) + ", refused so far " + std::to_string(capped_) + ")");
}

bool SwarmStore::evict_swarms(std::uint32_t now) {
    std::size_t before = swarms_.size();
    // Empty swarms first: they cost a slot and tell nobody anything.
    for (auto it = swarms_.begin(); it != swarms_.end();) {
        if (it->second.peers.empty()) it = swarms_.erase(it);
        else ++it;
    }
    if (swarms_.size() < before) return true;
    // Then the least recently active 1/64 (at least one), in one pass, so a flood of new hashes at the cap
    // costs one scan per batch rather than one per announce.
    std::vector<std::pair<std::uint32_t, Hash20>> ages;
    ages.reserve(swarms_.size());
    for (const auto& [h, s] : swarms_) ages.emplace_back(s.last_activity, h);
    if (ages.empty()) return false;
    std::size_t n = std::max<std::size_t>(1, ages.size() / 64);
    std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(n - 1), ages.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < n; ++i) {
        auto it = swarms_.find(ages[i].second);
        peers_ -= it->second.peers.size();
        swarms_.erase(it);
    }
    note_cap("swarm cap reached: evicted the least recently active swarms", now);
    return true;
}

Swarm* SwarmStore::get_or_create(const Hash20& h, std::uint32_t now) {
    auto it = swarms_.find(h);
    if (it != swarms_.end()) return &it->second;
    if (limits_.max_swarms == 0) return nullptr;
    if (swarms_.size() >= limits_.max_swarms && !evict_swarms(now)) return nullptr;
    Swarm& s = swarms_[h];
    s.last_activity = now;
    return &s;
}

AnnounceCounts SwarmStore::announce(const AnnounceInput& in, std::uint32_t now, std::string& out) {
    PeerEntry me;
    me.v6 = in.peer.v6;
    std::memcpy(me.ip.data(), in.peer.ip.data(), in.peer.v6 ? 16 : 4);
    me.port = in.peer.port;
    me.seeder = in.seeder;
    me.last_seen = now;

    Swarm* s;
    if (in.event == udp::kEventStopped) {
        auto it = swarms_.find(in.info_hash);
        if (it == swarms_.end()) return {};
        s = &it->second;
    } else {
        s = get_or_create(in.info_hash, now);
        if (!s) {
            note_cap("swarm cap reached: announce for a new swarm refused", now);
            return {};
        }
    }
    s->last_activity = now;

    auto pos = std::lower_bound(s->peers.begin(), s->peers.end(), me, peer_less);
    bool known = pos != s->peers.end() && same_peer(*pos, me);
    if (known) {
        PeerEntry& p = *pos;
        (p.seeder ? s->seeders : s->leechers)--;
        if (in.event == udp::kEventStopped) {
            s->peers.erase(pos);
            --peers_;
        } else {
            if (in.event == udp::kEventCompleted && !p.seeder) ++s->downloaded;
            p.seeder = me.seeder || in.event == udp::kEventCompleted;
            p.last_seen = now;
            (p.seeder ? s->seeders : s->leechers)++;
        }
    } else if (in.event != udp::kEventStopped && me.port != 0) { // port 0: nobody can connect; answer, don't store
        if (in.event == udp::kEventCompleted) ++s->downloaded;
        if (peers_ >= limits_.max_peers) {
            note_cap("peer cap reached: new peer not stored", now);
        } else {
            me.seeder = me.seeder || in.event == udp::kEventCompleted;
            s->peers.insert(pos, me);
            ++peers_;
            (me.seeder ? s->seeders : s->leechers)++;
        }
    }

    AnnounceCounts c{s->seeders, s->leechers, 0};
    if (in.event != udp::kEventStopped) {
        std::size_t cap = max_reply_peers(me.v6);
        std::size_t want = in.num_want < 0 ? kDefaultNumWant : static_cast<std::size_t>(in.num_want);
        c.peers_written = select_peers(*s, me, std::min(want, cap), out);
    }
    return c;
}

std::size_t SwarmStore::select_peers(const Swarm& s, const PeerEntry& asker, std::size_t want, std::string& out) {
    if (want == 0) return 0;
    // The asker's family range: IPv4 entries sort before IPv6 ones.
    auto first_v6 = std::partition_point(s.peers.begin(), s.peers.end(), [](const PeerEntry& p) { return !p.v6; });
    auto lo = asker.v6 ? first_v6 : s.peers.begin();
    auto hi = asker.v6 ? s.peers.end() : first_v6;
    std::size_t n = static_cast<std::size_t>(hi - lo);
    std::size_t ip_len = asker.v6 ? 16 : 4;
    std::size_t written = 0;
    auto emit = [&](const PeerEntry& p) {
        if (same_peer(p, asker)) return;
        out.append(reinterpret_cast<const char*>(p.ip.data()), ip_len);
        put_be16(out, p.port);
        ++written;
    };
    if (n <= want + 1) {
        for (auto it = lo; it != hi && written < want; ++it) emit(*it);
        return written;
    }
    // Stratified sample: split the range into `want` buckets and take one random peer from each, so every
    // peer is equally likely and the reply is spread over the whole range. O(want), no allocation.
    for (std::size_t i = 0; i < want; ++i) {
        std::size_t b0 = i * n / want, b1 = (i + 1) * n / want;
        std::size_t idx = b0 + static_cast<std::size_t>(next_random() % (b1 - b0));
        if (same_peer(lo[static_cast<std::ptrdiff_t>(idx)], asker)) {
            if (b1 - b0 < 2) continue;
            idx = idx + 1 < b1 ? idx + 1 : b0;
        }
        emit(lo[static_cast<std::ptrdiff_t>(idx)]);
    }
    return written;
}

udp::ScrapeEntry SwarmStore::scrape(const Hash20& h) const {
    auto it = swarms_.find(h);
    if (it == swarms_.end()) return {};
    return {it->second.seeders, it->second.downloaded, it->second.leechers};
}

std::size_t SwarmStore::expire(std::uint32_t now) {
    std::size_t dropped = 0;
    auto stale = [&](std::uint32_t t) { return now > t && now - t > limits_.peer_ttl_s; };
    for (auto it = swarms_.begin(); it != swarms_.end();) {
        Swarm& s = it->second;
        auto keep_end = std::remove_if(s.peers.begin(), s.peers.end(), [&](const PeerEntry& p) {
            if (!stale(p.last_seen)) return false;
            (p.seeder ? s.seeders : s.leechers)--;
            return true;
        });
        std::size_t n = static_cast<std::size_t>(s.peers.end() - keep_end);
        s.peers.erase(keep_end, s.peers.end());
        dropped += n;
        peers_ -= n;
        if (s.peers.empty() && stale(s.last_activity)) it = swarms_.erase(it);
        else {
            if (s.peers.capacity() > 64 && s.peers.size() < s.peers.capacity() / 4) s.peers.shrink_to_fit();
            ++it;
        }
    }
    return dropped;
}

const Swarm* SwarmStore::find(const Hash20& h) const {
    auto it = swarms_.find(h);
    return it == swarms_.end() ? nullptr : &it->second;
}

void SwarmStore::for_each(const std::function<void(const Hash20&, const Swarm&)>& fn) const {
    for (const auto& [h, s] : swarms_) fn(h, s);
}

void SwarmStore::restore(const Hash20& h, std::uint32_t downloaded, std::vector<PeerEntry> peers, std::uint32_t now) {
    Swarm* s = get_or_create(h, now);
    if (!s) return;
    std::sort(peers.begin(), peers.end(), peer_less);
    peers.erase(std::unique(peers.begin(), peers.end(), same_peer), peers.end());
    std::size_t room = limits_.max_peers > peers_ ? limits_.max_peers - peers_ : 0;
    if (peers.size() > room) peers.resize(room);
    peers_ -= s->peers.size();
    s->peers = std::move(peers);
    peers_ += s->peers.size();
    s->downloaded = downloaded;
    s->seeders = s->leechers = 0;
    s->last_activity = 0;
    for (const auto& p : s->peers) {
        (p.seeder ? s->seeders : s->leechers)++;
        s->last_activity = std::max(s->last_activity, p.last_seen);
    }
    if (s->peers.empty()) s->last_activity = now;
}

void SwarmStore::clear() {
    swarms_.clear();
    peers_ = 0;
}

} // namespace p2p
