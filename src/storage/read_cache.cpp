#include "storage/read_cache.hpp"

namespace p2p {

ReadCache::Piece ReadCache::get(std::uint32_t index) {
    auto it = map_.find(index);
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->data;
}

void ReadCache::put(std::uint32_t index, Piece data, bool recyclable) {
    erase(index);
    if (!data || data->size() > max_) return;
    while (bytes_ + data->size() > max_ && !lru_.empty()) evict_last();
    bytes_ += data->size();
    lru_.push_front(Item{index, std::move(data), recyclable});
    map_[index] = lru_.begin();
}

void ReadCache::evict_last() {
    Item& it = lru_.back();
    bytes_ -= it.data->size();
    map_.erase(it.index);
    // use_count is exact here: every holder lives on the loop thread, which is running this.
    if (it.recyclable && it.data.use_count() == 1 && spares_.size() < kMaxSpares)
        spares_.push_back(std::const_pointer_cast<std::string>(std::move(it.data))); // allocated non-const
    lru_.pop_back();
}

std::shared_ptr<std::string> ReadCache::take_spare(std::size_t size) {
    for (auto it = spares_.begin(); it != spares_.end(); ++it) {
        if ((*it)->size() != size) continue;
        auto out = std::move(*it);
        spares_.erase(it);
        return out;
    }
    return nullptr;
}

void ReadCache::erase(std::uint32_t index) {
    auto it = map_.find(index);
    if (it == map_.end()) return;
    bytes_ -= it->second->data->size();
    lru_.erase(it->second);
    map_.erase(it);
}

void ReadCache::clear() {
    spares_.clear();
    lru_.clear();
    map_.clear();
    bytes_ = 0;
}

} // namespace p2p
