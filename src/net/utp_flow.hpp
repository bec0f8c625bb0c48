// Internal to the uTP socket (utp_socket.cpp: the socket, demultiplexing, the service pass; utp_transport.cpp:
// the Transport and the connect attempt). See utp_socket.hpp for the design.
#pragma once
#include <uv.h>

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "net/utp_socket.hpp"
#include "proto/utp_conn.hpp"

namespace p2p {

class UtpTransport;
struct UtpConnectOp;

inline constexpr std::uint64_t kLingerMs = 15'000; // ours: a closed flow gets this long to finish its FIN

struct UtpFlow {
    UtpCore* core = nullptr; // null once the socket is gone: the flow is dead, the transport reports closed
    utp::Connection conn;
    sockaddr_storage addr{};
    std::string key;        // address + recv_id: the demultiplexer's key
    std::string ip;         // for the per-address bound
    std::string remote;     // "1.2.3.4:6881"
    bool half_open = false; // incoming, no data received yet

    UtpTransport* owner = nullptr; // the user-facing transport, null when there is none (connecting, lingering)
    TransportUser* user = nullptr;
    UtpConnectOp* connecting = nullptr; // outgoing attempt waiting for the STATE
    std::uint64_t connect_deadline_us = utp::kNever;
    std::uint64_t linger_deadline_us = utp::kNever;
    TransportLimits limits;

    std::string pending; // the user's bytes not yet taken by conn.write() (queued_bytes())
    std::size_t pending_off = 0;
    std::vector<std::size_t> boundaries; // offsets in `pending` where a packet must end (packet_boundary())
    int cork = 0;
    bool started = false, paused = false;
    bool had_queue = false; // on_drained is due once pending empties
    bool ended = false;     // the end was reported to the user, or the user closed: no more callbacks
    bool dirty = false;
    std::uint64_t scheduled_us = utp::kNever; // this flow's entry in UtpCore::timers
    std::size_t counted_send = 0, counted_recv = 0;

    explicit UtpFlow(utp::Connection c) : conn(std::move(c)) {}
    std::size_t pending_size() const { return pending.size() - pending_off; }
    std::size_t holds() const {
        return pending_size() + conn.send_buffered() + conn.readable().size() +
               (conn.config().receive_buffer - std::min(conn.config().receive_buffer, conn.receive_window()));
    }
};

struct UtpCore {
    uv_udp_t udp{};
    uv_check_t check{};
    uv_idle_t idle{};
    uv_timer_t timer{};
    int handles_open = 0; // freed when the last close callback ran
    bool alive = true;    // false once the UtpSocket is destroyed

    UtpSocketConfig cfg;
    TransportLimits limits; // for accepted flows
    UtpSocket::AcceptCallback accept;
    UtpSocket::OtherCallback other;
    UtpCounters counters;

    std::map<std::string, std::shared_ptr<UtpFlow>> flows; // by key
    std::map<std::string, std::size_t> per_ip;             // flows per remote IP
    std::size_t half_open = 0, lingering = 0;
    std::deque<std::weak_ptr<UtpFlow>> half_open_order;  // oldest first (may hold flows no longer half-open)
    std::vector<std::shared_ptr<UtpFlow>> dirty;         // marked for the next service pass
    std::set<std::pair<std::uint64_t, UtpFlow*>> timers; // (deadline us, flow)
    std::uint64_t timer_at_us = utp::kNever;
    bool servicing = false;

    // Datagrams produced by a service pass, sent in sendmmsg batches at its end.
    struct Out {
        sockaddr_storage addr;
        std::string bytes;
    };
    std::vector<Out> out;

    std::unique_ptr<char[]> rbuf; // the recvmmsg buffer (lazily touched: only what datagrams fill is resident)
    std::size_t rbuf_size = 0;

    // utp_socket.cpp
    std::uint64_t now_us() const;
    void mark(const std::shared_ptr<UtpFlow>& f);
    void wake();                                 // a service pass is due this turn
    void pull(UtpFlow& f, std::uint64_t now_us); // the flow's datagrams into `out`
    std::shared_ptr<UtpFlow> add_flow(utp::Connection c, const sockaddr* addr);
    void remove_flow(UtpFlow* f);
    void release(UtpFlow* f); // the user-facing side is gone: linger or reset
    void service();
    void service_flow(const std::shared_ptr<UtpFlow>& f);
    void schedule(UtpFlow* f, std::uint64_t at_us);
    void arm_timer();
    void on_timer();
    void flush_out();
    void count_memory(UtpFlow* f);
    void uncount_memory(UtpFlow* f);
};

std::string utp_flow_key(const sockaddr* addr, std::uint16_t recv_id);

// The user-facing side of a flow (utp_transport.cpp).
class UtpTransport final : public Transport {
public:
    explicit UtpTransport(std::shared_ptr<UtpFlow> f);
    ~UtpTransport() override;
    UtpTransport(const UtpTransport&) = delete;
    UtpTransport& operator=(const UtpTransport&) = delete;

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
    std::string remote_address() const override { return f_->remote; }
    const char* kind() const override { return "utp"; }
    void set_limits(const TransportLimits& limits) override;
    void packet_boundary() override;

private:
    void append(std::string_view bytes);
    void queued(); // after a send: the queue's bound, then a service pass
    std::shared_ptr<UtpFlow> f_;
};

struct UtpConnectOp final : Connecting {
    std::shared_ptr<UtpFlow> flow;
    ConnectCallback cb;
    ~UtpConnectOp() override;
    void finish(Result<std::unique_ptr<Transport>> r); // from the service pass or the timer
};

} // namespace p2p
