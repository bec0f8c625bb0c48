// Helpers shared by the doctest files: a temporary folder removed at scope exit, deterministic content.
#pragma once
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <uv.h>

#include "base/bytes.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"

namespace p2p::test {

// A raw TCP client of a server on 127.0.0.1:port (HTTP tests): what it received so far in `got`, `eof` once the
// server closed (or the socket failed). pump() reads what is there without blocking; run it from run_until.
struct LoopbackClient {
    int fd = -1;
    std::string got;
    bool eof = false;
    explicit LoopbackClient(std::uint16_t port) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0); // the backlog takes it at once
    }
    ~LoopbackClient() {
        if (fd >= 0) ::close(fd);
    }
    LoopbackClient(const LoopbackClient&) = delete;
    LoopbackClient& operator=(const LoopbackClient&) = delete;
    bool send(std::string_view s) {
        return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
    }
    void pump() {
        char buf[65536];
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) eof = true;
            return;
        }
    }
    void reset() { // close with an RST (SO_LINGER 0), not a FIN
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
        fd = -1;
    }
    std::size_t count(std::string_view what) const { // occurrences of `what` in got
        std::size_t n = 0;
        for (std::size_t at = got.find(what); at != std::string::npos; at = got.find(what, at + 1)) ++n;
        return n;
    }
};


struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const char* tag = "test") {
        std::string tmpl = std::string("/tmp/p2pnode-") + tag + "-XXXXXX";
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string str() const { return path.string(); }
};

// xorshift bytes: the same (n, seed) always gives the same content.
inline std::string pseudo_random(std::size_t n, std::uint32_t seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

// Runs the loop until pred() holds (true) or timeout_ms passes (false); pred is polled every 5 ms.
inline bool run_until(Loop& loop, const std::function<bool()>& pred, std::uint64_t timeout_ms) {
    bool ok = false;
    const std::uint64_t deadline = loop.now_ms() + timeout_ms;
    Timer poll(loop.get());
    poll.start(0, 5, [&] {
        if (pred()) ok = true;
        if (ok || loop.now_ms() >= deadline) loop.stop();
    });
    loop.run();
    poll.stop();
    return ok;
}

// Runs the loop until flag is set (true) or timeout_ms passes (false). Use as REQUIRE(run_until_flag(loop, done)).
// (Not an overload of run_until: a captureless lambda converts to bool, which would make calls ambiguous.)
inline bool run_until_flag(Loop& loop, const bool& flag, std::uint64_t timeout_ms = 10'000) {
    return run_until(
        loop, [&] { return flag; }, timeout_ms);
}

// A UDP socket on 127.0.0.1 that counts what it receives and never answers: a tracker that is down.
struct SilentSocket {
    uv_udp_t* h = new uv_udp_t;
    int received = 0;
    std::uint16_t port = 0;
    explicit SilentSocket(uv_loop_t* loop) {
        uv_udp_init(loop, h);
        h->data = this;
        sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        REQUIRE(uv_udp_bind(h, reinterpret_cast<sockaddr*>(&a), 0) == 0);
        sockaddr_in name;
        int len = sizeof name;
        uv_udp_getsockname(h, reinterpret_cast<sockaddr*>(&name), &len);
        port = ntohs(name.sin_port);
        uv_udp_recv_start(
            h,
            [](uv_handle_t*, std::size_t, uv_buf_t* b) {
                static char buf[2048];
                *b = uv_buf_init(buf, sizeof buf);
            },
            [](uv_udp_t* u, ssize_t n, const uv_buf_t*, const sockaddr*, unsigned) {
                if (n > 0) static_cast<SilentSocket*>(u->data)->received++;
            });
    }
    SilentSocket(const SilentSocket&) = delete;
    SilentSocket& operator=(const SilentSocket&) = delete;
    ~SilentSocket() {
        uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_udp_t*>(x); });
    }
    std::string url() const { return "udp://127.0.0.1:" + std::to_string(port) + "/announce"; }
};

// Socket addresses made from text, as a tracker or session sees its peers.
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

inline sockaddr_storage loopback(int port) { return v4("127.0.0.1", port); }

// Hex text to bytes, for golden-byte tests; a malformed literal fails the test.
inline std::string unhex(std::string_view h) {
    std::string out;
    REQUIRE(from_hex(h, out));
    return out;
}

} // namespace p2p::test
