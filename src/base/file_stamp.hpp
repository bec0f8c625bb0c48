// What identifies a file's content cheaply: its size and modification time. Recorded when pieces are hashed
// (a shared item, a resume record) and compared before they are trusted or served.
#pragma once
#include <sys/stat.h>

#include <cstdint>

namespace p2p {

inline constexpr std::int64_t kStampMissing = -1;    // FileStamp::size of a path that does not exist
inline constexpr std::int64_t kStampNotRegular = -2; // ... of a path that is a folder, a link or a device

struct FileStamp {
    std::int64_t size = kStampMissing; // or kStampNotRegular
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

// From a struct stat or a uv_stat_t (both have st_size and st_mtim with tv_sec/tv_nsec).
template <class Stat>
FileStamp stamp_of(const Stat& st) {
    return FileStamp{std::int64_t(st.st_size),
                     std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + std::int64_t(st.st_mtim.tv_nsec)};
}

} // namespace p2p
