// Items waiting to be shared (the --share folder's entries, the console's `share PATH`): each becomes a torrent
// with --make-torrent's defaults, from the share cache when its files are unchanged (share_cache.hpp), else
// hashed. Items are hashed one at a time (TorrentMaker) to bound memory and disk load; cached items are taken at
// most kPerTurn per loop turn, so a folder of thousands neither recurses nor opens thousands of storages in
// one turn. A made torrent is cached for the next start (best effort: a read-only folder only means hashing
// again).
//
// The item being hashed holds a slot of the session's descriptor cache (storage/fd_cache.hpp) while the maker
// has its file open, so hashing counts in the same bound as every torrent's open files.
//
// Callbacks run from the loop, never inside push(); after each the queue checks whether it still exists
// before going on, so a callback may clear or destroy it.
#pragma once
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/life_token.hpp"
#include "loop/loop.hpp"
#include "maker/torrent_maker.hpp"
#include "node/share_cache.hpp"
#include "storage/fd_cache.hpp"

namespace p2p {

struct ShareJob {
    std::string root, name; // the item is root/name on disk
    std::string path() const { return root + "/" + name; }
};

class ShareQueue {
public:
    using Ready = std::function<void(const ShareJob&, ShareSource)>;
    using Failed = std::function<void(const ShareJob&, const Error&)>;
    using Skip = std::function<bool(const ShareJob&)>; // true: drop the job (e.g. a download in progress there)
    static constexpr std::size_t kMaxQueued = 4096;    // items waiting; more are refused
    static constexpr std::size_t kPerTurn = 16;        // cached items taken per loop turn

    // fds: the session's descriptor cache (a slot per item being hashed); null: no bound of our own.
    ShareQueue(Loop& loop, std::vector<std::string> trackers, Ready ready, Failed failed, Skip skip,
               std::shared_ptr<FdCache> fds = nullptr);
    ~ShareQueue();
    ShareQueue(const ShareQueue&) = delete;
    ShareQueue& operator=(const ShareQueue&) = delete;

    bool push(ShareJob job); // false: the queue is full
    void clear();            // drops waiting jobs and the item being hashed
    std::size_t waiting() const { return queue_.size(); }
    bool busy() const { return scheduled_ || maker_ || awaiting_slot_; }

private:
    void schedule();
    void work();
    void make(const ShareJob& job); // once a descriptor slot is ours
    void start_maker(const ShareJob& job);
    void release_slot();

    Loop& loop_;
    std::vector<std::string> trackers_;
    Ready ready_;
    Failed failed_;
    Skip skip_;
    std::deque<ShareJob> queue_;          // bounded by kMaxQueued
    bool scheduled_ = false;              // work() is deferred to the next turn
    std::unique_ptr<TorrentMaker> maker_; // the item being hashed; work() waits for it: one item at a time
    std::shared_ptr<FdCache> fds_;
    bool awaiting_slot_ = false;   // make() waits for a descriptor slot
    bool holding_slot_ = false;    // the maker's descriptor is counted in fds_
    std::uint64_t generation_ = 0; // bumped by clear(): a slot granted to a cleared job is given back
    LifeToken life_;
};

} // namespace p2p
