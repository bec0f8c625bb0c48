// The Diffie-Hellman key exchange of MSE/PE (proto/mse.hpp): a 768-bit prime P, generator 2, 160-bit private
// keys. Public keys and the shared secret travel as exactly 96 big-endian bytes (left-padded with zeros).
// Arithmetic through mbedTLS's bignum (mbedtls_mpi_exp_mod; its window lookups do not depend on the key's bits).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p {

class MseDh {
public:
    static constexpr std::size_t kKeySize = 96;        // MSE spec: Ya, Yb and S are 768-bit numbers
    static constexpr std::size_t kPrivateKeySize = 20; // MSE spec: Xa, Xb are 160 bits ("at least 128")

    MseDh(); // a random private key (crypto/random.hpp; crypto_init() must have run)
    // A given private key (big-endian, any length; tests use 20 bytes).
    explicit MseDh(std::string_view private_key);
    MseDh(const MseDh&) = delete;
    MseDh& operator=(const MseDh&) = delete;
    MseDh(MseDh&&) noexcept = default;
    MseDh& operator=(MseDh&&) noexcept = default;
    ~MseDh(); // wipes the private key

    // G^X mod P: 96 bytes.
    const std::string& public_key() const { return public_; }
    // other^X mod P: 96 bytes. Errc::bad_input when `other_public` is not 96 bytes or is 0, 1 or >= P-1 (values
    // that would make the secret 0, 1 or +-1: a peer that sends them forces a known secret).
    Result<std::string> shared_secret(std::string_view other_public) const;

private:
    std::string private_;
    std::string public_;
};

} // namespace p2p
