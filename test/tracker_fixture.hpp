// Shared by the tracker tests (test_tracker_server.cpp, test_tracker_connection_id.cpp): socket addresses made from
// text, as the tracker sees its clients.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

namespace p2p::test {

inline sockaddr_storage v4(const char* ip, int port) {
    sockaddr_storage ss{};
    uv_ip4_addr(ip, port, reinterpret_cast<sockaddr_in*>(&ss));
    return ss;
}
inline sockaddr_storage v6(const char* ip, int port) {
    sockaddr_storage ss{};
    uv_ip6_addr(ip, port, reinterpret_cast<sockaddr_in6*>(&ss));
    return ss;
}
inline const sockaddr* sa(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

} // namespace p2p::test
