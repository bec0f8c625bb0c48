// Endpoint <-> sockaddr: the DHT speaks udp::CompactPeer (what KRPC carries), sockets speak sockaddr. No I/O.
#pragma once
#include <sys/socket.h>

#include <optional>

#include "dht/types.hpp"

namespace p2p::dht {

// AF_INET and AF_INET6 (an IPv4-mapped IPv6 address becomes the IPv4 endpoint it stands for); nullopt otherwise.
std::optional<Endpoint> to_endpoint(const sockaddr* sa);
sockaddr_storage to_sockaddr(const Endpoint& e);

} // namespace p2p::dht
