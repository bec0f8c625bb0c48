// A torrent's files as a whole: how much of each is done (the console's `files`, an RPC's file list), and
// deleting what a download wrote (Session::remove_torrent with delete_files).
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "proto/metainfo.hpp"
#include "swarm/bitfield.hpp"

namespace p2p {

struct FileProgress {
    std::size_t index = 0;
    std::string path; // relative to the torrent's folder, '/'-separated (the name alone for a single file)
    std::uint64_t size = 0;
    std::uint64_t done = 0; // bytes of the file inside verified pieces we have
    bool wanted = true;     // file selection: false = not downloaded (Torrent::set_files_wanted)
};
// Pure: from the metainfo and the pieces we have.
std::vector<FileProgress> file_progress(const Metainfo& m, const swarm::Bitfield& have);

// --select-file: each spec is either a list of 0-based file indices separated by commas ("0,2,5") or one file's
// path as in the torrent ('/'-separated, below the torrent's folder; no globbing). The result has one entry per
// file, true for the selected ones. An index out of range or a path the torrent lacks is an error
// (Errc::bad_input) naming it.
Result<std::vector<bool>> select_files(const Metainfo& m, const std::vector<std::string>& specs);

// What deleting a download removes: its files and resume record, then its folders, deepest first, each only if
// empty (rmdir), so nothing a user put there goes with them.
struct TorrentFiles {
    std::vector<std::string> files;
    std::vector<std::string> dirs;
};
// The folders between `top` (included) and each file, deepest first; files not under `top` add none.
std::vector<std::string> folders_of(const std::string& top, const std::vector<std::string>& files);
// Unlinks every file (a missing one is fine), then removes the folders that are empty; done gets the first error.
// Each step runs on libuv's threadpool.
void remove_torrent_files(uv_loop_t* loop, TorrentFiles what, std::function<void(Status)> done);

} // namespace p2p
