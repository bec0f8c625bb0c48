#include "base/read_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace p2p {

Result<std::string> read_file(const std::string& path, std::size_t max) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error("read " + path, std::strerror(errno), Errc::io);
    std::string out;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || out.size() + static_cast<std::size_t>(n) > max) {
            const int err = errno;
            ::close(fd);
            if (n == 0) return out;
            return make_error("read " + path,
                              n < 0 ? std::string(std::strerror(err)) : "larger than " + std::to_string(max) + " bytes",
                              n < 0 ? Errc::io : Errc::bad_input);
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

} // namespace p2p
