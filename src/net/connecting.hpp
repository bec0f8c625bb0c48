// An outbound connection attempt of any kind (TCP: tcp_transport.hpp; uTP: utp_socket.hpp; both in turn:
// session/dialer.hpp). Destroying it cancels the attempt: its callback is then never called. The callback runs
// exactly once otherwise, from the loop and never inside the call that started the attempt, with the connected
// transport or the error; it may destroy the Connecting.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "base/result.hpp"
#include "net/transport.hpp"

namespace p2p {

using ConnectCallback = std::function<void(Result<std::unique_ptr<Transport>>)>;

class Connecting {
public:
    virtual ~Connecting() = default;
};

// Starts an attempt to addr (tcp_connect, UtpSocket::connect, or the session's dialer that tries both).
using DialFn = std::function<std::unique_ptr<Connecting>(const sockaddr_storage& addr, std::uint64_t timeout_ms,
                                                         ConnectCallback cb, TransportLimits limits)>;

} // namespace p2p
