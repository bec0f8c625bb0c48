#include "tracker/connection_id.hpp"

#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <string_view>

#include "crypto/random.hpp"

namespace p2p {

ConnectionIds::Clock ConnectionIds::steady_clock() {
    return [] {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count());
    };
}

ConnectionIds::ConnectionIds(Clock clock, std::uint64_t window_s)
    : clock_(std::move(clock)), window_s_(window_s ? window_s : 60) {
    random_bytes(key_, sizeof key_);
}

std::uint64_t ConnectionIds::mac(const sockaddr* addr, std::uint64_t window) const {
    // Message: family (1) | address (4 or 16) | port (2) | window (8). Fixed buffer: no allocation.
    unsigned char msg[1 + 16 + 2 + 8];
    std::size_t n = 0;
    msg[n++] = static_cast<unsigned char>(addr->sa_family);
    if (addr->sa_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(addr);
        std::memcpy(msg + n, &a->sin_addr, 4);
        n += 4;
        std::memcpy(msg + n, &a->sin_port, 2);
        n += 2;
    } else if (addr->sa_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(addr);
        std::memcpy(msg + n, &a->sin6_addr, 16);
        n += 16;
        std::memcpy(msg + n, &a->sin6_port, 2);
        n += 2;
    }
    for (int sh = 56; sh >= 0; sh -= 8) msg[n++] = static_cast<unsigned char>(window >> sh);
    std::uint64_t m = short_mac(key_, std::string_view(reinterpret_cast<const char*>(msg), n));
    return (m & ~std::uint64_t{1}) | (window & 1);
}

std::uint64_t ConnectionIds::issue(const sockaddr* addr) const { return mac(addr, clock_() / window_s_); }

bool ConnectionIds::check(std::uint64_t id, const sockaddr* addr) const {
    std::uint64_t w = clock_() / window_s_;
    // The parity bit says which of the two acceptable windows the id claims to come from.
    std::uint64_t claimed = (w & 1) == (id & 1) ? w : w - 1;
    if (w == 0 && claimed != w) return false;
    return mac(addr, claimed) == id;
}

} // namespace p2p
