// libuv TCP implementation of Transport, plus an outbound connect helper and a listener.
//
// Ownership (see transport.hpp for the buffer contract): the uv_tcp_t, the write request, the send queue and the
// receive buffer live in one heap block. The TcpTransport object points to it; destroying the object (from any
// callback, including its own on_data) starts uv_close and the block is freed in the close callback, so libuv and
// the write in flight never see freed memory. Errors noticed while the user is calling us (a failed uv_write, a
// send queue overflow) are reported from the close callback, never re-entrantly from inside send().
//
// Writes: at most one uv_write is in flight; everything queued meanwhile (and everything queued while corked)
// leaves in the next uv_write as one vector of uv_buf_t (small messages are coalesced into one buffer, piece
// payloads are referenced). TCP_NODELAY is on: we batch ourselves, and Nagle would delay requests and haves.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "net/connecting.hpp"
#include "net/transport.hpp"

namespace p2p {

struct TcpBlock; // internal: handle + queues, freed in the close callback

class TcpTransport final : public Transport {
public:
    explicit TcpTransport(TcpBlock* adopted); // internal: used by tcp_connect and TcpListener
    ~TcpTransport() override;
    TcpTransport(const TcpTransport&) = delete;
    TcpTransport& operator=(const TcpTransport&) = delete;

    void start(TransportUser* user) override;
    void send(std::string bytes) override;
    void send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload, std::size_t offset,
                    std::size_t length) override;
    std::size_t queued_bytes() const override;
    void cork() override;
    void uncork() override;
    void close() override;
    bool is_open() const override;
    void pause_reading() override;
    void resume_reading() override;
    std::string remote_address() const override;
    void set_limits(const TransportLimits& limits) override;

private:
    TcpBlock* b_;
};

// Numeric IPv4/IPv6 address (no name resolution: use uv_getaddrinfo for names) and port.
Result<sockaddr_storage> make_sockaddr(const std::string& ip, std::uint16_t port);
std::string format_sockaddr(const sockaddr* sa); // "1.2.3.4:80", "[::1]:80"
std::string ip_of(const std::string& address);   // "1.2.3.4:80" -> "1.2.3.4", "[::1]:80" -> "::1"
bool is_loopback_ip(const std::string& ip);      // 127.0.0.0/8, ::1, ::ffff:127.x

// An outbound connection attempt. Destroying it cancels the attempt; the callback is then never called.
class TcpConnect final : public Connecting {
public:
    using Callback = ConnectCallback;
    ~TcpConnect() override;
    TcpConnect(const TcpConnect&) = delete;
    TcpConnect& operator=(const TcpConnect&) = delete;

    struct Op; // internal
    explicit TcpConnect(Op* op) : op_(op) {}
    Op* op_;
};

// Starts connecting to addr. The callback runs exactly once, from the loop (never inside this call), with the
// connected transport, a connect error, or a timeout error after timeout_ms (0 = no timeout). The callback may
// destroy the returned TcpConnect.
std::unique_ptr<TcpConnect> tcp_connect(uv_loop_t* loop, const sockaddr* addr, std::uint64_t timeout_ms,
                                        TcpConnect::Callback cb, TransportLimits limits = {});

// Accepts TCP connections and hands each one over as a Transport (not yet started).
class TcpListener {
public:
    using AcceptCallback = std::function<void(std::unique_ptr<Transport>)>;
    // port 0 binds an ephemeral port; port() reports the one bound.
    static Result<std::unique_ptr<TcpListener>> listen(uv_loop_t* loop, const std::string& ip, std::uint16_t port,
                                                       AcceptCallback cb, TransportLimits limits = {},
                                                       int backlog = 128);
    ~TcpListener(); // stops accepting; safe inside the accept callback
    TcpListener(const TcpListener&) = delete;
    TcpListener& operator=(const TcpListener&) = delete;
    std::uint16_t port() const { return port_; }

    struct Block; // internal
    explicit TcpListener(Block* b, std::uint16_t port) : b_(b), port_(port) {}

private:
    Block* b_;
    std::uint16_t port_;
};

} // namespace p2p
