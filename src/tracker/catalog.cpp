#include "tracker/catalog.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace p2p {

// --- PublisherAddr ---

std::string PublisherAddr::str() const {
    if (!known()) return {};
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip.data(), buf, sizeof buf);
    return buf;
}

bool PublisherAddr::parse(const std::string& text, PublisherAddr& out) {
    PublisherAddr a;
    if (inet_pton(AF_INET, text.c_str(), a.ip.data()) == 1) {
        a.family = 4;
    } else if (inet_pton(AF_INET6, text.c_str(), a.ip.data()) == 1) {
        a = v6(a.ip.data()); // the same normal form the server records
    } else {
        return false;
    }
    out = a;
    return true;
}

PublisherAddr PublisherAddr::v4(const std::uint8_t* ip4) {
    PublisherAddr a;
    std::memcpy(a.ip.data(), ip4, 4);
    a.family = 4;
    return a;
}

PublisherAddr PublisherAddr::v6(const std::uint8_t* ip16) {
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d; it is the same publisher as over IPv4.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(ip16, kMapped, 12) == 0) return v4(ip16 + 12);
    PublisherAddr a;
    std::memcpy(a.ip.data(), ip16, 16);
    a.family = 6;
    return a;
}

// --- Catalog ---

Catalog::Catalog(std::size_t max_entries, std::uint32_t grace_s) : max_entries_(max_entries), grace_s_(grace_s) {}

std::vector<CatalogRecord>::iterator Catalog::lower(std::string_view name) {
    return std::lower_bound(entries_.begin(), entries_.end(), name,
                            [](const CatalogRecord& r, std::string_view n) { return r.name < n; });
}

std::vector<CatalogRecord>::iterator Catalog::find_pending(std::string_view name) {
    return std::find_if(pending_.begin(), pending_.end(), [&](const CatalogRecord& r) { return r.name == name; });
}

void Catalog::insert_live(CatalogRecord r) {
    auto it = lower(r.name);
    by_hash_.emplace(r.info_hash, r.name);
    entries_.insert(it, std::move(r));
}

void Catalog::erase_live(std::vector<CatalogRecord>::iterator it) {
    by_hash_.erase({it->info_hash, it->name});
    entries_.erase(it);
}

std::size_t Catalog::drop_expired_pending(std::uint32_t now) {
    auto end = std::remove_if(pending_.begin(), pending_.end(),
                              [&](const CatalogRecord& r) { return pending_expired(r, now); });
    auto n = static_cast<std::size_t>(pending_.end() - end);
    pending_.erase(end, pending_.end());
    return n;
}

Status Catalog::publish(std::string_view name, const udp::Hash20& h, std::uint64_t size, std::uint32_t now,
                        const PublisherAddr& from) {
    if (!udp::valid_name(name)) return make_error("catalog.publish", "invalid name", Errc::bad_name);
    const bool live_now = seeded(h);
    const std::size_t pending_cap = std::min(kMaxPending, max_entries_);
    auto owns = [&](const CatalogRecord& r) { return from.known() && r.publisher == from; };
    // Room for one more pending entry (expired ones go first).
    auto pending_room = [&] {
        return pending_.size() < pending_cap || (drop_expired_pending(now), pending_.size() < pending_cap);
    };
    auto taken = [] { return make_error("catalog.publish", "name taken by another torrent", Errc::refused); };
    auto full = [] { return make_error("catalog.publish", "catalog full", Errc::refused); };

    if (auto it = lower(name); it != entries_.end() && it->name == name) {
        if (it->info_hash == h) {
            it->total_size = size;
            it->last_seen = now;
            return ok_status();
        }
        // Live entries have a seeder (the store tells us when they lose it); the check covers a missed call.
        if (!owns(*it) && seeded(it->info_hash)) return taken();
        if (!live_now && !pending_room()) return full();
        // The publisher moves its name to the new info hash (or takes over a name whose swarm is dead).
        CatalogRecord r = *it;
        erase_live(it);
        if (!owns(r)) r.publisher = from;
        r.info_hash = h;
        r.total_size = size;
        r.last_seen = now;
        if (live_now)
            insert_live(std::move(r));
        else
            pending_.push_back(std::move(r));
        return ok_status();
    }
    if (auto p = find_pending(name); p != pending_.end()) {
        if (p->info_hash != h) {
            if (!owns(*p) && !pending_expired(*p, now)) return taken();
            if (!owns(*p)) p->publisher = from;
            p->info_hash = h;
        }
        p->total_size = size;
        p->last_seen = now;
        if (live_now) {
            CatalogRecord r = std::move(*p);
            pending_.erase(p);
            insert_live(std::move(r));
        }
        return ok_status();
    }
    if (entries_.size() + pending_.size() >= max_entries_) {
        drop_expired_pending(now);
        if (entries_.size() + pending_.size() >= max_entries_) return full();
    }
    CatalogRecord r{std::string(name), h, size, now, from};
    if (live_now) {
        insert_live(std::move(r));
    } else {
        if (!pending_room()) return full();
        pending_.push_back(std::move(r));
    }
    return ok_status();
}

const CatalogRecord* Catalog::find_name(std::string_view name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const CatalogRecord& r, std::string_view n) { return r.name < n; });
    return it != entries_.end() && it->name == name ? &*it : nullptr;
}

const CatalogRecord* Catalog::find_hash(const udp::Hash20& h) const {
    auto it = by_hash_.lower_bound({h, std::string()});
    if (it == by_hash_.end() || it->first != h) return nullptr;
    return find_name(it->second);
}

std::size_t Catalog::swarm_seeded(const udp::Hash20& h) {
    if (pending_.empty()) return 0; // the common case: a swarm with no name waiting for it
    std::size_t n = 0;
    for (std::size_t i = pending_.size(); i-- > 0;) {
        if (pending_[i].info_hash != h) continue;
        CatalogRecord r = std::move(pending_[i]);
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        insert_live(std::move(r)); // names are unique across live and pending: this one is free
        ++n;
    }
    return n;
}

std::size_t Catalog::swarm_unseeded(const udp::Hash20& h) {
    std::size_t n = 0;
    for (auto it = by_hash_.lower_bound({h, std::string()}); it != by_hash_.end() && it->first == h;) {
        auto e = lower(it->second);
        if (e != entries_.end() && e->name == it->second) entries_.erase(e);
        it = by_hash_.erase(it);
        ++n;
    }
    return n;
}

std::size_t Catalog::sweep(std::uint32_t now) {
    std::size_t dropped = 0;
    for (std::size_t i = pending_.size(); i-- > 0;) {
        if (seeded(pending_[i].info_hash)) {
            CatalogRecord r = std::move(pending_[i]);
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
            insert_live(std::move(r));
        } else if (pending_expired(pending_[i], now)) {
            pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
            ++dropped;
        }
    }
    if (!seeded_) return dropped;
    // One pass, order kept; a live entry without a seeder means a seeder change we were not told about (or
    // entries just loaded from a state file).
    auto end = std::remove_if(entries_.begin(), entries_.end(), [&](const CatalogRecord& r) {
        if (seeded(r.info_hash)) return false;
        by_hash_.erase({r.info_hash, r.name});
        return true;
    });
    dropped += static_cast<std::size_t>(entries_.end() - end);
    entries_.erase(end, entries_.end());
    return dropped;
}

void Catalog::restore(CatalogRecord r) {
    if (!udp::valid_name(r.name)) return;
    auto it = lower(r.name);
    if (it != entries_.end() && it->name == r.name) {
        if (r.last_seen < it->last_seen) return;
        by_hash_.erase({it->info_hash, it->name});
        by_hash_.emplace(r.info_hash, r.name);
        *it = std::move(r);
        return;
    }
    if (entries_.size() + pending_.size() >= max_entries_) return;
    insert_live(std::move(r));
}

void Catalog::clear() {
    entries_.clear();
    by_hash_.clear();
    pending_.clear();
}

} // namespace p2p
