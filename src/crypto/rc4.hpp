// RC4 through nettle's arcfour, as MSE/PE uses it (proto/mse.hpp): keyed with a 20-byte SHA-1 digest, the first
// 1024 bytes of the key stream discarded. Obfuscation, not security. Copyable (a cipher's state is 258 bytes).
#pragma once
#include <nettle/arcfour.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace p2p {

class Rc4 {
public:
    Rc4() = default; // unkeyed: crypt() is not to be called
    // Keys the cipher and drops the first `discard` bytes of its stream (MSE: 1024).
    Rc4(std::string_view key, std::size_t discard) {
        arcfour_set_key(&ctx_, key.size(), reinterpret_cast<const std::uint8_t*>(key.data()));
        keyed_ = true;
        unsigned char sink[256] = {};
        while (discard > 0) {
            std::size_t n = discard < sizeof sink ? discard : sizeof sink;
            arcfour_crypt(&ctx_, n, sink, sink);
            discard -= n;
        }
    }
    bool keyed() const { return keyed_; }
    // In place: encryption and decryption are the same operation.
    void crypt(char* data, std::size_t n) {
        arcfour_crypt(&ctx_, n, reinterpret_cast<std::uint8_t*>(data), reinterpret_cast<const std::uint8_t*>(data));
    }
    void crypt(std::string& data) { crypt(data.data(), data.size()); }
    std::string crypted(std::string_view in) {
        std::string out(in);
        crypt(out);
        return out;
    }

private:
    arcfour_ctx ctx_{};
    bool keyed_ = false;
};

} // namespace p2p
