// Node ids: random ones (BEP 5), random targets inside a routing-table bucket (BEP 5's refresh), and BEP 42's rule
// tying a node's id to its external IP address (the first 21 bits of the id come from a CRC32-C of the masked
// address, the last byte is the random number that went into it). Pure: no uv.h, no I/O, no clock.
#pragma once
#include <cstddef>
#include <cstdint>

#include "dht/types.hpp"

namespace p2p::dht {

// 160 random bits (BEP 5: "Node IDs are chosen at random from the same 160-bit space as BitTorrent infohashes").
NodeId random_node_id();

// A random id that shares exactly `prefix_bits` leading bits with `self` (bit number prefix_bits differs, the bits
// after it are random): a target inside bucket `prefix_bits` of self's routing table. prefix_bits is clamped to
// [0, 159].
NodeId random_id_in_bucket(const NodeId& self, int prefix_bits);

// CRC32-C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor ~0): the checksum BEP 42 hashes
// the masked address with. A checksum, not a cryptographic hash. crc32c("123456789") == 0xE3069283.
std::uint32_t crc32c(const std::uint8_t* data, std::size_t n);

// Addresses BEP 42 exempts from the id check ("Any peer on a local network address is exempt"). IPv4, the list of
// BEP 42: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 127.0.0.0/8. BEP 42 lists no IPv6 blocks; as
// libtorrent does, we exempt the IPv6 ones of the same kinds: loopback ::1, link-local fe80::/10, site-local
// fec0::/10 (deprecated, RFC 3879, but not routed) and unique local fc00::/7. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is judged as the IPv4 address it carries.
bool is_exempt_address(const Endpoint& addr);

// ::ffff:a.b.c.d, an IPv4 peer seen through a dual-stack IPv6 socket.
bool is_v4_mapped(const Endpoint& addr);

// BEP 42: a node id valid for `external_addr`, with `r` as its last byte (only r's low 3 bits enter the CRC; the
// remaining free bits, the low 3 of byte 2 and bytes 3..18, are random). IPv4 hashes the 4 address bytes masked with
// 03 0f 3f ff, IPv6 the high 8 bytes masked with 01 03 07 0f 1f 3f 7f ff; (r & 7) << 5 is or-ed into the first byte.
// An IPv4-mapped IPv6 address is treated as IPv4. Exempt addresses get an id computed the same way (harmless: any id
// is valid for them).
NodeId bep42_node_id(const Endpoint& external_addr, std::uint8_t r);
// The same with a random r.
NodeId bep42_node_id(const Endpoint& external_addr);

// BEP 42: true when the first 21 bits of `id` match the CRC of `addr` under r = id's last byte, or when `addr` is
// exempt (is_exempt_address).
bool bep42_valid(const NodeId& id, const Endpoint& addr);

} // namespace p2p::dht
