// Randomness from the kernel (getrandom(2)), keyed MACs from libsodium (SipHash-2-4).
//
// Why not libsodium's randombytes: in its static archive, randombytes_buf and sodium_memzero reach sodium_misuse,
// which lives in the object of sodium_init, which references every CPU-feature picker (Argon2, BLAKE2b, ChaCha20,
// Poly1305, Salsa20, Curve25519): ~150 KB of code p2pnode never runs, in a binary meant for a router's flash.
// libsodium's own default source on Linux is this same system call, so nothing is lost.
#include "crypto/random.hpp"

#include <fcntl.h>
#include <sodium/crypto_shorthash_siphash24.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace p2p {

namespace {
// A kernel without getrandom (before Linux 3.17): /dev/urandom, opened once and kept.
bool read_urandom(unsigned char* p, std::size_t n) {
    static int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    while (n > 0) {
        const ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

bool fill(unsigned char* p, std::size_t n) {
    while (n > 0) {
        // Blocks only until the kernel's pool is first initialised at boot, as libsodium's source does.
        const ssize_t r = ::getrandom(p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno == ENOSYS) return read_urandom(p, n);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}
} // namespace

bool crypto_init() {
    unsigned char probe[1];
    return fill(probe, sizeof probe);
}

void random_bytes(void* out, std::size_t n) {
    // No source of randomness is not an error anyone can handle: keys and ids would be guessable.
    if (!fill(static_cast<unsigned char*>(out), n)) {
        std::fputs("p2pnode: no source of randomness (getrandom and /dev/urandom failed)\n", stderr);
        std::abort();
    }
}

std::uint32_t random_u32() {
    std::uint32_t v;
    random_bytes(&v, sizeof v);
    return v;
}

std::uint64_t short_mac(const unsigned char key[16], std::string_view msg) {
    static_assert(crypto_shorthash_siphash24_BYTES == 8 && crypto_shorthash_siphash24_KEYBYTES == 16);
    unsigned char out[8];
    crypto_shorthash_siphash24(out, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key);
    std::uint64_t v = 0;
    for (unsigned char b : out) v = (v << 8) | b;
    return v;
}

} // namespace p2p
