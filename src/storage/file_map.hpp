// Maps a byte range of a torrent (piece index, begin, length) to the files that hold it (BEP 3: the torrent's
// data is the concatenation of its files in order, cut into pieces of piece_length; the last piece may be
// shorter). Pure: no I/O.
#pragma once
#include <cstdint>
#include <vector>

#include "base/result.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

struct Segment {
    std::size_t file = 0;         // index into Metainfo::files
    std::int64_t file_offset = 0; // where the bytes start inside that file
    std::int64_t length = 0;      // > 0: zero-length files never produce a segment
    std::int64_t buf_offset = 0;  // where they start inside the caller's range buffer
    bool operator==(const Segment&) const = default;
};

// Size of piece `index` computed from the layout alone (the last piece may be shorter; 0 if out of range).
std::int64_t piece_bytes(const Metainfo& m, std::uint32_t index);

// Segments covering [begin, begin+length) of piece `index`, in file order. Errors if the range is not inside the
// piece or the file list does not cover it.
Result<std::vector<Segment>> map_range(const Metainfo& m, std::uint32_t index, std::int64_t begin, std::int64_t length);

// Pieces that have at least one byte in file `file` (empty range for zero-length files): [first, last).
struct PieceSpan {
    std::uint32_t first = 0, last = 0;
};
PieceSpan pieces_of_file(const Metainfo& m, std::size_t file);

} // namespace p2p
