#include "cli/make_torrent_cmd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "loop/loop.hpp"
#include "maker/torrent_maker.hpp"
#include "node/progress.hpp"

namespace p2p {

namespace {

// The torrent's name as the maker derives it (src/maker/torrent_maker.cpp): the last component of the path.
std::string torrent_name(const std::string& path) {
    namespace fs = std::filesystem;
    std::string name = fs::path(path).lexically_normal().filename().string();
    if (name.empty()) name = fs::path(path).lexically_normal().parent_path().filename().string();
    return name;
}

// Before any hashing (which can take minutes): the output must not exist (unless `force`), must not be a
// folder, and its folder must exist and be writable. Also the temporary `tmp` next to it.
Status check_output(const std::string& out, const std::string& tmp, bool force) {
    struct stat st {};
    if (::lstat(out.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return make_error("", out + " is a folder");
        if (!force) return make_error("", out + " exists (use --force to replace it)");
    }
    if (::lstat(tmp.c_str(), &st) == 0 && !force) return make_error("", tmp + " exists (use --force to replace it)");
    std::string dir = std::filesystem::path(out).parent_path().string();
    if (dir.empty()) dir = ".";
    if (::stat(dir.c_str(), &st) != 0)
        return make_error("cannot write " + out, "folder " + dir + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return make_error("cannot write " + out, dir + " is not a folder");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        return make_error("cannot write " + out, "folder " + dir + ": " + std::strerror(errno));
    return ok_status();
}

// The whole of `data` into `path` (created or truncated, 0644 less the umask), flushed to the disk.
Status write_whole(const std::string& path, std::string_view data) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return make_error("write " + path, std::strerror(errno));
    std::size_t at = 0;
    while (at < data.size()) {
        const ssize_t n = ::write(fd, data.data() + at, data.size() - at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int e = n < 0 ? errno : EIO;
            ::close(fd);
            return make_error("write " + path, std::strerror(e));
        }
        at += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int e = errno;
        ::close(fd);
        return make_error("fsync " + path, std::strerror(e));
    }
    if (::close(fd) != 0) return make_error("close " + path, std::strerror(errno));
    return ok_status();
}

// tmp -> out. Without `force`, never replaces a file that appeared at `out` while we were hashing.
Status move_into_place(const std::string& tmp, const std::string& out, bool force) {
    if (!force) {
        if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) == 0) return ok_status();
        if (errno == EEXIST) return make_error("", out + " exists (use --force to replace it)");
        if (errno != EINVAL && errno != ENOSYS) return make_error("rename " + tmp, std::strerror(errno));
        // A file system without RENAME_NOREPLACE: check, then rename (the window is the rename itself).
        struct stat st {};
        if (::lstat(out.c_str(), &st) == 0) return make_error("", out + " exists (use --force to replace it)");
    }
    if (std::rename(tmp.c_str(), out.c_str()) != 0) return make_error("rename " + tmp, std::strerror(errno));
    return ok_status();
}

} // namespace

int run_make_torrent(const CliOptions& opts) {
    std::string out = opts.output;
    if (out.empty()) {
        std::string name = torrent_name(opts.make_path);
        if (auto ok = check_path_component(name); !ok) {
            std::fprintf(stderr, "p2pnode: make-torrent name: %s\n", ok.error().what.c_str());
            return 1;
        }
        out = name + ".torrent";
    }
    // Write to a temporary name and rename, so an interrupted run never leaves a half .torrent.
    const std::string tmp = out + ".part";
    if (auto st = check_output(out, tmp, opts.force); !st) {
        std::fprintf(stderr, "p2pnode: %s\n", st.error().str().c_str());
        return 1;
    }
    Loop loop;
    loop.on_hangup([] { (void)reopen_log(); }); // log rotation; a failure is reported in the old log
    MakeTorrentOptions mo{opts.make_path, opts.tracker_urls, opts.piece_size, opts.is_private};
    ProgressPrinter printer(!opts.quiet, stderr_is_terminal());
    std::string label = "hashing";
    int rc = 1;
    auto job = TorrentMaker::start(
        loop.get(), mo,
        [&](std::int64_t done, std::int64_t total) {
            printer.update(ProgressInfo{label, done, total}, uv_now(loop.get()));
        },
        [&](Result<MadeTorrent> r) {
            if (!r) { // above the live progress line, not glued to it
                print_above_status_line(stderr, "p2pnode: " + r.error().str() + "\n");
                return;
            }
            const Metainfo& m = r->metainfo;
            printer.finish(ProgressInfo{label, m.total_length, m.total_length});
            // stdio, not an ofstream: a stream would link the whole iostream and locale machinery (~300 KB of
            // a static binary, docs/cross.md) for this one write.
            if (Status st = write_whole(tmp, r->torrent); !st) {
                std::fprintf(stderr, "p2pnode: %s\n", st.error().str().c_str());
                std::remove(tmp.c_str());
                return;
            }
            if (auto st = move_into_place(tmp, out, opts.force); !st) {
                std::fprintf(stderr, "p2pnode: %s\n", st.error().str().c_str());
                std::remove(tmp.c_str());
                return;
            }
            Magnet mag{m.info_hash, m.name, opts.tracker_urls};
            std::printf("torrent:   %s\n", out.c_str());
            std::printf("name:      %s\n", m.name.c_str());
            std::printf("size:      %lld bytes in %u pieces of %lld\n", static_cast<long long>(m.total_length),
                        m.piece_count(), static_cast<long long>(m.piece_length));
            std::printf("info hash: %s\n", to_hex(m.info_hash).c_str());
            std::printf("magnet:    %s\n", make_magnet(mag).c_str());
            rc = 0;
        });
    loop.run();
    return rc;
}

} // namespace p2p
