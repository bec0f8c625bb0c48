// Builds a torrent's metainfo from files on disk: lists a file or folder in a stable order, then hashes it
// through libuv fs reads (libuv's threadpool reads; SHA-1 runs on the loop thread between reads, with the next
// read already in flight).
//
// Deterministic: the same content and piece length give the same info dict (no dates inside info; files sorted
// by their '/'-joined relative path, bytewise, as mktorrent does).
//
// Names: BEP 3 says name and path are UTF-8. A name on disk that is not (a "caf\xe9.txt" from an old archive) or
// holds a control character or backslash is written into the torrent with each such byte replaced by '_', as
// libtorrent does; SourceFile keeps the disk path, so the item is still read (and seeded) where it is.
//
// Stamps: each file's size and mtime are taken when it is listed and checked again on the open descriptor
// before its first read and after its last: a file that changes while it is hashed fails the job
// (Errc::changed_on_disk) instead of yielding hashes of half-old, half-new bytes. MadeTorrent::files carries
// the stamps, so the seeder can refuse to serve a file that moved since (storage.hpp, "Sealed files").
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/file_stamp.hpp"
#include "base/result.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

struct MakeTorrentOptions {
    std::string path;                  // a file or a folder
    std::vector<std::string> trackers; // announce URLs, in order
    std::int64_t piece_length = 0;     // 0: default_piece_length(total)
    bool is_private = false;
};

struct SourceFile {
    std::string disk_path;         // absolute or as given
    std::vector<std::string> path; // components relative to the folder, UTF-8-safe (empty for a single file)
    std::int64_t length = 0;
    FileStamp stamp; // size and mtime when listed (and, after hashing, when hashed)
};

struct MadeTorrent {
    std::string torrent;           // the whole .torrent file
    Metainfo metainfo;             // parsed back from `torrent`, so it is exactly what a peer would see
    std::vector<SourceFile> files; // in the torrent's file order, with the stamps they were hashed at
};

// A name from disk as it goes into a torrent: UTF-8, no control characters, no backslash ('_' instead).
std::string torrent_safe_name(std::string_view disk_name);

// Lists the files that make up `path`, sorted by their torrent paths. Skips symlinks, special files and folders
// named ".p2pnode" (our resume data). Fails when the folder is empty, a name cannot be made a valid path
// component, or two names become the same once made UTF-8-safe.
Result<std::vector<SourceFile>> list_source_files(const std::string& path, bool& is_folder);

// Hashes and builds asynchronously on `loop`. progress(done_bytes, total_bytes) is called as reading advances.
// Callbacks always run from the loop, never inside start(). The returned handle cancels the job when destroyed
// (callbacks then never run).
class TorrentMaker {
public:
    using Progress = std::function<void(std::int64_t done, std::int64_t total)>;
    using Done = std::function<void(Result<MadeTorrent>)>;
    static std::unique_ptr<TorrentMaker> start(uv_loop_t* loop, MakeTorrentOptions opts, Progress progress, Done done);
    ~TorrentMaker();

private:
    struct Job;
    explicit TorrentMaker(std::shared_ptr<Job> job) : job_(std::move(job)) {}
    std::shared_ptr<Job> job_;
};

} // namespace p2p
