#include "storage/read_cache.hpp"

#include <algorithm>

namespace p2p {

std::uint32_t ReadCache::next_owner() {
    static std::uint32_t counter = 0;
    return ++counter;
}

ReadCache::Piece ReadCache::get(std::uint64_t key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->data;
}

void ReadCache::put(std::uint64_t key, Piece data, bool recyclable) {
    erase(key);
    if (!data || data->size() > max_) return;
    while (bytes_ + data->size() > max_ && !lru_.empty()) evict_last();
    bytes_ += data->size();
    peak_ = std::max(peak_, bytes_);
    owner_bytes_[static_cast<std::uint32_t>(key >> 32)] += data->size();
    lru_.push_front(Item{key, std::move(data), recyclable});
    map_[key] = lru_.begin();
}

void ReadCache::uncount(std::uint64_t key, std::size_t n) {
    bytes_ -= n;
    auto ob = owner_bytes_.find(static_cast<std::uint32_t>(key >> 32));
    if (ob != owner_bytes_.end() && (ob->second -= n) == 0) owner_bytes_.erase(ob);
}

void ReadCache::evict_last() {
    Item& it = lru_.back();
    uncount(it.key, it.data->size());
    map_.erase(it.key);
    if (it.recyclable) recycle(std::const_pointer_cast<std::string>(std::move(it.data))); // allocated non-const
    lru_.pop_back();
}

// use_count is exact: every holder lives on the loop thread, which is running this.
void ReadCache::recycle(std::shared_ptr<std::string> buf) {
    if (!buf || buf.use_count() != 1 || buf->size() > max_ || spares_.size() >= kMaxSpares) return;
    if (spares_.size() >= kMinSpares && spare_bytes_ + buf->size() > max_ / 8) return;
    spare_bytes_ += buf->size();
    spares_.push_back(std::move(buf));
}

std::shared_ptr<std::string> ReadCache::take_spare(std::size_t size) {
    for (auto it = spares_.begin(); it != spares_.end(); ++it) {
        if ((*it)->size() != size) continue;
        auto out = std::move(*it);
        spares_.erase(it);
        spare_bytes_ -= out->size();
        spare_taken_ = true;
        return out;
    }
    return nullptr;
}

void ReadCache::release_idle_spares() {
    if (!spare_taken_) {
        spares_.clear();
        spare_bytes_ = 0;
    }
    spare_taken_ = false;
}

void ReadCache::erase(std::uint64_t key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    uncount(key, it->second->data->size());
    lru_.erase(it->second);
    map_.erase(it);
}

void ReadCache::drop(std::uint64_t key) {
    auto it = map_.find(key);
    if (it == map_.end()) return;
    Piece data = it->second->data;
    const bool recyclable = it->second->recyclable;
    erase(key);
    if (recyclable) recycle(std::const_pointer_cast<std::string>(std::move(data))); // allocated non-const
}

void ReadCache::erase_owner(std::uint32_t owner) {
    if (!owner_bytes_.count(owner)) return;
    for (auto it = lru_.begin(); it != lru_.end();) {
        auto next = std::next(it);
        if (static_cast<std::uint32_t>(it->key >> 32) == owner) erase(it->key);
        it = next;
    }
}

std::size_t ReadCache::bytes_of(std::uint32_t owner) const {
    auto it = owner_bytes_.find(owner);
    return it == owner_bytes_.end() ? 0 : it->second;
}

void ReadCache::clear() {
    spares_.clear();
    spare_bytes_ = 0;
    lru_.clear();
    map_.clear();
    owner_bytes_.clear();
    bytes_ = 0;
}

} // namespace p2p
