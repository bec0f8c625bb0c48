// Randomness (the kernel's getrandom) and keyed MACs (libsodium's SipHash): peer ids, transaction ids, MSE keys,
// tracker connection-id MACs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace p2p {
// Checks that the kernel gives randomness (false: it does not; random_bytes would abort). Idempotent.
bool crypto_init();
void random_bytes(void* out, std::size_t n);
std::uint32_t random_u32();
// 64-bit keyed MAC (libsodium crypto_shorthash_siphash24, SipHash-2-4) of msg under a 16-byte key.
std::uint64_t short_mac(const unsigned char key[16], std::string_view msg);
} // namespace p2p
