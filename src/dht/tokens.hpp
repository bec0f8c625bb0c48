// The write tokens of the Mainline DHT (BEP 5): a get_peers reply carries a token, and an announce_peer for the same
// info hash is only stored if it hands that token back from the same IP. BEP 5: "the BitTorrent implementation uses
// the SHA1 hash of the IP address concatenated onto a secret that changes every five minutes and tokens up to ten
// minutes old are accepted". Ours is the same idea with a keyed MAC instead of SHA-1 over a concatenation: the
// token is SipHash-2-4 (crypto/random.hpp short_mac) of the querier's address bytes under a 16-byte random secret.
// The port is not part of it: a node may announce from another port than the one it queried from (BEP 5
// "implied_port"), and its NAT may move it between ports.
//
// Rotation is lazy: make() and check() rotate first when a period has passed since the last rotation, and replace
// both secrets when two or more have (so an idle keeper never accepts a token older than two periods). A token
// therefore stays valid for between 5 and 10 minutes after it was made.
//
// Pure: no I/O, no clock; `now` is the caller's monotonic milliseconds.
#pragma once
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "dht/types.hpp"

namespace p2p::dht {

inline constexpr TimeMs kTokenRotateMs = 5 * 60 * 1000; // BEP 5: "a secret that changes every five minutes"
inline constexpr std::size_t kTokenSize = 8;            // one SipHash-2-4 output (BEP 5: "a short binary string")

class TokenKeeper {
public:
    TokenKeeper(); // random secrets; the rotation clock starts at the first make() or check()

    // The token for this querier: depends on its IP only (not the port). Rotates first if due.
    std::string make(const Endpoint& querier, TimeMs now);
    // True when `token` is what make() gave this IP under the current or the previous secret. Compares in constant
    // time (both secrets are always tried). Rotates first if due.
    bool check(std::string_view token, const Endpoint& querier, TimeMs now);

private:
    using Secret = std::array<unsigned char, 16>;
    void rotate_if_due(TimeMs now);
    static std::array<unsigned char, kTokenSize> mac(const Secret& secret, const Endpoint& querier);

    Secret current_{};
    Secret previous_{};
    TimeMs rotated_at_ = 0;
    bool started_ = false; // rotated_at_ is set by the first call
};

} // namespace p2p::dht
