// Remembers the torrents made from a shared folder, so a restarted peer seeds at once instead of hashing every
// file again. For each shared item NAME: DIR/.p2pnode/NAME.torrent (the metainfo) and DIR/.p2pnode/NAME.stamp
// (JSON: every file's relative path, size and mtime in ns when it was hashed). The cache is used only when the
// item's files are exactly the same list with the same sizes and mtimes; otherwise the item is hashed anew.
#pragma once
#include <string>

#include "base/result.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

// The cached metainfo of share_dir/name if its files are unchanged and it announces to exactly `trackers`.
Result<Metainfo> load_cached_share(const std::string& share_dir, const std::string& name,
                                   const std::vector<std::string>& trackers);
// Records the torrent just made from share_dir/name (best effort; a failure only means hashing next time).
Status save_cached_share(const std::string& share_dir, const std::string& name, const std::string& torrent_bytes);

} // namespace p2p
