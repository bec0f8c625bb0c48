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
// Files: root_dir/<save name> for single-file torrents, root_dir/<save name>/<path...> for multi-file ones
// (path_safety.hpp); the save name is the torrent's name unless a download was given a free name because the
// user's own file stood there (set_save_name, placement.hpp), or the placement names each file's path outright
// (a shared item, seeded where it is, whose names on disk are not the torrent's UTF-8 names).
// open(download) creates missing folders and files and extends files shorter than their torrent length to that
// length (sparse, via ftruncate). A longer existing file is never shrunk (we do not destroy data we did not
// write) unless the caller says the user asked for it (--overwrite): only its first `length` bytes belong to the
// torrent. open(seed) writes nothing: every file is opened read-only and must have exactly its torrent length,
// so a complete torrent is seeded from read-only files, folders and mounts.
//
// Sealed files: once every piece is known to be on disk (open(seed), a valid complete resume record, or a
// save_resume of a complete torrent) each file's size and mtime are recorded, and every later read from disk
// checks them on the same descriptor after reading (fstat). A file edited since fails the read with
// Errc::changed_on_disk and fails the storage: bytes that no longer match the advertised hashes are never
// served. (Pieces already in the read cache were read while the file matched, so they stay correct.)
//
// File selection (set_wanted): an unwanted file is never created, opened or written. A piece that straddles a
// wanted and an unwanted file (it must be whole to be hash-checked and served) keeps the unwanted file's bytes in
// a side file, <root_dir>/.p2pnode/<info-hash-hex>.parts, at their torrent offset (sparse: only those bytes take
// space); reads find them there. When such a file becomes wanted it is created and its bytes are copied from the
// side file into it. The selection and which (file, piece) bytes are in the side file are in the resume record.
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
#include "storage/resume.hpp"

namespace p2p {

struct StorageLimits {
    std::size_t max_open_files = 32;          // descriptors held by this torrent (LRU, fd_cache.hpp) without shared_fds
    std::size_t read_cache_bytes = 64u << 20; // whole pieces kept for serving (read_cache.hpp)
    std::size_t max_inflight_ops = 16;        // uv_fs read/write/open/fsync requests at once; more wait in a FIFO
    std::size_t verify_window = 4;            // pieces read + hashed at once by verify_existing
    // Set by the Session (--max-memory bounds the sum): one read cache for all its torrents (read_cache_bytes is
    // then unused), and the budget whose write pool counts pieces queued for the disk. Null: a cache of our own, no
    // accounting.
    std::shared_ptr<ReadCache> shared_cache;
    std::shared_ptr<MemoryBudget> budget;
    // Set by the Session: one descriptor cache for all its torrents (max_open_files is then unused), which also
    // counts the resume files being read or written. Null: a cache of our own.
    std::shared_ptr<FdCache> shared_fds;
    // Whole files gathered before they are made durable while the download runs (checkpoint.cpp); 0: only flush
    // makes files durable. 16 MiB: 64 gave the first checkpoint only ~70 % into a download of 2,000 files.
    std::uint64_t checkpoint_bytes = 16u << 20;
};

struct ResumeState {
    bool valid = false;     // true: `have` can be trusted without hashing
    bool found = false;     // a record of ours exists for this torrent here: its files are ours (maybe stale)
    std::vector<bool> have; // piece_count entries when valid
    std::string reason;     // why not valid ("no resume file", "file 3 changed: size ...")
};

// Where a torrent's files are, when it is not root_dir/<meta.name>/...
struct StoragePlacement {
    // One full path per file: a shared item seeded where it is, under the names it has on disk (which may not be
    // the torrent's UTF-8 names). Such a storage is opened with OpenMode::seed only and keeps no resume record.
    std::vector<std::string> disk_paths;
    // One stamp per file when known: the size and mtime the item had when its pieces were hashed. open(seed)
    // refuses files that moved since (Errc::changed_on_disk) and seals the files with these stamps.
    std::vector<FileStamp> stamps;
};

enum class OpenMode {
    seed,     // read-only: nothing is created or written; files must be whole
    download, // creates and extends files (never shrinks one unless truncate_longer)
};

struct StorageStats {
    std::uint64_t pieces_read = 0;          // whole-piece disk reads (read_piece misses and verify)
    std::uint64_t pieces_written = 0;       // successful write_piece calls
    std::uint64_t cache_hits = 0;           // read_piece/cached_piece served from the read cache
    std::uint64_t writeback_kicks = 0;      // sync_file_range calls that started writeback early (writeback.cpp)
    std::uint64_t writeback_kicks_left = 0; // kicks not started because one ran (their bytes wait for the next)
    std::uint64_t writeback_kicks_most = 0; // the most kicks that ran at once (writeback.cpp: kMaxKicks)
    std::uint64_t parent_walks = 0;         // lstat walks of a file's parent folders (later opens skip checked ones)
    std::uint64_t writes_waited = 0;        // file writes that waited for an earlier write to the same file
    std::uint64_t group_flushes = 0;        // flushes of many files by one syncfs per filesystem (group_flush.cpp)
    std::uint64_t filesystem_syncs = 0;     // the syncfs calls of those flushes
    std::uint64_t files_batched = 0;        // files a first open made in a folder's batch (storage_open.cpp)
    std::uint64_t checkpoints = 0;          // flushes of whole files while the download ran (checkpoint.cpp)
    std::uint64_t checkpoint_files = 0;     // the files they made durable
};

class Storage {
public:
    using PieceCb = std::function<void(Result<std::shared_ptr<const std::string>>)>;

    Storage(uv_loop_t* loop, const Metainfo& meta, std::string root_dir, StorageLimits limits = {},
            StoragePlacement placement = {});
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    // download: creates folders and (sparse) files of the right size; truncate_longer shrinks a longer file to
    // its torrent length (only when the user asked to overwrite). seed: see the file comment.
    // A download's first open calls back once each folder's first file is made: the folders' other files are made
    // behind it (storage_open.cpp), so writes may start at once (a write's open makes its file if the chain has
    // not yet). when_files_made calls back when they all are, with the error that stopped them (the storage is
    // then failed); at once (on a later loop turn) when no files are being made. A save of a complete download
    // (save_resume) waits for them itself.
    void open(OpenMode mode, std::function<void(Status)> done, bool truncate_longer = false);
    void when_files_made(std::function<void(Status)> done);
    // Which files are wanted (one entry per file). Before open: the user's selection (a resume record's is then
    // ignored); after: newly wanted files are created and their bytes moved from the side file, then done.
    void set_wanted(std::vector<bool> wanted, std::function<void(Status)> done);
    const std::vector<bool>& wanted() const; // the selection in effect (after load_resume: the record's)
    std::string parts_path() const;          // the side file ("" for a shared item)
    // Before any I/O: the files live at root_dir/name instead of root_dir/<meta.name> (a free name).
    void set_save_name(const std::string& name);
    const std::string& save_name() const;
    // lstat of each file's path now, in file order (size kStampMissing / kStampNotRegular when so), and of the
    // top-level path root_dir/<save name> last.
    void inspect(std::function<void(std::vector<FileStamp>)> done);
    // lstat of root_dir/<name> for each name (to find a free one).
    void probe_names(std::vector<std::string> names, std::function<void(std::vector<FileStamp>)> done);
    // The files' stamps when sealed (empty when not): a piece read from disk is served only if they still match.
    const std::vector<FileStamp>& sealed() const;
    // `data` is the whole verified piece (exact piece size). The buffer is shared, not copied, and kept in the
    // read cache afterwards when `keep_cached` (fresh pieces are the ones peers ask for). It is handed over: once
    // the cache evicts it, or at once when not kept, and no one else holds it, it becomes a spare (spare_buffer)
    // instead of being freed, so the caller keeps no pointer into it beyond its own shared_ptr. Not keeping a
    // piece no connected peer lacks spares a download from seeds the cache's worth of fresh memory: each fresh
    // page is a fault, and a leecher's first 64 MiB of pieces were all fresh.
    void write_piece(std::uint32_t index, std::shared_ptr<std::string> data, std::function<void(Status)> done,
                     bool keep_cached = true);
    // A recycled buffer of exactly `size` bytes (stale contents: the caller overwrites or clears it), or nullptr.
    // A download assembling pieces takes its buffers here, so in steady state each piece reuses memory that is
    // already mapped instead of page-faulting and zero-filling a fresh one (6 % of a leecher's CPU at 1 MiB pieces).
    std::shared_ptr<std::string> spare_buffer(std::size_t size);
    // The whole piece, from the read cache or one read per file segment; concurrent requests for a piece share
    // one read. (The number of waiting callers is bounded by the callers' own request limits.)
    void read_piece(std::uint32_t index, PieceCb done);
    // Synchronous cache lookup for the hot serving path; nullptr on a miss (then use read_piece).
    std::shared_ptr<const std::string> cached_piece(std::uint32_t index);
    // Piece `index` leaves the read cache (the caller knows every connected peer has it); its buffer becomes a
    // spare when no one else holds it. A later read_piece reads it again. No-op when it is not cached.
    void uncache(std::uint32_t index);
    // Hash-checks every piece against the metainfo, verify_window pieces at a time. per_piece reports each piece
    // (in completion order: this is the progress report); missing or short files make their pieces not ok.
    // done gets an error only for real I/O failures (EIO, permission, symlink refusal); checking stops there.
    void verify_existing(std::function<void(std::uint32_t index, bool ok)> per_piece, std::function<void(Status)> done);
    // Every file written since the last flush to disk: an fsync each, or for many files one syncfs per
    // filesystem after waiting for each file's writes (group_flush.cpp). On error, files not known to be on
    // disk stay for the next flush. Waits first for a running checkpoint (checkpoint.cpp).
    void flush(std::function<void(Status)> done);
    // Whether files under `dir` are flushed that way when many (group_flush.cpp): on Linux, on the local
    // filesystems whose syncfs is known to commit and flush (ext2/3/4, XFS, Btrfs, F2FS, tmpfs).
    static bool groups_flushes(const std::string& dir);
    // flush, then record `have` (piece_count entries) with every file's size and mtime and the save name,
    // crash-safely. A record with every piece seals the files.
    void save_resume(std::vector<bool> have, std::function<void(Status)> done);
    // Reads the record; it moves the files to the save name it recorded; valid only if info hash, piece count
    // and every file's size and mtime match. A valid record with every piece seals the files.
    void load_resume(std::function<void(ResumeState)> done);

    bool is_failed() const;
    const Error& error() const;
    void clear_error();
    // Forgets the seal: the caller is about to hash the files again (a download's re-verify) and seals them anew
    // with its next complete save_resume. Reads meanwhile are not checked against the old stamps.
    void unseal();

    std::string file_path(std::size_t file_index) const; // "" when the metainfo's path is unsafe
    std::string resume_path() const;
    std::size_t open_fds() const;    // descriptors held now by our cache (open + opening + closing + lent)
    std::size_t cache_bytes() const; // bytes held by the read cache
    const StorageStats& stats() const;

    struct Impl; // storage_impl.hpp: for the files of src/storage/ only

private:
    std::shared_ptr<Impl> impl_;
};

} // namespace p2p
