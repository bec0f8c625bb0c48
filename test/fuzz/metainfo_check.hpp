// Invariants of a Metainfo accepted by parse_torrent / parse_info_dict (shared by two fuzz targets).
#pragma once
#include "crypto/sha.hpp"
#include "fuzz_common.hpp"
#include "proto/metainfo.hpp"

namespace fuzz {

inline void check_metainfo(const p2p::Metainfo& m) {
    FUZZ_CHECK(m.info_hash.size() == 20);
    FUZZ_CHECK(p2p::sha1(m.info_bytes) == m.info_hash);
    FUZZ_CHECK(p2p::check_path_component(m.name).ok());
    FUZZ_CHECK(m.piece_length >= p2p::kMinPieceLength && m.piece_length <= p2p::kMaxPieceLength);
    FUZZ_CHECK((m.piece_length & (m.piece_length - 1)) == 0);
    FUZZ_CHECK(m.piece_hashes.size() % 20 == 0 && m.piece_count() > 0 && m.piece_count() <= p2p::kMaxPieces);
    FUZZ_CHECK(!m.files.empty());
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        const auto& f = m.files[i];
        FUZZ_CHECK(f.length >= 0 && f.offset == offset);
        FUZZ_CHECK(!f.path.empty());
        for (const auto& c : f.path) FUZZ_CHECK(p2p::check_path_component(c).ok());
        FUZZ_CHECK(!m.relative_path(i).empty());
        offset += f.length;
    }
    FUZZ_CHECK(offset == m.total_length);
    // The pieces cover the data exactly: the last piece holds 1..piece_length bytes.
    std::int64_t before_last = m.piece_length * static_cast<std::int64_t>(m.piece_count() - 1);
    FUZZ_CHECK(m.total_length > before_last && m.total_length <= before_last + m.piece_length);
    FUZZ_CHECK(m.piece_size(m.piece_count() - 1) == m.total_length - before_last);
    // The info dict alone parses to the same torrent.
    auto again = p2p::parse_info_dict(m.info_bytes, m.info_hash);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->name == m.name && again->piece_hashes == m.piece_hashes &&
               again->total_length == m.total_length && again->files.size() == m.files.size() &&
               again->is_private == m.is_private && again->multi_file == m.multi_file);
}

} // namespace fuzz
