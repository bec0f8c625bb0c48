// uTP (BEP 29) on one UDP socket: the socket, the demultiplexer, the uTP connections ("flows") on it and the
// Transport each one is to its user (PeerConnection, MseStream, the sniffer: none of them knows it is not TCP).
//
// One UDP socket per listen port, the same number as the TCP listener's (libtorrent and Transmission do the
// same). Datagrams are told apart by their first byte (utp::looks_like_utp): uTP here, anything else (a
// bencoded DHT message starts with 'd') to the handler set with on_other(), for the DHT to come.
//
// Each flow is a pure utp::Connection (proto/utp_conn.hpp) plus the socket-side state: the address, the user's
// send queue not yet taken by the connection, and who owns it. The socket owns every flow (a shared_ptr; the
// UtpTransport and a running service pass hold a second reference, so a flow is never freed under either).
// Destroying a UtpTransport closes its flow gracefully: the flow stays in the socket, without a user, until its
// FIN is acked or a linger timeout (kLingerMs) ends it, so the last bytes still arrive. Past the bounds, flows
// without a user are reset instead.
//
// Work per loop turn: datagrams are read in batches (recvmmsg through libuv's UV_UDP_RECVMMSG) and fed to their
// flows, which are only marked. One service pass per turn (a uv_check after the poll phase, and a uv_idle so a
// send made outside the poll phase does not wait for the next poll) then, for each marked flow: hands received
// bytes to the user, moves queued bytes into the connection, pulls its datagrams, reports an end. All datagrams
// of a pass leave in sendmmsg batches. A datagram the kernel refuses (EAGAIN) is dropped: uTP retransmits it.
// One timer for the whole socket fires at the earliest deadline of any flow (delayed acks, retransmission,
// keep-alive, a connect's timeout).
//
// Bounds (Config): flows in total, flows per remote IP address, half-open incoming flows (a SYN answered, no data
// yet); a SYN past them is answered with a RESET, except that a SYN finding the half-open flows full evicts the
// oldest of them (reset, its user told at once) so that a SYN flood cannot lock real peers out: a real peer sends
// its first bytes one round trip after its SYN and so is half-open only briefly. Garbage datagrams are counted and dropped. Each flow's buffers
// are bounded by utp::Config (send and receive buffer) and TransportLimits (the user's send queue); with a
// MemoryBudget (--max-memory) what every flow holds is counted in its send and receive pools.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "net/connecting.hpp"
#include "net/transport.hpp"
#include "proto/utp_conn.hpp"

namespace p2p {

struct UtpCore; // internal: the socket's handles, flows and queues (utp_socket.cpp)
struct UtpFlow; // internal: one connection

struct UtpSocketConfig {
    std::size_t max_flows = 600;     // every flow: with a user, connecting, or lingering
    std::size_t max_per_ip = 16;     // flows with one remote IP address (loopback exempt: tests)
    std::size_t max_half_open = 64;  // incoming flows that have not received a byte of data yet
    std::size_t max_lingering = 128; // flows whose user is gone, finishing their FIN
    utp::Config conn;                // per-connection buffers and packet size
    int socket_buffer = 4 << 20;     // SO_RCVBUF / SO_SNDBUF asked for (the kernel caps it)
};

struct UtpCounters {
    std::uint64_t datagrams_in = 0, datagrams_out = 0, bytes_in = 0, bytes_out = 0;
    std::uint64_t not_utp = 0, undecodable = 0, unknown_flow = 0, refused_syn = 0, send_dropped = 0;
    std::uint64_t evicted_half_open = 0, recv_batches = 0, send_batches = 0;
};

class UtpSocket {
public:
    using AcceptCallback = std::function<void(std::unique_ptr<Transport>)>;
    // A datagram that is not uTP (the DHT's), with its sender. The view is valid during the call only.
    using OtherCallback = std::function<void(std::string_view, const sockaddr*)>;

    // Binds ip:port (0: ephemeral). Incoming connections go to `accept` (null: SYNs are refused with a RESET).
    static Result<std::unique_ptr<UtpSocket>> open(uv_loop_t* loop, const std::string& ip, std::uint16_t port,
                                                   AcceptCallback accept, TransportLimits limits = {},
                                                   UtpSocketConfig cfg = {});
    ~UtpSocket(); // resets every flow; transports still held by users become closed (no callbacks)
    UtpSocket(const UtpSocket&) = delete;
    UtpSocket& operator=(const UtpSocket&) = delete;

    std::uint16_t port() const { return port_; }
    void on_other(OtherCallback cb);
    // Sends one datagram that is not uTP (the DHT's) from this socket, in this turn's batch. False (dropped) when
    // the turn's batch already holds kMaxOtherPending datagrams or the datagram is empty or over 64 KiB.
    bool send_other(const sockaddr* to, std::string bytes);
    static constexpr std::size_t kMaxOtherPending = 1024;

    // Connects to addr; the callback (net/connecting.hpp) gets the transport once the peer's STATE arrives, or
    // an error (the peer's RESET, no answer within timeout_ms, the bounds).
    std::unique_ptr<Connecting> connect(const sockaddr* addr, std::uint64_t timeout_ms, ConnectCallback cb,
                                        TransportLimits limits = {});

    const UtpCounters& counters() const;
    std::size_t flows() const;
    std::size_t bytes_held() const; // what every flow's buffers hold now (stats, tests)

    explicit UtpSocket(UtpCore* core, std::uint16_t port) : core_(core), port_(port) {}

private:
    UtpCore* core_;
    std::uint16_t port_;
};

} // namespace p2p
