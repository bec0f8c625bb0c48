#include "storage/fd_cache.hpp"

#include "base/assert.hpp"
#include "loop/fs_req.hpp"

namespace p2p {

FdCache::FdCache(uv_loop_t* loop, std::size_t max_open) : loop_(loop), max_(max_open ? max_open : 1) {}

FdCache::~FdCache() {
    for (auto& [key, e] : map_)
        if (e.state == State::open) close_fd(e.fd);
}

void FdCache::acquire(std::uint64_t key, Opener opener, Acquired done) {
    auto it = map_.find(key);
    if (it != map_.end()) {
        Entry& e = it->second;
        if (e.state == State::opening) {
            e.waiters.push_back(std::move(done));
            return;
        }
        ++e.refs;
        e.last_used_ms = uv_now(loop_);
        lru_.splice(lru_.begin(), lru_, e.lru);
        done(e.fd, ok_status());
        return;
    }
    queue_.push_back(Waiter{key, std::move(opener), std::move(done), {}});
    pump();
}

void FdCache::release(std::uint64_t key) {
    auto it = map_.find(key);
    // A busy descriptor is never closed, so a balanced release always finds its entry open with refs > 0.
    P2P_ASSERT(it != map_.end() && it->second.state == State::open && it->second.refs > 0,
               "fd cache: release of a descriptor that is not acquired");
    if (it == map_.end()) return;
    it->second.last_used_ms = uv_now(loop_);
    if (--it->second.refs <= 0) {
        it->second.refs = 0;
        if (!queue_.empty()) pump();
    }
}

void FdCache::acquire_slot(std::function<void()> granted) {
    queue_.push_back(Waiter{0, {}, {}, std::move(granted)});
    pump();
}

void FdCache::release_slot() {
    P2P_ASSERT(used_ > 0, "fd cache: release_slot without a slot in use");
    if (used_ > 0) --used_;
    pump();
}

template <class Pred>
void FdCache::close_idle_if(Pred pred) {
    for (auto it = map_.begin(); it != map_.end();) {
        if (it->second.state == State::open && it->second.refs == 0 && pred(it->first, it->second)) {
            lru_.erase(it->second.lru);
            close_fd(it->second.fd);
            it = map_.erase(it);
        } else {
            ++it;
        }
    }
}

void FdCache::close_idle_of(std::uint32_t owner) {
    close_idle_if([owner](std::uint64_t k, const Entry&) { return (k >> 32) == owner; });
}

void FdCache::close_unused_since(std::uint64_t before_ms) {
    close_idle_if([before_ms](std::uint64_t, const Entry& e) { return e.last_used_ms < before_ms; });
}

// Serves queued acquirers in order while slots allow. Re-entrant calls (an opener failing synchronously, a
// granted slot released at once) just ask the running loop to go around again.
void FdCache::pump() {
    if (pumping_) {
        repump_ = true;
        return;
    }
    pumping_ = true;
    do {
        repump_ = false;
        while (!queue_.empty()) {
            Waiter& w = queue_.front();
            if (w.granted) {
                if (used_ >= max_) {
                    if (closing_ == 0) evict_one();
                    break;
                }
                auto granted = std::move(w.granted);
                queue_.pop_front();
                ++used_;
                P2P_ASSERT(used_ <= max_, "fd cache: more slots in use than max_open");
                granted();
                continue;
            }
            auto it = map_.find(w.key);
            if (it != map_.end()) { // opened meanwhile by someone else
                Waiter taken = std::move(w);
                queue_.pop_front();
                acquire(taken.key, std::move(taken.opener), std::move(taken.done));
                continue;
            }
            if (used_ < max_) {
                Waiter taken = std::move(w);
                queue_.pop_front();
                start_open(taken.key, std::move(taken.opener), std::move(taken.done));
                continue;
            }
            if (closing_ == 0) evict_one(); // the freed slot arrives when the close completes
            break;
        }
    } while (repump_);
    pumping_ = false;
}

bool FdCache::evict_one() {
    for (auto it = lru_.rbegin(); it != lru_.rend(); ++it) {
        auto e = map_.find(*it);
        if (e->second.refs == 0) {
            const uv_file fd = e->second.fd;
            lru_.erase(e->second.lru);
            map_.erase(e);
            close_fd(fd);
            return true;
        }
    }
    return false;
}

void FdCache::close_fd(uv_file fd) {
    ++closing_;
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_close(loop_, r, fd, cb); },
              [this, alive = life_.watch()](uv_fs_t*) {
                  if (!alive) return;
                  // Every descriptor being closed holds a slot until its close completes.
                  P2P_ASSERT(closing_ > 0 && used_ > 0, "fd cache: a close completed that was not counted");
                  if (closing_ > 0) --closing_;
                  if (used_ > 0) --used_;
                  pump();
              });
}

void FdCache::start_open(std::uint64_t key, Opener opener, Acquired done) {
    ++used_;
    P2P_ASSERT(used_ <= max_, "fd cache: more slots in use than max_open");
    Entry& e = map_[key];
    e.state = State::opening;
    e.waiters.push_back(std::move(done));
    opener([this, key](uv_file fd, Status st) {
        auto it = map_.find(key);
        // Nothing removes an entry while it is opening (eviction and the close_* calls take open, idle ones only).
        P2P_ASSERT(it != map_.end() && it->second.state == State::opening, "fd cache: an open completed for no entry");
        if (it == map_.end()) return;
        std::vector<Acquired> waiters = std::move(it->second.waiters);
        if (!st.ok()) {
            map_.erase(it);
            --used_;
            for (auto& w : waiters) w(-1, st);
        } else {
            Entry& e = it->second;
            e.state = State::open;
            e.fd = fd;
            e.refs = static_cast<int>(waiters.size());
            e.last_used_ms = uv_now(loop_);
            lru_.push_front(key);
            e.lru = lru_.begin();
            for (auto& w : waiters) w(fd, ok_status());
        }
        pump();
    });
}

} // namespace p2p
