// Storage: flushing many written files at once with one filesystem sync, not one fsync each.
//
// Why: flush (and so every resume save) must not return before each written file is on disk. The plain way is an
// fsync per file. Into a folder of 2,000 photos that was 2,000 fsyncs at the end of the download: the first one
// commits the journal with everything in it, and every later one, finding its file already committed, still sends
// the device a cache flush of its own (ext4_sync_file's needs_barrier). Measured with tools/bench-peer CASE=many:
// the four first fsyncs waited ~0.4 s for the commit, the 2,000 others took ~0.3 s more, on a virtual disk whose
// cache flush costs 0.1-0.5 ms. On the hard disk of a NAS a cache flush costs 5-20 ms: tens of seconds.
//
// How, when at least kGroupFlushMin files are dirty (Linux only; elsewhere, and for fewer files, the plain way):
//  1. per file: sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER) writes the file's dirty pages and waits for them;
//     a write error of that file is reported here, by its path, as its fsync would have reported it (both read the
//     file's writeback error state). No journal commit, no cache flush. fstat gives the file's filesystem.
//  2. per filesystem (one of its files stands for it): syncfs commits the metadata of every file on it (sizes,
//     extents: what makes the data reachable after a crash) and flushes the device's cache.
// syncfs covers every file of the filesystem, so together this is at least what one fsync per file gives. It
// also writes back other programs' dirty data on that filesystem; an ext4 fsync in data=ordered mode commits that
// too, so the worst case is no worse.
// Only where syncfs is known to do that (trusted_fs: ext2/3/4, XFS, Btrfs, F2FS, tmpfs). FUSE (ntfs-3g, exfat-fuse:
// common on the USB disks of routers) passes syncfs to its server only when the server implements it, NFS and
// CIFS commit per file, vfat has no sync_fs of its own: there, step 1 is the file's own fsync and step 2 skips it.
//
// Failure: if any step fails, none of the files is known to be on disk, so all of them stay dirty for the next
// flush, and the storage is marked failed as fan_in does for the plain way.
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/magic.h>
#include <sys/vfs.h>
#endif

#include <cerrno>
#include <fcntl.h>
#include <map>

#include "loop/work_req.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// Below this many files the plain way costs at most a few cache flushes: not worth a whole-filesystem sync.
[[maybe_unused]] constexpr std::size_t kGroupFlushMin = 8;

#ifdef __linux__
// statfs f_type values (linux/magic.h) of the local filesystems whose syncfs commits their journal or log and
// flushes the device's cache.
bool trusted_fs(unsigned long type) {
    switch (type) {
    case EXT4_SUPER_MAGIC: // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case F2FS_SUPER_MAGIC:
    case TMPFS_MAGIC: // nothing to make durable
        return true;
    default:
        return false;
    }
}
#endif

// What one blocking step found.
struct SyncResult {
    int err = 0;           // errno of the call that failed (0: all succeeded)
    const char* op = "";   // the call that failed
    std::uint64_t dev = 0; // step 1: st_dev of the file
    bool synced = false;   // step 1: the file was fsynced itself (not a trusted filesystem): no step 2 for it
};

// Step 1 for one file (whole_fs false) or step 2 for its filesystem; runs on libuv's threadpool.
[[maybe_unused]] void run_step(uv_file fd, bool whole_fs, SyncResult& w) {
#ifdef __linux__
    auto fail = [&w](const char* op) {
        w.err = errno;
        w.op = op;
    };
    if (!whole_fs) {
        struct statfs fs {};
        if (::fstatfs(fd, &fs) != 0) return fail("fstatfs");
        if (!trusted_fs(static_cast<unsigned long>(fs.f_type))) {
            w.synced = true;
            if (::fsync(fd) != 0) return fail("fsync");
            return;
        }
        const unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
        if (::sync_file_range(fd, 0, 0, flags) != 0) return fail("sync_file_range");
        struct stat st {};
        if (::fstat(fd, &st) != 0) return fail("fstat");
        w.dev = static_cast<std::uint64_t>(st.st_dev);
    } else {
        if (::syncfs(fd) != 0) return fail("syncfs");
    }
#else
    (void)fd, (void)whole_fs, (void)w;
#endif
}

[[maybe_unused]] void start_sync(uv_loop_t* loop, uv_file fd, bool whole_fs,
                                 std::function<void(const SyncResult&)> done) {
    auto res = std::make_shared<SyncResult>(); // written by the step, read by `done` after it
    work::queue(
        loop, "group flush", [res, fd, whole_fs] { run_step(fd, whole_fs, *res); },
        [res, done = std::move(done)](int status) {
            if (status < 0 && res->err == 0) { // cancelled or refused: never report success
                res->err = -status;
                res->op = "sync";
            }
            done(*res);
        });
}

} // namespace

bool Storage::groups_flushes(const std::string& dir) {
#ifdef __linux__
    struct statfs fs {};
    return ::statfs(dir.c_str(), &fs) == 0 && trusted_fs(static_cast<unsigned long>(fs.f_type));
#else
    (void)dir;
    return false;
#endif
}

bool Storage::Impl::flush_grouped(std::set<std::size_t>& files, std::function<void(Status)> done) {
#ifndef __linux__
    (void)files;
    (void)done;
    return false;
#else
    if (files.size() < kGroupFlushMin) return false;
    struct Job {
        std::set<std::size_t> files;
        std::size_t remaining = 0;
        Status st = ok_status();
        std::map<std::uint64_t, std::size_t> devs; // filesystem -> a file on it
        std::function<void(Status)> done;
    };
    auto job = std::make_shared<Job>();
    job->files = std::move(files);
    job->done = std::move(done);
    auto self = shared_from_this();

    // One step for file i (step 1, or step 2 for its filesystem); `next` runs on the loop after the last one.
    auto run = [self, job](std::size_t i, bool whole_fs, std::function<void()> next) {
        self->submit([self, job, i, whole_fs, next]() {
            auto finish = [self, job, next](Status st) {
                fold(job->st, std::move(st));
                if (--job->remaining == 0) next();
            };
            self->fds->acquire(self->fkey(i), self->opener(i, false), [self, job, i, whole_fs, finish](uv_file fd,
                                                                                                      Status st) {
                if (!st.ok()) {
                    self->op_done();
                    return finish(std::move(st));
                }
                start_sync(self->loop, fd, whole_fs, [self, job, i, whole_fs, finish](const SyncResult& w) {
                    self->fds->release(self->fkey(i));
                    self->op_done();
                    if (w.err != 0) return finish(fsr::uv_error(w.op, self->paths[i], -w.err));
                    if (whole_fs)
                        ++self->stats.filesystem_syncs;
                    else if (!w.synced)
                        job->devs.emplace(w.dev, i);
                    finish(ok_status());
                });
            });
        });
    };
    auto end = [self, job]() {
        if (!job->st.ok()) {
            self->dirty.insert(job->files.begin(), job->files.end()); // none is known to be on disk
            self->mark_failed(job->st.error());
        }
        self->deliver(std::move(job->done), std::move(job->st));
    };
    auto step2 = [self, job, run, end]() {
        if (!job->st.ok() || job->devs.empty()) return end();
        job->remaining = job->devs.size();
        ++self->stats.group_flushes;
        const auto devs = job->devs; // run may finish synchronously (an open that fails at once)
        for (const auto& [dev, i] : devs) run(i, true, end);
    };
    job->remaining = job->files.size();
    const auto list = job->files;
    for (std::size_t i : list) run(i, false, step2);
    return true;
#endif
}

} // namespace p2p
