// Randomness and keyed MACs from libsodium: peer ids, transaction ids, tracker connection-id MACs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace p2p {
// Must be called once before any other function here (idempotent).
bool crypto_init();
void random_bytes(void* out, std::size_t n);
std::uint32_t random_u32();
// 64-bit keyed MAC (libsodium crypto_shorthash, SipHash-2-4) of msg under a 16-byte key.
std::uint64_t short_mac(const unsigned char key[16], std::string_view msg);
} // namespace p2p
