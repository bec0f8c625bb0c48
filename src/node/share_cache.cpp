#include "node/share_cache.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/read_file.hpp"
#include "base/write_file.hpp"

namespace p2p {

namespace {

std::string rel_path(const SourceFile& f) {
    std::string rel;
    for (const auto& c : f.path) rel += (rel.empty() ? "" : "/") + c;
    return rel;
}

// The files with their stamps, as one JSON array: [[path in the torrent, size, mtime_ns], ...]. The paths are the
// torrent's UTF-8-safe ones (torrent_maker.hpp), so the document always dumps.
nlohmann::json stamps_json(const std::vector<SourceFile>& files) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : files) out.push_back({rel_path(f), f.stamp.size, f.stamp.mtime_ns});
    return out;
}

std::string cache_dir(const std::string& share_dir) { return share_dir + "/.p2pnode"; }

// Far above any .torrent or stamp we write; a bound on a bad file.
constexpr std::size_t kMaxCacheFile = 64u << 20;

} // namespace

Result<ShareSource> load_cached_share(const std::string& share_dir, const std::string& name,
                                      const std::vector<std::string>& trackers) {
    std::string base = cache_dir(share_dir) + "/" + name;
    auto stamp_text = read_file(base + ".stamp", kMaxCacheFile);
    if (!stamp_text) return stamp_text.error();
    nlohmann::json recorded = nlohmann::json::parse(*stamp_text, nullptr, false);
    if (recorded.is_discarded()) return make_error("share cache " + name, "stamp file is not JSON");
    bool is_folder = false;
    auto files = list_source_files(share_dir + "/" + name, is_folder);
    if (!files) return files.error();
    if (recorded != stamps_json(*files))
        return make_error("share cache " + name, "files changed since they were hashed");
    auto torrent = read_file(base + ".torrent", kMaxCacheFile);
    if (!torrent) return torrent.error();
    auto meta = parse_torrent(*torrent);
    if (!meta) return meta.error();
    if (meta->name != torrent_safe_name(name))
        return make_error("share cache " + name, "cached torrent has another name");
    if (meta->files.size() != files->size()) return make_error("share cache " + name, "cached torrent has other files");
    for (std::size_t i = 0; i < files->size(); ++i)
        if (meta->files[i].length != (*files)[i].length)
            return make_error("share cache " + name, "cached torrent has other file sizes");
    std::vector<std::string> announced;
    for (const auto& tier : meta->trackers)
        for (const auto& t : tier) announced.push_back(t);
    if (announced != trackers) return make_error("share cache " + name, "trackers changed");
    return ShareSource{std::move(*meta), std::move(*files)};
}

Status save_cached_share(const std::string& share_dir, const std::string& name, const std::string& torrent_bytes,
                         const std::vector<SourceFile>& files) {
    if (::mkdir(cache_dir(share_dir).c_str(), 0755) != 0 && errno != EEXIST)
        return make_error("mkdir " + cache_dir(share_dir), std::strerror(errno), Errc::io);
    std::string base = cache_dir(share_dir) + "/" + name;
    if (auto st = write_file_atomic(base + ".torrent", torrent_bytes); !st) return st;
    return write_file_atomic(base + ".stamp",
                        stamps_json(files).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace p2p
