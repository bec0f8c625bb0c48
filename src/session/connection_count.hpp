// ConnectionCount: the peer connections and connection attempts open in a session, against
// SessionConfig::max_connections (which base/fd_limits sizes so sockets and open files together stay within
// RLIMIT_NOFILE, and the memory plan bounds). The Session counts its torrents' connections by hand
// (opened/closed); a MetadataFetch (a magnet's BEP 9 download) holds a ConnectionSlot per attempt or connection,
// so its sockets are inside the same cap.
//
// Ownership: shared (shared_ptr) by the Session and every slot, so a fetch destroyed in a deferred task after the
// session still releases into a live counter.
#pragma once
#include <cstddef>
#include <memory>
#include <utility>

namespace p2p {

class ConnectionCount {
public:
    explicit ConnectionCount(std::size_t cap) : cap_(cap) {}
    bool may_open() const { return open_ < cap_; }
    std::size_t open() const { return open_; }
    void opened() { ++open_; }
    void closed() {
        if (open_) --open_;
    }

private:
    std::size_t cap_;
    std::size_t open_ = 0;
};

// One place in a ConnectionCount, given back when the slot is destroyed or released. Move-only.
class ConnectionSlot {
public:
    ConnectionSlot() = default;
    ~ConnectionSlot() { release(); }
    ConnectionSlot(ConnectionSlot&& o) noexcept : count_(std::move(o.count_)), held_(std::exchange(o.held_, false)) {}
    ConnectionSlot& operator=(ConnectionSlot&& o) noexcept {
        if (this != &o) {
            release();
            count_ = std::move(o.count_);
            held_ = std::exchange(o.held_, false);
        }
        return *this;
    }
    ConnectionSlot(const ConnectionSlot&) = delete;
    ConnectionSlot& operator=(const ConnectionSlot&) = delete;

    // Takes a place when `count` has one; false when it is full. A null count has no cap: always true.
    bool take(std::shared_ptr<ConnectionCount> count) {
        release();
        if (count && !count->may_open()) return false;
        if (count) count->opened();
        count_ = std::move(count);
        held_ = true;
        return true;
    }
    void release() {
        if (held_ && count_) count_->closed();
        held_ = false;
        count_.reset();
    }
    bool held() const { return held_; }

private:
    std::shared_ptr<ConnectionCount> count_;
    bool held_ = false;
};

} // namespace p2p
