// http-load: a BEP 3 HTTP tracker load generator (tools/bench-tracker drives it beside udp-load).
//
// --connections TCP connections on one epoll, each with one announce in flight (an HTTP tracker client never
// pipelines). --keepalive: each connection sends its next request as soon as its answer is whole (Content-Length);
// without it every request is a new connection with "Connection: close", answered, closed by the server (the way
// most BitTorrent clients talk to HTTP trackers). The workload is udp-load's: torrents derived from --seed (the
// same hashes as `udp-load --print-hashes`, so opentracker's whitelist serves both), a fixed pool of peers per
// torrent (port derived from torrent and index), a quarter of them seeders, numwant 30, compact=1. Peers differ by
// port (all come from 127.0.0.1). Prints responses/s, errors (non-200 answers, bencoded failures, resets) and
// latency percentiles as one RESULT line; resets are split into refused (the connection failed before the
// request was sent) and unanswered (closed or reset by the server before a whole answer).
// The client is kept lean, so that it measures the tracker rather than itself (tracker and load each get one
// core): the request is sent right after connect() when the socket is already connected (loopback), a connection
// is registered once, edge-triggered (no EPOLL_CTL_MOD per request), an answer is taken as soon as it is whole (no
// extra recv for the EOF), and a one-request connection gets no TCP_NODELAY (it sends one segment).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "load_common.hpp"
#include "proto/http_tracker.hpp" // percent_encode
#include "proto/udp_tracker.hpp"  // Hash20

namespace {

using Clock = std::chrono::steady_clock;
std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    double duration_s = 10;
    int connections = 32;
    bool keepalive = false;
    bool print_hashes = false;
    std::uint32_t torrents = 10000, peers_per_torrent = 10;
    std::uint64_t seed = 1;
    int numwant = 30;
};

struct Conn {
    int fd = -1;
    std::string in;
    std::uint64_t sent_at = 0;
    bool busy = false;
};

struct Load {
    Options o;
    int ep = -1;
    sockaddr_in addr{};
    std::vector<std::string> enc_hashes; // percent-encoded
    std::vector<Conn> conns;
    std::uint64_t rng = 0x12345678;
    std::uint64_t ok = 0, errors = 0, resets = 0, refused = 0, unanswered = 0;
    std::vector<std::uint32_t> lat_us;
    bool stopping = false;

    std::uint32_t below(std::uint32_t n) {
        rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
        return static_cast<std::uint32_t>((rng * 0x2545F4914F6CDD1DULL >> 32) % n);
    }

    std::string request() {
        const std::uint32_t t = below(o.torrents), j = below(o.peers_per_torrent);
        const std::uint64_t pm = loadgen::peer_bits(o.seed, t, j);
        const bool seeder = (pm & 3) == 0;
        char id[21];
        std::snprintf(id, sizeof id, "-HL0001-%012llx", static_cast<unsigned long long>(pm & 0xffffffffffffULL));
        std::string r = "GET /announce?info_hash=" + enc_hashes[t] + "&peer_id=" + id +
                        "&port=" + std::to_string(1024 + (pm >> 24) % 64000) +
                        "&uploaded=0&downloaded=" + (seeder ? "1048576" : "0") +
                        "&left=" + (seeder ? "0" : std::to_string(1 + (pm >> 40) % (1u << 30))) +
                        "&compact=1&numwant=" + std::to_string(o.numwant) + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
        if (!o.keepalive) r += "Connection: close\r\n";
        return r + "\r\n";
    }

    bool open(Conn& c) {
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c.fd < 0) return false;
        int one = 1;
        if (o.keepalive) setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 && errno != EINPROGRESS) {
            ::close(c.fd);
            c.fd = -1;
            return false;
        }
        c.in.clear();
        c.busy = false;
        // Over loopback the handshake is usually done when connect() returns: send at once, without waiting for
        // the "connected" edge. If the socket is not ready yet, wait for it (EPOLLOUT) and send then.
        if (!stopping) {
            std::string r = request();
            c.sent_at = now_ns();
            c.busy = ::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(r.size());
        }
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLET | (c.busy ? 0u : EPOLLOUT); // edges: connected; each arrival of answer bytes
        ev.data.ptr = &c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
        return true;
    }
    void drop(Conn& c) {
        if (c.fd >= 0) ::close(c.fd);
        c.fd = -1;
    }
    void send_next(Conn& c) {
        if (stopping) return;
        std::string r = request();
        c.sent_at = now_ns();
        ssize_t n = ::send(c.fd, r.data(), r.size(), MSG_NOSIGNAL);
        if (n != static_cast<ssize_t>(r.size())) { // a fresh socket takes a ~300-byte request whole
            ++resets, ++refused;
            drop(c);
            reopen(c);
            return;
        }
        c.busy = true;
    }
    void reopen(Conn& c) {
        if (!stopping && !open(c)) ++errors;
    }
    // A whole answer at the front of c.in: its length, or 0 if more is needed.
    static std::size_t whole(const std::string& in, bool& good) {
        std::size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) return 0;
        std::size_t cl = in.find("Content-Length:");
        if (cl == std::string::npos || cl > end) cl = in.find("content-length:");
        if (cl == std::string::npos || cl > end) return 0; // both trackers send it
        std::size_t len = std::strtoull(in.c_str() + cl + 15, nullptr, 10);
        if (in.size() < end + 4 + len) return 0;
        good = in.compare(0, 12, "HTTP/1.1 200") == 0 || in.compare(0, 12, "HTTP/1.0 200") == 0;
        good = good && in.compare(end + 4, 18, "d14:failure reason") != 0;
        return end + 4 + len;
    }
    void on_event(Conn& c, std::uint32_t events) {
        if (!c.busy) {
            if (events & (EPOLLERR | EPOLLHUP)) {
                ++resets, ++refused;
                drop(c);
                reopen(c);
                return;
            }
            if (events & EPOLLOUT) send_next(c);
            return;
        }
        char buf[65536];
        bool closed = false, good = false;
        std::size_t used = 0;
        // Until the socket is drained (edge-triggered) or closed; a one-request connection stops as soon as its
        // answer is whole. With keep-alive the EOF is looked for: a server may close after any answer
        // (opentracker does, with no "Connection: close").
        for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                if (!o.keepalive && whole(c.in, good) != 0) break;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed = true;
            break;
        }
        used = whole(c.in, good);
        if (used) {
            (good ? ok : errors)++;
            lat_us.push_back(static_cast<std::uint32_t>((now_ns() - c.sent_at) / 1000));
            c.in.erase(0, used);
            c.busy = false;
            if (o.keepalive && !closed)
                send_next(c);
            else {
                drop(c);
                reopen(c);
            }
            return;
        }
        if (closed) {
            ++resets, ++unanswered;
            drop(c);
            reopen(c);
        }
    }
};

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        if (a == "--keepalive" || a == "--print-hashes") {
            (a == "--keepalive" ? o.keepalive : o.print_hashes) = true;
            continue;
        }
        if (!(v = val())) return false;
        if (a == "--target") {
            std::string t = v;
            auto colon = t.rfind(':');
            if (colon == std::string::npos) return false;
            o.host = t.substr(0, colon);
            o.port = std::atoi(t.c_str() + colon + 1);
        } else if (a == "--duration")
            o.duration_s = std::atof(v);
        else if (a == "--connections")
            o.connections = std::atoi(v);
        else if (a == "--torrents")
            o.torrents = static_cast<std::uint32_t>(std::atol(v));
        else if (a == "--peers-per-torrent")
            o.peers_per_torrent = static_cast<std::uint32_t>(std::atol(v));
        else if (a == "--seed")
            o.seed = std::strtoull(v, nullptr, 10);
        else if (a == "--numwant")
            o.numwant = std::atoi(v);
        else
            return false;
    }
    return (o.port > 0 || o.print_hashes) && o.connections > 0 && o.torrents > 0 && o.peers_per_torrent > 0;
}

} // namespace

int main(int argc, char** argv) {
    Load L;
    if (!parse(argc, argv, L.o)) {
        std::fprintf(stderr, "usage: http-load --target IP:PORT [--keepalive] [--duration S] [--connections N]\n"
                             "                 [--torrents N] [--peers-per-torrent N] [--seed N] [--numwant N]\n"
                             "       http-load --print-hashes [--torrents N] [--seed N]   (udp-load's whitelist)\n");
        return 2;
    }
    if (L.o.print_hashes) {
        static const char* kHex = "0123456789abcdef";
        for (std::uint32_t i = 0; i < L.o.torrents; ++i) {
            auto h = loadgen::info_hash(L.o.seed, i);
            std::string line;
            for (auto b : h.b) line += kHex[b >> 4], line += kHex[b & 15];
            std::puts(line.c_str());
        }
        return 0;
    }
    L.addr.sin_family = AF_INET;
    L.addr.sin_port = htons(static_cast<std::uint16_t>(L.o.port));
    if (inet_pton(AF_INET, L.o.host.c_str(), &L.addr.sin_addr) != 1) {
        std::fprintf(stderr, "http-load: --target needs a literal IPv4 address\n");
        return 2;
    }
    for (std::uint32_t i = 0; i < L.o.torrents; ++i)
        L.enc_hashes.push_back(p2p::http_tracker::percent_encode(loadgen::info_hash(L.o.seed, i).view()));
    L.ep = epoll_create1(0);
    L.conns.resize(static_cast<std::size_t>(L.o.connections));
    for (auto& c : L.conns) L.reopen(c);
    const std::uint64_t t0 = now_ns(), end = t0 + static_cast<std::uint64_t>(L.o.duration_s * 1e9);
    std::vector<epoll_event> evs(256);
    while (now_ns() < end) {
        int n = epoll_wait(L.ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<Conn*>(evs[static_cast<std::size_t>(i)].data.ptr);
            if (c->fd >= 0) L.on_event(*c, evs[static_cast<std::size_t>(i)].events);
        }
    }
    L.stopping = true;
    const double secs = static_cast<double>(now_ns() - t0) / 1e9;
    for (auto& c : L.conns) L.drop(c);
    std::sort(L.lat_us.begin(), L.lat_us.end());
    auto pct = [&](double p) -> unsigned {
        return L.lat_us.empty()
                   ? 0
                   : L.lat_us[std::min(L.lat_us.size() - 1, static_cast<std::size_t>(p * L.lat_us.size()))];
    };
    std::printf("RESULT responses_per_s=%.0f ok=%llu errors=%llu resets=%llu p50_us=%u p99_us=%u keepalive=%d "
                "refused=%llu unanswered=%llu\n",
                static_cast<double>(L.ok) / secs, static_cast<unsigned long long>(L.ok),
                static_cast<unsigned long long>(L.errors), static_cast<unsigned long long>(L.resets), pct(0.5),
                pct(0.99), L.o.keepalive ? 1 : 0, static_cast<unsigned long long>(L.refused),
                static_cast<unsigned long long>(L.unanswered));
    return 0;
}
