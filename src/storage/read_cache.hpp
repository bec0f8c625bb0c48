// A byte-bounded LRU of whole pieces kept for serving: peers ask for 16 KiB blocks, so one disk read of a piece
// serves every block of it while it stays here.
//
// Bound: the sum of cached piece sizes stays <= max_bytes (a piece bigger than the bound is not kept).
// Ownership: pieces are shared immutable buffers; eviction drops the cache's reference, and a buffer still being
// sent by a connection lives on until that connection drops its own reference.
// Recycling: a piece put with `recyclable` (a buffer the storage allocated itself, or one handed over to it by
// write_piece; never one someone else may still change) that nobody else holds when it is evicted is kept as a
// spare (outside max_bytes: kMinSpares of any size, more while all spares hold at most max_bytes / 8) and handed
// back by take_spare for the next disk read or the next downloaded piece of that size, which saves zero-filling
// and page-faulting a fresh buffer. A leecher assembles, hashes and writes tens of pieces at once: with two spares
// most pieces took fresh memory, which cost it ~15 % of its CPU in page faults and zeroing (CASE=many of
// tools/bench-peer). release_idle_spares frees them once no piece took one for a while, so an idle node keeps none.
// Sharing: one cache may serve every torrent of a session (--max-memory bounds the sum). Keys are
// key(owner, index); each Storage takes an owner id from next_owner() and drops its pieces with erase_owner().
// Eviction is LRU over all owners, so a busy torrent takes room from an idle one.
#pragma once
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace p2p {

class ReadCache {
public:
    using Piece = std::shared_ptr<const std::string>;
    explicit ReadCache(std::size_t max_bytes) : max_(max_bytes) {}

    static std::uint64_t key(std::uint32_t owner, std::uint32_t index) { return std::uint64_t{owner} << 32 | index; }
    static std::uint32_t next_owner(); // process-wide counter (loop thread)

    Piece get(std::uint64_t key); // nullptr on a miss; a hit becomes most recently used
    void put(std::uint64_t key, Piece data, bool recyclable = false);
    // A spare buffer of exactly `size` bytes (stale contents, to be overwritten), or nullptr.
    std::shared_ptr<std::string> take_spare(std::size_t size);
    static constexpr std::size_t kMinSpares = 2;  // kept whatever their size
    static constexpr std::size_t kMaxSpares = 64; // take_spare scans them
    // Frees every spare if none was taken since the last call (the session calls it every second).
    void release_idle_spares();
    std::size_t spare_bytes() const { return spare_bytes_; }
    // A recyclable buffer not worth keeping as a piece: kept as a spare if no one else holds it and there is room.
    void recycle(std::shared_ptr<std::string> buf);
    void erase(std::uint64_t key);
    // Takes a piece out that no one will ask for again soon (every connected peer has it): its buffer becomes a
    // spare when it may be (recyclable, no one else holds it, room), else it is freed with its last holder.
    void drop(std::uint64_t key);
    void erase_owner(std::uint32_t owner);
    void clear();

    std::size_t bytes() const { return bytes_; }
    std::size_t peak_bytes() const { return peak_; } // the most bytes() has been
    std::size_t bytes_of(std::uint32_t owner) const;
    std::size_t entries() const { return map_.size(); }
    std::size_t max_bytes() const { return max_; }

private:
    struct Item {
        std::uint64_t key;
        Piece data;
        bool recyclable;
    };
    void evict_last();
    void uncount(std::uint64_t key, std::size_t n);    // bytes_ and owner_bytes_ lose an entry of n bytes
    std::vector<std::shared_ptr<std::string>> spares_; // bounded by kMaxSpares and spare_bytes_
    std::size_t spare_bytes_ = 0;
    bool spare_taken_ = false; // since the last release_idle_spares
    std::size_t max_;
    std::size_t bytes_ = 0;
    std::size_t peak_ = 0;
    std::list<Item> lru_; // front = most recently used
    std::unordered_map<std::uint64_t, std::list<Item>::iterator> map_;
    std::unordered_map<std::uint32_t, std::size_t> owner_bytes_; // bytes per owner; entries for owners with pieces
};

} // namespace p2p
