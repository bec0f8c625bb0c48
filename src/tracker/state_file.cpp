#include "tracker/state_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "tracker/state_writer.hpp"

namespace p2p {
namespace {

Error corrupt(std::string what) { return make_error("state.parse", std::move(what), Errc::bad_input); }

} // namespace

Status check_state_path(const std::string& path) {
    const std::string dir = folder_of(path);
    struct stat sb {};
    if (::stat(dir.c_str(), &sb) != 0) {
        if (errno == ENOENT) return make_error("", "folder " + dir + " does not exist");
        return make_error("", "folder " + dir + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode)) return make_error("", dir + " is not a folder");
    if (::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode)) return make_error("", "is a folder, not a file");
    // Try what a save does first: create a file beside it (access(2) would miss read-only mounts and ACLs).
    const std::string probe = path + ".check." + std::to_string(::getpid());
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return make_error("", "cannot create a file in " + dir + ": " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
    return ok_status();
}

std::uint32_t wall_seconds() { return static_cast<std::uint32_t>(std::time(nullptr)); }

std::string serialize_state(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& c,
                            std::uint32_t now) {
    StateWriter w(store, catalog, c, now);
    std::string out;
    while (w.next(out, kStateChunk)) {}
    return out;
}

Status save_state(const std::string& path, const SwarmStore& store, const Catalog& catalog,
                  const TrackerCounters& counters, std::uint32_t now) {
    StateWriter w(store, catalog, counters, now);
    return write_atomic_parts(path, [&w](std::string& out) { return w.next(out, kStateChunk); });
}

LoadOutcome load_state(const std::string& path, TrackerState into, std::uint32_t now) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return LoadOutcome::fresh;
        log_warn("tracker", "cannot open state file " + path + ": " + std::strerror(errno) + "; starting empty");
        return LoadOutcome::fresh;
    }
    // Read straight from the file, a buffer at a time (state_reader.hpp): never the whole document in memory.
    std::FILE* f = ::fdopen(fd, "rb");
    if (!f) {
        ::close(fd);
        log_warn("tracker", "cannot read state file " + path + ": " + std::strerror(errno) + "; starting empty");
        return LoadOutcome::fresh;
    }
    struct stat sb {};
    const bool empty = ::fstat(fd, &sb) == 0 && sb.st_size == 0;
    Status st = empty ? Status(corrupt("empty file")) : parse_state_file(f, into, now);
    std::fclose(f);
    if (st) return LoadOutcome::loaded;
    std::string aside = path + ".corrupt";
    into.store.clear();
    into.catalog.clear();
    into.counters = TrackerCounters{};
    if (::rename(path.c_str(), aside.c_str()) != 0)
        log_warn("tracker", "cannot move " + path + " aside: " + std::strerror(errno));
    log_warn("tracker",
             "state file " + path + " is unusable (" + st.error().what + "); moved to " + aside + ", starting empty");
    return LoadOutcome::corrupt;
}

} // namespace p2p
