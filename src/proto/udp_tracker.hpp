// UDP tracker protocol (BEP 15) and our catalog extension (docs/catalog-protocol.md). Pure codec: bytes in,
// values or an Error out; no uv.h, no I/O.
//
// Every packet a client sends starts with the same 16-byte header: u64 connection_id (the protocol id for
// connect), u32 action, u32 transaction_id. Every reply starts with u32 action, u32 transaction_id.
// Decoder errors carry op "udp_tracker.decode" and a reason starting with "truncated" (fewer bytes than the
// fixed part), "bad length" (a length field or a trailing size that cannot be right) or "bad <field>".
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace p2p::udp {

// --- Constants (BEP 15 unless stated) ---
inline constexpr std::uint64_t kProtocolId = 0x41727101980ULL; // BEP 15: magic in the connect request
inline constexpr std::size_t kHeaderSize = 16;                 // BEP 15: conn id u64 + action u32 + tid u32
inline constexpr std::size_t kReplyHeaderSize = 8;             // BEP 15: action u32 + tid u32
inline constexpr std::size_t kConnectRequestSize = 16;         // BEP 15
inline constexpr std::size_t kConnectResponseSize = 16;        // BEP 15
inline constexpr std::size_t kAnnounceRequestSize = 98;        // BEP 15 (BEP 41 options may follow)
inline constexpr std::size_t kAnnounceResponseHeaderSize = 20; // BEP 15: action tid interval leechers seeders
inline constexpr std::size_t kPeerSizeV4 = 6;                  // BEP 15: ip u32 + port u16
inline constexpr std::size_t kPeerSizeV6 = 18;                 // BEP 15 "IPv6": ip 16 bytes + port u16
inline constexpr std::size_t kMaxScrapeHashes = 74;            // BEP 15: "up to about 74" per request
inline constexpr std::size_t kScrapeEntrySize = 12;            // BEP 15: seeders, completed, leechers u32
// Largest reply we send: 1280 (IPv6 minimum MTU, RFC 8200) - 40 (IPv6 header) - 8 (UDP header), so replies
// never fragment on any path. IPv4 announce: 20 + 200*6 = 1220 fits; IPv6: at most 67 peers.
inline constexpr std::size_t kMaxReplySize = 1232;

enum Action : std::uint32_t {
    kActionConnect = 0,  // BEP 15
    kActionAnnounce = 1, // BEP 15
    kActionScrape = 2,   // BEP 15
    kActionError = 3,    // BEP 15
    // Catalog extension (ours, docs/catalog-protocol.md). Far above BEP 15's range so no tracker that only
    // knows BEP 15 mistakes them for a standard action.
    kActionPublish = 0x100,
    kActionList = 0x101,
    kActionLookup = 0x102,
};

enum Event : std::uint32_t {
    kEventNone = 0,      // BEP 15
    kEventCompleted = 1, // BEP 15
    kEventStarted = 2,   // BEP 15
    kEventStopped = 3,   // BEP 15
};

// 20 raw bytes (info hash or peer id). Fixed size so the hot path never allocates.
struct Hash20 {
    std::array<std::uint8_t, 20> b{};
    static Hash20 from(std::string_view s) { // s must hold at least 20 bytes
        Hash20 h;
        std::memcpy(h.b.data(), s.data(), 20);
        return h;
    }
    std::string_view view() const { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
    std::string str() const { return std::string(view()); }
    bool operator==(const Hash20&) const = default;
    bool operator<(const Hash20& o) const { return b < o.b; }
};

// A peer address in a reply: 4 or 16 address bytes, port in host order.
struct CompactPeer {
    bool v6 = false;
    std::array<std::uint8_t, 16> ip{}; // first 4 bytes used for IPv4
    std::uint16_t port = 0;
};

// --- BEP 15 packets ---
struct Header {
    std::uint64_t connection_id = 0;
    std::uint32_t action = 0;
    std::uint32_t transaction_id = 0;
};

struct ConnectResponse {
    std::uint32_t transaction_id = 0;
    std::uint64_t connection_id = 0;
};

struct AnnounceRequest {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    Hash20 info_hash, peer_id;
    std::uint64_t downloaded = 0, left = 0, uploaded = 0;
    std::uint32_t event = kEventNone;
    std::uint32_t ip = 0; // IPv4 in host order; 0 = use the packet's source
    std::uint32_t key = 0;
    std::int32_t num_want = -1; // -1 = tracker's default
    std::uint16_t port = 0;
};

struct AnnounceResponse {
    std::uint32_t transaction_id = 0;
    std::uint32_t interval = 0, leechers = 0, seeders = 0;
    std::vector<CompactPeer> peers;
};

struct ScrapeRequest {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    std::string_view hashes; // borrowed from the packet: count() * 20 bytes
    std::size_t count() const { return hashes.size() / 20; }
    Hash20 at(std::size_t i) const { return Hash20::from(hashes.substr(i * 20, 20)); }
};

struct ScrapeEntry {
    std::uint32_t seeders = 0, completed = 0, leechers = 0;
};

struct ScrapeResponse {
    std::uint32_t transaction_id = 0;
    std::vector<ScrapeEntry> entries;
};

struct ErrorResponse {
    std::uint32_t transaction_id = 0;
    std::string message;
};

// Any client packet: the 16-byte header (no check of the connection id or action).
Result<Header> decode_header(std::string_view in);
// Any reply: action and transaction id (8 bytes).
Result<Header> decode_reply_header(std::string_view in); // connection_id is left 0

std::string encode_connect_request(std::uint32_t transaction_id);
// Checks the length and the protocol id; returns the transaction id.
Result<std::uint32_t> decode_connect_request(std::string_view in);
void append_connect_response(std::string& out, std::uint32_t transaction_id, std::uint64_t connection_id);
Result<ConnectResponse> decode_connect_response(std::string_view in);

std::string encode_announce_request(const AnnounceRequest& r);
// At least 98 bytes; bytes beyond (BEP 41 options) are ignored. Checks the action; the event must be 0..3.
Result<AnnounceRequest> decode_announce_request(std::string_view in);
// The header of an announce reply; the caller appends the compact peers (6 or 18 bytes each).
void append_announce_response_header(std::string& out, std::uint32_t transaction_id, std::uint32_t interval,
                                     std::uint32_t leechers, std::uint32_t seeders);
void append_compact_peer(std::string& out, const CompactPeer& p);
std::string encode_announce_response(const AnnounceResponse& r, bool v6);
// v6 = the request went over IPv6, so peers are 18 bytes (BEP 15 "IPv6").
Result<AnnounceResponse> decode_announce_response(std::string_view in, bool v6);

std::string encode_scrape_request(std::uint64_t connection_id, std::uint32_t transaction_id,
                                  const std::vector<Hash20>& hashes);
// 1..74 hashes, and the body must be a whole number of 20-byte hashes.
Result<ScrapeRequest> decode_scrape_request(std::string_view in);
void append_scrape_response_header(std::string& out, std::uint32_t transaction_id);
void append_scrape_entry(std::string& out, const ScrapeEntry& e);
std::string encode_scrape_response(const ScrapeResponse& r);
Result<ScrapeResponse> decode_scrape_response(std::string_view in);

// Error reply; message is cut so the reply is at most max_size bytes (never below the 8-byte header).
std::string encode_error(std::uint32_t transaction_id, std::string_view message, std::size_t max_size = kMaxReplySize);
Result<ErrorResponse> decode_error(std::string_view in);

// --- Catalog extension (docs/catalog-protocol.md) ---
inline constexpr std::size_t kMaxNameSize = 255;
inline constexpr std::size_t kPublishFixedSize = kHeaderSize + 20 + 8 + 2; // + name
inline constexpr std::size_t kListRequestSize = kHeaderSize + 4;
inline constexpr std::size_t kLookupFixedSize = kHeaderSize + 2;                     // + name
inline constexpr std::size_t kListResponseHeaderSize = kReplyHeaderSize + 4 + 4 + 2; // total, next, count
inline constexpr std::size_t kLookupResponseHeaderSize = kReplyHeaderSize + 2;       // count (0 or 1)
inline constexpr std::size_t kCatalogEntryFixedSize = 20 + 8 + 4 + 4 + 4 + 2;        // + name
inline constexpr std::uint32_t kListNoMore = 0xffffffffu; // "next" value when the listing is complete

// A catalog name: valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF), 1..255 bytes,
// no '/', no control characters (< 0x20 or 0x7f).
bool valid_name(std::string_view name);

struct PublishRequest {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    Hash20 info_hash;
    std::uint64_t total_size = 0;
    std::string name;
};
struct ListRequest {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    std::uint32_t start = 0; // index in name order of the first entry wanted
};
struct LookupRequest {
    std::uint64_t connection_id = 0;
    std::uint32_t transaction_id = 0;
    std::string name;
};
struct CatalogEntry {
    Hash20 info_hash;
    std::uint64_t total_size = 0;
    std::uint32_t seeders = 0, leechers = 0, completed = 0;
    std::string name;
};
struct ListResponse {
    std::uint32_t transaction_id = 0;
    std::uint32_t total = 0;          // entries in the catalog
    std::uint32_t next = kListNoMore; // start index of the next page, or kListNoMore
    std::vector<CatalogEntry> entries;
};
struct LookupResponse {
    std::uint32_t transaction_id = 0;
    bool found = false;
    CatalogEntry entry; // when found
};

std::string encode_publish_request(const PublishRequest& r);
// The name length must match the bytes that follow exactly; the name must pass valid_name.
Result<PublishRequest> decode_publish_request(std::string_view in);
void append_publish_ack(std::string& out, std::uint32_t transaction_id);
Result<std::uint32_t> decode_publish_ack(std::string_view in); // returns the transaction id

std::string encode_list_request(const ListRequest& r);
Result<ListRequest> decode_list_request(std::string_view in);
void append_list_response_header(std::string& out, std::uint32_t transaction_id, std::uint32_t total,
                                 std::uint32_t next, std::uint16_t count);
std::size_t catalog_entry_size(std::size_t name_size);
void append_catalog_entry(std::string& out, const CatalogEntry& e);
std::string encode_list_response(const ListResponse& r);
Result<ListResponse> decode_list_response(std::string_view in);

std::string encode_lookup_request(const LookupRequest& r);
Result<LookupRequest> decode_lookup_request(std::string_view in);
std::string encode_lookup_response(const LookupResponse& r);
Result<LookupResponse> decode_lookup_response(std::string_view in);

} // namespace p2p::udp
