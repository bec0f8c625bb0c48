// Local Service Discovery (BEP 14) on the loop: announces our public torrents to the LAN by multicast and reports
// the peers that announce theirs. The datagrams are proto/lsd's; this file decides when to send and what to read.
//
// Sockets: one UDP socket bound to 0.0.0.0:6771 with SO_REUSEADDR (several clients on one host share the port; the
// kernel gives each a copy of every multicast datagram), joined to 239.192.152.143; and, unless IPv6 is off, one
// bound to [::]:6771 (IPv6 only) joined to ff15::efc0:988f, dropped quietly when the host has no IPv6 route for
// it. TTL 1 (the LAN, not the site: BEP 14 leaves the scope to the implementation). Multicast loop on, so two
// clients on one host or one bridge hear each other; our own datagrams come back and are known by our cookie.
//
// Sending (LsdSchedule, below): each torrent soon after add(), then every kAnnounceIntervalMs (BEP 14: every 5
// minutes), never twice within kMinTorrentGapMs. All messages together: a token bucket of kSendBurst messages
// refilled at one per kMessageGapMs (BEP 14: "no more than 1 announce per minute" on average; the burst lets a
// torrent just started go out at once, as libtorrent's three sends in six seconds do). Up to kSingleHashTorrents
// torrents every message holds one info hash (Transmission 3 reads only the first of several and drops datagrams
// over 200 bytes); with more, as many as fit in 1400 bytes (BEP 14: "If more than 5 torrents are active a client
// may ... include multiple infohashes per announce").
//
// Receiving: at most kIncomingPerSecond datagrams a second (a bucket of kIncomingBurst; Transmission's flood
// limit is ten a second), the rest dropped unread; at most lsd::kMaxHashes peers from one datagram, and only for
// torrents we announce. The peer is the datagram's source address with the message's Port.
//
// Lifetimes: the sockets are heap blocks closed with uv_close and freed in the close callback, so the service may
// be destroyed at any time but inside its OnPeer callback (use Loop::defer_delete there).
#pragma once
#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/timer.hpp"
#include "proto/lsd.hpp"

namespace p2p {

// --- Rates (BEP 14 "Usage", and ours where named) ---
inline constexpr std::uint64_t kAnnounceIntervalMs = 5 * 60'000; // BEP 14: "send a LSD announce every 5 minutes"
inline constexpr std::uint64_t kMessageGapMs = 60'000;      // BEP 14: "no more than 1 announce per minute" (average)
inline constexpr std::uint64_t kMinTorrentGapMs = 60'000;   // ours: one torrent at most once a minute (remove + add)
inline constexpr std::uint64_t kSendBurst = 5;              // ours: BEP 14's "more than 5 torrents" threshold
inline constexpr std::size_t kSingleHashTorrents = 5;       // BEP 14: "If more than 5 torrents are active ..."
inline constexpr std::uint64_t kFirstAnnounceDelayMs = 200; // ours: torrents added together share the first tick
inline constexpr std::size_t kMaxLsdTorrents = 1024;        // ours: 5 min x 1 message/min x 24 hashes = 120 keep
                                                            // the interval; more are announced round-robin, slower
inline constexpr std::uint64_t kIncomingPerSecond = 10;     // Transmission's LPD flood limit (tr-lpd.cc)
inline constexpr std::uint64_t kIncomingBurst = 50;         // Transmission averages it over 5 s: 50

// A token bucket on a millisecond clock: `burst` tokens, one more every `period_ms`. Pure (the caller gives now).
class TokenBucket {
public:
    TokenBucket(std::uint64_t burst, std::uint64_t period_ms)
        : cap_ms_(burst * period_ms), period_ms_(period_ms), credit_ms_(cap_ms_) {}
    bool take(std::uint64_t now_ms); // a token if there is one
    // Milliseconds until a token is there (0: now).
    std::uint64_t wait_ms(std::uint64_t now_ms);

private:
    std::uint64_t refill(std::uint64_t now_ms);
    std::uint64_t cap_ms_, period_ms_, credit_ms_;
    std::uint64_t last_ms_ = 0;
    bool started_ = false;
};

// The schedule's rates: the constants above, lowered only by tests.
struct LsdLimits {
    std::uint64_t interval_ms = kAnnounceIntervalMs;
    std::uint64_t message_gap_ms = kMessageGapMs;
    std::uint64_t min_torrent_gap_ms = kMinTorrentGapMs;
    std::uint64_t burst = kSendBurst;
    std::uint64_t first_delay_ms = kFirstAnnounceDelayMs;
    std::size_t single_hash_torrents = kSingleHashTorrents;
    std::size_t max_torrents = kMaxLsdTorrents;
};

// Which torrents to announce when (the sending half of the rules at the top). Pure: every call is given the time.
class LsdSchedule {
public:
    using Limits = LsdLimits;
    explicit LsdSchedule(Limits l = {}) : lim_(l), bucket_(l.burst, l.message_gap_ms) {}

    bool add(const udp::Hash20& h, std::uint64_t now_ms); // false when kMaxLsdTorrents are there already
    void remove(const udp::Hash20& h, std::uint64_t now_ms);
    bool has(const udp::Hash20& h) const { return torrents_.count(h) > 0; }
    std::size_t size() const { return torrents_.size(); }
    // The messages to send now, each a list of info hashes (at most `burst` messages; tokens are spent).
    std::vector<std::vector<udp::Hash20>> take_due(std::uint64_t now_ms);
    // When take_due() has something to give next; nothing while no torrent is registered.
    std::optional<std::uint64_t> next_wake(std::uint64_t now_ms);

private:
    struct Entry {
        std::uint64_t due_ms = 0;
        std::uint64_t sent_ms = 0;
        bool sent = false;
    };
    Limits lim_;
    TokenBucket bucket_;
    std::map<udp::Hash20, Entry> torrents_;
    // Torrents removed within min_torrent_gap_ms of their last announce: when each was sent. Bounded by
    // max_torrents (expired ones are dropped on every remove).
    std::map<udp::Hash20, std::uint64_t> recent_;
};

// One network of ours (an interface's address and mask). An announce is taken only from a source on one of them
// (libtorrent's lsd.cpp checks the same), so a unicast datagram from beyond the LAN cannot make us dial whom it names.
struct LocalNet {
    int family = 0; // AF_INET (first 4 bytes used) or AF_INET6
    std::array<std::uint8_t, 16> addr{}, mask{};
};
std::vector<LocalNet> local_networks();
bool on_networks(const std::vector<LocalNet>& nets, const sockaddr* sa);

class LsdService {
public:
    struct Config {
        std::uint16_t listen_port = 0; // our BitTorrent port: every announce's Port
        bool ipv4 = true;              // the IPv4 group (if on, start() fails without it)
        bool ipv6 = true;              // the IPv6 group, if the host can join it
        std::string interface_v4;      // an IPv4 address: join and send on its interface; empty: the default route's
        // Tests only: the UDP port bound instead of 6771, and an IPv4 address announces go to by unicast instead of
        // the group (then no group is joined, so a unit test talks to itself over loopback and never to a LAN).
        std::uint16_t port = lsd::kPort;
        std::string unicast_v4;
        LsdLimits limits;
    };
    using OnPeer = std::function<void(const udp::Hash20& info_hash, const sockaddr_storage& peer)>;
    struct Stats {
        std::uint64_t sent = 0;     // datagrams sent (one per message and group)
        std::uint64_t received = 0; // datagrams read, our own included
        std::uint64_t peers = 0;    // (torrent, peer) pairs reported to OnPeer
        std::uint64_t refused = 0;  // datagrams dropped: over the rate, truncated, or not a valid announce
    };

    LsdService(uv_loop_t* loop, Config cfg, OnPeer on_peer);
    ~LsdService();
    LsdService(const LsdService&) = delete;
    LsdService& operator=(const LsdService&) = delete;

    // Binds and joins. An error only when the IPv4 socket (or, with ipv4 off, the IPv6 one) cannot be had.
    Status start();
    // A public torrent to announce (BEP 27: never a private one; the caller knows which). Ignored beyond
    // kMaxLsdTorrents (logged at debug).
    void add(const udp::Hash20& info_hash);
    void remove(const udp::Hash20& info_hash);
    Stats stats() const { return stats_; }
    const std::string& cookie() const { return cookie_; }
    bool has_ipv6() const { return v6_ != nullptr; }

private:
    struct Socket;
    Result<Socket*> open(bool v6);
    static void close(Socket*& s);
    void on_datagram(Socket* s, std::string_view data, const sockaddr* from, bool truncated);
    void tick();
    void rearm();
    void send(const std::vector<udp::Hash20>& hashes);
    bool from_lan(const sockaddr* from); // on nets_, looked up again (at most once a minute) when not

    uv_loop_t* loop_;
    Config cfg_;
    OnPeer on_peer_;
    std::string cookie_; // 8 lower-case hex digits, as libtorrent's: random per service
    Socket* v4_ = nullptr;
    Socket* v6_ = nullptr;
    sockaddr_storage dest_v4_{}, dest_v6_{};
    LsdSchedule schedule_;
    TokenBucket incoming_{kIncomingBurst, 1000 / kIncomingPerSecond};
    Timer timer_;
    Stats stats_;
    std::uint64_t flood_dropped_ = 0; // since the last flood log line
    std::vector<LocalNet> nets_;
    std::uint64_t nets_at_ms_ = 0;
    LifeToken life_;
};

} // namespace p2p
