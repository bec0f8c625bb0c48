// Where a download puts its files when something is already at its path, decided before a byte is written: a
// file we did not write is never overwritten or mixed with the download (user data is sacred).
//
//   1. A valid resume record of ours for this torrent here: trust it.
//   2. Nothing at the path: a fresh download.
//   3. Something there: hash-check it read-only (nothing created or extended yet), then decide whether it is this
//      torrent's data:
//        - with a (stale) record of ours: yes, unless a file is now longer than its torrent length or something
//          other than a regular file stands where a file or folder of the torrent should be;
//        - without one: also only if every non-empty file overlaps at least one verified piece (a partial copy
//          of the same content is resumed from; a different file with the same name is not this torrent's).
//      This torrent's: the verified pieces are kept and the rest is downloaded into the same files. Not: with
//      `overwrite` (--overwrite) the same, longer files cut to their length; without it the download goes to the
//      first free name "readme.1.txt", "readme.2.txt", ... (folders "photos.1"), as aria2 does, and says so.
//   4. The files are opened (for seeding when every piece verified, else for downloading), and a fresh or
//      adopted download records at once that the files are ours (a resume record, which also keeps the free
//      name), so a restart before the first piece lands still knows them.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "proto/metainfo.hpp"
#include "storage/storage.hpp"

namespace p2p {

struct PlacementOutcome {
    std::vector<bool> have; // pieces verified present (piece_count entries)
    bool renamed = false;   // the files are at storage.save_name(), because the user's own were in the way
    std::string note;       // for the user: what was found (and, unless renamed, what was done)
};

// The free names tried for `name`, in order: "readme.1.txt", "readme.2.txt", ... for a file with an extension,
// "photos.1", ... otherwise (a folder, or a name without a dot). first..last inclusive.
std::vector<std::string> free_name_candidates(const std::string& name, bool is_folder, unsigned first, unsigned last);

// Runs steps 1-4 on `storage` (fresh, nothing opened). `meta` must outlive the call (the torrent owns both);
// continuations run only from the storage's callbacks, so destroying the storage cancels the whole step.
void prepare_download(Storage& storage, const Metainfo& meta, bool overwrite,
                      std::function<void(Result<PlacementOutcome>)> done);

} // namespace p2p
