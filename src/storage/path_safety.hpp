// Where a torrent's files live on disk, and the checks that keep every write inside the download folder.
//
// Path of file i = root_dir / name [/ path components...] (multi-file torrents live under the folder `name`).
// Every component is re-checked with check_path_component (no "", ".", "..", separators, NUL; CVE-2009-1760)
// even though the metainfo parser already did, because a Metainfo can also be built by hand or from BEP 9 data.
// Inside root_dir no existing component may be a symlink: each parent directory is lstat'ed before use and the
// file itself is opened with O_NOFOLLOW. root_dir itself is the user's choice and may be a symlink.
// (A local attacker racing us between lstat and open is out of scope; the threat is a hostile torrent or a
// pre-existing folder with links in it.)
#pragma once
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

// Checked components of file `i` relative to root_dir (the first is always the torrent name); an unsafe one is
// refused (Errc::refused).
Result<std::vector<std::string>> file_components(const Metainfo& m, std::size_t i);

// root + "/" + the first n components (all when n is npos).
std::string join_path(const std::string& root, const std::vector<std::string>& comps,
                      std::size_t n = std::string::npos);

// mkdir -p root (async). Existing directories are fine; no symlink checks (the user chose root).
void make_root_dirs(uv_loop_t* loop, std::string root, std::function<void(Status)> done);

// Async: lstat root/c0, root/c0/c1, ... for every component except the last. A symlink or non-directory is
// refused (Errc::refused); a missing directory is created when `create`, else reported as Errc::not_found.
void check_parents(uv_loop_t* loop, std::string root, std::vector<std::string> comps, bool create,
                   std::function<void(Status)> done);

} // namespace p2p
