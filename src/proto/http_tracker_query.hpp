// HTTP tracker protocol, server side: the query of a BEP 3 announce and a BEP 48 scrape in, bencoded answers out.
// Pure: strings in, values or an Error out; no uv.h, no I/O (the HTTP server is src/http/, the tracker's handler
// src/tracker/http_front.*). The client side of the same protocol is proto/http_tracker.hpp.
//
// Errors are Errc::bad_input with op "http tracker request" and a `what` fit to be sent back to the client as the
// BEP 3 "failure reason" ("missing info_hash", "bad port", ...).
//
// Decoding rules (the lenient reading every tracker does, with bounds):
//   - the query is split on '&'; each part on its first '='; names and values are percent-decoded (RFC 3986:
//     %XX, either case); a '%' not followed by two hex digits is an error. '+' stays '+': BitTorrent clients
//     percent-encode every reserved byte of info_hash and peer_id (BEP 3), and a binary hash holding 0x2B sent
//     raw must not turn into a space.
//   - at most kMaxParams parameters; unknown names are ignored; of a repeated announce parameter the first wins.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp" // Hash20, ScrapeEntry, the BEP 15 event numbers shared by both transports

namespace p2p::http_tracker {

inline constexpr std::size_t kMaxParams = 128;          // ours: a BEP 3 announce has ~12, a scrape kMaxScrapeQuery
inline constexpr std::size_t kMaxScrapeQuery = 74;      // ours: as many as one BEP 15 scrape packet carries
inline constexpr std::uint32_t kMinIntervalCap = 60;    // ours: "min interval" = min(interval, this), seconds

// RFC 3986 percent-decoding of one query name or value. Error on a bad escape.
Result<std::string> percent_decode(std::string_view s);

// name=value pairs of a query (without the '?'), decoded, in order. Empty parts ("a=1&&b=2") are skipped.
Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query);

struct AnnounceQuery {
    udp::Hash20 info_hash, peer_id;        // BEP 3: 20 raw bytes each
    std::uint16_t port = 0;                // BEP 3: 1..65535
    std::uint64_t uploaded = 0, downloaded = 0;
    std::optional<std::uint64_t> left;     // absent: unknown, the announcer counts as a leecher
    std::uint32_t event = udp::kEventNone; // "started", "completed", "stopped"; "" and BEP 21's "paused": none
    std::int32_t numwant = -1;             // -1: absent (the store's default)
    bool compact = true;                   // BEP 23 "compact=0" asked; we answer compact anyway (see the tracker)
    std::optional<std::string> ip;         // the "ip" parameter, as given (the tracker decides whether to use it)
};

// The query of GET /announce. Requires info_hash, peer_id and port; numbers must be decimal and in range.
Result<AnnounceQuery> decode_announce_query(std::string_view query);

// The info_hash parameters of GET /scrape (BEP 48), in order, duplicates kept. Error when there is none (we do
// not serve the full scrape), when one is not 20 bytes, or when there are more than kMaxScrapeQuery.
Result<std::vector<udp::Hash20>> decode_scrape_query(std::string_view query);

struct AnnounceReply {
    std::uint32_t interval = 1800, min_interval = 0; // min_interval 0: not sent
    std::uint32_t complete = 0, incomplete = 0;      // seeders, leechers (BEP 3 de facto, BEP 48 names)
    std::string_view peers;                          // compact IPv4 peers (BEP 23), 6 bytes each; always sent
    std::string_view peers6;                         // compact IPv6 peers (BEP 7), 18 bytes each; sent if non-empty
};

// d8:completei..e10:incompletei..e8:intervali..e12:min intervali..e5:peers..6:peers6..e (keys sorted, BEP 3).
void append_announce_reply(std::string& out, const AnnounceReply& r);
// d14:failure reason<len>:<reason>e (BEP 3).
std::string encode_failure(std::string_view reason);
// d5:filesd20:<hash>d8:completei..e10:downloadedi..e10:incompletei..eee...ee (BEP 48). Hashes are sorted and
// de-duplicated here (a bencoded dictionary's keys must be).
std::string encode_scrape_reply(std::vector<std::pair<udp::Hash20, udp::ScrapeEntry>> files);

} // namespace p2p::http_tracker
