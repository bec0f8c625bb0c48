#include "dht/tokens.hpp"

#include "crypto/random.hpp"

namespace p2p::dht {

TokenKeeper::TokenKeeper() {
    random_bytes(current_.data(), current_.size());
    random_bytes(previous_.data(), previous_.size());
}

void TokenKeeper::rotate_if_due(TimeMs now) {
    if (!started_) {
        started_ = true;
        rotated_at_ = now;
        return;
    }
    if (now < rotated_at_ || now - rotated_at_ < kTokenRotateMs) return; // a clock that went back: wait
    const TimeMs periods = (now - rotated_at_) / kTokenRotateMs;
    if (periods >= 2) {
        // Nobody asked for a while: the secret of two periods ago must not stay acceptable as "previous".
        random_bytes(previous_.data(), previous_.size());
    } else {
        previous_ = current_;
    }
    random_bytes(current_.data(), current_.size());
    rotated_at_ += periods * kTokenRotateMs; // keep the 5-minute grid, so rotation times do not drift
}

std::array<unsigned char, kTokenSize> TokenKeeper::mac(const Secret& secret, const Endpoint& querier) {
    const std::uint64_t v = short_mac(secret.data(), ip_key(querier));
    std::array<unsigned char, kTokenSize> out;
    for (std::size_t i = 0; i < kTokenSize; ++i) out[i] = static_cast<unsigned char>(v >> (8 * (kTokenSize - 1 - i)));
    return out;
}

std::string TokenKeeper::make(const Endpoint& querier, TimeMs now) {
    rotate_if_due(now);
    const auto t = mac(current_, querier);
    return std::string(reinterpret_cast<const char*>(t.data()), t.size());
}

bool TokenKeeper::check(std::string_view token, const Endpoint& querier, TimeMs now) {
    rotate_if_due(now);
    if (token.size() != kTokenSize) return false; // the length is public: no secret leaks by refusing early
    const auto a = mac(current_, querier), b = mac(previous_, querier);
    unsigned diff_a = 0, diff_b = 0;
    for (std::size_t i = 0; i < kTokenSize; ++i) {
        const auto c = static_cast<unsigned char>(token[i]);
        diff_a |= static_cast<unsigned>(c ^ a[i]);
        diff_b |= static_cast<unsigned>(c ^ b[i]);
    }
    return (diff_a == 0) | (diff_b == 0);
}

} // namespace p2p::dht
