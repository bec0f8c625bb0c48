#include "storage/read_cache.hpp"

namespace p2p {

ReadCache::Piece ReadCache::get(std::uint32_t index) {
    auto it = map_.find(index);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->data;
}

void ReadCache::put(std::uint32_t index, Piece data) {
    erase(index);
    if (!data || data->size() > max_) return;
    while (bytes_ + data->size() > max_ && !lru_.empty()) {
        bytes_ -= lru_.back().data->size();
        map_.erase(lru_.back().index);
        lru_.pop_back();
    }
    bytes_ += data->size();
    lru_.push_front(Item{index, std::move(data)});
    map_[index] = lru_.begin();
}

void ReadCache::erase(std::uint32_t index) {
    auto it = map_.find(index);
    if (it == map_.end()) return;
    bytes_ -= it->second->data->size();
    lru_.erase(it->second);
    map_.erase(it);
}

void ReadCache::clear() {
    lru_.clear();
    map_.clear();
    bytes_ = 0;
}

} // namespace p2p
