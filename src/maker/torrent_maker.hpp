// Builds a torrent's metainfo from files on disk: lists a file or folder in a stable order, then hashes it
// through libuv fs reads (libuv's threadpool reads; SHA-1 runs on the loop thread between reads, with the next
// read already in flight).
//
// Deterministic: the same content and piece length give the same info dict (no dates inside info; files sorted
// by their '/'-joined relative path, bytewise, as mktorrent does).
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

struct MakeTorrentOptions {
    std::string path;                   // a file or a folder
    std::vector<std::string> trackers;  // announce URLs, in order
    std::int64_t piece_length = 0;      // 0: default_piece_length(total)
    bool is_private = false;
};

struct MadeTorrent {
    std::string torrent;   // the whole .torrent file
    Metainfo metainfo;     // parsed back from `torrent`, so it is exactly what a peer would see
};

struct SourceFile {
    std::string disk_path;          // absolute or as given
    std::vector<std::string> path;  // components relative to the folder (empty for a single file)
    std::int64_t length = 0;
};

// Lists the files that make up `path`, sorted. Skips symlinks, special files and dot-folders named ".p2pnode"
// (our resume data). Fails when the folder is empty or a name is not a valid path component.
Result<std::vector<SourceFile>> list_source_files(const std::string& path, bool& is_folder);

// Hashes and builds asynchronously on `loop`. progress(done_bytes, total_bytes) is called as reading advances.
// The returned handle cancels the job when destroyed (callbacks then never run).
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
