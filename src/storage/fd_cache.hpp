// A bounded LRU of open file descriptors, one for a whole session (StorageLimits::shared_fds) or one per Storage.
//
// Keys: key(owner, file) — the owner is a Storage's id (ReadCache::next_owner()), the file its file index, so
// every torrent of a session draws on one bound however many files it shares (1000 shared files must not mean
// 1000 descriptors: a default soft limit of 1024 would then refuse sockets and resume files).
//
// Bound: at most max_open descriptors exist at once, counting ones being opened, ones being closed, and slots
// lent out with acquire_slot() (a descriptor its holder opens and closes itself, e.g. a resume file being
// written), so the process never holds more than that many for its files. A descriptor in use (refs > 0: an I/O
// request is in flight on it) is never closed; when every slot is busy, acquirers wait in one FIFO queue. That
// queue is bounded by the callers' in-flight operation limits (each operation holds or waits for at most one
// descriptor or slot at a time, which also rules out deadlock).
//
// Ownership: the cache owns its descriptors and closes them with uv_fs_close when evicted, when unused for long
// (close_unused_since), when their owner goes (close_idle_of) or when it is destroyed. It must not be destroyed
// while any descriptor or slot is acquired or an open is pending (a Storage keeps itself alive while operations
// run, and holds the cache by shared_ptr).
#pragma once
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"

namespace p2p {

class FdCache {
public:
    // Opens the file for `key` asynchronously; must call its argument exactly once.
    using Opener = std::function<void(std::function<void(uv_file fd, Status st)>)>;
    // Called with the descriptor (st.ok()) or the open error. After success the caller must release(key) once.
    using Acquired = std::function<void(uv_file fd, Status st)>;

    static std::uint64_t key(std::uint32_t owner, std::uint32_t file) { return (std::uint64_t{owner} << 32) | file; }

    FdCache(uv_loop_t* loop, std::size_t max_open);
    ~FdCache();
    FdCache(const FdCache&) = delete;
    FdCache& operator=(const FdCache&) = delete;

    // `done` may run before acquire returns (the descriptor was open already).
    void acquire(std::uint64_t key, Opener opener, Acquired done);
    void release(std::uint64_t key);
    // A slot without a file of ours: `granted` runs (maybe before this returns) once one is free; the holder may
    // then keep one descriptor of its own open until release_slot().
    void acquire_slot(std::function<void()> granted);
    void release_slot();

    void close_idle_of(std::uint32_t owner);          // the idle descriptors of one owner (it is going away)
    void close_unused_since(std::uint64_t before_ms); // idle descriptors last used before this uv_now() time

    std::size_t slots_used() const { return used_; } // open + opening + closing + lent slots
    std::size_t max_open() const { return max_; }

private:
    enum class State { opening, open };
    struct Entry {
        State state = State::opening;
        uv_file fd = -1;
        int refs = 0;
        std::uint64_t last_used_ms = 0;
        std::vector<Acquired> waiters; // acquirers of this key while it is opening (bounded like queue_)
        std::list<std::uint64_t>::iterator lru;
    };
    struct Waiter {
        std::uint64_t key;
        Opener opener; // empty for a slot waiter
        Acquired done;
        std::function<void()> granted; // set for a slot waiter
    };
    void pump();
    void start_open(std::uint64_t key, Opener opener, Acquired done);
    bool evict_one();
    template <class Pred>
    void close_idle_if(Pred pred);
    void close_fd(uv_file fd);

    uv_loop_t* loop_;
    std::size_t max_;
    std::size_t used_ = 0;
    std::size_t closing_ = 0;
    std::unordered_map<std::uint64_t, Entry> map_;
    std::list<std::uint64_t> lru_; // front = most recently used, only entries in state open
    std::deque<Waiter> queue_;     // acquirers waiting for a free slot, FIFO
    bool pumping_ = false, repump_ = false;
    LifeToken life_; // close completions check it: they may run after we are gone
};

} // namespace p2p
