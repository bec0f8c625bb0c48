// One asynchronous host name lookup on the libuv loop (uv_getaddrinfo runs on libuv's threadpool: the loop never
// blocks on DNS), for the tracker clients: HttpGet (every address, tried in turn) and UdpTrackerClient (the first).
//
// Result: the host's IPv4 and IPv6 addresses with the port filled in, in getaddrinfo's order, at most kMaxAddrs of
// them; or an Error "resolve HOST: reason" (a lookup that finds no address is an error too).
//
// Ownership and lifetime: the Resolver is a member of its owner. The libuv request lives in a heap block that
// points back at the Resolver; cancel() and the destructor detach it (uv_cancel; libuv still calls back, with the
// lookup's outcome or UV_EAI_CANCELED, and that callback only frees the block), so `done` never runs once the
// Resolver is gone. `done` runs once, from the loop, never inside start(); it may destroy the Resolver and its
// owner (nothing of either is touched after it returns).
#pragma once
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace p2p {

class Resolver {
public:
    using Addrs = std::vector<sockaddr_storage>;
    using Done = std::function<void(Result<Addrs>)>;
    static constexpr std::size_t kMaxAddrs = 8; // a name's IPv6 and IPv4 addresses; more are not tried

    explicit Resolver(uv_loop_t* loop) : loop_(loop) {}
    ~Resolver() { cancel(); }
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Looks `host` up for `port` and `socktype` (SOCK_STREAM or SOCK_DGRAM). A lookup still in flight is cancelled
    // first. An error here (libuv refused to start the lookup) means `done` will never run.
    Status start(const std::string& host, std::uint16_t port, int socktype, Done done);
    // Drops the lookup in flight, if any, without calling its `done`.
    void cancel();
    bool busy() const { return req_ != nullptr; }

private:
    struct Req;
    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);

    uv_loop_t* loop_;
    Req* req_ = nullptr; // in flight; freed in libuv's callback
};

} // namespace p2p
