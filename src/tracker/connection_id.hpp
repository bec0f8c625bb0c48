// BEP 15 connection ids that need no per-client state: id = keyed MAC (libsodium SipHash, p2p::short_mac) of
// the asker's address, port and the current time window, under a key drawn at start-up. An id is accepted in
// the window it was issued in and the next one, so it lives between 1 and 2 windows (BEP 15 asks for ~1 minute
// usable; clients reconnect after 60 s). A third party cannot forge one and an id is useless from any other
// address, which stops spoofed-source amplification of announce/scrape replies.
//
// The lowest bit of an id carries the parity of its window, so checking costs one MAC, not two.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <functional>

namespace p2p {

class ConnectionIds {
public:
    using Clock = std::function<std::uint64_t()>; // seconds, monotonic
    static Clock steady_clock();

    explicit ConnectionIds(Clock clock = steady_clock(), std::uint64_t window_s = 60);

    // addr is a sockaddr_in or sockaddr_in6; other families get a MAC over the family alone.
    std::uint64_t issue(const sockaddr* addr) const;
    bool check(std::uint64_t id, const sockaddr* addr) const;

private:
    std::uint64_t mac(const sockaddr* addr, std::uint64_t window) const;
    Clock clock_;
    std::uint64_t window_s_;
    unsigned char key_[16];
};

} // namespace p2p
