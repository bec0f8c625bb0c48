// Storage's private state and its internal steps, shared by storage.cpp (I/O core, reads and writes),
// storage_open.cpp (open modes, inspection, sealing), storage_verify.cpp (hash-checking what is on disk) and
// storage_resume.cpp (resume records). Not for use outside src/storage/.
#pragma once
#include <fcntl.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "loop/fs_req.hpp"
#include "loop/timer.hpp"
#include "storage/fd_cache.hpp"
#include "storage/file_map.hpp"
#include "storage/read_cache.hpp"
#include "storage/storage.hpp"

namespace p2p {

// How a torrent's file is opened, by both open paths (open_fd through the descriptor cache, create_batch): never
// through a link (the file itself; its folders are walked by path_safety.hpp), never inherited by a child.
inline constexpr int kFileOpenFlags = O_NOFOLLOW | O_CLOEXEC;
inline constexpr int kFileMode = 0644;

// A download's file at open: a shorter one is extended to its torrent length; a longer one is shrunk only when
// the user asked to overwrite (its bytes past the torrent are not ours).
inline bool needs_resize(std::int64_t old_size, std::int64_t want, bool truncate_longer) {
    return old_size < want || (old_size > want && truncate_longer);
}

// Missing and short files are expected while verifying a partial download; everything else is a real failure.
inline bool soft_error(const Status& st) {
    return !st.ok() && (st.error().code == Errc::not_found || st.error().code == Errc::short_read);
}

// Several segment results folded into one: a hard error wins over a soft one, the first of each kind is kept.
inline void fold(Status& acc, Status st) {
    if (st.ok()) return;
    if (acc.ok() || (soft_error(acc) && !soft_error(st))) acc = std::move(st);
}

struct Storage::Impl : std::enable_shared_from_this<Impl> {
    using ReadDone = std::function<void(Status, std::shared_ptr<std::string>)>;

    uv_loop_t* loop;
    Metainfo meta; // layout only (no info_bytes): operations may outlive the caller's Metainfo. meta.name is the
                   // save name (set_save_name), which is where the files are.
    std::string placement_name; // the torrent's own name: a save name that differs is recorded in the resume record
    std::string root;
    StorageLimits limits;
    StoragePlacement placement;
    std::vector<Result<std::vector<std::string>>> comps;       // per file: checked components, or why refused
    std::vector<std::string> paths;                            // per file: full path ("" when refused)
    std::shared_ptr<FdCache> fds;                              // limits.shared_fds, or one of our own
    std::shared_ptr<ReadCache> cache;                          // limits.shared_cache, or one of our own
    const std::uint32_t cache_owner = ReadCache::next_owner(); // our id in both shared caches
    std::uint64_t ckey(std::uint32_t index) const { return ReadCache::key(cache_owner, index); }
    std::uint64_t fkey(std::size_t file) const { return FdCache::key(cache_owner, static_cast<std::uint32_t>(file)); }
    Timer post_timer;
    std::deque<std::function<void()>> posted;      // callbacks for the next loop turn; bounded by the calls made
    std::deque<std::function<void()>> pending_ops; // waiting for an in-flight slot; bounded by callers' requests
    std::size_t inflight = 0;                      // <= limits.max_inflight_ops
    std::unordered_map<std::uint32_t, std::vector<PieceCb>> reading; // coalesced read_piece callers
    std::set<std::size_t> dirty;                                     // files written since the last flush
    // Parent folders of our files already found (lstat) or made to be real directories: later opens of files in
    // them skip that walk. A torrent of 2,000 files reopens them thousands of times through a descriptor cache of
    // 128, and the walk was two lstat calls per open. Someone swapping a checked folder for a link while we run
    // is the local race path_safety.hpp leaves out of scope. Cleared when the paths change (compute_paths).
    std::unordered_set<std::string> checked_parents;
    // Written bytes not yet handed to the kernel's writeback (writeback.cpp): per file the byte range written
    // since its last kick and how many bytes. Bounded by the number of files (an entry holds < kKickBytes, or more
    // while the one kick allowed at a time runs). kicks_running: sync_file_range jobs in the pool (<= kMaxKicks).
    struct Unsent {
        std::int64_t lo = INT64_MAX, hi = 0, bytes = 0;
    };
    std::unordered_map<std::size_t, Unsent> unsent;
    std::size_t kicks_running = 0;
    std::vector<std::int64_t> written_now; // per file (not the side file): bytes written by this Storage
    // Per file: bytes from here to the end are known to be zeros because open() extended the file (sparse) from
    // this size and nothing was written since; INT64_MAX when nothing is known. Lets verify_existing skip reading
    // and hashing pieces of a fresh download (a 1 GiB torrent otherwise hashes 1 GiB of zeros before starting).
    std::vector<std::int64_t> zeros_from;
    // zeros_from of a file the background chain has yet to make: nothing known (like INT64_MAX), but the chain may
    // set what it finds, as no write has touched the file (a write sets INT64_MAX).
    static constexpr std::int64_t kZerosPending = INT64_MAX - 1;
    // Opened with OpenMode::seed: descriptors are read-only and nothing is created.
    bool read_only = false;
    // Per file, when sealed: the size and mtime every read from disk must still find (storage.hpp).
    std::vector<FileStamp> sealed;
    // File selection (storage.hpp): per file whether it is wanted (created and written); the user's selection
    // when set before open (a resume record's is then ignored). in_parts: (file, piece) whose bytes of that file
    // are in the side file (paths[parts_index()]) instead of the file; bounded by files x pieces, in practice the
    // boundary pieces of unwanted files.
    std::vector<bool> wanted;
    bool selection_from_user = false;
    std::set<std::pair<std::size_t, std::uint32_t>> in_parts;
    bool opened = false;    // open() succeeded: a newly wanted file is created by set_wanted
    bool migrating = false; // a migrate_next chain is running
    std::size_t parts_index() const { return meta.files.size(); }
    bool has_parts() const { return paths.size() > meta.files.size(); }
    // Where a segment of piece `piece` is: in its file, or at its torrent offset in the side file.
    Segment locate(std::uint32_t piece, Segment s) const {
        if (!has_parts() || !in_parts.count({s.file, piece})) return s;
        s.file_offset += meta.files[s.file].offset;
        s.file = parts_index();
        return s;
    }
    std::vector<std::string> file_paths() const {
        return std::vector<std::string>(paths.begin(), paths.begin() + std::min(paths.size(), meta.files.size()));
    }
    // Copies the side file's bytes of wanted files into the files, one (file, piece) at a time.
    void migrate_next(std::function<void(Status)> done);
    // Creates (and extends to its length) each file in `files`; `initial`: the first open (zeros_from is known).
    // The first open of a download makes its files in batches (create_files); otherwise each file goes through
    // the descriptor cache on its own (open_each).
    void open_files(std::vector<std::size_t> files, bool seed, bool truncate_longer, bool initial,
                    std::function<void(Status)> done);
    void open_each(std::vector<std::size_t> files, bool seed, bool truncate_longer, bool initial,
                   std::function<void(Status)> done);
    void create_files(std::vector<std::size_t> files, bool truncate_longer, std::function<void(Status)> done);
    void create_batch(std::vector<std::size_t> part, std::size_t from, bool truncate_longer,
                      std::vector<std::size_t> again, std::function<void(Status)> done);
    // A download's first open returns once each folder's first file is made; the folders' other files are made
    // behind it, one folder's job at a time (make_folders), while pieces already download. `making`: that chain
    // runs. made_waiters: when_files_made callers, told when it ends (bounded by the callers: the torrent, and its
    // save of a complete download). A file the chain has not reached yet is made by its first write's open, as
    // any open for writing makes it; the chain then only extends it.
    bool making = false;
    std::vector<std::function<void(Status)>> made_waiters;
    void make_folders(std::shared_ptr<std::vector<std::vector<std::size_t>>> rest, std::size_t k,
                      bool truncate_longer);
    void when_made(std::function<void(Status)> fn);
    bool closed = false; // the Storage is gone: drop user callbacks
    bool failed = false;
    Error error;
    Status status() const { return failed ? Status(error) : ok_status(); }
    bool root_ready = false;
    StorageStats stats;

    Impl(uv_loop_t* l, const Metainfo& m, std::string r, StorageLimits lim, StoragePlacement pl);
    // Every operation holds `self`, so none is running now: each descriptor of ours in a shared cache is idle.
    ~Impl() { fds->close_idle_of(cache_owner); }

    void compute_paths();
    bool explicit_paths() const { return !placement.disk_paths.empty(); }
    void with_fd_slot(std::function<void(std::function<void()> release)> job);
    void mark_failed(const Error& e);

    // --- delivery of user callbacks: always on a later loop turn, never after the Storage is destroyed ---
    void post(std::function<void()> fn);
    void drain_posted();
    void deliver(std::function<void(Status)> cb, Status st) {
        if (cb) post([cb = std::move(cb), st = std::move(st)]() mutable { cb(std::move(st)); });
    }
    // One user callback for a fan-out of n operations (one per file): results are folded (a hard error wins), and
    // after the n-th call the storage is marked failed on error and `done` is delivered, exactly once.
    std::function<void(Status)> fan_in(std::size_t n, std::function<void(Status)> done);

    // --- bounded in-flight operations ---
    void submit(std::function<void()> op);
    void op_done();

    // --- files ---
    // recheck: walk the parents even when checked before (the open without the walk found the folder gone).
    void open_file(std::size_t i, bool create, std::function<void(uv_file, Status)> cb, bool recheck = false);
    void open_fd(std::size_t i, bool create, int access, std::function<void(uv_file, Status)> cb);
    FdCache::Opener opener(std::size_t i, bool create);
    // One segment: acquire the descriptor, pread/pwrite until done, (reads of sealed files: fstat), release.
    // `buf` points into a buffer kept alive by `done`'s captures.
    // Writes wait here while another write to their file runs (storage.cpp): io_segment -> io_now.
    void io_segment(bool write, Segment s, char* buf, std::function<void(Status)> done);
    void io_now(bool write, Segment s, char* buf, std::function<void(Status)> done);
    void write_finished(std::size_t file); // starts the file's next queued write, if any
    // Flushes `files` (moved from when it returns true) by one sync per filesystem instead of an fsync each
    // (group_flush.cpp); false: too few files, or not Linux: the caller fsyncs them one by one.
    bool flush_grouped(std::set<std::size_t>& files, std::function<void(Status)> done);
    // `files` to disk, grouped or an fsync each; those that fail go back to `dirty` and the storage is failed.
    void flush_files(std::set<std::size_t> files, std::function<void(Status)> done);
    void flush_dirty(std::function<void(Status)> done); // flush's body, once no checkpoint runs
    // Checkpoints (checkpoint.cpp): files whose every byte is written and that no write waits for, gathered until
    // they hold limits.checkpoint_bytes, then flushed while the download goes on. One at a time; flush callers
    // wait for it in after_checkpoint (bounded by the flush callers: resume saves).
    std::set<std::size_t> whole_files;
    std::uint64_t whole_bytes = 0;
    bool checkpointing = false;
    std::vector<std::function<void()>> after_checkpoint;
    void file_written(std::size_t file); // after a successful write to `file` (write_piece)
    void start_checkpoint();
    struct QueuedWrite {
        Segment s;
        char* buf;
        std::function<void(Status)> done;
    };
    // Files with a write running -> the writes waiting behind it (bounded: each is a piece in the write pool).
    std::unordered_map<std::size_t, std::deque<QueuedWrite>> writing;
    std::deque<std::size_t> finished_writes; // files whose write ended while write_finished was running
    bool starting_writes = false;
    void rw(bool write, uv_file fd, Segment s, char* buf, std::int64_t pos, std::function<void(Status)> done);
    void check_seal(uv_file fd, std::size_t file, std::function<void(Status)> done);
    // After a successful write of `s` through `fd` (io_now, which holds the descriptor and the op slot): lets the
    // file's next write start, tells `done`, then starts the kernel's writeback of the file's written range when
    // enough has gathered, before giving back the descriptor and the slot (writeback.cpp).
    void written(uv_file fd, const Segment& s, std::function<void(Status)> done);
    // A whole piece read, one request per file segment, all in flight together.
    void read_whole(std::uint32_t index, ReadDone done);
    void seal(std::vector<FileStamp> stamps) { sealed = std::move(stamps); }
};

} // namespace p2p
