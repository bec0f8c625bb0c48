// uTP (BEP 29, the uTorrent transport protocol) packets: a pure codec. Bytes in, a Packet or an Error out; a
// Packet in, bytes out. No uv.h, no I/O, no connection state (that is the connection layer's, on top of this).
//
// One UDP datagram is one whole packet, so there is no "need more bytes" here: a datagram too short for what it
// says it holds is refused (Errc::bad_input, op "utp.decode"), never waited on.
//
// Layout (BEP 29 "header format", all fields big-endian):
//   0  type (high nibble) | version (low nibble)     1  extension (id of the first extension, 0 = none)
//   2  connection_id u16   4  timestamp_microseconds u32   8  timestamp_difference_microseconds u32
//   12 wnd_size u32        16 seq_nr u16                   18 ack_nr u16
//   20 extensions: each is [id of the NEXT extension u8][len u8][len bytes]; the chain ends at next id 0
//   .. payload: the rest of the datagram
//
// Found in libutp and libtorrent, which the decoder and encoder follow:
// - libutp (Transmission's uTP) drops a packet whose FIRST extension id is >= 3 (utp_internal.cpp, UTP_Version:
//   "pf->ext < 3"). libtorrent sends its close-reason extension (id 3) first when it has no SACK to send. So
//   encode() never puts the close reason first: without a SACK it writes an all-zero 4-byte SACK ahead of it (a
//   clear bit acks nothing; libutp and libtorrent count set bits only, so it triggers no resend).
// - libtorrent sends SACK masks of (packets in its reorder buffer + 7) / 8 bytes, not the multiple of 4 the BEP
//   asks for (utp_stream.cpp, send_pkt), and libutp and libtorrent both read any length. The decoder accepts any
//   non-zero length (refusing them would drop libtorrent's DATA packets that carry one); sack_from() writes
//   multiples of 4.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p::utp {

// --- Constants ---
enum class Type : std::uint8_t {
    data = 0,  // BEP 29: ST_DATA, a data packet (the BEP says it always carries payload)
    fin = 1,   // BEP 29: ST_FIN, the last packet; its seq_nr is the sender's eof_pkt
    state = 2, // BEP 29: ST_STATE, an ACK without data; does not take a sequence number
    reset = 3, // BEP 29: ST_RESET, terminate forcefully
    syn = 4,   // BEP 29: ST_SYN, connect; its connection_id is the id the initiator receives on
};
inline constexpr std::uint8_t kMaxType = 4;      // BEP 29: ST_SYN is the last type
inline constexpr std::uint8_t kVersion = 1;      // BEP 29: "The current version is 1"
inline constexpr std::size_t kHeaderSize = 20;   // BEP 29: the version 1 header
inline constexpr std::size_t kExtHeaderSize = 2; // BEP 29: next extension id u8, len u8

inline constexpr std::uint8_t kExtNone = 0; // BEP 29: "0 means no extension" (and ends the chain)
inline constexpr std::uint8_t kExtSack = 1; // BEP 29: selective ACK
// libtorrent's close reason (include/libtorrent/aux_/utp_stream.hpp, utp_extensions_t: utp_close_reason = 3; 2 is
// skipped, "a deprecated extension with that number in the wild": libutp's 8-byte extension bits). Its 4 bytes
// are 2 reserved (written 0, ignored) and the u16 close_reason_t (utp_stream.cpp, parse_close_reason, which
// ignores the extension when len != 4; so does decode()).
inline constexpr std::uint8_t kExtCloseReason = 3;
inline constexpr std::size_t kCloseReasonSize = 4;
// Every other extension id is skipped by its length (BEP 29: "Unknown extensions can be skipped").

inline constexpr std::size_t kMaxExtensions = 8; // ours: a longer chain is refused (libtorrent sends at most 2)
inline constexpr std::size_t kSackUnit = 4;      // BEP 29: the SACK mask is "at least 32 bits, in multiples of 32"
// The longest mask sack_from() writes: the largest multiple of 4 a u8 len can hold (252 bytes, 2016 packets).
inline constexpr std::size_t kMaxSackBytes = 252;

// --- Packets ---
struct Header {
    Type type = Type::data;
    std::uint8_t version = kVersion;
    std::uint8_t extension = kExtNone; // id of the first extension, as on the wire (encode() computes its own)
    std::uint16_t connection_id = 0;
    std::uint32_t timestamp_us = 0;            // low 32 bits of the sender's microsecond clock when sent
    std::uint32_t timestamp_difference_us = 0; // receive time minus the last received timestamp; 0: no sample
    std::uint32_t wnd_size = 0;                // bytes the sender's receive buffer still has room for
    std::uint16_t seq_nr = 0;
    std::uint16_t ack_nr = 0;
    bool operator==(const Header&) const = default;
};

struct Packet {
    Header h;
    // The selective ACK mask (at least one byte; see sack_has for the bit mapping), when the packet has one.
    std::optional<std::string> sack;
    // libtorrent's close reason (a close_reason_t), when the packet has one.
    std::optional<std::uint16_t> close_reason;
    // The rest of the datagram after the extensions: a view into the datagram given to decode().
    std::string_view payload;
};

// Decodes one datagram. Refuses (Errc::bad_input): fewer than kHeaderSize bytes, a version other than 1, a type
// above ST_SYN, an extension header or body running past the end, a SACK of length 0, more than kMaxExtensions
// extensions, a second SACK or close reason. Accepts what the BEP or the implementations leave open: payload on
// any type (libutp and libtorrent ignore a SYN's; the connection layer decides), a DATA without payload, a SACK
// whose length is not a multiple of 4, extensions in any order, unknown ids (skipped).
Result<Packet> decode(std::string_view datagram);

// Appends the packet to `out`: the header (version kVersion; h.version and h.extension are not used), then the
// extensions present, SACK first, then `payload`. `sack`, when given, is written as is and must hold 1..255 bytes
// (a mask from sack_from() or from decode()); an empty one is written as 4 zero bytes, a longer one cut to
// kMaxSackBytes. A close reason without a SACK gets an all-zero 4-byte SACK ahead of it: see the top of the file.
void encode(const Header& h, const std::optional<std::string>& sack, std::optional<std::uint16_t> close_reason,
            std::string_view payload, std::string& out);
// The same, into a new string.
std::string encode(const Header& h, const std::optional<std::string>& sack = std::nullopt,
                   std::optional<std::uint16_t> close_reason = std::nullopt, std::string_view payload = {});

// For the UDP demultiplexer: whether a datagram can be a uTP packet (at least kHeaderSize bytes, version 1 in the
// low nibble of byte 0, a type <= ST_SYN in the high nibble). A bencoded DHT message starts with 'd' (0x64: low
// nibble 4), a BEP 15 tracker reply with its action's high byte 0x00, so neither is taken for one. Only a
// decode() says whether it is a valid one.
bool looks_like_utp(std::string_view datagram);

// --- Sequence numbers (u16, wrapping: 65535 + 1 == 0) ---
// Whether `a` comes before `b`: b is 1..32767 steps after a. Two numbers exactly 32768 apart are unordered (both
// seq_less(a, b) and seq_less(b, a) are false), as in libutp's and libtorrent's wrapping compares.
bool seq_less(std::uint16_t a, std::uint16_t b);
// Steps from `from` forward to `to`, modulo 65536 (seq_distance(65535, 0) == 1).
std::uint16_t seq_distance(std::uint16_t from, std::uint16_t to);

// --- Selective ACK masks (BEP 29 "Selective ACK") ---
// Bit i of the mask stands for packet ack_nr + 2 + i (ack_nr + 1 is the one missing, or there would be no SACK):
// bit (i % 8) of byte (i / 8), the least significant bit first. The BEP: "The least significant bit in the byte
// represents ack_nr + 2, the most significant bit in the byte represents ack_nr + 2 + 7"; libtorrent's
// write_sack/parse_sack and libutp's send_ack/selective_ack all test bit i as mask[i / 8] & (1 << (i % 8)).
//
// The mask of the packets `received` says it has among ack_nr + 2 .. ack_nr + 1 + 8 * max_bytes: as many 4-byte
// words as reach the last received one. max_bytes is rounded down to a multiple of 4 and capped at
// kMaxSackBytes. Empty when none of them was received (then no SACK is sent: BEP 29 sends one only when a packet
// was skipped).
std::string sack_from(std::uint16_t ack_nr, const std::function<bool(std::uint16_t seq)>& received,
                      std::size_t max_bytes = kMaxSackBytes);
// Whether `mask` (from a packet with this ack_nr) says `seq` was received. False for anything outside the mask,
// ack_nr + 1 included.
bool sack_has(const std::string& mask, std::uint16_t ack_nr, std::uint16_t seq);

} // namespace p2p::utp
