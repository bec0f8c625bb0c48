// BitTorrent peer wire protocol codec (BEP 3, BEP 5 port, BEP 6 fast extension, BEP 10 extension protocol).
// Pure: bytes in, values or an error out; no uv.h, no I/O.
//
// Decoding is in place: a decoded Message's payload is a string_view into the caller's buffer, valid as long as
// that buffer is. The length prefix is checked against the caller's bound before anything else, so a peer that
// announces a 4 GiB message is refused after 4 bytes instead of being buffered.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p::wire {

// BEP 3: the handshake is <pstrlen=19><"BitTorrent protocol"><8 reserved bytes><20-byte info_hash><20-byte peer_id>.
inline constexpr std::string_view kProtocolName = "BitTorrent protocol";
inline constexpr std::size_t kHandshakeSize = 1 + 19 + 8 + 20 + 20; // 68
inline constexpr std::size_t kHashSize = 20;                        // BEP 3: SHA-1 info hash, 20-byte peer id

// Reserved-bit positions in the handshake's 8 reserved bytes.
inline constexpr std::size_t kExtensionByte = 5; // BEP 10: reserved[5] & 0x10 = extension protocol
inline constexpr std::uint8_t kExtensionBit = 0x10;
inline constexpr std::size_t kFastByte = 7; // BEP 6: reserved[7] & 0x04 = fast extension
inline constexpr std::uint8_t kFastBit = 0x04;
inline constexpr std::size_t kDhtByte = 7; // BEP 5: reserved[7] & 0x01 = DHT (port message)
inline constexpr std::uint8_t kDhtBit = 0x01;

// BEP 3 suggests 16 KiB requests; every current client refuses larger ones, and so do we.
inline constexpr std::uint32_t kBlockSize = 16 * 1024;
inline constexpr std::size_t kPieceHeaderSize = 13; // <len=9+n><id=7><index><begin>

enum class MsgId : std::uint8_t {
    choke = 0,           // BEP 3
    unchoke = 1,         // BEP 3
    interested = 2,      // BEP 3
    not_interested = 3,  // BEP 3
    have = 4,            // BEP 3: <index>
    bitfield = 5,        // BEP 3: <bits>
    request = 6,         // BEP 3: <index><begin><length>
    piece = 7,           // BEP 3: <index><begin><block>
    cancel = 8,          // BEP 3: <index><begin><length>
    port = 9,            // BEP 5: <listen-port, 2 bytes>
    suggest = 0x0D,      // BEP 6: <index>
    have_all = 0x0E,     // BEP 6
    have_none = 0x0F,    // BEP 6
    reject = 0x10,       // BEP 6: <index><begin><length>
    allowed_fast = 0x11, // BEP 6: <index>
    extended = 20,       // BEP 10: <ext id, 1 byte><payload>
};
const char* msg_name(std::uint8_t id); // "choke", ..., "unknown"

struct Reserved {
    std::array<std::uint8_t, 8> bytes{};
    bool extensions() const { return bytes[kExtensionByte] & kExtensionBit; }
    bool fast() const { return bytes[kFastByte] & kFastBit; }
    bool dht() const { return bytes[kDhtByte] & kDhtBit; }
    Reserved& set_extensions(bool on = true) { return set(kExtensionByte, kExtensionBit, on); }
    Reserved& set_fast(bool on = true) { return set(kFastByte, kFastBit, on); }
    Reserved& set_dht(bool on = true) { return set(kDhtByte, kDhtBit, on); }

private:
    Reserved& set(std::size_t i, std::uint8_t bit, bool on) {
        bytes[i] = static_cast<std::uint8_t>(on ? (bytes[i] | bit) : (bytes[i] & ~bit));
        return *this;
    }
};

struct Handshake {
    Reserved reserved;
    std::string info_hash; // 20 raw bytes
    std::string peer_id;   // 20 raw bytes
};

struct HandshakeDecode {
    Decode status = Decode::error;
    Handshake handshake;      // when ok
    std::size_t consumed = 0; // kHandshakeSize when ok
    Error error;              // when error
};

// Decodes a handshake at the front of buf. Wrong bytes are reported as soon as they arrive (a peer speaking
// another protocol is refused after its first byte), so need_more always means "a valid prefix so far".
HandshakeDecode decode_handshake(std::string_view buf);
// Appends the 68-byte handshake. info_hash and peer_id must be 20 bytes each.
void encode_handshake(std::string& out, const Reserved& reserved, std::string_view info_hash, std::string_view peer_id);

// One decoded message. Which fields are set depends on id (see MsgId); the rest stay zero.
struct Message {
    bool keepalive = false;   // length 0: no id, no fields
    std::uint8_t id = 0;      // raw id: unknown ids decode fine (BEP 3: ignore what you do not understand)
    std::uint32_t index = 0;  // have, request, piece, cancel, suggest, reject, allowed_fast
    std::uint32_t begin = 0;  // request, piece, cancel, reject
    std::uint32_t length = 0; // request, cancel, reject; for piece: payload.size()
    std::uint16_t port = 0;   // port
    std::uint8_t ext_id = 0;  // extended
    std::string_view payload; // bitfield bits, piece block, extended payload, unknown message body (into buf)
    MsgId msg_id() const { return static_cast<MsgId>(id); }
};

struct MessageDecode {
    Decode status = Decode::error;
    Message msg;              // when ok
    std::size_t consumed = 0; // 4 + length prefix, when ok
    Error error;              // when error
};

// Decodes one length-prefixed message at the front of buf. A length prefix above max_len is an error as soon as
// the 4 prefix bytes are in, as is a known fixed-size message with the wrong length (checked before its body
// arrives). Unknown ids are returned as-is with their body in payload.
MessageDecode decode_message(std::string_view buf, std::size_t max_len);

// Encoders append to out. They never fail: arguments are the caller's responsibility.
void encode_keepalive(std::string& out);
void encode_simple(std::string& out, MsgId id); // choke, unchoke, interested, not_interested, have_all, have_none
void encode_have(std::string& out, std::uint32_t index);
void encode_bitfield(std::string& out, std::string_view bits);
void encode_request(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length);
void encode_cancel(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length);
void encode_reject(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length);
void encode_piece(std::string& out, std::uint32_t index, std::uint32_t begin, std::string_view block);
// The 13-byte header of a piece message whose block of block_len bytes follows separately (zero copy send).
void encode_piece_header(unsigned char (&hdr)[kPieceHeaderSize], std::uint32_t index, std::uint32_t begin,
                         std::uint32_t block_len);
void encode_port(std::string& out, std::uint16_t port);
void encode_suggest(std::string& out, std::uint32_t index);
void encode_allowed_fast(std::string& out, std::uint32_t index);
void encode_extended(std::string& out, std::uint8_t ext_id, std::string_view payload);

} // namespace p2p::wire
