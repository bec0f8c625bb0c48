// MSE/PE Diffie-Hellman (crypto/dh.hpp) on mbedTLS's bignum (mbedtls/bignum.h), which the https:// tracker client
// links anyway: numbers enter and leave as big-endian bytes (mbedtls_mpi_read_binary / write_binary); each
// operation holds its values for the duration of one call. (GMP did this before; dropping it took ~170 KB off
// the static binary, docs/cross.md.)
#include "crypto/dh.hpp"

#include <mbedtls/bignum.h>
#include <mbedtls/platform_util.h>

#include <cstdio>

#include "crypto/random.hpp"

namespace p2p {

namespace {

// MSE spec ("Message Stream Encryption", Azureus wiki): the prime P (768 bits) and the generator G = 2.
constexpr const char* kPrimeHex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
                                  "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F4"
                                  "4C42E9A63A36210000000000090563";
constexpr int kGenerator = 2;

// RAII for one mbedtls_mpi.
struct Mpi {
    mbedtls_mpi v;
    Mpi() { mbedtls_mpi_init(&v); }
    Mpi(const Mpi&) = delete;
    Mpi& operator=(const Mpi&) = delete;
    ~Mpi() { mbedtls_mpi_free(&v); }
};

Error bignum_error(const char* what, int rc) {
    char code[16];
    std::snprintf(code, sizeof code, "-0x%04x", static_cast<unsigned>(-rc));
    return make_error("mse.dh", std::string(what) + " failed (mbedTLS " + code + ")");
}

// x as exactly MseDh::kKeySize big-endian bytes, left-padded with zeros (x < P, so it fits).
Result<std::string> export_be(const Mpi& x) {
    std::string out(MseDh::kKeySize, '\0');
    if (int rc = mbedtls_mpi_write_binary(&x.v, reinterpret_cast<unsigned char*>(out.data()), out.size()))
        return bignum_error("write_binary", rc);
    return out;
}

int import_be(Mpi& x, std::string_view bytes) {
    return mbedtls_mpi_read_binary(&x.v, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

// base^exp mod P. mbedtls_mpi_exp_mod uses a fixed window whose table lookups do not depend on the exponent's
// bits (mbedTLS 2.28), and needs an odd modulus, which P is.
Result<std::string> powm_p(const Mpi& base, std::string_view exponent) {
    Mpi p, x, r;
    if (int rc = mbedtls_mpi_read_string(&p.v, 16, kPrimeHex)) return bignum_error("read prime", rc);
    if (int rc = import_be(x, exponent)) return bignum_error("read private key", rc);
    if (int rc = mbedtls_mpi_exp_mod(&r.v, &base.v, &x.v, &p.v, nullptr)) return bignum_error("exp_mod", rc);
    return export_be(r);
}

std::string compute_public(std::string_view private_key) {
    Mpi g;
    Result<std::string> y = mbedtls_mpi_lset(&g.v, kGenerator) == 0 ? powm_p(g, private_key)
                                                                     : Result<std::string>(bignum_error("lset", -1));
    // Only an allocation failure gets here; an all-zero key makes every handshake with it fail, never a crash.
    return y ? std::move(*y) : std::string(MseDh::kKeySize, '\0');
}

} // namespace

MseDh::MseDh() : private_(kPrivateKeySize, '\0') {
    random_bytes(private_.data(), private_.size());
    public_ = compute_public(private_);
}

MseDh::MseDh(std::string_view private_key) : private_(private_key), public_(compute_public(private_)) {}

MseDh::~MseDh() {
    if (!private_.empty()) mbedtls_platform_zeroize(private_.data(), private_.size());
}

Result<std::string> MseDh::shared_secret(std::string_view other_public) const {
    if (other_public.size() != kKeySize)
        return make_error("mse.dh", "public key of " + std::to_string(other_public.size()) + " bytes, expected 96",
                          Errc::bad_input);
    Mpi p, y, limit;
    if (int rc = mbedtls_mpi_read_string(&p.v, 16, kPrimeHex)) return bignum_error("read prime", rc);
    if (int rc = import_be(y, other_public)) return bignum_error("read public key", rc);
    // Refuse 0, 1 and P-1 and above: 1 < y < P-1.
    if (int rc = mbedtls_mpi_sub_int(&limit.v, &p.v, 1)) return bignum_error("sub_int", rc);
    if (mbedtls_mpi_cmp_int(&y.v, 1) <= 0 || mbedtls_mpi_cmp_mpi(&y.v, &limit.v) >= 0)
        return make_error("mse.dh", "public key out of range (0, 1 or >= P-1)", Errc::bad_input);
    return powm_p(y, private_);
}

} // namespace p2p
