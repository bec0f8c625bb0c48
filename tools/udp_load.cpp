// udp-load: a BEP 15 UDP tracker load generator (in the manner of aquatic's udp_load_test).
//
// Several UDP sockets, each with its own source port, its own connection id (connect handshake at start and
// again every minute, BEP 15 ids live two minutes) and a bounded number of requests in flight. Requests go out
// in batches with sendmmsg and replies come back in batches with recvmmsg. The workload is many torrents (info
// hashes derived from --seed, so `--print-hashes` can give a tracker its whitelist) and a fixed pool of peers per
// torrent (peer id and port derived from torrent and index, so re-announces hit the same stored peer and the
// number of stored peers is bounded by torrents * peers-per-torrent). The announce IP field is 0: servers use
// the source address, which is the same for all, so peers differ by port and peer id. Announce:scrape = 100:1.
//
// At the end it prints responses/s, drops (requests unanswered after --timeout-ms), latency percentiles, and,
// with a final sweep of scrapes over every torrent, how many peers the tracker says it stores.
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/bytes.hpp"
#include "load_common.hpp"
#include "proto/udp_tracker.hpp"

namespace {

using Clock = std::chrono::steady_clock;
std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

struct Options {
    std::string host = "127.0.0.1";
    std::string port;
    double duration_s = 20;
    int sockets = 8;
    std::uint32_t torrents = 10000;
    int inflight = 64; // per socket
    std::uint32_t peers_per_torrent = 10;
    std::uint64_t seed = 1;
    int timeout_ms = 1000;
    int scrape_every = 100; // one scrape per this many announces
    int scrape_hashes = 10; // hashes per load scrape
    int numwant = 30;
    bool print_hashes = false;
    bool final_scrape = true;
};

struct Rng { // xorshift64*: fast, good enough to pick torrents
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dULL;
    }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>((next() >> 32) % n); }
};

constexpr int kMaxInflight = 1000; // tid low 10 bits = slot; 1023 marks a connect
constexpr std::uint32_t kConnectSlot = 1023;
constexpr std::size_t kSendBuf = 16 + 20 * 74;            // largest request we send: a full scrape (BEP 15: 74 hashes)
constexpr int kRecvBatch = 64;                            // replies read per recvmmsg call
constexpr std::size_t kRecvBuf = 2048;                    // > p2p::udp::kMaxReplySize and opentracker's replies
constexpr std::uint64_t kReconnectNs = 60'000'000'000ULL; // BEP 15: ids last 2 min; renew each minute

enum class Kind : std::uint8_t { none, announce, scrape };

struct Slot {
    std::uint32_t tid = 0;
    std::uint64_t sent_ns = 0;
    Kind kind = Kind::none;
};

struct Sock {
    int fd = -1;
    std::uint64_t conn_id = 0;
    bool have_conn = false;
    std::uint64_t conn_at_ns = 0;  // when the current id arrived
    std::uint32_t connect_tid = 0; // 0 = no connect in flight
    std::uint64_t connect_sent_ns = 0;
    std::vector<Slot> slots;         // bounded by --inflight
    std::vector<std::uint32_t> free; // indices of idle slots
    std::uint32_t seq = 1;
    // Batch buffers, owned here for the socket's life: one request per slot plus one connect.
    std::vector<std::array<unsigned char, kSendBuf>> out;
    std::vector<mmsghdr> out_msgs;
    std::vector<iovec> out_iov;
    std::array<std::array<unsigned char, kRecvBuf>, kRecvBatch> in{};
    std::array<mmsghdr, kRecvBatch> in_msgs{};
    std::array<iovec, kRecvBatch> in_iov{};
};

struct Stats {
    std::uint64_t sent_announce = 0, sent_scrape = 0, sent_connect = 0;
    std::uint64_t resp_announce = 0, resp_scrape = 0, resp_connect = 0;
    std::uint64_t drops = 0, late = 0, errors = 0, bad = 0, send_fail = 0;
    std::uint64_t peers_returned = 0;
    std::vector<std::uint32_t> latency_us; // one per answered announce/scrape (bounded, see kMaxSamples)
};
constexpr std::size_t kMaxSamples = 50'000'000; // 200 MB at most; 20 s at 100k/s is 2M

struct Load {
    Options o;
    std::vector<Sock> socks;
    Stats st;
    Rng rng{0x243f6a8885a308d3ULL};
    std::vector<std::uint8_t> announced; // per (torrent, peer): 1 once announced (bounded: torrents*ppt)
    std::uint64_t distinct_peers = 0;
    std::vector<p2p::udp::Hash20> hashes;

    std::uint32_t make_tid(Sock& s, std::uint32_t slot) { return (s.seq++ << 10) | slot; }

    std::size_t build_connect(Sock& s, unsigned char* p) {
        s.connect_tid = make_tid(s, kConnectSlot);
        s.connect_sent_ns = now_ns();
        std::string pkt = p2p::udp::encode_connect_request(s.connect_tid);
        std::memcpy(p, pkt.data(), pkt.size());
        ++st.sent_connect;
        return pkt.size();
    }

    std::size_t build_request(Sock& s, std::uint32_t slot_i, unsigned char* p) {
        Slot& slot = s.slots[slot_i];
        slot.tid = make_tid(s, slot_i);
        slot.sent_ns = now_ns();
        std::string pkt;
        if (o.scrape_every > 0 && rng.below(static_cast<std::uint32_t>(o.scrape_every) + 1) == 0) {
            std::vector<p2p::udp::Hash20> hs;
            for (int k = 0; k < o.scrape_hashes; ++k) hs.push_back(hashes[rng.below(o.torrents)]);
            pkt = p2p::udp::encode_scrape_request(s.conn_id, slot.tid, hs);
            slot.kind = Kind::scrape;
            ++st.sent_scrape;
        } else {
            const std::uint32_t t = rng.below(o.torrents);
            const std::uint32_t j = rng.below(o.peers_per_torrent);
            const std::uint64_t pm = loadgen::peer_bits(o.seed, t, j);
            p2p::udp::AnnounceRequest r;
            r.connection_id = s.conn_id;
            r.transaction_id = slot.tid;
            r.info_hash = hashes[t];
            std::memcpy(r.peer_id.b.data(), "-UL0001-", 8);
            for (int k = 0; k < 12; ++k) r.peer_id.b[8 + k] = static_cast<std::uint8_t>(pm >> ((k % 8) * 8) ^ k);
            const bool seeder = (pm & 3) == 0; // a quarter of the peers are seeders
            r.left = seeder ? 0 : 1 + (pm >> 40) % (1u << 30);
            r.downloaded = seeder ? 1u << 20 : 0;
            std::uint8_t& seen = announced[std::size_t(t) * o.peers_per_torrent + j];
            r.event = seen ? p2p::udp::kEventNone : p2p::udp::kEventStarted;
            if (!seen) {
                seen = 1;
                ++distinct_peers;
            }
            r.key = static_cast<std::uint32_t>(pm >> 16);
            r.num_want = o.numwant;
            r.port = static_cast<std::uint16_t>(1024 + (pm >> 24) % 64000);
            pkt = p2p::udp::encode_announce_request(r);
            slot.kind = Kind::announce;
            ++st.sent_announce;
        }
        std::memcpy(p, pkt.data(), pkt.size());
        return pkt.size();
    }

    // Fill the socket's free slots (and a connect if due) and send them in one sendmmsg.
    void fill(Sock& s, std::uint64_t now) {
        std::size_t n = 0;
        const bool connect_due = s.connect_tid == 0 && (!s.have_conn || now - s.conn_at_ns > kReconnectNs);
        auto add = [&](std::size_t len) {
            s.out_iov[n] = {s.out[n].data(), len};
            s.out_msgs[n] = {};
            s.out_msgs[n].msg_hdr.msg_iov = &s.out_iov[n];
            s.out_msgs[n].msg_hdr.msg_iovlen = 1;
            ++n;
        };
        if (connect_due) add(build_connect(s, s.out[n].data()));
        if (s.have_conn) {
            while (!s.free.empty()) {
                const std::uint32_t i = s.free.back();
                s.free.pop_back();
                add(build_request(s, i, s.out[n].data()));
            }
        }
        std::size_t done = 0;
        while (done < n) {
            const int r = sendmmsg(s.fd, s.out_msgs.data() + done, static_cast<unsigned>(n - done), 0);
            if (r <= 0) {
                // Socket buffer full or a transient error: the unsent requests stay "in flight" and time out,
                // which the summary reports as drops; never spin here.
                st.send_fail += n - done;
                break;
            }
            done += static_cast<std::size_t>(r);
        }
    }

    void on_reply(Sock& s, std::string_view pkt, std::uint64_t now) {
        auto h = p2p::udp::decode_reply_header(pkt);
        if (!h) {
            ++st.bad;
            return;
        }
        const std::uint32_t tid = h->transaction_id;
        if ((tid & 1023) == kConnectSlot) {
            if (tid != s.connect_tid) {
                ++st.late;
                return;
            }
            s.connect_tid = 0;
            auto c = p2p::udp::decode_connect_response(pkt);
            if (!c) {
                ++st.errors;
                return;
            }
            s.conn_id = c->connection_id;
            s.have_conn = true;
            s.conn_at_ns = now;
            ++st.resp_connect;
            return;
        }
        const std::uint32_t i = tid & 1023;
        if (i >= s.slots.size() || s.slots[i].kind == Kind::none || s.slots[i].tid != tid) {
            ++st.late; // answered after we gave up on it
            return;
        }
        Slot& slot = s.slots[i];
        if (h->action == p2p::udp::kActionError) {
            ++st.errors;
            s.have_conn = false; // most likely an expired or unknown connection id: connect again
        } else if (slot.kind == Kind::announce && h->action == p2p::udp::kActionAnnounce && pkt.size() >= 20) {
            ++st.resp_announce;
            st.peers_returned += (pkt.size() - 20) / 6;
        } else if (slot.kind == Kind::scrape && h->action == p2p::udp::kActionScrape) {
            ++st.resp_scrape;
        } else {
            ++st.bad;
        }
        if (h->action != p2p::udp::kActionError && st.latency_us.size() < kMaxSamples)
            st.latency_us.push_back(static_cast<std::uint32_t>((now - slot.sent_ns) / 1000));
        slot.kind = Kind::none;
        s.free.push_back(i);
    }

    void drain(Sock& s) {
        for (;;) {
            for (int k = 0; k < kRecvBatch; ++k) {
                s.in_iov[k] = {s.in[k].data(), kRecvBuf};
                s.in_msgs[k] = {};
                s.in_msgs[k].msg_hdr.msg_iov = &s.in_iov[k];
                s.in_msgs[k].msg_hdr.msg_iovlen = 1;
            }
            const int r = recvmmsg(s.fd, s.in_msgs.data(), kRecvBatch, MSG_DONTWAIT, nullptr);
            if (r <= 0) return;
            const std::uint64_t now = now_ns();
            for (int k = 0; k < r; ++k)
                on_reply(s, {reinterpret_cast<const char*>(s.in[k].data()), s.in_msgs[k].msg_len}, now);
            if (r < kRecvBatch) return;
        }
    }

    void expire(Sock& s, std::uint64_t now) {
        const std::uint64_t limit = std::uint64_t(o.timeout_ms) * 1'000'000;
        for (std::uint32_t i = 0; i < s.slots.size(); ++i) {
            Slot& slot = s.slots[i];
            if (slot.kind != Kind::none && now - slot.sent_ns > limit) {
                ++st.drops;
                slot.kind = Kind::none;
                s.free.push_back(i);
            }
        }
        if (s.connect_tid != 0 && now - s.connect_sent_ns > limit) {
            ++st.drops;
            s.connect_tid = 0; // fill() sends a new one
        }
    }
};

int open_socket(const addrinfo* ai) {
    const int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Blocking request/reply on one socket with retries, for the final sweep. Returns the reply or "".
std::string ask(int fd, const std::string& req, std::uint32_t tid, int timeout_ms) {
    std::array<char, kRecvBuf> buf{};
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (send(fd, req.data(), req.size(), 0) < 0) continue;
        const std::uint64_t deadline = now_ns() + std::uint64_t(timeout_ms) * 1'000'000;
        for (;;) {
            const std::uint64_t now = now_ns();
            if (now >= deadline) break;
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000) + 1) <= 0) continue;
            const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n < 8) continue;
            std::string_view pkt(buf.data(), static_cast<std::size_t>(n));
            if (p2p::read_be32(pkt, 4) == tid) return std::string(pkt);
        }
    }
    return {};
}

struct Sweep {
    bool ok = false;
    std::uint64_t seeders = 0, leechers = 0, completed = 0, torrents_with_peers = 0;
};

// Scrape every torrent, 74 at a time (BEP 15's limit), over a fresh connection.
Sweep final_sweep(const addrinfo* ai, const Load& L) {
    Sweep sw;
    const int fd = open_socket(ai);
    if (fd < 0) return sw;
    std::uint32_t tid = 0x5eed0000;
    std::string rep = ask(fd, p2p::udp::encode_connect_request(tid), tid, L.o.timeout_ms);
    auto c = p2p::udp::decode_connect_response(rep);
    if (!c) {
        close(fd);
        return sw;
    }
    for (std::uint32_t first = 0; first < L.o.torrents; first += p2p::udp::kMaxScrapeHashes) {
        const std::uint32_t last = std::min<std::uint32_t>(L.o.torrents, first + p2p::udp::kMaxScrapeHashes);
        std::vector<p2p::udp::Hash20> hs(L.hashes.begin() + first, L.hashes.begin() + last);
        ++tid;
        rep = ask(fd, p2p::udp::encode_scrape_request(c->connection_id, tid, hs), tid, L.o.timeout_ms);
        auto r = p2p::udp::decode_scrape_response(rep);
        if (!r || r->entries.size() != hs.size()) {
            close(fd);
            return sw;
        }
        for (const auto& e : r->entries) {
            sw.seeders += e.seeders;
            sw.leechers += e.leechers;
            sw.completed += e.completed;
            sw.torrents_with_peers += (e.seeders + e.leechers) > 0;
        }
    }
    close(fd);
    sw.ok = true;
    return sw;
}

void usage() {
    std::fputs("usage: udp-load --target HOST:PORT [--duration S] [--sockets N] [--torrents N] [--inflight N]\n"
               "                [--peers-per-torrent N] [--seed N] [--timeout-ms MS] [--scrape-every N] [--numwant N]\n"
               "                [--no-final-scrape]\n"
               "       udp-load --print-hashes [--torrents N] [--seed N]   (hex info hashes, one a line: a whitelist)\n"
               "defaults: --duration 20 --sockets 8 --torrents 10000 --inflight 64 --peers-per-torrent 10 --seed 1\n"
               "          --timeout-ms 1000 --scrape-every 100 --numwant 30\n",
               stderr);
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) return nullptr;
            return argv[++i];
        };
        auto num = [&](auto& out, double lo, double hi) {
            const char* v = val();
            if (!v) return false;
            char* end = nullptr;
            const double d = std::strtod(v, &end);
            if (*end != '\0' || d < lo || d > hi) return false;
            out = static_cast<std::remove_reference_t<decltype(out)>>(d);
            return true;
        };
        bool ok = true;
        if (a == "--target") {
            const char* v = val();
            const std::string t = v ? v : "";
            const auto colon = t.rfind(':');
            if (colon == std::string::npos || colon == 0) return false;
            o.host = t.substr(0, colon);
            if (o.host.size() > 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
            o.port = t.substr(colon + 1);
        } else if (a == "--duration")
            ok = num(o.duration_s, 0.1, 86400);
        else if (a == "--sockets")
            ok = num(o.sockets, 1, 1024);
        else if (a == "--torrents")
            ok = num(o.torrents, 1, 100'000'000);
        else if (a == "--inflight")
            ok = num(o.inflight, 1, kMaxInflight);
        else if (a == "--peers-per-torrent")
            ok = num(o.peers_per_torrent, 1, 1'000'000);
        else if (a == "--seed")
            ok = num(o.seed, 0, 1e15);
        else if (a == "--timeout-ms")
            ok = num(o.timeout_ms, 1, 600'000);
        else if (a == "--scrape-every")
            ok = num(o.scrape_every, 0, 1e9);
        else if (a == "--numwant")
            ok = num(o.numwant, -1, 10000);
        else if (a == "--print-hashes")
            o.print_hashes = true;
        else if (a == "--no-final-scrape")
            o.final_scrape = false;
        else if (a == "--help" || a == "-h")
            return false;
        else {
            std::fprintf(stderr, "udp-load: unknown flag %s\n", a.c_str());
            return false;
        }
        if (!ok) {
            std::fprintf(stderr, "udp-load: bad value for %s\n", a.c_str());
            return false;
        }
    }
    if (!o.print_hashes && o.port.empty()) {
        std::fputs("udp-load: --target HOST:PORT is required\n", stderr);
        return false;
    }
    if (std::uint64_t(o.torrents) * o.peers_per_torrent > 2'000'000'000ULL) {
        std::fputs("udp-load: --torrents * --peers-per-torrent is too large\n", stderr);
        return false;
    }
    return true;
}

std::uint32_t pct(std::vector<std::uint32_t>& v, double p) {
    if (v.empty()) return 0;
    const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

} // namespace

int main(int argc, char** argv) {
    Load L;
    if (!parse(argc, argv, L.o)) {
        usage();
        return 2;
    }
    const Options& o = L.o;
    L.hashes.reserve(o.torrents);
    for (std::uint32_t i = 0; i < o.torrents; ++i) L.hashes.push_back(loadgen::info_hash(o.seed, i));
    if (o.print_hashes) {
        for (const auto& h : L.hashes) std::printf("%s\n", p2p::to_hex(h.view()).c_str());
        return 0;
    }

    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* ai = nullptr;
    if (const int e = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &ai); e != 0) {
        std::fprintf(stderr, "udp-load: cannot resolve %s:%s: %s\n", o.host.c_str(), o.port.c_str(), gai_strerror(e));
        return 1;
    }
    L.announced.assign(std::size_t(o.torrents) * o.peers_per_torrent, 0);
    L.st.latency_us.reserve(1 << 20);
    L.socks.resize(static_cast<std::size_t>(o.sockets));
    std::vector<pollfd> pfds;
    for (auto& s : L.socks) {
        s.fd = open_socket(ai);
        if (s.fd < 0) {
            std::fprintf(stderr, "udp-load: socket/connect failed: %s\n", std::strerror(errno));
            return 1;
        }
        s.slots.resize(static_cast<std::size_t>(o.inflight));
        for (int i = o.inflight - 1; i >= 0; --i) s.free.push_back(static_cast<std::uint32_t>(i));
        s.out.resize(static_cast<std::size_t>(o.inflight) + 1);
        s.out_msgs.resize(s.out.size());
        s.out_iov.resize(s.out.size());
        pfds.push_back({s.fd, POLLIN, 0});
    }

    std::fprintf(stderr, "udp-load: %s:%s for %.1f s, %d sockets x %d in flight, %u torrents x %u peers\n",
                 o.host.c_str(), o.port.c_str(), o.duration_s, o.sockets, o.inflight, o.torrents, o.peers_per_torrent);
    const std::uint64_t start = now_ns();
    const std::uint64_t end = start + static_cast<std::uint64_t>(o.duration_s * 1e9);
    std::uint64_t last_expire = start;
    for (;;) {
        std::uint64_t now = now_ns();
        if (now >= end) break;
        for (auto& s : L.socks) L.fill(s, now);
        if (poll(pfds.data(), pfds.size(), 1) > 0) {
            for (std::size_t k = 0; k < pfds.size(); ++k)
                if (pfds[k].revents & POLLIN) L.drain(L.socks[k]);
        }
        now = now_ns();
        if (now - last_expire > 10'000'000) { // every 10 ms
            last_expire = now;
            for (auto& s : L.socks) L.expire(s, now);
        }
    }
    const double secs = double(now_ns() - start) / 1e9;
    // Requests still in flight at the end are neither answered nor dropped; give them one timeout to land.
    const std::uint64_t grace_end = now_ns() + std::uint64_t(o.timeout_ms) * 1'000'000;
    for (;;) {
        bool busy = false;
        for (auto& s : L.socks) busy |= s.free.size() != s.slots.size();
        if (!busy || now_ns() >= grace_end) break;
        if (poll(pfds.data(), pfds.size(), 1) > 0)
            for (std::size_t k = 0; k < pfds.size(); ++k)
                if (pfds[k].revents & POLLIN) L.drain(L.socks[k]);
    }
    std::uint64_t unanswered = 0;
    for (auto& s : L.socks) unanswered += s.slots.size() - s.free.size();
    L.st.drops += unanswered;

    const Stats& st = L.st;
    const std::uint64_t answered = st.resp_announce + st.resp_scrape;
    const std::uint64_t sent = st.sent_announce + st.sent_scrape;
    auto lat = st.latency_us;
    const std::uint32_t p50 = pct(lat, 0.50), p90 = pct(lat, 0.90), p99 = pct(lat, 0.99), p999 = pct(lat, 0.999);
    const std::uint32_t pmax = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());

    std::printf("target            %s:%s\n", o.host.c_str(), o.port.c_str());
    std::printf("duration          %.2f s, %d sockets x %d in flight, %u torrents x %u peers\n", secs, o.sockets,
                o.inflight, o.torrents, o.peers_per_torrent);
    std::printf("sent              %llu (announce %llu, scrape %llu, connect %llu; send failures %llu)\n",
                (unsigned long long)sent, (unsigned long long)st.sent_announce, (unsigned long long)st.sent_scrape,
                (unsigned long long)st.sent_connect, (unsigned long long)st.send_fail);
    std::printf("responses         %llu (announce %llu, scrape %llu, connect %llu)\n", (unsigned long long)answered,
                (unsigned long long)st.resp_announce, (unsigned long long)st.resp_scrape,
                (unsigned long long)st.resp_connect);
    std::printf("responses/s       %.0f (announce %.0f/s)\n", double(answered) / secs, double(st.resp_announce) / secs);
    std::printf("drops (timeouts)  %llu (%.3f%% of sent); late %llu; errors %llu; malformed %llu\n",
                (unsigned long long)st.drops, sent ? 100.0 * double(st.drops) / double(sent) : 0.0,
                (unsigned long long)st.late, (unsigned long long)st.errors, (unsigned long long)st.bad);
    std::printf("latency us        p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", p50, p90, p99, p999, pmax);
    std::printf("peers per reply   %.1f\n",
                st.resp_announce ? double(st.peers_returned) / double(st.resp_announce) : 0.0);
    std::printf("distinct peers    %llu announced\n", (unsigned long long)L.distinct_peers);
    Sweep sw;
    if (o.final_scrape) {
        sw = final_sweep(ai, L);
        if (sw.ok)
            std::printf(
                "stored peers      %llu by scrape (seeders %llu, leechers %llu, completed %llu; %llu torrents)\n",
                (unsigned long long)(sw.seeders + sw.leechers), (unsigned long long)sw.seeders,
                (unsigned long long)sw.leechers, (unsigned long long)sw.completed,
                (unsigned long long)sw.torrents_with_peers);
        else
            std::printf("stored peers      unknown (final scrape sweep failed)\n");
    }
    // One machine-readable line for scripts (tools/bench-tracker).
    std::printf("RESULT responses_per_s=%.0f drops=%llu sent=%llu p50_us=%u p99_us=%u distinct_peers=%llu "
                "stored_peers=%lld errors=%llu\n",
                double(answered) / secs, (unsigned long long)st.drops, (unsigned long long)sent, p50, p99,
                (unsigned long long)L.distinct_peers, sw.ok ? (long long)(sw.seeders + sw.leechers) : -1LL,
                (unsigned long long)st.errors);
    freeaddrinfo(ai);
    for (auto& s : L.socks) close(s.fd);
    return answered > 0 ? 0 : 1;
}
