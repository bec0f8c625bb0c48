// LsdService: BEP 14 on the loop (lsd_service.hpp has the rules; proto/lsd.hpp the bytes).
#include "node/lsd_service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/random.hpp"
#include "loop/fence.hpp"
#include "net/tcp_transport.hpp" // format_sockaddr

namespace p2p {

// ---------------------------------------------------------------- TokenBucket

std::uint64_t TokenBucket::refill(std::uint64_t now_ms) {
    if (!started_) {
        started_ = true;
        last_ms_ = now_ms;
    }
    if (now_ms > last_ms_) {
        credit_ms_ = std::min(cap_ms_, credit_ms_ + (now_ms - last_ms_));
        last_ms_ = now_ms;
    }
    return credit_ms_;
}

bool TokenBucket::take(std::uint64_t now_ms) {
    if (refill(now_ms) < period_ms_) return false;
    credit_ms_ -= period_ms_;
    return true;
}

std::uint64_t TokenBucket::wait_ms(std::uint64_t now_ms) {
    const std::uint64_t c = refill(now_ms);
    return c >= period_ms_ ? 0 : period_ms_ - c;
}

// ---------------------------------------------------------------- LsdSchedule

bool LsdSchedule::add(const udp::Hash20& h, std::uint64_t now_ms) {
    if (torrents_.count(h)) return true;
    if (torrents_.size() >= lim_.max_torrents) return false;
    Entry e;
    e.due_ms = now_ms + lim_.first_delay_ms;
    if (auto r = recent_.find(h); r != recent_.end()) { // removed and added again: still once a minute at most
        e.due_ms = std::max(e.due_ms, r->second + lim_.min_torrent_gap_ms);
        recent_.erase(r);
    }
    torrents_[h] = e;
    return true;
}

void LsdSchedule::remove(const udp::Hash20& h, std::uint64_t now_ms) {
    auto it = torrents_.find(h);
    if (it == torrents_.end()) return;
    const Entry e = it->second;
    torrents_.erase(it);
    if (!e.sent || now_ms - e.sent_ms >= lim_.min_torrent_gap_ms) return;
    std::erase_if(recent_, [&](const auto& r) { return now_ms - r.second >= lim_.min_torrent_gap_ms; });
    if (recent_.size() < lim_.max_torrents) recent_[h] = e.sent_ms;
}

std::vector<std::vector<udp::Hash20>> LsdSchedule::take_due(std::uint64_t now_ms) {
    std::vector<std::pair<std::uint64_t, udp::Hash20>> due; // oldest due first: round-robin when they queue up
    for (const auto& [h, e] : torrents_)
        if (e.due_ms <= now_ms) due.emplace_back(e.due_ms, h);
    std::vector<std::vector<udp::Hash20>> out;
    if (due.empty()) return out;
    std::sort(due.begin(), due.end());
    const std::size_t per = torrents_.size() <= lim_.single_hash_torrents ? 1 : lsd::kMaxHashesPerAnnounce;
    const std::uint64_t next = now_ms + std::max(lim_.interval_ms, lim_.min_torrent_gap_ms);
    std::size_t i = 0;
    while (i < due.size() && out.size() < lim_.burst && bucket_.take(now_ms)) {
        std::vector<udp::Hash20> batch;
        for (; i < due.size() && batch.size() < per; ++i) {
            Entry& e = torrents_[due[i].second];
            e.sent = true;
            e.sent_ms = now_ms;
            e.due_ms = next;
            batch.push_back(due[i].second);
        }
        out.push_back(std::move(batch));
    }
    return out;
}

std::optional<std::uint64_t> LsdSchedule::next_wake(std::uint64_t now_ms) {
    if (torrents_.empty()) return std::nullopt;
    std::uint64_t earliest = UINT64_MAX;
    for (const auto& [h, e] : torrents_) earliest = std::min(earliest, e.due_ms);
    return std::max(earliest, now_ms + bucket_.wait_ms(now_ms));
}

// ---------------------------------------------------------------- LsdService

std::vector<LocalNet> local_networks() {
    std::vector<LocalNet> out;
    uv_interface_address_t* ifs = nullptr;
    int n = 0;
    if (uv_interface_addresses(&ifs, &n) != 0) return out;
    for (int i = 0; i < n; ++i) {
        LocalNet net;
        if (ifs[i].address.address4.sin_family == AF_INET) {
            net.family = AF_INET;
            std::memcpy(net.addr.data(), &ifs[i].address.address4.sin_addr, 4);
            std::memcpy(net.mask.data(), &ifs[i].netmask.netmask4.sin_addr, 4);
        } else if (ifs[i].address.address6.sin6_family == AF_INET6) {
            net.family = AF_INET6;
            std::memcpy(net.addr.data(), &ifs[i].address.address6.sin6_addr, 16);
            std::memcpy(net.mask.data(), &ifs[i].netmask.netmask6.sin6_addr, 16);
        } else {
            continue;
        }
        out.push_back(net);
    }
    uv_free_interface_addresses(ifs, n);
    return out;
}

bool on_networks(const std::vector<LocalNet>& nets, const sockaddr* sa) {
    const std::uint8_t* a = nullptr;
    std::size_t len = 0;
    if (sa->sa_family == AF_INET) {
        a = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
        len = 4;
    } else if (sa->sa_family == AF_INET6) {
        a = reinterpret_cast<const std::uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
        len = 16;
    } else {
        return false;
    }
    for (const LocalNet& n : nets) {
        if (n.family != sa->sa_family) continue;
        bool same = true;
        for (std::size_t i = 0; i < len && same; ++i) same = (a[i] & n.mask[i]) == (n.addr[i] & n.mask[i]);
        if (same) return true;
    }
    return false;
}

namespace {

constexpr std::uint64_t kNetsRefreshMs = 60'000; // ours: interfaces come and go (DHCP); look again at most this often

} // namespace

struct LsdService::Socket {
    uv_udp_t handle;
    LsdService* owner = nullptr;
    bool v6 = false;
    // Receive buffer, reused: each datagram is handled before the callback returns. One byte more than any
    // announce we read, so a longer one arrives truncated (UV_UDP_PARTIAL) and is refused.
    char buf[lsd::kMaxDatagram + 1];
};

LsdService::LsdService(uv_loop_t* loop, Config cfg, OnPeer on_peer)
    : loop_(loop), cfg_(std::move(cfg)), on_peer_(std::move(on_peer)), schedule_(cfg_.limits), timer_(loop) {
    char c[9];
    std::snprintf(c, sizeof c, "%08x", static_cast<unsigned>(random_u32()));
    cookie_ = c;
}

LsdService::~LsdService() {
    close(v4_);
    close(v6_);
}

void LsdService::close(Socket*& s) {
    if (!s) return;
    s->owner = nullptr;
    uv_udp_recv_stop(&s->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), [](uv_handle_t* h) { delete static_cast<Socket*>(h->data); });
    s = nullptr;
}

Result<LsdService::Socket*> LsdService::open(bool v6) {
    auto* s = new Socket;
    s->owner = this;
    s->v6 = v6;
    s->handle.data = s;
    const std::string what = v6 ? "lsd IPv6" : "lsd IPv4";
    if (int rc = uv_udp_init(loop_, &s->handle); rc != 0) {
        delete s;
        return make_error(what, std::string("uv_udp_init: ") + uv_strerror(rc), Errc::io);
    }
    sockaddr_storage any{};
    if (v6)
        uv_ip6_addr("::", cfg_.port, reinterpret_cast<sockaddr_in6*>(&any));
    else
        uv_ip4_addr("0.0.0.0", cfg_.port, reinterpret_cast<sockaddr_in*>(&any));
    // REUSEADDR: every BitTorrent client on the host binds 6771 (libtorrent and Transmission set it too). IPv6
    // only: the IPv4 socket has the IPv4 group.
    const char* step = "bind";
    int rc =
        uv_udp_bind(&s->handle, reinterpret_cast<const sockaddr*>(&any), UV_UDP_REUSEADDR | (v6 ? UV_UDP_IPV6ONLY : 0));
    const bool multicast = cfg_.unicast_v4.empty();
    const std::string group(v6 ? lsd::kGroupV6 : lsd::kGroupV4);
    if (rc == 0 && multicast) {
        step = "join";
        const char* iface = !v6 && !cfg_.interface_v4.empty() ? cfg_.interface_v4.c_str() : nullptr;
        rc = uv_udp_set_membership(&s->handle, group.c_str(), iface, UV_JOIN_GROUP);
    }
    if (rc == 0 && !v6 && multicast && !cfg_.interface_v4.empty()) {
        step = "multicast interface";
        rc = uv_udp_set_multicast_interface(&s->handle, cfg_.interface_v4.c_str());
    }
    if (rc == 0) {
        step = "multicast loop"; // on: another client on this host or bridge must hear us; ours come back too
        rc = uv_udp_set_multicast_loop(&s->handle, 1);
    }
    if (rc == 0) {
        step = "multicast TTL"; // 1: the LAN only (BEP 14 leaves the scope to us; Transmission uses 1 too)
        rc = uv_udp_set_multicast_ttl(&s->handle, 1);
    }
    if (rc == 0) {
        step = "receive";
        rc = uv_udp_recv_start(
            &s->handle,
            [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                auto* sock = static_cast<Socket*>(h->data);
                *b = uv_buf_init(sock->buf, sizeof sock->buf);
            },
            [](uv_udp_t* h, ssize_t n, const uv_buf_t* b, const sockaddr* from, unsigned flags) {
                auto* sock = static_cast<Socket*>(h->data);
                if (!sock->owner || n <= 0 || !from) return; // 0 bytes and no address: nothing more to read
                fence("lsd datagram", [&] {
                    sock->owner->on_datagram(sock, std::string_view(b->base, static_cast<std::size_t>(n)), from,
                                             (flags & UV_UDP_PARTIAL) != 0);
                });
            });
    }
    if (rc != 0) {
        close(s);
        return make_error(what, std::string(step) + " (port " + std::to_string(cfg_.port) + "): " + uv_strerror(rc),
                          Errc::io);
    }
    return s;
}

Status LsdService::start() {
    if (v4_ || v6_) return ok_status();
    nets_ = local_networks();
    nets_at_ms_ = uv_now(loop_);
    if (cfg_.ipv4) {
        auto s = open(false);
        if (!s) return s.error();
        v4_ = *s;
        const std::string to = cfg_.unicast_v4.empty() ? std::string(lsd::kGroupV4) : cfg_.unicast_v4;
        if (int rc = uv_ip4_addr(to.c_str(), cfg_.port, reinterpret_cast<sockaddr_in*>(&dest_v4_)); rc != 0) {
            close(v4_);
            return make_error("lsd", "bad address " + to, Errc::bad_input);
        }
    }
    if (cfg_.ipv6 && cfg_.unicast_v4.empty()) {
        auto s = open(true);
        if (s) {
            v6_ = *s;
            uv_ip6_addr(std::string(lsd::kGroupV6).c_str(), cfg_.port, reinterpret_cast<sockaddr_in6*>(&dest_v6_));
        } else if (!v4_) {
            return s.error();
        } else {
            log_debug("lsd", "no IPv6 group: " + s.error().str()); // a host without IPv6 is no failure
        }
    }
    if (!v4_ && !v6_) return make_error("lsd", "neither IPv4 nor IPv6", Errc::bad_input);
    std::string groups = v4_ ? format_sockaddr(reinterpret_cast<const sockaddr*>(&dest_v4_)) : "";
    if (v6_) groups += (v4_ ? " and " : "") + format_sockaddr(reinterpret_cast<const sockaddr*>(&dest_v6_));
    log_info("lsd", "Local Service Discovery on " + groups + ", announcing port " + std::to_string(cfg_.listen_port) +
                        ", cookie " + cookie_);
    rearm();
    return ok_status();
}

void LsdService::add(const udp::Hash20& info_hash) {
    if (!schedule_.add(info_hash, uv_now(loop_)))
        log_debug("lsd", "not announced: already " + std::to_string(schedule_.size()) + " torrents");
    rearm();
}

void LsdService::remove(const udp::Hash20& info_hash) {
    schedule_.remove(info_hash, uv_now(loop_));
    rearm();
}

void LsdService::rearm() {
    if (!v4_ && !v6_) return; // not started (or failed): add() only records
    const std::uint64_t now = uv_now(loop_);
    const auto wake = schedule_.next_wake(now);
    if (!wake) {
        timer_.stop();
        return;
    }
    timer_.start(*wake > now ? *wake - now : 0, 0, [this] { tick(); });
}

void LsdService::tick() {
    for (const auto& batch : schedule_.take_due(uv_now(loop_))) send(batch);
    rearm();
}

void LsdService::send(const std::vector<udp::Hash20>& hashes) {
    for (Socket* s : {v4_, v6_}) {
        if (!s) continue;
        auto msg = lsd::encode(s->v6 ? lsd::Family::v6 : lsd::Family::v4, cfg_.listen_port, hashes, cookie_);
        if (!msg) {
            log_error("bug", "lsd: " + msg.error().str());
            continue;
        }
        uv_buf_t b = uv_buf_init(msg->data(), static_cast<unsigned>(msg->size()));
        const auto* to = reinterpret_cast<const sockaddr*>(s->v6 ? &dest_v6_ : &dest_v4_);
        // A full send buffer or no route just loses this announce; the next one is due in five minutes.
        const char* fam = s->v6 ? "IPv6" : "IPv4";
        if (int rc = uv_udp_try_send(&s->handle, &b, 1, to); rc < 0) {
            log_debug("lsd", std::string(fam) + " announce not sent: " + uv_strerror(rc));
            continue;
        }
        ++stats_.sent;
        log_debug("lsd", std::string("announced ") + fam + ": " + to_hex(hashes.front().view()) +
                             (hashes.size() > 1 ? " and " + std::to_string(hashes.size() - 1) + " more" : ""));
    }
}

bool LsdService::from_lan(const sockaddr* from) {
    if (on_networks(nets_, from)) return true;
    const std::uint64_t now = uv_now(loop_);
    if (now - nets_at_ms_ < kNetsRefreshMs) return false;
    nets_ = local_networks(); // an interface may have come up since
    nets_at_ms_ = now;
    return on_networks(nets_, from);
}

void LsdService::on_datagram(Socket*, std::string_view data, const sockaddr* from, bool truncated) {
    ++stats_.received;
    if (!incoming_.take(uv_now(loop_))) { // a flood: dropped unread
        ++stats_.refused;
        if (flood_dropped_++ == 0)
            log_debug("lsd", "over " + std::to_string(kIncomingPerSecond) + " datagrams a second: dropping");
        return;
    }
    if (flood_dropped_ > 0) {
        log_debug("lsd", std::to_string(flood_dropped_) + " datagrams dropped over the rate");
        flood_dropped_ = 0;
    }
    const std::string src = format_sockaddr(from);
    if (truncated) {
        ++stats_.refused;
        log_debug("lsd", src + ": datagram over " + std::to_string(lsd::kMaxDatagram) + " bytes");
        return;
    }
    auto a = lsd::decode(data);
    if (!a) {
        ++stats_.refused;
        log_debug("lsd", src + ": " + a.error().str());
        return;
    }
    if (!a->cookie.empty() && a->cookie == cookie_) return; // our own, back through the multicast loop
    if (!from_lan(from)) {
        ++stats_.refused;
        log_debug("lsd", src + ": not on a network of ours");
        return;
    }
    sockaddr_storage peer{};
    if (from->sa_family == AF_INET) {
        std::memcpy(&peer, from, sizeof(sockaddr_in));
        reinterpret_cast<sockaddr_in*>(&peer)->sin_port = htons(a->port);
    } else {
        std::memcpy(&peer, from, sizeof(sockaddr_in6)); // keeps the scope of a link-local source
        reinterpret_cast<sockaddr_in6*>(&peer)->sin6_port = htons(a->port);
    }
    auto alive = life_.watch();
    for (const udp::Hash20& h : a->info_hashes) { // at most lsd::kMaxHashes
        if (!schedule_.has(h)) continue;          // a torrent we do not announce: none of our business
        ++stats_.peers;
        log_debug("lsd",
                  "peer " + format_sockaddr(reinterpret_cast<const sockaddr*>(&peer)) + " for " + to_hex(h.view()));
        on_peer_(h, peer);
        if (!alive) return;
    }
}

} // namespace p2p
