#include "node/share_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "base/read_file.hpp"
#include "maker/torrent_maker.hpp"

namespace p2p {

namespace {

// The files of the item with their stamps, as one JSON array: [[relative path, size, mtime_ns], ...].
Result<nlohmann::json> current_stamps(const std::string& share_dir, const std::string& name) {
    bool is_folder = false;
    auto files = list_source_files(share_dir + "/" + name, is_folder);
    if (!files) return files.error();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& f : *files) {
        struct stat st {};
        if (lstat(f.disk_path.c_str(), &st) != 0) return make_error("stat " + f.disk_path, "failed");
        std::string rel;
        for (const auto& c : f.path) rel += (rel.empty() ? "" : "/") + c;
        long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
        out.push_back({rel, static_cast<long long>(st.st_size), mtime});
    }
    return out;
}

std::string cache_dir(const std::string& share_dir) { return share_dir + "/.p2pnode"; }

// Far above any .torrent or stamp we write; a bound on a bad file.
constexpr std::size_t kMaxCacheFile = 64u << 20;

// Temporary file, fsync, rename: a crash leaves the old file or the new one, never half of one.
Status write_atomic(const std::string& path, const std::string& bytes) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return make_error("open " + tmp, "failed");
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            ::close(fd);
            ::unlink(tmp.c_str());
            return make_error("write " + tmp, "failed");
        }
        done += static_cast<std::size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return make_error("rename " + tmp, "failed");
    return ok_status();
}

} // namespace

Result<Metainfo> load_cached_share(const std::string& share_dir, const std::string& name,
                                   const std::vector<std::string>& trackers) {
    std::string base = cache_dir(share_dir) + "/" + name;
    auto stamp_text = read_file(base + ".stamp", kMaxCacheFile);
    if (!stamp_text) return stamp_text.error();
    nlohmann::json recorded = nlohmann::json::parse(*stamp_text, nullptr, false);
    if (recorded.is_discarded()) return make_error("share cache " + name, "stamp file is not JSON");
    auto now = current_stamps(share_dir, name);
    if (!now) return now.error();
    if (recorded != *now) return make_error("share cache " + name, "files changed since they were hashed");
    auto torrent = read_file(base + ".torrent", kMaxCacheFile);
    if (!torrent) return torrent.error();
    auto meta = parse_torrent(*torrent);
    if (!meta) return meta.error();
    if (meta->name != name) return make_error("share cache " + name, "cached torrent has another name");
    std::vector<std::string> announced;
    for (const auto& tier : meta->trackers)
        for (const auto& t : tier) announced.push_back(t);
    if (announced != trackers) return make_error("share cache " + name, "trackers changed");
    return meta;
}

Status save_cached_share(const std::string& share_dir, const std::string& name, const std::string& torrent_bytes) {
    auto stamps = current_stamps(share_dir, name);
    if (!stamps) return stamps.error();
    ::mkdir(cache_dir(share_dir).c_str(), 0755);
    std::string base = cache_dir(share_dir) + "/" + name;
    if (auto st = write_atomic(base + ".torrent", torrent_bytes); !st) return st;
    return write_atomic(base + ".stamp", stamps->dump());
}

} // namespace p2p
