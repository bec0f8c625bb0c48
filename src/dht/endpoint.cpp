#include "dht/endpoint.hpp"

#include <netinet/in.h>

#include <cstring>

namespace p2p::dht {

std::optional<Endpoint> to_endpoint(const sockaddr* sa) {
    Endpoint e;
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        std::memcpy(e.ip.data(), &in->sin_addr, 4);
        e.port = ntohs(in->sin_port);
        return e;
    }
    if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) { // a dual-stack socket's view of an IPv4 node
            std::memcpy(e.ip.data(), reinterpret_cast<const std::uint8_t*>(&in6->sin6_addr) + 12, 4);
        } else {
            e.v6 = true;
            std::memcpy(e.ip.data(), &in6->sin6_addr, 16);
        }
        e.port = ntohs(in6->sin6_port);
        return e;
    }
    return std::nullopt;
}

sockaddr_storage to_sockaddr(const Endpoint& e) {
    sockaddr_storage ss{};
    if (!e.v6) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, e.ip.data(), 4);
        in->sin_port = htons(e.port);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        std::memcpy(&in6->sin6_addr, e.ip.data(), 16);
        in6->sin6_port = htons(e.port);
    }
    return ss;
}

} // namespace p2p::dht
