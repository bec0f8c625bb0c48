// The session's way out to a peer: uTP first, TCP soon after (a "happy eyeballs" race), whichever connects first
// wins and the other attempt is cancelled.
//
// Why this order and delay: the clients people run (libtorrent, Transmission, qBittorrent) accept uTP and try it
// first themselves; a peer that speaks uTP answers the SYN within one round trip, so waiting kTcpAfterMs before
// also trying TCP costs a uTP peer nothing and a TCP-only peer (aria2, a firewalled UDP port) only that delay -
// where trying uTP alone until its timeout (libtorrent's way) costs such a peer seconds. A uTP attempt that fails
// early (a RESET: the port is closed for uTP) starts TCP at once. With uTP or TCP turned off (--no-utp,
// --no-tcp), only the other is tried.
#pragma once
#include <uv.h>

#include <memory>

#include "net/connecting.hpp"

namespace p2p {

class UtpSocket;

inline constexpr std::uint64_t kTcpAfterMs = 1000; // ours: TCP starts this long after a uTP attempt that has not
                                                   // connected yet

// utp: the session's socket, or null (uTP off). tcp: whether TCP may be tried.
std::unique_ptr<Connecting> dial_peer(uv_loop_t* loop, UtpSocket* utp, bool tcp, const sockaddr_storage& addr,
                                      std::uint64_t timeout_ms, ConnectCallback cb, TransportLimits limits);

} // namespace p2p
