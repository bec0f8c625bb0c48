// MSE/PE Diffie-Hellman (crypto/dh.hpp) on GMP: numbers enter and leave as big-endian bytes via mpz_import and
// mpz_export; each operation holds its mpz_t values for the duration of one call.
#include "crypto/dh.hpp"

#include <gmp.h>
#include <sodium.h>

#include "crypto/random.hpp"

namespace p2p {

namespace {

// MSE spec ("Message Stream Encryption", Azureus wiki): the prime P (768 bits) and the generator G = 2.
constexpr const char* kPrimeHex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
                                  "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F4"
                                  "4C42E9A63A36210000000000090563";
constexpr unsigned long kGenerator = 2;

// RAII for one mpz_t.
struct Mpz {
    mpz_t v;
    Mpz() { mpz_init(v); }
    Mpz(const Mpz&) = delete;
    Mpz& operator=(const Mpz&) = delete;
    ~Mpz() { mpz_clear(v); }
};

void set_prime(Mpz& p) { mpz_set_str(p.v, kPrimeHex, 16); }

void import_be(Mpz& x, std::string_view bytes) { mpz_import(x.v, bytes.size(), 1, 1, 1, 0, bytes.data()); }

// x as exactly MseDh::kKeySize big-endian bytes (x < P, so it fits).
std::string export_be(const Mpz& x) {
    std::string out(MseDh::kKeySize, '\0');
    std::size_t n = (mpz_sizeinbase(x.v, 2) + 7) / 8;
    if (mpz_sgn(x.v) == 0 || n > out.size()) return out;
    std::size_t written = 0;
    mpz_export(out.data() + (out.size() - n), &written, 1, 1, 1, 0, x.v);
    return out;
}

// base^exp mod p. mpz_powm_sec needs exp > 0 (a zero private key is only possible through the test hook).
void powm(Mpz& r, const Mpz& base, const Mpz& exp, const Mpz& p) {
    if (mpz_sgn(exp.v) > 0) {
        mpz_powm_sec(r.v, base.v, exp.v, p.v);
    } else {
        mpz_powm(r.v, base.v, exp.v, p.v);
    }
}

std::string compute_public(std::string_view private_key) {
    Mpz p, g, x, y;
    set_prime(p);
    mpz_set_ui(g.v, kGenerator);
    import_be(x, private_key);
    powm(y, g, x, p);
    return export_be(y);
}

} // namespace

MseDh::MseDh() : private_(kPrivateKeySize, '\0') {
    random_bytes(private_.data(), private_.size());
    public_ = compute_public(private_);
}

MseDh::MseDh(std::string_view private_key) : private_(private_key), public_(compute_public(private_)) {}

MseDh::~MseDh() {
    if (!private_.empty()) sodium_memzero(private_.data(), private_.size());
}

Result<std::string> MseDh::shared_secret(std::string_view other_public) const {
    if (other_public.size() != kKeySize)
        return make_error("mse.dh", "public key of " + std::to_string(other_public.size()) + " bytes, expected 96",
                          Errc::bad_input);
    Mpz p, y, x, s;
    set_prime(p);
    import_be(y, other_public);
    // Refuse 0, 1 and P-1 and above: 1 < y < P-1.
    Mpz limit;
    mpz_sub_ui(limit.v, p.v, 1);
    if (mpz_cmp_ui(y.v, 1) <= 0 || mpz_cmp(y.v, limit.v) >= 0)
        return make_error("mse.dh", "public key out of range (0, 1 or >= P-1)", Errc::bad_input);
    import_be(x, private_);
    powm(s, y, x, p);
    return export_be(s);
}

} // namespace p2p
