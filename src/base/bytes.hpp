// Big-endian readers/writers for wire formats. Never cast a packet buffer to a struct pointer: alignment and
// aliasing rules make that undefined; these helpers read byte by byte.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace p2p {

inline std::uint8_t byte_at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

inline std::uint16_t read_be16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>((byte_at(s, at) << 8) | byte_at(s, at + 1));
}
inline std::uint32_t read_be32(std::string_view s, std::size_t at) {
    return (std::uint32_t(byte_at(s, at)) << 24) | (std::uint32_t(byte_at(s, at + 1)) << 16) |
           (std::uint32_t(byte_at(s, at + 2)) << 8) | std::uint32_t(byte_at(s, at + 3));
}
inline std::uint64_t read_be64(std::string_view s, std::size_t at) {
    return (std::uint64_t(read_be32(s, at)) << 32) | read_be32(s, at + 4);
}

inline void put_be16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v));
}
inline void put_be32(std::string& out, std::uint32_t v) {
    for (int sh = 24; sh >= 0; sh -= 8) out.push_back(static_cast<char>(v >> sh));
}
inline void put_be64(std::string& out, std::uint64_t v) {
    put_be32(out, static_cast<std::uint32_t>(v >> 32));
    put_be32(out, static_cast<std::uint32_t>(v));
}
// Write into a fixed buffer (for hot paths that must not allocate).
inline void store_be32(unsigned char* p, std::uint32_t v) {
    p[0] = static_cast<unsigned char>(v >> 24);
    p[1] = static_cast<unsigned char>(v >> 16);
    p[2] = static_cast<unsigned char>(v >> 8);
    p[3] = static_cast<unsigned char>(v);
}

std::string to_hex(std::string_view bytes);
// Returns false on odd length or a non-hex digit.
bool from_hex(std::string_view hex, std::string& out);
// 0..15 for a hex digit (either case), -1 otherwise: from_hex, and the percent escapes of URLs.
int hex_value(char c);
// A TCP/UDP port written in decimal, as in URLs ("6969"): 1..65535, digits only, at most 5 of them; else 0.
std::uint16_t parse_port(std::string_view digits);
// Whether `s` begins with `prefix`, ASCII letters compared without case (URL schemes: "HTTP://" is "http://").
// `prefix` is given in lower case.
bool starts_with_nocase(std::string_view s, std::string_view prefix);

} // namespace p2p
