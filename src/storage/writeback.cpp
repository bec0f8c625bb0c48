// Storage: starting the kernel's writeback of written pieces early, so a download's data reaches the disk while
// the transfer runs instead of all at once when it completes.
//
// Why: a pwrite only fills the page cache. The kernel writes dirty pages back on its own only past
// dirty_background_ratio (10 % of memory: 2.4 GB on a 24 GB machine) or after 30 s, so a download of a few GB
// finishes with all of it still in memory, and the fsync of save_resume (which must not record pieces that are not
// on disk) then waits for the whole file to be written: transfer time plus disk time, one after the other. A
// kick (sync_file_range SYNC_FILE_RANGE_WRITE) after every kKickBytes written starts writeback of those pages and
// returns without waiting for it, so the disk works in parallel with the network and the final fsync only waits
// for the last few MB. It also keeps the dirty page cache small and flat, so other programs are not throttled
// by our backlog.
//
// Safety is unchanged: flush/save_resume still fsync every written file and report its errors; a kick is only a
// hint (its errors are ignored here, the fsync that follows reports them). Linux only; elsewhere a no-op.
#include <fcntl.h>

#include "loop/fence.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// Written bytes gathered before a kick: large enough that the syscalls cost nothing next to the copy (one per
// 8 MiB), small enough that the disk starts at once and the final fsync waits for little.
constexpr std::uint64_t kKickBytes = 8u << 20;

struct KickWork {
    uv_work_t req{};
    uv_file fd = -1;
    std::int64_t offset = 0, length = 0;
    std::function<void()> done;
};

// sync_file_range on libuv's threadpool (libuv has no uv_fs_ call for it). It may block while the device queue
// is full, so it must not run on the loop thread.
void start_writeback(uv_loop_t* loop, uv_file fd, std::int64_t offset, std::int64_t length,
                     std::function<void()> done) {
    auto* w = new KickWork;
    w->req.data = w;
    w->fd = fd;
    w->offset = offset;
    w->length = length;
    w->done = std::move(done);
    const int rc = uv_queue_work(
        loop, &w->req,
        [](uv_work_t* r) {
            [[maybe_unused]] auto* k = static_cast<KickWork*>(r->data);
#ifdef __linux__
            (void)::sync_file_range(k->fd, k->offset, k->length, SYNC_FILE_RANGE_WRITE);
#endif
        },
        [](uv_work_t* r, int) {
            auto* k = static_cast<KickWork*>(r->data);
            auto d = std::move(k->done);
            delete k;
            fence("writeback", [&] { d(); });
        });
    if (rc < 0) { // cannot happen with a valid loop: skip the hint
        auto d = std::move(w->done);
        delete w;
        d();
    }
}

} // namespace

void Storage::Impl::note_written(const Segment& s) {
#ifdef __linux__
    auto [it, fresh] = unsent.try_emplace(s.file);
    if (fresh) unsent_order.push_back(s.file);
    it->second.lo = std::min(it->second.lo, s.file_offset);
    it->second.hi = std::max(it->second.hi, s.file_offset + s.length);
    unsent_bytes += static_cast<std::uint64_t>(s.length);
    if (unsent_bytes >= kKickBytes && !kicking) kick_writeback();
#else
    (void)s;
#endif
}

void Storage::Impl::kick_writeback() {
    if (closed || unsent.empty()) return;
    auto todo = std::make_shared<std::vector<std::pair<std::size_t, Unsent>>>();
    todo->reserve(unsent_order.size());
    for (std::size_t f : unsent_order) todo->emplace_back(f, unsent[f]);
    unsent.clear();
    unsent_order.clear();
    unsent_bytes = 0;
    kicking = true;
    kick_next(std::move(todo), 0);
}

// One file at a time, each with the descriptor held only for its call: a kick never holds more than one slot of
// the descriptor cache, like every other storage operation.
void Storage::Impl::kick_next(std::shared_ptr<std::vector<std::pair<std::size_t, Unsent>>> todo, std::size_t at) {
    if (closed || at >= todo->size()) {
        kicking = false;
        if (!closed && unsent_bytes >= kKickBytes) kick_writeback(); // more gathered meanwhile
        return;
    }
    auto self = shared_from_this();
    const std::size_t file = (*todo)[at].first;
    const Unsent range = (*todo)[at].second;
    fds->acquire(fkey(file), opener(file, false), [self, todo, at, file, range](uv_file fd, Status st) {
        if (!st.ok()) return self->kick_next(todo, at + 1); // a hint only: the flush reports real errors
        ++self->stats.writeback_kicks;
        start_writeback(self->loop, fd, range.lo, range.hi - range.lo, [self, todo, at, file] {
            self->fds->release(self->fkey(file));
            self->kick_next(todo, at + 1);
        });
    });
}

} // namespace p2p
