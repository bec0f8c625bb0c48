// A bounded LRU of open file descriptors keyed by file index.
//
// Bound: at most max_open descriptors exist at once, counting ones being opened and ones being closed, so the
// process never holds more than that many for this torrent. A descriptor in use (refs > 0: an I/O request is
// in flight on it) is never closed; when every slot is busy, acquire() waits in a FIFO queue. That queue is
// bounded by the caller's in-flight operation limit (each operation holds or waits for at most one descriptor
// at a time, which also rules out deadlock).
//
// Ownership: the cache owns its descriptors and closes them with uv_fs_close when evicted or when it is
// destroyed. It must not be destroyed while any descriptor is acquired or an open is pending (Storage ensures
// this by keeping itself alive while operations run).
#pragma once
#include <uv.h>

#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <unordered_map>

#include "storage/fs_req.hpp"

namespace p2p {

class FdCache {
public:
    // Opens the file for `key` asynchronously; must call its argument exactly once.
    using Opener = std::function<void(std::function<void(uv_file fd, fsr::IoStatus st)>)>;
    // Called with the descriptor (st.ok()) or the open error. After success the caller must release(key) once.
    using Acquired = std::function<void(uv_file fd, fsr::IoStatus st)>;

    FdCache(uv_loop_t* loop, std::size_t max_open);
    ~FdCache();
    FdCache(const FdCache&) = delete;
    FdCache& operator=(const FdCache&) = delete;

    void acquire(std::size_t key, Opener opener, Acquired done);
    void release(std::size_t key);
    // Closes every idle descriptor (e.g. so a file can be checked or replaced); busy ones stay.
    void close_idle();

    std::size_t slots_used() const { return used_; } // open + opening + closing
    std::size_t max_open() const { return max_; }

private:
    enum class State { opening, open };
    struct Entry {
        State state = State::opening;
        uv_file fd = -1;
        int refs = 0;
        std::vector<Acquired> waiters; // acquirers of this key while it is opening (bounded like queue_)
        std::list<std::size_t>::iterator lru;
    };
    struct Waiter {
        std::size_t key;
        Opener opener;
        Acquired done;
    };
    void pump();
    void start_open(std::size_t key, Opener opener, Acquired done);
    bool evict_one();
    void close_fd(uv_file fd);

    uv_loop_t* loop_;
    std::size_t max_;
    std::size_t used_ = 0;
    std::size_t closing_ = 0;
    std::unordered_map<std::size_t, Entry> map_;
    std::list<std::size_t> lru_; // front = most recently used, only entries in state open
    std::deque<Waiter> queue_;   // acquirers waiting for a free slot, FIFO
    bool pumping_ = false, repump_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true); // close completions check it after we are gone
};

} // namespace p2p
