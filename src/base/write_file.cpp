#include "base/write_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace p2p {
namespace {

Status fsync_dir_of(const std::string& path) {
    const std::string dir = folder_of(path);
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return make_error("open " + dir, std::strerror(errno), Errc::io);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return make_error("fsync " + dir, std::strerror(err), Errc::io);
    return ok_status();
}

} // namespace

std::string folder_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

Status write_atomic_parts(const std::string& path, const std::function<bool(std::string&)>& produce) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    // O_NOFOLLOW: a symlink planted at the temporary name (a shared folder others can write to) is not followed.
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return make_error("open " + tmp, std::strerror(errno), Errc::io);
    auto fail = [&](const char* op, int err) {
        ::close(fd);
        ::unlink(tmp.c_str());
        return make_error(op + (" " + tmp), std::strerror(err), Errc::io);
    };
    std::string part;
    for (bool more = true; more;) {
        part.clear();
        more = produce(part);
        std::size_t off = 0;
        while (off < part.size()) {
            ssize_t n = ::write(fd, part.data() + off, part.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return fail("write", n < 0 ? errno : EIO);
            off += static_cast<std::size_t>(n);
        }
    }
    if (::fsync(fd) != 0) return fail("fsync", errno);
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return make_error("rename " + tmp, std::strerror(err), Errc::io);
    }
    return fsync_dir_of(path);
}

Status write_file_atomic(const std::string& path, std::string_view data) {
    return write_atomic_parts(path, [data](std::string& out) {
        out.assign(data);
        return false;
    });
}

} // namespace p2p
