// BEP 3 metainfo (.torrent) parsing, validation and creation; BEP 12 announce-list; BEP 27 private flag.
// Pure: bytes in, a validated Metainfo or an Error out. Nothing here touches the disk.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/bencode.hpp"

namespace p2p {

// Piece sizes we make and accept: a power of two from one 16 KiB block (BEP 3) up to 64 MiB, past which a single
// piece's buffers (assembly, verification, the read cache) would dominate a small device's memory.
inline constexpr std::int64_t kMinPieceLength = 16 * 1024;
inline constexpr std::int64_t kMaxPieceLength = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxTorrentFileSize = 10u << 20; // .torrent files above 10 MB are refused
// Over 2 million pieces is refused: a hostile .torrent must not make us allocate per-piece state (hashes, picker,
// bitfields) without bound, and real torrents stay far below (1 TiB in 1 MiB pieces is ~1 million).
inline constexpr std::size_t kMaxPieces = 2'000'000;

struct FileEntry {
    std::vector<std::string> path; // sanitised components, relative to the torrent's root folder
    std::int64_t length = 0;
    std::int64_t offset = 0; // byte offset of this file in the torrent's concatenated data
};

struct Metainfo {
    std::string info_hash; // 20 raw bytes: SHA-1 of the info dict exactly as received
    std::string name;      // sanitised info.name
    std::int64_t piece_length = 0;
    std::string piece_hashes;     // concatenated 20-byte SHA-1s
    std::vector<FileEntry> files; // single-file torrents have one entry whose path is {name}
    bool multi_file = false;      // true: files live under the folder `name`
    std::int64_t total_length = 0;
    bool is_private = false;
    std::vector<std::vector<std::string>> trackers; // BEP 12 tiers; `announce` alone becomes one tier
    std::string info_bytes;                         // raw bencoded info dict (served to peers by BEP 9)
    // BEP 5 "nodes" of a trackerless torrent: DHT nodes to join through, as (host, port); at most kMaxTorrentNodes.
    std::vector<std::pair<std::string, std::uint16_t>> dht_nodes;

    std::uint32_t piece_count() const { return static_cast<std::uint32_t>(piece_hashes.size() / 20); }
    std::int64_t piece_size(std::uint32_t index) const; // the last piece may be shorter
    std::string_view piece_hash(std::uint32_t index) const {
        return std::string_view(piece_hashes).substr(index * 20u, 20);
    }
    // Relative path of a file inside the download folder: name/... for multi-file, name for single-file.
    std::string relative_path(std::size_t file_index) const;
};

inline constexpr std::size_t kMaxTorrentNodes = 64;

// Parses a whole .torrent file.
Result<Metainfo> parse_torrent(std::string_view torrent_bytes);
// Parses a bare info dictionary (BEP 9 metadata) and checks it hashes to expected_info_hash (if non-empty).
Result<Metainfo> parse_info_dict(std::string_view info_bytes, std::string_view expected_info_hash = {});

// Validates one path component from a torrent or a peer: rejects "", ".", "..", '/', '\\', NUL, control
// characters and components longer than 255 bytes (CVE-2009-1760, CVE-2010-0012).
Status check_path_component(std::string_view component);

// Default piece length for a total size: a power of two in 16 KiB..16 MiB giving about 1000-2000 pieces.
std::int64_t default_piece_length(std::int64_t total_length);

struct TorrentFileInput {
    std::vector<std::string> path; // relative path components (empty for a single-file torrent)
    std::int64_t length = 0;
};

// Builds the bencoded info dict from hashed content. For a single file, `files` holds one entry with an empty
// path; for a folder, entries must be in the stable sorted order the caller hashed them in.
std::string build_info_dict(const std::string& name, std::int64_t piece_length, const std::string& piece_hashes,
                            const std::vector<TorrentFileInput>& files, bool multi_file, bool is_private);
// Wraps an info dict into a whole .torrent: announce (first tracker), announce-list when several, created by.
std::string build_torrent(const std::string& info_dict, const std::vector<std::string>& trackers);

struct Magnet {
    std::string info_hash;             // 20 raw bytes
    std::string display_name;          // dn, may be empty
    std::vector<std::string> trackers; // tr, in order
    // x.pe (BEP 9): peers to dial for the metadata, "host:port" or "[v6]:port", in order; at most kMaxMagnetPeers
    std::vector<std::string> peers;
};
inline constexpr std::size_t kMaxMagnetPeers = 64; // more x.pe entries are ignored
// magnet:?xt=urn:btih:<40 hex or 32 base32>&dn=...&tr=...&x.pe=... (BEP 9)
Result<Magnet> parse_magnet(std::string_view uri);
std::string make_magnet(const Magnet& m);

} // namespace p2p
