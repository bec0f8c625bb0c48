// dial_peer: the uTP-then-TCP race (dialer.hpp).
#include "session/dialer.hpp"

#include <optional>

#include "base/log.hpp"
#include "loop/life_token.hpp"
#include "loop/timer.hpp"
#include "net/tcp_transport.hpp"
#include "net/utp_socket.hpp"

namespace p2p {

namespace {

class Race final : public Connecting {
public:
    Race(uv_loop_t* loop, UtpSocket* utp, bool tcp, const sockaddr_storage& addr, std::uint64_t timeout_ms,
         ConnectCallback cb, TransportLimits limits)
        : loop_(loop), tcp_allowed_(tcp), addr_(addr), timeout_ms_(timeout_ms), cb_(std::move(cb)),
          limits_(std::move(limits)), later_(loop) {
        if (utp) {
            utp_ = utp->connect(reinterpret_cast<const sockaddr*>(&addr_), timeout_ms_,
                                life_.bind([this](Result<std::unique_ptr<Transport>> r) { utp_done(std::move(r)); }),
                                limits_);
        }
        if (tcp_allowed_)
            later_.start(utp_ ? kTcpAfterMs : 0, 0, [this] { start_tcp(); });
        else if (!utp_)
            later_.start(0, 0, [this] { finish(make_error("connect", "uTP and TCP are both off")); });
    }

private:
    void start_tcp() {
        if (tcp_ || tcp_failed_ || done_) return;
        later_.stop();
        tcp_ =
            tcp_connect(loop_, reinterpret_cast<const sockaddr*>(&addr_), timeout_ms_,
                        life_.bind([this](Result<std::unique_ptr<Transport>> r) { tcp_done(std::move(r)); }), limits_);
    }

    void utp_done(Result<std::unique_ptr<Transport>> r) {
        std::unique_ptr<Connecting> op = std::move(utp_); // freed when this returns, after its callback
        if (r) {
            tcp_.reset(); // cancels a TCP attempt in flight
            return finish(std::move(r));
        }
        if (tcp_allowed_ && !tcp_ && !tcp_failed_) return start_tcp(); // no need to wait for the delay
        if (!tcp_) finish(tcp_failed_ ? std::move(*tcp_error_) : r.error());
    }

    void tcp_done(Result<std::unique_ptr<Transport>> r) {
        std::unique_ptr<Connecting> op = std::move(tcp_);
        if (r) {
            utp_.reset(); // cancels the uTP attempt (a RESET goes out)
            return finish(std::move(r));
        }
        tcp_failed_ = true;
        tcp_error_ = r.error();
        if (!utp_) finish(r.error()); // TCP's error says more than uTP's silence
    }

    void finish(Result<std::unique_ptr<Transport>> r) {
        if (done_) return;
        done_ = true;
        later_.stop();
        ConnectCallback cb = std::move(cb_);
        cb(std::move(r)); // may destroy this
    }

    uv_loop_t* loop_;
    bool tcp_allowed_;
    sockaddr_storage addr_;
    std::uint64_t timeout_ms_;
    ConnectCallback cb_;
    TransportLimits limits_;
    std::unique_ptr<Connecting> utp_, tcp_;
    std::optional<Error> tcp_error_;
    bool tcp_failed_ = false, done_ = false;
    Timer later_;
    LifeToken life_; // last: callbacks check it before anything else
};

} // namespace

std::unique_ptr<Connecting> dial_peer(uv_loop_t* loop, UtpSocket* utp, bool tcp, const sockaddr_storage& addr,
                                      std::uint64_t timeout_ms, ConnectCallback cb, TransportLimits limits) {
    if (!utp && tcp)
        return tcp_connect(loop, reinterpret_cast<const sockaddr*>(&addr), timeout_ms, std::move(cb),
                           std::move(limits));
    return std::make_unique<Race>(loop, utp, tcp, addr, timeout_ms, std::move(cb), std::move(limits));
}

} // namespace p2p
