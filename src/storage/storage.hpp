// Storage of one torrent's data on disk, on the libuv loop: every filesystem call is a uv_fs_* request (run on
// libuv's threadpool), hashing for verify_existing runs through uv_queue_work; no threads of our own.
//
// Callers hand over whole verified pieces (write_piece) and get whole pieces back (read_piece) as shared
// immutable buffers, so serving the 16 KiB blocks of a piece costs one disk read while the piece stays in the
// bounded read cache (the Session's one cache for all torrents, StorageLimits::shared_cache). A piece may span
// several files; each file segment is one pwrite/pread at an offset.
//
// Callbacks: always run later from the loop (never inside the call that registered them), and never after the
// Storage is destroyed. Destroying a Storage with work in flight is allowed: outstanding requests finish on the
// loop (writes still land), their callbacks are dropped, descriptors are closed afterwards.
//
// Buffers: write_piece's piece is shared, never copied: Storage holds a reference until the write completes,
// then the read cache keeps one until evicted. read_piece hands out the cache's buffer (or the one it just read);
// it is freed when the last holder (cache, connection send queue) drops it.
//
// Errors name the operation and path ("write /dl/a/b: No space left on device"). Any I/O error in open,
// write_piece, read_piece, flush or verify (other than a missing or short file during verify) marks the storage
// failed: is_failed()/error() let the torrent pause with that message; write_piece is refused while failed
// (clear_error() after the user fixed the disk); reads and other torrents keep going.
//
// Files: root_dir/name for single-file torrents, root_dir/name/<path...> for multi-file ones (path_safety.hpp).
// open() creates missing folders and files and extends files shorter than their torrent length to that length
// (sparse, via ftruncate). A longer existing file is never shrunk: we do not destroy data we did not write; only
// its first `length` bytes belong to the torrent.
//
// Resume: <root_dir>/.p2pnode/<info-hash-hex>.resume (resume.hpp). Writing a piece changes its file's mtime, so
// call save_resume only when no write_piece is outstanding, with the pieces whose write callbacks succeeded: on
// completion, periodically (e.g. every few minutes while downloading) and on quit after pending writes returned.
// save_resume fsyncs written files first, then records sizes and mtimes. A write after the save makes the record
// stale, which is safe: load_resume then says "re-verify" and the torrent calls verify_existing.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/memory_budget.hpp"
#include "base/result.hpp"
#include "proto/metainfo.hpp"
#include "storage/fd_cache.hpp"
#include "storage/read_cache.hpp"

namespace p2p {

struct StorageLimits {
    std::size_t max_open_files = 32;         // descriptors held by this torrent (LRU, fd_cache.hpp) without shared_fds
    std::size_t read_cache_bytes = 64u << 20; // whole pieces kept for serving (read_cache.hpp)
    std::size_t max_inflight_ops = 16;       // uv_fs read/write/open/fsync requests at once; more wait in a FIFO
    std::size_t verify_window = 4;           // pieces read + hashed at once by verify_existing
    // Set by the Session (issue 7): one read cache for all its torrents (read_cache_bytes is then unused), and
    // the budget whose write pool counts pieces queued for the disk. Null: a cache of our own, no accounting.
    std::shared_ptr<ReadCache> shared_cache;
    std::shared_ptr<MemoryBudget> budget;
    // Set by the Session: one descriptor cache for all its torrents (max_open_files is then unused), which also
    // counts the resume files being read or written. Null: a cache of our own.
    std::shared_ptr<FdCache> shared_fds;
};

struct ResumeState {
    bool valid = false;     // true: `have` can be trusted without hashing
    std::vector<bool> have; // piece_count entries when valid
    std::string reason;     // why not valid ("no resume file", "file 3 changed: size ...")
};

struct StorageStats {
    std::uint64_t pieces_read = 0;    // whole-piece disk reads (read_piece misses and verify)
    std::uint64_t pieces_written = 0; // successful write_piece calls
    std::uint64_t cache_hits = 0;     // read_piece/cached_piece served from the read cache
};

class Storage {
public:
    using PieceCb = std::function<void(Result<std::shared_ptr<const std::string>>)>;

    Storage(uv_loop_t* loop, const Metainfo& meta, std::string root_dir, StorageLimits limits = {});
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    // Creates folders and (sparse) files of the right size.
    void open(std::function<void(Status)> done);
    // `data` is the whole verified piece (exact piece size). The buffer is shared, not copied, and kept in the
    // read cache afterwards (fresh pieces are the ones peers ask for).
    void write_piece(std::uint32_t index, std::shared_ptr<const std::string> data, std::function<void(Status)> done);
    // The whole piece, from the read cache or one read per file segment; concurrent requests for a piece share
    // one read. (The number of waiting callers is bounded by the callers' own request limits.)
    void read_piece(std::uint32_t index, PieceCb done);
    // Synchronous cache lookup for the hot serving path; nullptr on a miss (then use read_piece).
    std::shared_ptr<const std::string> cached_piece(std::uint32_t index);
    // Hash-checks every piece against the metainfo, verify_window pieces at a time. per_piece reports each piece
    // (in completion order: this is the progress report); missing or short files make their pieces not ok.
    // done gets an error only for real I/O failures (EIO, permission, symlink refusal); checking stops there.
    void verify_existing(std::function<void(std::uint32_t index, bool ok)> per_piece, std::function<void(Status)> done);
    // fsync every file written since the last flush.
    void flush(std::function<void(Status)> done);
    // flush, then record `have` (piece_count entries) with every file's size and mtime, crash-safely.
    void save_resume(std::vector<bool> have, std::function<void(Status)> done);
    // Reads the record; valid only if info hash, piece count and every file's size and mtime match.
    void load_resume(std::function<void(ResumeState)> done);

    bool is_failed() const;
    const Error& error() const;
    void clear_error();

    std::string file_path(std::size_t file_index) const; // "" when the metainfo's path is unsafe
    std::string resume_path() const;
    std::size_t open_fds() const;    // descriptors held now by our cache (open + opening + closing + lent)
    std::size_t cache_bytes() const; // bytes held by the read cache
    const StorageStats& stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace p2p
