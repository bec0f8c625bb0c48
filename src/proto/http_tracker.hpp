// HTTP tracker protocol, client side: BEP 3 announce, BEP 23 compact peers, BEP 7 IPv6 peers, BEP 48 scrape
// URL convention. Pure: strings in, values or an Error out; no uv.h, no I/O (the transport is
// src/tracker/http_get.hpp).
//
// Errors: op "http tracker url" for URLs we cannot use, "http_tracker.decode" for bodies that are not a valid
// announce response, and "tracker" (what = "failure reason: ...") when the tracker refused the announce.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp" // Hash20, CompactPeer, the BEP 15 event numbers shared by both transports

namespace p2p::http_tracker {

inline constexpr std::uint16_t kDefaultPort = 80;       // RFC 9110: http's default port
inline constexpr std::uint16_t kDefaultTlsPort = 443;   // RFC 9110: https's default port
inline constexpr std::size_t kPeerSizeV4 = 6;           // BEP 23: 4 address bytes + 2 port bytes
inline constexpr std::size_t kPeerSizeV6 = 18;          // BEP 7: 16 address bytes + 2 port bytes ("peers6")
inline constexpr std::size_t kMaxPeers = 1000;          // ours: more than any sane numwant; the rest are dropped
inline constexpr std::uint32_t kDefaultInterval = 1800; // ours: BEP 3 requires "interval"; if absent, 30 min

struct Url {
    bool tls = false; // https://: the transport runs TLS (src/tracker/tls_client.hpp)
    std::string host; // without brackets for IPv6 literals
    bool v6_literal = false;
    std::uint16_t port = kDefaultPort;
    std::string path;  // starts with '/', "/" when the URL has none
    std::string query; // without the '?', may be empty (a passkey, for example)
    // "host" or "host:port" (brackets around IPv6 literals; no port when it is the scheme's default), as the Host
    // header wants it.
    std::string host_header() const;
    // "http://" or "https://" + host_header(): the start of every URL on this tracker.
    std::string origin() const;
};

// http://host[:port][/path][?query][#fragment], or the same with https:// (default port 443). User info, bytes
// <= 0x20 or >= 0x7f (they would end up in the request line) and bad ports are refused.
Result<Url> parse_url(std::string_view url);

// RFC 3986 percent-encoding, byte by byte: unreserved characters (ALPHA DIGIT - . _ ~) stay, every other byte
// becomes %XX (upper case). BEP 3: info_hash and peer_id are sent this way as raw 20 bytes.
std::string percent_encode(std::string_view bytes);

struct AnnounceRequest {
    udp::Hash20 info_hash, peer_id;
    std::uint16_t port = 0; // our listening port
    std::uint64_t uploaded = 0, downloaded = 0, left = 0;
    std::uint32_t event = udp::kEventNone; // BEP 15 numbering; BEP 3 names: started, completed, stopped
    std::int32_t numwant = -1;             // -1: leave it to the tracker
    std::uint32_t key = 0;                 // sent as 8 hex digits (the de facto "key" parameter)
};

// The request target (path and query) of the announce: the URL's own query first (joined with '&'), then
// info_hash, peer_id, port, uploaded, downloaded, left, compact=1 (BEP 23), no_peer_id=1, event (omitted for
// regular announces), numwant (when >= 0), key.
std::string announce_target(const Url& url, const AnnounceRequest& r);

// BEP 48: the scrape URL is the announce URL with the last path component's leading "announce" replaced by
// "scrape" (query kept). Error when the last component does not start with "announce".
Result<std::string> scrape_url(std::string_view announce_url);

inline constexpr std::size_t kMaxScrapeHashes = 64;    // ours: one request's URL stays under ~4 KiB
inline constexpr std::size_t kMaxScrapeFiles = 10'000; // ours: entries decoded from one answer; the rest dropped

// The request target of a scrape (BEP 48) on the parsed scrape URL: its own query first, then one info_hash
// parameter per hash (raw 20 bytes, percent-encoded), in order.
std::string scrape_target(const Url& scrape, const std::vector<udp::Hash20>& hashes);

struct ScrapeFile {
    udp::Hash20 info_hash;
    std::uint32_t complete = 0, downloaded = 0, incomplete = 0; // BEP 48: seeders, completed downloads, leechers
    std::optional<std::string> name;                            // BEP 48's optional "name"
};

// Decodes a bencoded scrape response (BEP 48): {"files": {HASH20: {"complete", "downloaded", "incomplete"}}}.
// "failure reason" -> Error with op "tracker". Keys that are not 20 bytes and values that are not dictionaries
// are skipped (counted in `dropped`); missing counts are 0; at most kMaxScrapeFiles entries, in key order.
struct ScrapeResponse {
    std::vector<ScrapeFile> files;
    std::size_t dropped = 0;
};
Result<ScrapeResponse> decode_scrape_response(std::string_view body);

struct AnnounceResponse {
    std::uint32_t interval = kDefaultInterval;
    std::optional<std::uint32_t> min_interval;
    std::optional<std::string> warning; // "warning message"
    std::uint32_t complete = 0, incomplete = 0;
    std::vector<udp::CompactPeer> peers; // IPv4 and IPv6 together, at most kMaxPeers, no port 0
    std::size_t dropped = 0;             // peers left out: over the cap, port 0, host names, bad entries
};

// Decodes a bencoded announce response (trailing whitespace is tolerated). "failure reason" -> Error with op
// "tracker". "peers" may be a compact string (BEP 23) or a list of {ip, port} dicts (BEP 3; dicts whose ip is
// not a numeric IPv4/IPv6 address are dropped: a pure decoder does not resolve names); "peers6" is BEP 7.
Result<AnnounceResponse> decode_announce_response(std::string_view body);

} // namespace p2p::http_tracker
