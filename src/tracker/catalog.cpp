#include "tracker/catalog.hpp"

#include <algorithm>

namespace p2p {

Catalog::Catalog(std::size_t max_entries, std::uint32_t ttl_s) : max_entries_(max_entries), ttl_s_(ttl_s) {}

std::vector<CatalogRecord>::iterator Catalog::lower(std::string_view name) {
    return std::lower_bound(entries_.begin(), entries_.end(), name,
                            [](const CatalogRecord& r, std::string_view n) { return r.name < n; });
}

Status Catalog::publish(std::string_view name, const udp::Hash20& h, std::uint64_t size, std::uint32_t now) {
    if (!udp::valid_name(name)) return make_error("catalog.publish", "invalid name");
    auto it = lower(name);
    if (it != entries_.end() && it->name == name) {
        bool expired = now > it->last_seen && now - it->last_seen > ttl_s_;
        if (it->info_hash != h && !expired) return make_error("catalog.publish", "name taken by another torrent");
        it->info_hash = h;
        it->total_size = size;
        it->last_seen = now;
        return ok_status();
    }
    if (entries_.size() >= max_entries_) {
        expire(now);
        if (entries_.size() >= max_entries_) return make_error("catalog.publish", "catalog full");
        it = lower(name);
    }
    entries_.insert(it, CatalogRecord{std::string(name), h, size, now});
    return ok_status();
}

const CatalogRecord* Catalog::find_name(std::string_view name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const CatalogRecord& r, std::string_view n) { return r.name < n; });
    return it != entries_.end() && it->name == name ? &*it : nullptr;
}

const CatalogRecord* Catalog::find_hash(const udp::Hash20& h) const {
    for (const auto& r : entries_)
        if (r.info_hash == h) return &r;
    return nullptr;
}

std::size_t Catalog::expire(std::uint32_t now) {
    auto end = std::remove_if(entries_.begin(), entries_.end(),
                              [&](const CatalogRecord& r) { return now > r.last_seen && now - r.last_seen > ttl_s_; });
    std::size_t n = static_cast<std::size_t>(entries_.end() - end);
    entries_.erase(end, entries_.end());
    return n;
}

void Catalog::restore(CatalogRecord r) {
    if (!udp::valid_name(r.name)) return;
    auto it = lower(r.name);
    if (it != entries_.end() && it->name == r.name) {
        if (r.last_seen >= it->last_seen) *it = std::move(r);
        return;
    }
    if (entries_.size() >= max_entries_) return;
    entries_.insert(it, std::move(r));
}

} // namespace p2p
