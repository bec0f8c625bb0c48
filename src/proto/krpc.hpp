// KRPC, the message layer of the Mainline DHT (BEP 5): a pure codec. One UDP datagram in, a Message or an Error
// out; a Message in, canonical bencode out. No uv.h, no I/O, no routing table, no transaction bookkeeping (the DHT
// node on top of this matches a response to its query by transaction id: a response does not say which query it
// answers, so decode() returns every field it holds).
//
// A message is one bencoded dictionary (BEP 5 "KRPC Protocol"):
//   "t"  transaction id, a short byte string echoed in the reply      "y"  "q" query, "r" response, "e" error
//   "v"  optional client version (BEP 5: BEP 20 client id + 2 bytes)  "ip" the requester's address (BEP 42)
//   "ro" 1 when the sender is a read-only node (BEP 43)
//   query:    "q" method name, "a" arguments {"id", "target" | "info_hash", "port", "token", "implied_port"}
//   response: "r" {"id", "nodes" (26 bytes each), "nodes6" (38, BEP 32), "values" [6 or 18 bytes each], "token"}
//   error:    "e" [code, message]
//
// decode() is strict where a wrong field would mislead the node (an id of another length than 20 bytes, compact
// node strings that are not a whole number of entries, a port out of range) and lenient where BEP 5 lets the
// protocol grow: unknown keys are ignored anywhere, an unknown query method decodes as Method::unknown (so the node
// can answer error 204), the optional hints "v", "ip" and "ro" are dropped when ill-typed. Every refusal is
// Errc::bad_input with op "krpc.decode": what a node answers with error 203 when the datagram was a query (see
// query_transaction()).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp" // udp::Hash20 (20 bytes), udp::CompactPeer (4/16 address bytes + port)

namespace p2p::krpc {

// --- Sizes (BEP 5 "Contact Encoding") ---
using NodeId = udp::Hash20;                      // BEP 5: node ids are 160 bits, the space of info hashes
inline constexpr std::size_t kIdSize = 20;       // BEP 5: "a 20-byte string" (ids, targets, info hashes)
inline constexpr std::size_t kPeerV4Size = 6;    // BEP 5: "Compact IP-address/port info", 4 + 2 bytes
inline constexpr std::size_t kPeerV6Size = 18;   // BEP 32: the same for IPv6, 16 + 2 bytes
inline constexpr std::size_t kNodeV4Size = 26;   // BEP 5: "Compact node info", 20-byte id + 6
inline constexpr std::size_t kNodeV6Size = 38;   // BEP 32: "nodes6", 20-byte id + 18
inline constexpr std::int64_t kReadOnlyFlag = 1; // BEP 43: a read-only node sends "ro": 1 ("2:roi1e")

// --- Error codes (BEP 5 "Errors") ---
inline constexpr std::int64_t kErrorGeneric = 201;       // BEP 5: Generic Error
inline constexpr std::int64_t kErrorServer = 202;        // BEP 5: Server Error
inline constexpr std::int64_t kErrorProtocol = 203;      // BEP 5: malformed packet, invalid arguments or bad token
inline constexpr std::int64_t kErrorMethodUnknown = 204; // BEP 5: Method Unknown

// --- Bounds (ours, except where a source is named): what decode() accepts, what encode() writes ---
// libtorrent reads datagrams into a 1500-byte buffer (udp_socket.hpp: receive_buffer = std::array<char, 1500>), so
// a longer message never reaches a libtorrent node whole: we refuse one before parsing it.
inline constexpr std::size_t kMaxDatagram = 1500;
inline constexpr std::size_t kMaxDepth = 8;          // KRPC nests 3 deep (dict, dict, list); room for extensions' keys
inline constexpr std::size_t kMaxTransactionId = 16; // BEP 5: "typically 2 characters are enough"
inline constexpr std::size_t kMaxToken = 64;         // BEP 5: "The token value should be a short binary string"
inline constexpr std::size_t kMaxNodes = 16;         // per family; BEP 5 replies carry K = 8
inline constexpr std::size_t kMaxValues = 100;       // libtorrent's dht_max_peers_reply default
inline constexpr std::size_t kMaxVersion = 16;       // BEP 5's "v" is 4 bytes (BEP 20 id + 2); only ever logged
inline constexpr std::size_t kMaxMethodName = 32;    // an unknown method's name is kept for logs, cut to this

// --- Messages ---
enum class Method : std::uint8_t { ping, find_node, get_peers, announce_peer, unknown };
// "ping", "find_node", "get_peers", "announce_peer" (BEP 5); "" for unknown.
std::string_view method_name(Method m);

struct Query {
    Method method = Method::ping;
    std::string unknown_name;  // Method::unknown: the name received ("get", "sample_infohashes"...), cut
    NodeId id;                 // the querying node (every known method; not read for Method::unknown)
    NodeId target;             // find_node
    NodeId info_hash;          // get_peers, announce_peer
    std::uint16_t port = 0;    // announce_peer
    bool implied_port = false; // announce_peer: use the datagram's source port instead of `port` (BEP 5)
    std::string token;         // announce_peer: the token of an earlier get_peers reply
    bool operator==(const Query&) const = default;
};

struct NodeInfo {
    NodeId id;
    udp::CompactPeer addr; // IPv4 from "nodes", IPv6 from "nodes6"
};

struct Response {
    NodeId id;                            // the responding node
    std::vector<NodeInfo> nodes;          // "nodes" then "nodes6", at most kMaxNodes of each; empty: no key
    std::vector<udp::CompactPeer> values; // "values", 6- or 18-byte peers, at most kMaxValues; empty: no key
    std::optional<std::string> token;     // "token", at most kMaxToken bytes (get_peers replies)
};

struct ErrorReply {
    std::int64_t code = kErrorGeneric;
    std::string message;
    bool operator==(const ErrorReply&) const = default;
};

enum class Kind : std::uint8_t { query, response, error }; // "y": "q", "r", "e"

struct Message {
    std::string t; // the transaction id, at most kMaxTransactionId bytes
    std::variant<Query, Response, ErrorReply> body;
    std::optional<std::string> v;       // client version (BEP 5), at most kMaxVersion bytes
    std::optional<udp::CompactPeer> ip; // BEP 42: the requester's address as the responder saw it
    bool ro = false;                    // BEP 43: the sender is read-only (do not add it to the routing table)

    Kind kind() const { return static_cast<Kind>(body.index()); }
    const Query* query() const { return std::get_if<Query>(&body); }
    const Response* response() const { return std::get_if<Response>(&body); }
    const ErrorReply* error() const { return std::get_if<ErrorReply>(&body); }
};

// Field-by-field equality; addresses compare their family's bytes only (udp::CompactPeer has no operator==).
bool same_peer(const udp::CompactPeer& a, const udp::CompactPeer& b);
bool operator==(const NodeInfo& a, const NodeInfo& b);
bool operator==(const Response& a, const Response& b);
bool operator==(const Message& a, const Message& b);

// --- Decoding ---
// One datagram. Refuses (Errc::bad_input, op "krpc.decode"): more than kMaxDatagram bytes; anything but exactly one
// bencoded dictionary (bencode's own checks, nesting within kMaxDepth); "t" missing, not a string or longer than
// kMaxTransactionId; "y" other than "q", "r", "e".
//   query: "q" not a string; for a known method, "a" not a dictionary, an "id" (and "target" for find_node,
//     "info_hash" for get_peers and announce_peer) that is not a 20-byte string; for announce_peer a "port" that is
//     missing or outside 0..65535, an "implied_port" that is not an integer, a "token" missing or longer than
//     kMaxToken. Method::unknown keeps the name and reads no argument.
//   response: "r" not a dictionary; "id" not a 20-byte string; "nodes" / "nodes6" not a string of whole 26- / 38-byte
//     entries or more than kMaxNodes of them; "values" not a list of 6- or 18-byte strings or more than kMaxValues;
//     "token" not a string or longer than kMaxToken.
//   error: "e" not a list starting with an integer and a string (further elements are ignored).
// Drops (as if absent): a "v" that is not a string of at most kMaxVersion bytes, an "ip" that is not a 6- or
// 18-byte string, an "ro" that is not an integer ("ro" is true when it is non-zero).
Result<Message> decode(std::string_view datagram);

// The "t" of a datagram that is a bencoded dictionary with "y" = "q" and a "t" within kMaxTransactionId, whatever
// else it holds or lacks: what a node needs to answer error 203 to a query that decode() refused. nullopt for
// anything else (a broken response or error is never answered: no ping-pong between two nodes).
std::optional<std::string> query_transaction(std::string_view datagram);

// --- Encoding ---
// Canonical bencode (BEP 3: keys sorted as raw strings, as BEP 5's examples are). What encode() writes decodes to
// the same Message, with these normalisations: "t", "v", a token and an unknown method name longer than their bound
// are cut to it; a Response writes at most kMaxNodes nodes of each family and kMaxValues values (the first ones);
// empty node and value lists are left out; "implied_port" and "ro" are written only when true (as 1); a Query writes
// only the arguments of its method (Method::unknown: `unknown_name` and an "a" with only "id", which decode() does
// not read back). Keeping a reply within kMaxDatagram is the caller's part (8 nodes, a token and 100 IPv4 values
// take about 1100 bytes; 100 IPv6 values do not fit).
std::string encode(const Message& m);
std::string encode_query(std::string_view t, const Query& q, bool read_only = false,
                         const std::optional<std::string>& v = std::nullopt);
std::string encode_response(std::string_view t, const Response& r,
                            const std::optional<udp::CompactPeer>& requester_ip = std::nullopt,
                            const std::optional<std::string>& v = std::nullopt);
std::string encode_error(std::string_view t, std::int64_t code, std::string_view message,
                         const std::optional<udp::CompactPeer>& requester_ip = std::nullopt,
                         const std::optional<std::string>& v = std::nullopt);

// Queries of each method, for encode_query().
Query ping(const NodeId& id);
Query find_node(const NodeId& id, const NodeId& target);
Query get_peers(const NodeId& id, const NodeId& info_hash);
Query announce_peer(const NodeId& id, const NodeId& info_hash, std::uint16_t port, std::string token,
                    bool implied_port = false);

} // namespace p2p::krpc
