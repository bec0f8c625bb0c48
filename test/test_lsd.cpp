// Local Service Discovery (BEP 14). The codec (proto/lsd.hpp) against the bytes real clients send -- libtorrent
// 2.0.8's announce as captured on a network namespace (python3-libtorrent, enable_lsd; test/scripts/lsd_libtorrent.sh
// prints one again), Transmission 3's and 4's as their sources format them -- then leniency, every refusal, the
// bounds and truncations. The service (node/lsd_service.hpp): its token bucket and schedule under a fake clock, and
// one service on 127.0.0.1 by unicast (never a LAN): its own announces come back and are known by the cookie, a
// foreign one names a peer, floods and junk are refused.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "loop/loop.hpp"
#include "net/tcp_transport.hpp" // format_sockaddr
#include "node/lsd_service.hpp"
#include "proto/lsd.hpp"
#include "test_util.hpp"

using namespace p2p;

namespace {

// Static data is built before doctest runs, so no assertion here (test_util's unhex has one): a typo gives zeros.
udp::Hash20 hash_of(std::string_view hex) {
    std::string raw;
    if (!from_hex(hex, raw) || raw.size() != 20) return {};
    return udp::Hash20::from(raw);
}
udp::Hash20 hash_n(std::uint8_t n) {
    udp::Hash20 h;
    h.b.fill(n);
    return h;
}

// libtorrent 2.0.8, one torrent on 10.77.93.2 (listen port 44103), captured by a socket joined to the group. It
// sends this at once, 2 s and 6 s later; then every local_service_announce_interval (300 s).
const std::string kLibtorrent = "BT-SEARCH * HTTP/1.1\r\n"
                                "Host: 239.192.152.143:6771\r\n"
                                "Port: 44103\r\n"
                                "Infohash: dc03a7a3b8d94dce3f1f4caa8b1cbcc31aad80e1\r\n"
                                "cookie: 4f6e9105\r\n"
                                "\r\n"
                                "\r\n";

// Transmission 3.00 (tr-lpd.c, tr_lpdSendAnnounce): upper-case hex, no cookie.
const std::string kTransmission3 = "BT-SEARCH * HTTP/1.1\r\n"
                                   "Host: 239.192.152.143:6771\r\n"
                                   "Port: 51413\r\n"
                                   "Infohash: DC03A7A3B8D94DCE3F1F4CAA8B1CBCC31AAD80E1\r\n"
                                   "\r\n"
                                   "\r\n";

// Transmission 4 (tr-lpd.cc, makeAnnounceMsg) on the IPv6 group: several upper-case hashes, a 12-character cookie.
const std::string kTransmission4 = "BT-SEARCH * HTTP/1.1\r\n"
                                   "Host: [ff15::efc0:988f]:6771\r\n"
                                   "Port: 51413\r\n"
                                   "Infohash: DC03A7A3B8D94DCE3F1F4CAA8B1CBCC31AAD80E1\r\n"
                                   "Infohash: 0102030405060708090A0B0C0D0E0F1011121314\r\n"
                                   "cookie: aZ09bY18cX27\r\n"
                                   "\r\n"
                                   "\r\n";

const udp::Hash20 kHashA = hash_of("dc03a7a3b8d94dce3f1f4caa8b1cbcc31aad80e1");
const udp::Hash20 kHashB = hash_of("0102030405060708090a0b0c0d0e0f1011121314");

void refused(std::string_view datagram, std::string_view why) {
    auto r = lsd::decode(datagram);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::bad_input);
    CHECK(r.error().op == "lsd.decode");
    CHECK_MESSAGE(r.error().what.find(why) != std::string::npos, r.error().what);
}

std::string announce_with(const std::string& headers) { return "BT-SEARCH * HTTP/1.1\r\n" + headers + "\r\n\r\n"; }

} // namespace

TEST_CASE("lsd: libtorrent's announce, byte for byte both ways") {
    auto a = lsd::decode(kLibtorrent);
    REQUIRE(a.ok());
    CHECK(a->port == 44103);
    REQUIRE(a->info_hashes.size() == 1);
    CHECK(a->info_hashes[0] == kHashA);
    CHECK(a->cookie == "4f6e9105");
    CHECK(a->skipped == 0);
    // Our encoder writes exactly what libtorrent writes (the same layout, lower-case hex, cookie last).
    auto e = lsd::encode(lsd::Family::v4, 44103, {kHashA}, "4f6e9105");
    REQUIRE(e.ok());
    CHECK(*e == kLibtorrent);
    CHECK(e->size() == 137);
}

TEST_CASE("lsd: Transmission 3 and 4 announces") {
    auto t3 = lsd::decode(kTransmission3);
    REQUIRE(t3.ok());
    CHECK(t3->port == 51413);
    REQUIRE(t3->info_hashes.size() == 1);
    CHECK(t3->info_hashes[0] == kHashA); // upper-case hex is the same hash
    CHECK(t3->cookie.empty());
    auto t4 = lsd::decode(kTransmission4);
    REQUIRE(t4.ok());
    REQUIRE(t4->info_hashes.size() == 2);
    CHECK(t4->info_hashes[0] == kHashA);
    CHECK(t4->info_hashes[1] == kHashB);
    CHECK(t4->cookie == "aZ09bY18cX27");
}

TEST_CASE("lsd: encode on the IPv6 group, several hashes, no cookie") {
    auto e = lsd::encode(lsd::Family::v6, 6881, {kHashA, kHashB}, "");
    REQUIRE(e.ok());
    CHECK(*e == "BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 6881\r\n"
                "Infohash: dc03a7a3b8d94dce3f1f4caa8b1cbcc31aad80e1\r\n"
                "Infohash: 0102030405060708090a0b0c0d0e0f1011121314\r\n\r\n\r\n");
    auto back = lsd::decode(*e);
    REQUIRE(back.ok());
    CHECK(back->info_hashes == std::vector<udp::Hash20>{kHashA, kHashB});
    CHECK(back->cookie.empty());
}

TEST_CASE("lsd: the largest announce we write stays within BEP 14's 1400 bytes") {
    std::vector<udp::Hash20> hashes;
    for (std::size_t i = 0; i < lsd::kMaxHashesPerAnnounce; ++i)
        hashes.push_back(hash_n(static_cast<std::uint8_t>(i + 1)));
    auto e = lsd::encode(lsd::Family::v6, 65535, hashes, std::string(lsd::kMaxCookie, 'c'));
    REQUIRE(e.ok());
    CHECK(e->size() <= lsd::kMaxAnnounceSize);
    auto back = lsd::decode(*e);
    REQUIRE(back.ok());
    CHECK(back->info_hashes == hashes);
    CHECK(back->port == 65535);
}

TEST_CASE("lsd: decode is lenient where clients differ") {
    // Method and header names in any case, bare LF line ends, OWS around values, unknown headers, no final blank
    // line, no Host.
    auto a = lsd::decode("bt-search * HTTP/1.0\nPORT:6881 \nX-Whatever: 1\n"
                         "INFOHASH:\tDC03A7A3B8D94DCE3F1F4CAA8B1CBCC31AAD80E1\nCookie:  xyz  ");
    REQUIRE(a.ok());
    CHECK(a->port == 6881);
    REQUIRE(a->info_hashes.size() == 1);
    CHECK(a->info_hashes[0] == kHashA);
    CHECK(a->cookie == "xyz");
    // Whatever follows the blank line (a body) is not read.
    auto b = lsd::decode(kLibtorrent + "garbage without a colon");
    REQUIRE(b.ok());
    // The same Port twice is fine.
    CHECK(lsd::decode(announce_with("Port: 1\r\nPort: 1\r\nInfohash: " + to_hex(kHashA.view()))).ok());
}

TEST_CASE("lsd: bad Infohash values are skipped, as libtorrent skips them") {
    auto a = lsd::decode(announce_with("Port: 6881\r\n"
                                       "Infohash: 123\r\n"                                      // short
                                       "Infohash: zz03a7a3b8d94dce3f1f4caa8b1cbcc31aad80e1\r\n" // not hex
                                       "Infohash: 0000000000000000000000000000000000000000\r\n" // all zero
                                       "Infohash: dc03a7a3b8d94dce3f1f4caa8b1cbcc31aad80e1\r\n" // good
                                       "Infohash: DC03A7A3B8D94DCE3F1F4CAA8B1CBCC31AAD80E1\r\n" // repeated
                                       "Infohash: 0102030405060708090a0b0c0d0e0f1011121314"));
    REQUIRE(a.ok());
    CHECK(a->info_hashes == std::vector<udp::Hash20>{kHashA, kHashB});
    CHECK(a->skipped == 4);
}

TEST_CASE("lsd: every refusal says why") {
    const std::string ih = "Infohash: " + to_hex(kHashA.view()) + "\r\n";
    refused("", "empty");
    refused(std::string(lsd::kMaxDatagram + 1, 'x'), "more than 1500");
    refused("M-SEARCH * HTTP/1.1\r\nPort: 1\r\n" + ih, "not a BT-SEARCH");
    refused("BT-SEARCHX * HTTP/1.1\r\nPort: 1\r\n" + ih, "not a BT-SEARCH");
    refused(announce_with(ih), "no Port");
    refused(announce_with("Port: 0\r\n" + ih), "bad Port");
    refused(announce_with("Port: 65536\r\n" + ih), "bad Port");
    refused(announce_with("Port: 6881x\r\n" + ih), "bad Port");
    refused(announce_with("Port: 1\r\nPort: 2\r\n" + ih), "two different Port");
    refused(announce_with("Port: 1"), "no Infohash header");
    refused(announce_with("Port: 1\r\nInfohash: 12"), "no usable Infohash (1 skipped)");
    refused(announce_with("Port: 1\r\nno colon here\r\n" + ih), "line 3 has no ':'");
    refused(announce_with("Port: 1\r\n" + ih + "cookie: a\rb"), "bare CR");
    refused("BT-SEARCH * HTTP/1.1\r\r\nPort: 1\r\n" + ih, "bare CR in the request line");
    refused(announce_with("Port: 1\r\n" + ih + "cookie: " + std::string(lsd::kMaxCookie + 1, 'c')), "cookie longer");
    refused(announce_with("Port: 1\r\n" + ih + "cookie: a\r\ncookie: b"), "two different cookie");
    // 33 Infohash headers, one good: the bound counts headers, not hashes (a 1500-byte datagram of whole lines could
    // not hold 33).
    std::string many = "Port: 1\r\n" + ih;
    for (std::size_t i = 0; i < lsd::kMaxHashes; ++i) many += "Infohash: 1\r\n";
    refused(announce_with(many), "more than 32 Infohash");
}

TEST_CASE("lsd: every prefix of a real announce decodes or is refused cleanly") {
    for (const std::string& full : {kLibtorrent, kTransmission3, kTransmission4}) {
        for (std::size_t n = 0; n <= full.size(); ++n) {
            auto r = lsd::decode(std::string_view(full).substr(0, n));
            if (!r) {
                CHECK(r.error().code == Errc::bad_input);
                continue;
            }
            // A prefix that decodes already holds the Port and at least one whole hash.
            CHECK(r->port != 0);
            CHECK_FALSE(r->info_hashes.empty());
        }
    }
}

TEST_CASE("lsd: encode refuses what would not read back the same") {
    auto refuses = [](Result<std::string> r, std::string_view why) {
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().op == "lsd.encode");
        CHECK(r.error().code == Errc::bad_input);
        CHECK_MESSAGE(r.error().what.find(why) != std::string::npos, r.error().what);
    };
    refuses(lsd::encode(lsd::Family::v4, 0, {kHashA}, ""), "port 0");
    refuses(lsd::encode(lsd::Family::v4, 1, {}, ""), "no info hash");
    refuses(lsd::encode(lsd::Family::v4, 1, std::vector<udp::Hash20>(lsd::kMaxHashesPerAnnounce + 1, kHashA), ""),
            "more than 24");
    refuses(lsd::encode(lsd::Family::v4, 1, {kHashA}, std::string(lsd::kMaxCookie + 1, 'c')), "cookie longer");
    refuses(lsd::encode(lsd::Family::v4, 1, {kHashA}, "a\nb"), "CR or LF");
    refuses(lsd::encode(lsd::Family::v4, 1, {kHashA}, " a"), "space or tab");
}

// ---------------------------------------------------------------- the schedule

TEST_CASE("lsd schedule: a token bucket") {
    TokenBucket b(2, 1000);
    CHECK(b.take(5000));
    CHECK(b.take(5000));
    CHECK_FALSE(b.take(5000));
    CHECK(b.wait_ms(5000) == 1000);
    CHECK(b.wait_ms(5400) == 600);
    CHECK(b.take(6000));
    CHECK_FALSE(b.take(6000));
    CHECK(b.take(60'000)); // full again, not more than full
    CHECK(b.take(60'000));
    CHECK_FALSE(b.take(60'000));
}

TEST_CASE("lsd schedule: announced soon, then every 5 minutes, one hash per message up to 5 torrents") {
    LsdSchedule s;
    const std::uint64_t t0 = 1'000'000;
    CHECK_FALSE(s.next_wake(t0).has_value());
    for (std::uint8_t i = 1; i <= 3; ++i) CHECK(s.add(hash_n(i), t0));
    CHECK(s.next_wake(t0) == t0 + kFirstAnnounceDelayMs);
    CHECK(s.take_due(t0).empty());
    auto msgs = s.take_due(t0 + kFirstAnnounceDelayMs);
    REQUIRE(msgs.size() == 3); // the burst covers them: each alone (Transmission 3 reads only the first hash)
    for (const auto& m : msgs) CHECK(m.size() == 1);
    CHECK(s.take_due(t0 + 60'000).empty());
    CHECK(s.next_wake(t0 + 60'000) == t0 + kFirstAnnounceDelayMs + kAnnounceIntervalMs);
    CHECK(s.take_due(t0 + kFirstAnnounceDelayMs + kAnnounceIntervalMs).size() == 3);
}

TEST_CASE("lsd schedule: many torrents share messages; the overall rate is one message a minute") {
    LsdSchedule s;
    const std::uint64_t t0 = 1'000'000;
    for (std::uint8_t i = 1; i <= 60; ++i) CHECK(s.add(hash_n(i), t0));
    auto msgs = s.take_due(t0 + kFirstAnnounceDelayMs);
    REQUIRE(msgs.size() == 3); // 24 + 24 + 12: three tokens of the burst
    CHECK(msgs[0].size() == lsd::kMaxHashesPerAnnounce);
    CHECK(msgs[2].size() == 12);
    // Five messages at once at most, then one a minute: 60 more torrents wait for tokens.
    for (std::uint8_t i = 61; i <= 120; ++i) CHECK(s.add(hash_n(i), t0 + 1000));
    auto more = s.take_due(t0 + 1000 + kFirstAnnounceDelayMs);
    REQUIRE(more.size() == 2); // the burst's last two tokens
    CHECK(s.take_due(t0 + 2000).empty());
    const auto wake = s.next_wake(t0 + 2000);
    REQUIRE(wake.has_value());
    CHECK(*wake >= t0 + 60'000); // the next token
    CHECK(s.take_due(*wake).size() == 1);
}

TEST_CASE("lsd schedule: one torrent at most once a minute, even removed and added again; bounded") {
    LsdSchedule::Limits lim;
    lim.max_torrents = 2;
    LsdSchedule s(lim);
    const std::uint64_t t0 = 1'000'000;
    CHECK(s.add(kHashA, t0));
    CHECK(s.take_due(t0 + kFirstAnnounceDelayMs).size() == 1);
    s.remove(kHashA, t0 + 10'000);
    CHECK_FALSE(s.has(kHashA));
    CHECK(s.add(kHashA, t0 + 10'000));
    CHECK(s.take_due(t0 + 30'000).empty());
    CHECK(s.next_wake(t0 + 30'000) == t0 + kFirstAnnounceDelayMs + kMinTorrentGapMs);
    CHECK(s.take_due(t0 + kFirstAnnounceDelayMs + kMinTorrentGapMs).size() == 1);
    CHECK(s.add(kHashB, t0));
    CHECK_FALSE(s.add(hash_n(9), t0)); // the bound
    CHECK(s.size() == 2);
}

// ---------------------------------------------------------------- the service, on loopback

namespace {

std::uint16_t free_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

void send_to(std::uint16_t port, const std::string& datagram) {
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_storage to = test::loopback(port);
    ::sendto(fd, datagram.data(), datagram.size(), 0, test::sa(to), sizeof(sockaddr_in));
    ::close(fd);
}

} // namespace

TEST_CASE("lsd service: its own announce comes back and is dropped; a foreign one names a peer") {
    Loop loop;
    const std::uint16_t port = free_udp_port();
    LsdService::Config c;
    c.listen_port = 40000;
    c.port = port;
    c.unicast_v4 = "127.0.0.1"; // to ourselves, not to the LAN
    c.ipv6 = false;
    std::vector<std::pair<udp::Hash20, sockaddr_storage>> got;
    LsdService svc(loop.get(), c, [&](const udp::Hash20& h, const sockaddr_storage& p) { got.emplace_back(h, p); });
    REQUIRE(svc.start().ok());
    CHECK(svc.cookie().size() == 8);
    svc.add(kHashA);
    REQUIRE(test::run_until(
        loop, [&] { return svc.stats().received >= 1; }, 5000));
    CHECK(svc.stats().sent == 1);
    CHECK(svc.stats().refused == 0);
    CHECK(got.empty()); // our cookie

    // Another client on this host announces the same torrent, and one we do not have.
    send_to(port, lsd::encode(lsd::Family::v4, 51413, {kHashB, kHashA}, "other").value());
    REQUIRE(test::run_until(
        loop, [&] { return !got.empty(); }, 5000));
    REQUIRE(got.size() == 1);
    CHECK(got[0].first == kHashA);
    CHECK(format_sockaddr(test::sa(got[0].second)) == "127.0.0.1:51413");
    CHECK(svc.stats().peers == 1);

    // Junk is refused and counted.
    send_to(port, "NOTIFY * HTTP/1.1\r\n\r\n");
    REQUIRE(test::run_until(
        loop, [&] { return svc.stats().refused == 1; }, 5000));

    // After remove(), its peers are not reported.
    svc.remove(kHashA);
    const auto before = svc.stats().received;
    send_to(port, lsd::encode(lsd::Family::v4, 51413, {kHashA}, "other").value());
    REQUIRE(test::run_until(
        loop, [&] { return svc.stats().received > before; }, 5000));
    CHECK(got.size() == 1);
}

TEST_CASE("lsd service: a flood is dropped beyond the rate") {
    Loop loop;
    const std::uint16_t port = free_udp_port();
    LsdService::Config c;
    c.listen_port = 40000;
    c.port = port;
    c.unicast_v4 = "127.0.0.1";
    c.ipv6 = false;
    std::size_t peers = 0;
    LsdService svc(loop.get(), c, [&](const udp::Hash20&, const sockaddr_storage&) { ++peers; });
    REQUIRE(svc.start().ok());
    svc.add(kHashA);
    const std::string d = lsd::encode(lsd::Family::v4, 51413, {kHashA}, "other").value();
    const std::uint64_t n = kIncomingBurst + 30;
    for (std::uint64_t i = 0; i < n; ++i) send_to(port, d);
    REQUIRE(test::run_until(
        loop, [&] { return svc.stats().received >= n; }, 5000));
    CHECK(svc.stats().refused >= 10); // the burst got through, and what refilled while they were read (slow builds)
    CHECK(svc.stats().refused <= 31); // 30, or 31 had our own announce come first and taken a token
    CHECK(peers == svc.stats().peers);
    CHECK(peers + svc.stats().refused >= n); // our own announce may be among the received
}

TEST_CASE("lsd service: the port cannot be had without REUSEADDR on the other side") {
    // A socket bound without SO_REUSEADDR keeps the port: start() says so instead of running without LSD silently.
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    Loop loop;
    LsdService::Config c;
    c.listen_port = 40000;
    c.port = ntohs(a.sin_port);
    c.unicast_v4 = "127.0.0.1";
    c.ipv6 = false;
    LsdService svc(loop.get(), c, [](const udp::Hash20&, const sockaddr_storage&) {});
    auto st = svc.start();
    ::close(fd);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == Errc::io);
    CHECK(st.error().str().find("bind") != std::string::npos);
}
