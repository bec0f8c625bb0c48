// Storage: starting the kernel's writeback of written pieces early, so a download's data reaches the disk while
// the transfer runs instead of all at once when it completes.
//
// Why: a pwrite only fills the page cache. The kernel writes dirty pages back on its own only past
// dirty_background_ratio (10 % of memory: 2.4 GB on a 24 GB machine) or after 30 s, so a download of a few GB
// finishes with all of it still in memory, and the fsync of save_resume (which must not record pieces that are not
// on disk) then waits for the whole file to be written: transfer time plus disk time, one after the other. A
// kick (sync_file_range SYNC_FILE_RANGE_WRITE) starts writeback of written pages and returns without waiting for
// it, so the disk works in parallel with the network and the final fsync only waits for the last few MB. It also
// keeps the dirty page cache small and flat, so other programs are not throttled by our backlog.
//
// When: right after a write, on the descriptor that wrote it (still held: no reopen, no second wait in the
// threadpool's queue), once the file has kKickBytes written since its last kick or this write made it whole.
// Kicks used to run as one chain over the files written since the last 8 MiB, one file after another, each
// waiting its turn in the pool behind the writes; into a folder of 2,000 photos that chain fell 400 MB behind
// (tools/bench-peer CASE=many), which the final flush then waited for. Now they keep up: the peak of Dirty fell
// from 549 MB to 164 MB there (the disk is slower than the transfer for a while), and it is back near 2 MB when
// the last byte is written. The file's next write starts before the kick (write_finished) and the caller hears
// at once; only the descriptor and the op slot wait for it.
//
// How many at once: one (kMaxKicks). A kick's sync_file_range submits the pages itself, and the block layer's
// writeback throttling (wbt) makes the submitter sleep while the device is slow or busy with a cache flush (a
// checkpoint's syncfs, checkpoint.cpp). With a kick after every file's write, three of libuv's four pool
// threads sat in wbt_wait beside the fourth in that syncfs (tools/bench-peer DISK=1 CASE=many; the threads'
// /proc/PID/task/TID/stack every 5 ms): no write and no hash could run, both cores idled in iowait for 0.15-0.2 s
// at a time and the transfer stopped. A write that finds a kick running leaves its bytes in `unsent`: the file's
// next write sends them with its own, and a file already whole is left to the kernel, the next checkpoint or the
// final flush. More kicks would not drain the disk faster; they only take the threads the transfer needs.
//
// Safety is unchanged: flush/save_resume still fsync every written file and report its errors; a kick is only a
// hint (its errors are ignored here, the fsync that follows reports them). Linux only; elsewhere a no-op.
#include <fcntl.h>

#include "loop/work_req.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// Bytes of one file gathered before a kick (unless the write made it whole): large enough that the syscall costs
// nothing next to the copy, even for a torrent of 16 KiB pieces; small enough that the disk starts at once.
[[maybe_unused]] constexpr std::uint64_t kKickBytes = 1u << 20;
// Kicks running at once (see above): the rest of the pool stays free for the writes and hashes.
[[maybe_unused]] constexpr std::size_t kMaxKicks = 1;

// sync_file_range on libuv's threadpool (libuv has no uv_fs_ call for it). It may block while the device queue
// is full, so it must not run on the loop thread. Its result is ignored: a kick is only a hint (a refused or
// cancelled one too).
void start_writeback(uv_loop_t* loop, uv_file fd, std::int64_t offset, std::int64_t length,
                     std::function<void()> done) {
    work::queue(
        loop, "writeback",
        [fd, offset, length] {
#ifdef __linux__
            (void)::sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
#else
            (void)fd, (void)offset, (void)length;
#endif
        },
        [done = std::move(done)](int) { done(); });
}

} // namespace

void Storage::Impl::written(uv_file fd, const Segment& s, std::function<void(Status)> done) {
    auto self = shared_from_this();
    const std::size_t file = s.file;
    // Counted before `done` runs: a checkpoint (checkpoint.cpp) asks from there whether the file is whole.
    // A file that is now whole is kicked too, whatever is left of it: pieces arrive in any order, so the write
    // that ends a file is not always its last. (The side file has no end of its own; its bytes gather.)
    bool whole = false;
    if (file < written_now.size()) {
        const std::int64_t length = meta.files[file].length;
        whole = written_now[file] < length && written_now[file] + s.length >= length;
        written_now[file] += s.length;
    }
    write_finished(file);
    done(ok_status());
    auto give_back = [self, file] {
        self->fds->release(self->fkey(file));
        self->op_done();
    };
#ifdef __linux__
    Unsent& u = unsent[file];
    u.lo = std::min(u.lo, s.file_offset);
    u.hi = std::max(u.hi, s.file_offset + s.length);
    u.bytes += s.length;
    if (closed || (u.bytes < std::int64_t(kKickBytes) && !whole)) return give_back();
    if (kicks_running >= kMaxKicks) {
        ++stats.writeback_kicks_left;
        // A whole file gets no further write to send its bytes with: the kernel, a checkpoint or the flush writes
        // them, so its entry would only stay in `unsent` until the storage goes.
        if (whole) unsent.erase(file);
        return give_back();
    }
    const std::int64_t lo = u.lo, length = u.hi - u.lo;
    unsent.erase(file);
    ++stats.writeback_kicks;
    ++kicks_running;
    stats.writeback_kicks_most = std::max<std::uint64_t>(stats.writeback_kicks_most, kicks_running);
    start_writeback(loop, fd, lo, length, [self, give_back = std::move(give_back)] {
        --self->kicks_running;
        give_back();
    });
#else
    (void)fd, (void)whole;
    give_back();
#endif
}

} // namespace p2p
