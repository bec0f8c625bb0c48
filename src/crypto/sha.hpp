// SHA-1 (BitTorrent v1 piece and info hashes, BEP 3) through nettle, which uses the CPU's SHA instructions where
// present. Digests are returned as raw 20-byte strings.
#pragma once
#include <nettle/sha1.h>
#include <string>
#include <string_view>

namespace p2p {

inline constexpr std::size_t kSha1Size = 20;

class Sha1 {
public:
    Sha1() { sha1_init(&ctx_); }
    void update(std::string_view data) {
        sha1_update(&ctx_, data.size(), reinterpret_cast<const std::uint8_t*>(data.data()));
    }
    void update(const void* data, std::size_t n) { sha1_update(&ctx_, n, static_cast<const std::uint8_t*>(data)); }
    std::string finish() {
        std::string out(kSha1Size, '\0');
        sha1_digest(&ctx_, kSha1Size, reinterpret_cast<std::uint8_t*>(out.data()));
        return out;
    }

private:
    sha1_ctx ctx_;
};

inline std::string sha1(std::string_view data) {
    Sha1 h;
    h.update(data);
    return h.finish();
}

} // namespace p2p
