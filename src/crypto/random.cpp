#include "crypto/random.hpp"

#include <sodium.h>

namespace p2p {
// Not sodium_init(): what p2pnode uses of libsodium (randombytes, SipHash, sodium_memzero) needs none of the CPU
// feature pickers sodium_init() runs, and calling it links every implementation they pick from (Argon2, BLAKE2b,
// ChaCha20, Poly1305, Salsa20, Ed25519: ~150 KB of a binary meant for a router's flash) although none is called.
// randombytes_stir() opens the system's random source now (getrandom(2), else /dev/urandom), as sodium_init()
// would, so a missing source is found at start-up rather than at the first handshake (libsodium aborts then).
bool crypto_init() {
    randombytes_stir();
    return true;
}
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
