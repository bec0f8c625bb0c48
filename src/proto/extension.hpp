// BEP 10 extension protocol payloads, BEP 9 ut_metadata and BEP 11 ut_pex. Pure codecs: bytes in, values or an
// error out; no uv.h, no I/O. These are the payloads of wire message id 20 (BEP 10) after its 1-byte extended id;
// the framing itself is in proto/wire.
//
// Every decoder bounds what it accepts before it allocates: a payload is already capped by the connection
// (PeerConfig::max_extended_message), and the counts inside it are capped here (kMaxPexPeers, the metadata
// size cap, the number of extension names).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp" // udp::CompactPeer: 4/16 address bytes + port

namespace p2p::ext {

// BEP 10: extended message id 0 is the extension handshake; other ids are the ones each side assigned in its
// handshake's "m" dictionary. These are the ids WE assign (the peer uses them when it sends to us).
inline constexpr std::uint8_t kHandshakeId = 0;
inline constexpr std::uint8_t kUtMetadataId = 1;
inline constexpr std::uint8_t kUtPexId = 2;
inline constexpr std::string_view kUtMetadata = "ut_metadata"; // BEP 9
inline constexpr std::string_view kUtPex = "ut_pex";           // BEP 11

// BEP 9: metadata travels in 16 KiB pieces (the last may be shorter).
inline constexpr std::size_t kMetadataPieceSize = 16 * 1024;
// Our cap on an info dictionary fetched from peers: the same as a .torrent file (proto/metainfo).
inline constexpr std::int64_t kMaxMetadataSize = 10 * 1024 * 1024;
// Our caps: extension names in one handshake; peers in one PEX list (BEP 11 says a message should hold at most
// 50 added and 50 dropped peers; we accept up to 200 of each and ignore the rest of the message as bogus).
inline constexpr std::size_t kMaxExtensionNames = 64;
inline constexpr std::size_t kMaxPexPeers = 200;

// ---- BEP 10 extension handshake ----
struct ExtHandshake {
    std::map<std::string, std::uint8_t> m; // extension name -> the id the sender wants for it (0 = disabled)
    std::uint16_t listen_port = 0;         // "p": the sender's TCP listen port (0 = not given)
    std::string client;                    // "v": client name and version, UTF-8 (capped at 100 bytes)
    std::int64_t metadata_size = 0;        // "metadata_size" (BEP 9); 0 = not given
    std::uint32_t reqq = 0;                // "reqq": outstanding requests the sender accepts (0 = not given)
    std::string yourip;                    // "yourip": 4 or 16 raw bytes as the sender sees us, or empty
    // The id the sender assigned to `name`, 0 if it does not support it (or disabled it).
    std::uint8_t id_of(std::string_view name) const;
};
// Encodes a bencoded dictionary (keys sorted, as bencode requires); fields that are 0/empty are left out, except
// "m", which is always sent (entries with id 0 are sent too: they disable an extension).
std::string encode_ext_handshake(const ExtHandshake& hs);
// Rejects a payload that is not a dictionary; ignores unknown keys and ill-typed optional fields (peers send
// all kinds); rejects ids > 255 and more than kMaxExtensionNames names; a negative or oversized metadata_size
// is treated as not given.
Result<ExtHandshake> decode_ext_handshake(std::string_view payload);

// ---- BEP 9 ut_metadata ----
enum class MetadataType : std::uint8_t { request = 0, data = 1, reject = 2 };
struct MetadataMessage {
    MetadataType type = MetadataType::request;
    std::uint32_t piece = 0;
    std::int64_t total_size = 0; // data only
    std::string_view data;       // data only: the piece bytes after the dictionary (a view into the payload)
};
std::string encode_metadata_request(std::uint32_t piece);
std::string encode_metadata_reject(std::uint32_t piece);
// <bencoded {msg_type:1, piece, total_size}><data>
std::string encode_metadata_data(std::uint32_t piece, std::int64_t total_size, std::string_view data);
// Rejects an unknown msg_type, a missing or negative piece, a data message without total_size or with more
// than kMetadataPieceSize bytes of data. Does not check the piece against the size: MetadataAssembler does.
Result<MetadataMessage> decode_metadata_message(std::string_view payload);
// Number of 16 KiB pieces of metadata of `size` bytes (0 for size <= 0 or size > kMaxMetadataSize: nothing we
// would fetch, and the count then always fits 32 bits).
std::uint32_t metadata_piece_count(std::int64_t size);
// Bytes in piece `piece` of metadata of `size` bytes (0 if out of range).
std::size_t metadata_piece_size(std::int64_t size, std::uint32_t piece);

// Collects metadata pieces for one info hash and verifies the whole against it. Pure (no I/O); the hash check
// uses crypto/sha (nettle), which proto may use.
class MetadataAssembler {
public:
    // Returns false (and stays empty) when size is <= 0 or over kMaxMetadataSize.
    bool init(std::int64_t size);
    bool initialized() const { return size_ > 0; }
    std::int64_t size() const { return size_; }
    std::uint32_t piece_count() const { return metadata_piece_count(size_); }
    bool have(std::uint32_t piece) const;
    // The next piece nobody has and nobody was asked for since `now_ms - retry_ms`, or UINT32_MAX. Marks it asked.
    std::uint32_t next_wanted(std::uint64_t now_ms, std::uint64_t retry_ms = 10'000);
    // Stores a piece; an error for a wrong index or wrong length (the sender lied: drop it).
    Status add(std::uint32_t piece, std::string_view data);
    bool complete() const;
    // When complete: SHA-1 of the assembled bytes == info_hash. On mismatch every piece is forgotten (start over).
    bool verify(std::string_view info_hash);
    const std::string& bytes() const { return buf_; }

private:
    std::int64_t size_ = 0;
    std::string buf_;
    std::vector<bool> have_;
    std::vector<std::uint64_t> asked_at_; // 0 = never asked
};

// ---- BEP 11 ut_pex ----
struct PexMessage {
    std::vector<udp::CompactPeer> added; // "added" (6 bytes each) + "added6" (18 bytes each)
    // "added.f": added_flags[k] is the flag byte of the k-th IPv4 peer in `added` (decode puts IPv4 peers first);
    // may be shorter than the IPv4 peers (the rest have no flags). Flags of IPv6 peers ("added6.f") are not kept.
    std::vector<std::uint8_t> added_flags;
    std::vector<udp::CompactPeer> dropped; // "dropped" + "dropped6"
};
// IPv4 and IPv6 peers go to their own keys (added/added6, dropped/dropped6), at most kMaxPexPeers per key; empty
// keys are left out.
std::string encode_pex(const PexMessage& m);
// Rejects a non-dictionary, compact strings whose length is not a multiple of 6 (18 for v6), or more than
// kMaxPexPeers entries under one key. Drops entries with port 0 or an unspecified (all-zero) address (and their
// flags). Ill-typed keys are ignored.
Result<PexMessage> decode_pex(std::string_view payload);

} // namespace p2p::ext
