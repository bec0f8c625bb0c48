// Local Service Discovery (BEP 14): the announce datagram, a pure codec. One datagram in, an Announce or an Error
// out; a port, info hashes and a cookie in, the bytes to multicast out. No uv.h, no I/O, no rate limits (the
// service, node/lsd_service.hpp, decides who to announce and when, and which datagrams to read at all).
//
// An announce is an HTTP-like request over UDP multicast (BEP 14 "Protocol"):
//
//   BT-SEARCH * HTTP/1.1\r\n
//   Host: 239.192.152.143:6771\r\n          (or [ff15::efc0:988f]:6771 on the IPv6 group)
//   Port: 6881\r\n                          the sender's BitTorrent port; its address is the datagram's source
//   Infohash: <40 hex digits>\r\n           one or more, consecutive (BEP 14 allows several per message)
//   cookie: <opaque>\r\n                    optional: lets the sender drop its own announces (multicast loopback)
//   \r\n
//   \r\n
//
// What real clients send: libtorrent 2.0 (captured, test/test_lsd.cpp) one hash per datagram, lower-case hex,
// "cookie: %x" (its random 31-bit number in lower-case hex), 137 bytes, three times (at once, +2 s, +6 s); by
// their sources, Transmission 4 up to 1400 bytes of hashes in upper-case hex with a 12-character cookie,
// Transmission 3 one upper-case hash and no cookie. What they accept: libtorrent parses any header order and case and every Infohash
// header (a bad one is skipped); Transmission 3 reads at most 200 bytes, the first Infohash only, and wants the
// exact spelling "Infohash: " and the message to end in the two blank lines. encode() writes the form all of
// them read (BEP 14's own layout, lower-case hex as libtorrent does: everyone compares hashes without case).
//
// decode() is lenient where clients differ and BEP 14 says nothing: method and header names without case, "\n" or
// "\r\n" line ends, no final blank line, Host not checked (nobody does), headers it does not know ignored (BEP 14:
// "any additional headers that not understood by a client should be ignored"), a bad Infohash value skipped as
// libtorrent skips it. It refuses, with Errc::bad_input and op "lsd.decode", what no client sends: not BT-SEARCH,
// no valid Port, no usable Infohash, more than kMaxHashes Infohash headers, a datagram over kMaxDatagram, a
// header line without ':', a bare CR, two different Port or cookie values, a cookie over kMaxCookie.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/udp_tracker.hpp" // udp::Hash20

namespace p2p::lsd {

// --- Protocol constants (BEP 14 "Protocol") ---
inline constexpr std::uint16_t kPort = 6771;                          // BEP 14: both groups use UDP port 6771
inline constexpr std::string_view kGroupV4 = "239.192.152.143";       // BEP 14: group A (org-local)
inline constexpr std::string_view kGroupV6 = "ff15::efc0:988f";       // BEP 14: group B (site-local)
inline constexpr std::string_view kHostV4 = "239.192.152.143:6771";   // BEP 14: Host is group A, RFC 2616 14.23
inline constexpr std::string_view kHostV6 = "[ff15::efc0:988f]:6771"; // BEP 14: group B in RFC 2732 brackets
inline constexpr std::string_view kMethod = "BT-SEARCH";              // BEP 14: the request line's method
inline constexpr std::size_t kHexHashSize = 40;                       // BEP 14: "hex-encoded (40 character)"
inline constexpr std::size_t kMaxAnnounceSize = 1400;                 // BEP 14: "should not exceed 1400 bytes"

// --- Bounds (ours, except where a source is named) ---
// libtorrent reads LSD datagrams into 1500 bytes (lsd.cpp: std::array<char, 1500>): nothing longer is an announce
// any client acts on, so decode() refuses it before parsing.
inline constexpr std::size_t kMaxDatagram = 1500;
// Infohash headers one datagram may hold (valid or not): a 1500-byte datagram has room for 28 of BEP 14's
// 52-byte lines; a few more for lines without the space or CR. Also bounds the peers one datagram yields.
inline constexpr std::size_t kMaxHashes = 32;
// What encode() puts in one datagram: 24 lines of 52 bytes plus the rest (request line, Host, Port, a cookie of
// up to kMaxCookie, the blank lines: at most 143 bytes) stay within kMaxAnnounceSize.
inline constexpr std::size_t kMaxHashesPerAnnounce = 24;
inline constexpr std::size_t kMaxCookie = 64; // BEP 14 calls it opaque; clients send 8 (libtorrent) or 12 characters

enum class Family : std::uint8_t { v4, v6 }; // which group, hence which Host header

struct Announce {
    std::uint16_t port = 0;               // 1..65535
    std::vector<udp::Hash20> info_hashes; // 1..kMaxHashes, distinct, in message order, none all zero
    std::string cookie;                   // empty: the sender gave none
    std::size_t skipped = 0;              // Infohash values dropped: not 40 hex digits, all zero, or repeated
};

// The datagram for `hashes` (1..kMaxHashesPerAnnounce) on group `f`, from a client listening on `port` (nonzero).
// `cookie`: empty for none, else at most kMaxCookie bytes, no CR or LF, no space or tab at either end (so it reads
// back the same). Errors: Errc::bad_input, op "lsd.encode".
Result<std::string> encode(Family f, std::uint16_t port, const std::vector<udp::Hash20>& hashes,
                           std::string_view cookie);

// One received datagram (see the top of this file for what is accepted).
Result<Announce> decode(std::string_view datagram);

} // namespace p2p::lsd
