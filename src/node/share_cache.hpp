// Remembers the torrents made from a shared folder, so a restarted peer seeds at once instead of hashing every
// file again. For each shared item NAME (its name on disk): DIR/.p2pnode/NAME.torrent (the metainfo) and
// DIR/.p2pnode/NAME.stamp (JSON: every file's path in the torrent, size and mtime in ns when it was hashed). The
// cache is used only when the item's files are exactly the same list with the same sizes and mtimes; otherwise
// the item is hashed anew. The stamps go on to the seeding storage, which refuses to serve a file that moved
// since (storage.hpp, "Sealed files").
#pragma once
#include <string>
#include <vector>

#include "base/result.hpp"
#include "maker/torrent_maker.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

// A shared item as the seeder needs it: the metainfo and where each of its files is, with its hash-time stamp.
struct ShareSource {
    Metainfo meta;
    std::vector<SourceFile> files; // in the torrent's file order
};

// The cached item share_dir/name if its files are unchanged and it announces to exactly `trackers`.
Result<ShareSource> load_cached_share(const std::string& share_dir, const std::string& name,
                                      const std::vector<std::string>& trackers);
// Records the torrent just made from share_dir/name with the stamps its files were hashed at (best effort; a
// failure, e.g. a read-only folder, only means hashing next time).
Status save_cached_share(const std::string& share_dir, const std::string& name, const std::string& torrent_bytes,
                         const std::vector<SourceFile>& files);

} // namespace p2p
