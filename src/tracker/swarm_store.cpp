#include "tracker/swarm_store.hpp"

#include <algorithm>
#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/random.hpp"

namespace p2p {
namespace {

constexpr std::uint16_t kSeederBit = 0x8000;

std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

// Orders peers by family first (IPv4 before IPv6), then address, then port: the order of find()'s copies and
// of restore()'s input, the same order each family's stored array keeps.
bool entry_less(const PeerEntry& a, const PeerEntry& b) {
    if (a.v6 != b.v6) return a.v6 < b.v6;
    int c = std::memcmp(a.ip.data(), b.ip.data(), 16);
    if (c) return c < 0;
    return a.port < b.port;
}
bool same_entry(const PeerEntry& a, const PeerEntry& b) { return a.v6 == b.v6 && a.port == b.port && a.ip == b.ip; }

template <class P>
bool peer_less(const P& a, const P& b) {
    int c = std::memcmp(a.ip, b.ip, sizeof a.ip);
    if (c) return c < 0;
    return a.port < b.port;
}
template <class P>
bool same_peer(const P& a, const P& b) {
    return a.port == b.port && std::memcmp(a.ip, b.ip, sizeof a.ip) == 0;
}
template <class P>
P make_peer(const std::uint8_t* ip, std::uint16_t port) {
    P p;
    std::memcpy(p.ip, ip, sizeof p.ip);
    p.port = port;
    p.meta = 0;
    return p;
}

} // namespace

// --- StampCodec, PeerArray ---

unsigned StampCodec::shift_for_ttl(std::uint32_t ttl_s) {
    unsigned s = 0;
    while (s < 17 && (std::uint64_t{1} << (kBits + s)) / 4 <= std::uint64_t{ttl_s} + (std::uint64_t{1} << s)) ++s;
    return s;
}

template <class P>
std::uint32_t PeerArray<P>::fit(std::uint32_t n) {
    std::size_t bytes = std::max<std::size_t>(24, std::size_t{n} * sizeof(P));
    std::size_t chunk = (bytes + 8 + 15) & ~std::size_t{15};
    return static_cast<std::uint32_t>((chunk - 8) / sizeof(P));
}

template <class P>
bool PeerArray<P>::reallocate(std::uint32_t cap) {
    if (cap == 0) {
        std::free(p_);
        p_ = nullptr;
        cap_ = 0;
        return true;
    }
    // P is trivially copyable: realloc may grow in place and otherwise moves the bytes for us.
    void* q = std::realloc(p_, std::size_t{cap} * sizeof(P));
    if (!q) return false;
    p_ = static_cast<P*>(q);
    cap_ = cap;
    return true;
}

template <class P>
bool PeerArray<P>::insert(std::uint32_t i, const P& v) {
    // ~1.25x growth: a few more reallocs than doubling, a quarter of the slack.
    if (n_ == cap_ && (n_ == 0xffffffffu || !reallocate(fit(n_ + std::max<std::uint32_t>(1, n_ / 4))))) return false;
    std::memmove(p_ + i + 1, p_ + i, std::size_t{n_ - i} * sizeof(P));
    p_[i] = v;
    ++n_;
    return true;
}

template <class P>
void PeerArray<P>::erase(std::uint32_t i) {
    std::memmove(p_ + i, p_ + i + 1, std::size_t{n_ - i - 1} * sizeof(P));
    truncate(n_ - 1);
}

template <class P>
void PeerArray<P>::truncate(std::uint32_t n) {
    n_ = n;
    if (n_ == 0)
        reallocate(0);
    else if (n_ < cap_ / 4)
        reallocate(fit(n_ + n_ / 4)); // a failed shrink keeps the old block
}

template <class P>
bool PeerArray<P>::assign(const P* src, std::uint32_t n) {
    n_ = 0;
    if (!reallocate(n ? fit(n) : 0)) return false;
    if (n) std::memcpy(p_, src, std::size_t{n} * sizeof(P));
    n_ = n;
    return true;
}

template class PeerArray<Peer4>;
template class PeerArray<Peer6>;

// --- SwarmStore ---

std::size_t Hash20Hasher::operator()(const Hash20& h) const noexcept {
    // Multiply-fold of all 20 bytes under a secret key (a wyhash-style mix): a few cycles, and colliding
    // hashes cannot be chosen without the key.
    std::uint32_t tail;
    std::memcpy(&tail, h.b.data() + 16, 4);
    const std::uint64_t a = load64(h.b.data()) ^ k0, b = load64(h.b.data() + 8) ^ k1 ^ (std::uint64_t{tail} << 17);
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128; // GCC/Clang; __extension__ keeps -Wpedantic quiet
    u128 m = static_cast<u128>(a) * b;
    return static_cast<std::size_t>(static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64));
#else
    // 32-bit targets (armhf) have no 128-bit integer: the same 64x64 -> 128-bit product from 32-bit halves.
    const std::uint64_t lo32 = 0xffffffffu, p00 = (a & lo32) * (b & lo32), p01 = (a & lo32) * (b >> 32),
                        p10 = (a >> 32) * (b & lo32), p11 = (a >> 32) * (b >> 32);
    const std::uint64_t mid = (p00 >> 32) + (p01 & lo32) + (p10 & lo32);
    const std::uint64_t lo = (p00 & lo32) | (mid << 32), hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return static_cast<std::size_t>(lo ^ hi);
#endif
}

std::size_t SwarmStore::max_reply_peers(bool v6) {
    std::size_t psize = v6 ? udp::kPeerSizeV6 : udp::kPeerSizeV4;
    return std::min(kMaxNumWant, (udp::kMaxReplySize - udp::kAnnounceResponseHeaderSize) / psize);
}

SwarmStore::SwarmStore(SwarmLimits limits) : limits_(limits) {
    random_bytes(&hasher_.k0, sizeof hasher_.k0);
    random_bytes(&hasher_.k1, sizeof hasher_.k1);
    slots_.assign(16, Slot{});
    codec_.shift = StampCodec::shift_for_ttl(limits_.peer_ttl_s);
    random_bytes(&rng_, sizeof rng_);
    rng_ |= 1; // xorshift state must not be zero
}

void SwarmStore::set_peer_ttl(std::uint32_t s) {
    StampCodec next{StampCodec::shift_for_ttl(s)};
    if (next.shift != codec_.shift) {
        // Re-encode the stored stamps in the new unit (start-up only, in practice).
        auto recode = [&](auto& arr) {
            for (auto& p : arr) {
                std::uint32_t t = codec_.decode(p.meta & StampCodec::kMask, clock_);
                // A narrower window: pin what it cannot hold a quarter window back (past the TTL: stale).
                if (clock_ - t > next.window() / 4) t = static_cast<std::uint32_t>(clock_ - next.window() / 4);
                p.meta = static_cast<std::uint16_t>((p.meta & kSeederBit) | next.encode(t));
            }
        };
        for (auto& r : recs_) {
            recode(r.v4);
            recode(r.v6);
        }
        codec_ = next;
    }
    limits_.peer_ttl_s = s;
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
    log_warn("tracker", std::string(what) + " (swarms " + std::to_string(recs_.size()) + "/" +
                            std::to_string(limits_.max_swarms) + ", peers " + std::to_string(peers_) + "/" +
                            std::to_string(limits_.max_peers) + ", refused so far " + std::to_string(capped_) + ")");
}

void SwarmStore::advance_clock(std::uint32_t now) {
    if (now > clock_) clock_ = now;
}

void SwarmStore::tick(std::uint32_t now) {
    // Stamps wrap: make sure no stored one gets older than the window (the server's sweep normally does this).
    // expire() reads the stamps against the old clock, which they are all within a window of.
    if (std::max(now, clock_) - std::uint64_t{last_sweep_} >= codec_.window() / 2) expire(now);
    advance_clock(now);
}

std::uint16_t SwarmStore::stamp_at(std::uint32_t t) const {
    // Stamps must lie within the window behind clock_. A time past clock_ cannot occur (clock_ is the newest
    // seen); one far behind it (saved long ago, or the wall clock stepped back) is pinned a quarter window back,
    // which is past the TTL, so it reads as stale rather than wrapping into the future.
    std::uint64_t quarter = codec_.window() / 4;
    if (t > clock_) t = clock_;
    if (clock_ - t > quarter) t = static_cast<std::uint32_t>(clock_ - quarter);
    return codec_.encode(t);
}

// --- the swarm table ---

std::uint32_t SwarmStore::lookup(const Hash20& h, std::uint32_t tag) const {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t pos = tag & mask;; pos = (pos + 1) & mask) {
        const Slot& sl = slots_[pos];
        if (sl.idx1 == 0) return kNone;
        if (sl.tag == tag && recs_[sl.idx1 - 1].hash == h) return sl.idx1 - 1;
    }
}

std::size_t SwarmStore::slot_of(std::uint32_t tag, std::uint32_t idx) const {
    std::size_t mask = slots_.size() - 1;
    std::size_t pos = tag & mask;
    while (slots_[pos].idx1 != idx + 1) pos = (pos + 1) & mask; // the record is in the table
    return pos;
}

void SwarmStore::slot_insert(std::uint32_t tag, std::uint32_t idx) {
    std::size_t mask = slots_.size() - 1;
    std::size_t pos = tag & mask;
    while (slots_[pos].idx1 != 0) pos = (pos + 1) & mask;
    slots_[pos] = Slot{idx + 1, tag};
}

void SwarmStore::slot_remove(std::size_t hole) {
    // Backward-shift deletion: pull later entries of the probe run into the hole unless that would put one
    // before its home slot, so lookups never need tombstones.
    std::size_t mask = slots_.size() - 1;
    for (std::size_t j = hole;;) {
        j = (j + 1) & mask;
        if (slots_[j].idx1 == 0) break;
        std::size_t home = slots_[j].tag & mask;
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            slots_[hole] = slots_[j];
            hole = j;
        }
    }
    slots_[hole] = Slot{};
}

void SwarmStore::rebuild_slots(std::size_t n) {
    std::vector<Slot> next(n);
    std::size_t mask = n - 1;
    for (const Slot& sl : slots_) {
        if (sl.idx1 == 0) continue;
        std::size_t pos = sl.tag & mask;
        while (next[pos].idx1 != 0) pos = (pos + 1) & mask;
        next[pos] = sl;
    }
    slots_ = std::move(next);
}

void SwarmStore::erase_rec(std::uint32_t idx) {
    seeders_changed(recs_[idx].hash, recs_[idx].seeders, 0); // an evicted swarm with seeders
    peers_ -= recs_[idx].peer_count();
    slot_remove(slot_of(tag_of(recs_[idx].hash), idx));
    auto last = static_cast<std::uint32_t>(recs_.size() - 1);
    if (idx != last) {
        slots_[slot_of(tag_of(recs_[last].hash), last)].idx1 = idx + 1;
        recs_[idx] = std::move(recs_[last]);
    }
    recs_.pop_back();
}

bool SwarmStore::evict_swarms(std::uint32_t now) {
    std::size_t before = recs_.size();
    // Empty swarms first: they cost a slot and tell nobody anything. Backwards, since erasing moves the last
    // record (already visited) into the hole.
    for (auto i = static_cast<std::uint32_t>(recs_.size()); i-- > 0;)
        if (recs_[i].peer_count() == 0) erase_rec(i);
    if (recs_.size() < before) return true;
    // Then the least recently active 1/64 (at least one), in one pass, so a flood of new hashes at the cap
    // costs one scan per batch rather than one per announce.
    if (recs_.empty()) return false;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ages; // (last_activity, index)
    ages.reserve(recs_.size());
    for (std::uint32_t i = 0; i < recs_.size(); ++i) ages.emplace_back(recs_[i].last_activity, i);
    std::size_t n = std::max<std::size_t>(1, ages.size() / 64);
    std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(n - 1), ages.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    ages.resize(n);
    // Highest index first: each erase moves the last record, which is never one still to be erased.
    std::sort(ages.begin(), ages.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& a : ages) erase_rec(a.second);
    note_cap("swarm cap reached: evicted the least recently active swarms", now);
    return true;
}

std::uint32_t SwarmStore::get_or_create(const Hash20& h, std::uint32_t tag, std::uint32_t now) {
    std::uint32_t i = lookup(h, tag);
    if (i != kNone) return i;
    if (limits_.max_swarms == 0) return kNone;
    if (recs_.size() >= limits_.max_swarms && !evict_swarms(now)) return kNone;
    if (recs_.size() == recs_.capacity()) recs_.reserve(recs_.size() + recs_.size() / 2 + 16); // ~1.5x growth
    if ((recs_.size() + 1) * 4 > slots_.size() * 3) rebuild_slots(slots_.size() * 2);
    i = static_cast<std::uint32_t>(recs_.size());
    SwarmRec& s = recs_.emplace_back();
    s.hash = h;
    s.last_activity = now;
    slot_insert(tag, i);
    return i;
}

// --- announce, scrape, expire ---

AnnounceCounts SwarmStore::announce(const AnnounceInput& in, std::uint32_t now, std::string& out) {
    tick(now);

    std::uint32_t tag = tag_of(in.info_hash);
    std::uint32_t idx;
    if (in.event == udp::kEventStopped) {
        idx = lookup(in.info_hash, tag);
        if (idx == kNone) return {};
    } else {
        idx = get_or_create(in.info_hash, tag, now);
        if (idx == kNone) {
            note_cap("swarm cap reached: announce for a new swarm refused", now);
            return {};
        }
    }
    SwarmRec& s = recs_[idx];
    s.last_activity = now;

    bool v6 = in.peer.v6;
    Peer4 me4 = make_peer<Peer4>(in.peer.ip.data(), in.peer.port);
    Peer6 me6 = make_peer<Peer6>(in.peer.ip.data(), in.peer.port);
    const std::uint32_t seeders_before = s.seeders;
    if (v6)
        announce_in(s, s.v6, me6, in, now);
    else
        announce_in(s, s.v4, me4, in, now);
    seeders_changed(s.hash, seeders_before, s.seeders);

    AnnounceCounts c{s.seeders, s.peer_count() - s.seeders, 0};
    if (in.event != udp::kEventStopped) {
        std::size_t cap = max_reply_peers(v6);
        std::size_t want = in.num_want < 0 ? kDefaultNumWant : static_cast<std::size_t>(in.num_want);
        want = std::min(want, cap);
        c.peers_written = v6 ? select_peers(s.v6, me6, want, out) : select_peers(s.v4, me4, want, out);
    }
    return c;
}

template <class P>
void SwarmStore::announce_in(SwarmRec& s, PeerArray<P>& arr, const P& me, const AnnounceInput& in, std::uint32_t now) {
    const P* pos = std::lower_bound(arr.begin(), arr.end(), me, peer_less<P>);
    auto i = static_cast<std::uint32_t>(pos - arr.begin());
    bool completed = in.event == udp::kEventCompleted;
    if (i < arr.size() && same_peer(*pos, me)) {
        P& p = arr.begin()[i];
        bool was_seeder = p.meta & kSeederBit;
        if (was_seeder) --s.seeders;
        if (in.event == udp::kEventStopped) {
            arr.erase(i);
            --peers_;
        } else {
            if (completed && !was_seeder) ++s.downloaded;
            bool seeder = in.seeder || completed;
            p.meta = static_cast<std::uint16_t>(stamp_at(now) | (seeder ? kSeederBit : 0));
            if (seeder) ++s.seeders;
        }
    } else if (in.event != udp::kEventStopped && me.port != 0) { // port 0: nobody can connect; answer, don't store
        if (completed) ++s.downloaded;
        if (peers_ >= limits_.max_peers) {
            note_cap("peer cap reached: new peer not stored", now);
            return;
        }
        bool seeder = in.seeder || completed;
        P p = me;
        p.meta = static_cast<std::uint16_t>(stamp_at(now) | (seeder ? kSeederBit : 0));
        if (!arr.insert(i, p)) {
            note_cap("out of memory: new peer not stored", now);
            return;
        }
        ++peers_;
        if (seeder) ++s.seeders;
    }
}

template <class P>
std::size_t SwarmStore::select_peers(const PeerArray<P>& arr, const P& asker, std::size_t want, std::string& out) {
    if (want == 0) return 0;
    const P* lo = arr.begin();
    const P* hi = arr.end();
    std::size_t n = arr.size();
    std::size_t written = 0;
    auto emit = [&](const P& p) {
        if (same_peer(p, asker)) return;
        out.append(reinterpret_cast<const char*>(p.ip), sizeof p.ip);
        put_be16(out, p.port);
        ++written;
    };
    if (n <= want + 1) {
        for (const P* it = lo; it != hi && written < want; ++it) emit(*it);
        return written;
    }
    // Stratified sample: split the array into `want` buckets and take one random peer from each, so every
    // peer is equally likely and the reply is spread over the whole array. O(want), no allocation.
    for (std::size_t i = 0; i < want; ++i) {
        std::size_t b0 = i * n / want, b1 = (i + 1) * n / want;
        std::size_t idx = b0 + static_cast<std::size_t>(next_random() % (b1 - b0));
        if (same_peer(lo[idx], asker)) {
            if (b1 - b0 < 2) continue;
            idx = idx + 1 < b1 ? idx + 1 : b0;
        }
        emit(lo[idx]);
    }
    return written;
}

udp::ScrapeEntry SwarmStore::scrape(const Hash20& h) const {
    std::uint32_t i = lookup(h, tag_of(h));
    if (i == kNone) return {};
    const SwarmRec& s = recs_[i];
    return {s.seeders, s.downloaded, s.peer_count() - s.seeders};
}

template <class P>
std::size_t SwarmStore::expire_in(SwarmRec& s, PeerArray<P>& arr, std::uint32_t now) {
    std::uint32_t n = arr.size(), w = 0;
    P* p = arr.begin();
    for (std::uint32_t r = 0; r < n; ++r) {
        if (stale(codec_.decode(p[r].meta & StampCodec::kMask, clock_), now)) {
            if (p[r].meta & kSeederBit) --s.seeders;
        } else {
            p[w++] = p[r];
        }
    }
    if (w != n || (n && n < arr.capacity() / 4)) arr.truncate(w); // drops and shrinks a sparse block
    return n - w;
}

std::size_t SwarmStore::expire(std::uint32_t now) {
    // Stamps are read against clock_ as it was: every stored one lies within a window behind it, while `now`
    // may be far ahead (the first call after a long pause).
    std::size_t dropped = 0;
    // Backwards: erasing a record moves the last one (already visited) into its place.
    for (auto i = static_cast<std::uint32_t>(recs_.size()); i-- > 0;) {
        SwarmRec& s = recs_[i];
        const std::uint32_t seeders_before = s.seeders;
        std::size_t n = expire_in(s, s.v4, now) + expire_in(s, s.v6, now);
        seeders_changed(s.hash, seeders_before, s.seeders);
        dropped += n;
        peers_ -= n;
        if (s.peer_count() == 0 && stale(s.last_activity, now)) erase_rec(i);
    }
    advance_clock(now);
    last_sweep_ = clock_;
    // Give memory back after a mass expiry (the table keeps at least twice the records' slots).
    if (recs_.capacity() > 64 && recs_.size() < recs_.capacity() / 4) recs_.shrink_to_fit();
    std::size_t want = 16;
    while (want * 3 < recs_.size() * 4 * 2) want *= 2;
    if (want * 4 <= slots_.size()) rebuild_slots(want);
    return dropped;
}

// --- copies, restore ---

Swarm SwarmStore::decode(const SwarmRec& r) const {
    Swarm out;
    out.peers.reserve(r.peer_count());
    auto add = [&](const auto& p, bool v6) {
        PeerEntry e;
        std::memcpy(e.ip.data(), p.ip, sizeof p.ip);
        e.port = p.port;
        e.v6 = v6;
        e.seeder = (p.meta & kSeederBit) ? 1 : 0;
        e.last_seen = codec_.decode(p.meta & StampCodec::kMask, clock_);
        out.peers.push_back(e);
    };
    for (const auto& p : r.v4) add(p, false);
    for (const auto& p : r.v6) add(p, true);
    out.seeders = r.seeders;
    out.leechers = r.peer_count() - r.seeders;
    out.downloaded = r.downloaded;
    out.last_activity = r.last_activity;
    return out;
}

std::optional<Swarm> SwarmStore::find(const Hash20& h) const {
    std::uint32_t i = lookup(h, tag_of(h));
    if (i == kNone) return std::nullopt;
    return decode(recs_[i]);
}

void SwarmStore::for_each(const std::function<void(const Hash20&, const Swarm&)>& fn) const {
    for (const auto& r : recs_) fn(r.hash, decode(r));
}

void SwarmStore::for_each_hash(const std::function<void(const Hash20&)>& fn) const {
    for (const auto& r : recs_) fn(r.hash);
}

void SwarmStore::restore(const Hash20& h, std::uint32_t downloaded, std::vector<PeerEntry> peers, std::uint32_t now) {
    tick(now);
    std::uint32_t idx = get_or_create(h, tag_of(h), now);
    if (idx == kNone) return;
    std::sort(peers.begin(), peers.end(), entry_less);
    peers.erase(std::unique(peers.begin(), peers.end(), same_entry), peers.end());
    SwarmRec& s = recs_[idx];
    const std::uint32_t seeders_before = s.seeders;
    std::size_t room = limits_.max_peers > peers_ ? limits_.max_peers - peers_ : 0;
    if (peers.size() > room) peers.resize(room);
    peers_ -= s.peer_count();
    std::vector<Peer4> a4;
    std::vector<Peer6> a6;
    s.seeders = 0;
    s.last_activity = 0;
    for (const auto& e : peers) {
        auto meta = static_cast<std::uint16_t>(stamp_at(e.last_seen) | (e.seeder ? kSeederBit : 0));
        if (e.v6) {
            a6.push_back(make_peer<Peer6>(e.ip.data(), e.port));
            a6.back().meta = meta;
        } else {
            a4.push_back(make_peer<Peer4>(e.ip.data(), e.port));
            a4.back().meta = meta;
        }
    }
    if (!s.v4.assign(a4.data(), static_cast<std::uint32_t>(a4.size()))) a4.clear(), s.v4.assign(nullptr, 0);
    if (!s.v6.assign(a6.data(), static_cast<std::uint32_t>(a6.size()))) a6.clear(), s.v6.assign(nullptr, 0);
    for (const auto& e : peers) {
        if ((e.v6 ? a6.empty() : a4.empty())) continue; // not stored (out of memory)
        if (e.seeder) ++s.seeders;
        s.last_activity = std::max(s.last_activity, e.last_seen);
    }
    peers_ += s.peer_count();
    s.downloaded = downloaded;
    if (s.peer_count() == 0) s.last_activity = now;
    seeders_changed(s.hash, seeders_before, s.seeders);
}

void SwarmStore::clear() {
    recs_.clear();
    slots_.assign(16, Slot{});
    peers_ = 0;
}

} // namespace p2p
