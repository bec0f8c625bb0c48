#include "crypto/random.hpp"

#include <sodium.h>

namespace p2p {
bool crypto_init() { return sodium_init() >= 0; }
void random_bytes(void* out, std::size_t n) { randombytes_buf(out, n); }
std::uint32_t random_u32() { return randombytes_random(); }
std::uint64_t short_mac(const unsigned char key[16], std::string_view msg) {
    static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == 16);
    unsigned char out[8];
    crypto_shorthash(out, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key);
    std::uint64_t v = 0;
    for (unsigned char b : out) v = (v << 8) | b;
    return v;
}
} // namespace p2p
