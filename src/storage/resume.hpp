// Resume data: which pieces were verified, plus each file's size and mtime when that was recorded, so a restart
// can skip hashing when nothing on disk changed.
//
// File: <root_dir>/.p2pnode/<info-hash-hex>.resume, JSON:
//   {"p2pnode_resume":1,"info_hash":"<40 hex>","piece_count":N,"have":"<hex of the BEP 3 bitfield>",
//    "files":[[size, mtime_ns], ...], "save_name_hex":"<hex>"}   size -1 = the file did not exist, -2 = not a
//    regular file; save_name_hex (optional) = the name on disk when a free name was chosen (hex: any bytes).
//    Optional, file selection: "wanted":"0110..." (one digit per file, absent = every file wanted) and
//    "parts":[[file, piece], ...] (the bytes of that file in that piece are in the side file <hex>.parts).
// The record is trusted only if every file's size and mtime still match exactly; otherwise the caller re-verifies.
// Saved crash-safely: written to "<name>.tmp" in the same folder, fsync'ed, renamed over, folder fsync'ed.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_stamp.hpp"
#include "base/result.hpp"

namespace p2p {

struct ResumeData {
    std::string info_hash; // 20 raw bytes
    std::uint32_t piece_count = 0;
    std::vector<bool> have; // piece_count entries
    std::vector<FileStamp> files;
    std::string save_name;    // the top-level name on disk when it is not the torrent's (a free name); "" otherwise
    std::vector<bool> wanted; // per file; empty = every file wanted (no selection recorded)
    std::vector<std::pair<std::uint32_t, std::uint32_t>> parts; // (file, piece) whose bytes are in the side file
};

inline constexpr std::size_t kMaxResumeFileSize = 64u << 20; // 2M pieces and many files fit easily

std::string encode_resume(const ResumeData& r);
// Non-throwing; any structural problem is an Error.
Result<ResumeData> decode_resume(std::string_view text);

// Async helpers on the libuv threadpool. Each holds at most one descriptor at a time and calls `done` only after
// closing it, so a caller may count them as one descriptor each (FdCache::acquire_slot).
// Writes `bytes` to dir/name via dir/name.tmp + fsync + rename + fsync(dir).
void write_file_atomic(uv_loop_t* loop, std::string dir, std::string name, std::string bytes,
                       std::function<void(Status)> done);
// Reads a whole small file (refuses symlinks and files over max_size). Errc::not_found when missing.
void read_small_file(uv_loop_t* loop, std::string path, std::size_t max_size,
                     std::function<void(Status, std::string)> done);
// lstat's each path (in threadpool jobs of 256 paths, at most 2 at once); missing paths give size kStampMissing,
// others that are not regular files kStampNotRegular.
void stat_files(uv_loop_t* loop, std::vector<std::string> paths, std::function<void(std::vector<FileStamp>)> done);

} // namespace p2p
