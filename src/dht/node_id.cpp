// Node ids and BEP 42. Design: node_id.hpp.
#include "dht/node_id.hpp"

#include <algorithm>
#include <array>

#include "crypto/random.hpp"

namespace p2p::dht {

namespace {

// The 256-entry table of the reflected CRC32-C, built at compile time.
constexpr std::array<std::uint32_t, 256> make_crc32c_table() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1; // Castagnoli, reflected
        t[i] = c;
    }
    return t;
}
constexpr auto kCrc32cTable = make_crc32c_table();

// BEP 42's masks: which bits of the address enter the CRC.
constexpr std::array<std::uint8_t, 4> kV4Mask = {0x03, 0x0f, 0x3f, 0xff};
constexpr std::array<std::uint8_t, 8> kV6Mask = {0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff};

// The IPv4 bytes of an IPv4 endpoint or of an IPv4-mapped IPv6 one.
const std::uint8_t* v4_bytes(const Endpoint& a) { return a.v6 ? a.ip.data() + 12 : a.ip.data(); }

bool exempt_v4(const std::uint8_t* ip) {
    return ip[0] == 10                               // 10.0.0.0/8, local networks
           || (ip[0] == 172 && (ip[1] & 0xf0) == 16) // 172.16.0.0/12, local networks
           || (ip[0] == 192 && ip[1] == 168)         // 192.168.0.0/16, local networks
           || (ip[0] == 169 && ip[1] == 254)         // 169.254.0.0/16, self-assigned
           || ip[0] == 127;                          // 127.0.0.0/8, loopback
}

// The CRC32-C of BEP 42 for addr and r: the first 21 bits of a valid id.
std::uint32_t bep42_crc(const Endpoint& addr, std::uint8_t r) {
    std::array<std::uint8_t, 8> buf{};
    std::size_t n;
    if (!addr.v6 || is_v4_mapped(addr)) {
        const std::uint8_t* ip = v4_bytes(addr);
        for (std::size_t i = 0; i < kV4Mask.size(); ++i) buf[i] = ip[i] & kV4Mask[i];
        n = kV4Mask.size();
    } else {
        for (std::size_t i = 0; i < kV6Mask.size(); ++i) buf[i] = addr.ip[i] & kV6Mask[i];
        n = kV6Mask.size();
    }
    buf[0] = static_cast<std::uint8_t>(buf[0] | ((r & 0x7) << 5)); // BEP 42: "| (r << 29)" (IPv4), "<< 61" (IPv6)
    return crc32c(buf.data(), n);
}

} // namespace

bool is_v4_mapped(const Endpoint& a) {
    if (!a.v6) return false;
    for (int i = 0; i < 10; ++i)
        if (a.ip[i] != 0) return false;
    return a.ip[10] == 0xff && a.ip[11] == 0xff;
}

std::uint32_t crc32c(const std::uint8_t* data, std::size_t n) {
    std::uint32_t c = 0xffffffffu;
    for (std::size_t i = 0; i < n; ++i) c = kCrc32cTable[(c ^ data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

NodeId random_node_id() {
    NodeId id;
    random_bytes(id.b.data(), id.b.size());
    return id;
}

NodeId random_id_in_bucket(const NodeId& self, int prefix_bits) {
    const int p = std::clamp(prefix_bits, 0, 159);
    NodeId id = random_node_id();
    const std::size_t byte = static_cast<std::size_t>(p / 8);
    const unsigned bit = 0x80u >> (p % 8);           // bit number p, counted from the most significant
    const unsigned keep = ~(bit | (bit - 1)) & 0xff; // the bits before it in the same byte
    for (std::size_t i = 0; i < byte; ++i) id.b[i] = self.b[i];
    id.b[byte] = static_cast<std::uint8_t>((self.b[byte] & keep) | (~self.b[byte] & bit) | (id.b[byte] & (bit - 1)));
    return id;
}

bool is_exempt_address(const Endpoint& addr) {
    if (!addr.v6 || is_v4_mapped(addr)) return exempt_v4(v4_bytes(addr));
    const auto& ip = addr.ip;
    bool loopback = ip[15] == 1;
    for (int i = 0; i < 15; ++i) loopback = loopback && ip[i] == 0;
    return loopback                                     // ::1
           || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) // fe80::/10, link-local
           || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0xc0) // fec0::/10, site-local (deprecated, RFC 3879)
           || (ip[0] & 0xfe) == 0xfc;                   // fc00::/7, unique local
}

NodeId bep42_node_id(const Endpoint& external_addr, std::uint8_t r) {
    const std::uint32_t c = bep42_crc(external_addr, r);
    NodeId id = random_node_id();
    id.b[0] = static_cast<std::uint8_t>(c >> 24);
    id.b[1] = static_cast<std::uint8_t>(c >> 16);
    id.b[2] = static_cast<std::uint8_t>(((c >> 8) & 0xf8) | (id.b[2] & 0x07)); // 21 bits from the CRC, 3 random
    id.b[19] = r;
    return id;
}

NodeId bep42_node_id(const Endpoint& external_addr) {
    std::uint8_t r;
    random_bytes(&r, 1);
    return bep42_node_id(external_addr, r);
}

bool bep42_valid(const NodeId& id, const Endpoint& addr) {
    if (is_exempt_address(addr)) return true;
    const std::uint32_t c = bep42_crc(addr, id.b[19]);
    return id.b[0] == static_cast<std::uint8_t>(c >> 24) && id.b[1] == static_cast<std::uint8_t>(c >> 16) &&
           (id.b[2] & 0xf8) == ((c >> 8) & 0xf8);
}

} // namespace p2p::dht
