#include "storage/file_map.hpp"

#include <algorithm>

namespace p2p {

std::int64_t piece_bytes(const Metainfo& m, std::uint32_t index) {
    if (m.piece_length <= 0 || index >= m.piece_count()) return 0;
    const std::int64_t start = std::int64_t(index) * m.piece_length;
    return std::max<std::int64_t>(0, std::min(m.piece_length, m.total_length - start));
}

Result<std::vector<Segment>> map_range(const Metainfo& m, std::uint32_t index, std::int64_t begin,
                                       std::int64_t length) {
    const std::int64_t psize = piece_bytes(m, index);
    if (index >= m.piece_count() || begin < 0 || length < 0 || begin + length > psize)
        return make_error("storage.map",
                          "range piece " + std::to_string(index) + " +" + std::to_string(begin) + " len " +
                              std::to_string(length) + " is outside the torrent",
                          Errc::bad_input);
    std::int64_t abs = std::int64_t(index) * m.piece_length + begin;
    std::int64_t left = length;
    std::vector<Segment> out;
    // First file whose end lies beyond abs; files are sorted by offset (the metainfo parser assigns them in order).
    auto it = std::partition_point(m.files.begin(), m.files.end(),
                                   [abs](const FileEntry& f) { return f.offset + f.length <= abs; });
    std::int64_t buf = 0;
    for (; left > 0 && it != m.files.end(); ++it) {
        if (it->length == 0) continue; // zero-length files hold no bytes
        const std::int64_t in_file = abs - it->offset;
        if (in_file < 0 || in_file >= it->length)
            return make_error("storage.map", "file list has a gap at byte " + std::to_string(abs), Errc::bad_input);
        const std::int64_t n = std::min(left, it->length - in_file);
        out.push_back(Segment{static_cast<std::size_t>(it - m.files.begin()), in_file, n, buf});
        abs += n;
        buf += n;
        left -= n;
    }
    if (left > 0) return make_error("storage.map", "files end before byte " + std::to_string(abs), Errc::bad_input);
    return out;
}

PieceSpan pieces_of_file(const Metainfo& m, std::size_t file) {
    if (file >= m.files.size() || m.piece_length <= 0) return {};
    const auto& f = m.files[file];
    if (f.length == 0) return {};
    return PieceSpan{static_cast<std::uint32_t>(f.offset / m.piece_length),
                     static_cast<std::uint32_t>((f.offset + f.length - 1) / m.piece_length + 1)};
}

} // namespace p2p
