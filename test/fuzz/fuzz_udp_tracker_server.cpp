// Fuzz target: the tracker's side of BEP 15 + catalog. Every request decoder runs on each packet (round trips in
// udp_check.hpp), and the packets go through TrackerServer::handle(), the whole protocol without sockets.
//
// Input: a sequence of [ctl][len hi][len lo][len bytes]. ctl bit0: source is IPv6, bit1: second source address,
// bit2: overwrite the packet's first 8 bytes with a valid connection id for that source (the fuzzer cannot
// forge the MAC), bits 3-7: seconds the wall clock advances first.
// Invariants on every reply: at most kMaxReplySize, same transaction id, action = request's or error, decodes
// with the client decoders, error replies no bigger than the request (anti-amplification), IPv4/IPv6 peers
// only to the matching family.
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <memory>

#include "loop/loop.hpp"
#include "tracker/server.hpp"
#include "udp_check.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {

sockaddr_storage addr(bool v6, bool second) {
    sockaddr_storage ss{};
    if (v6)
        uv_ip6_addr(second ? "2001:db8::2" : "2001:db8::1", second ? 51414 : 6881,
                    reinterpret_cast<sockaddr_in6*>(&ss));
    else
        uv_ip4_addr(second ? "198.51.100.2" : "198.51.100.1", second ? 51414 : 6881,
                    reinterpret_cast<sockaddr_in*>(&ss));
    return ss;
}

void check_reply(std::string_view pkt, std::string_view reply, bool v6) {
    FUZZ_CHECK(reply.size() >= kReplyHeaderSize && reply.size() <= kMaxReplySize);
    std::uint32_t req_action = read_be32(pkt, 8), action = read_be32(reply, 0);
    FUZZ_CHECK(read_be32(reply, 4) == read_be32(pkt, 12));
    FUZZ_CHECK(action == req_action || action == kActionError);
    switch (action) {
    case kActionConnect: FUZZ_CHECK(decode_connect_response(reply).ok() && reply.size() <= pkt.size()); break;
    case kActionAnnounce: {
        auto a = decode_announce_response(reply, v6);
        FUZZ_CHECK(a.ok());
        std::size_t peer = v6 ? kPeerSizeV6 : kPeerSizeV4;
        FUZZ_CHECK(reply.size() == kAnnounceResponseHeaderSize + a->peers.size() * peer);
        break;
    }
    case kActionScrape: {
        auto s = decode_scrape_response(reply);
        FUZZ_CHECK(s.ok());
        FUZZ_CHECK(s->entries.size() == (pkt.size() - kHeaderSize) / 20);
        break;
    }
    case kActionError: FUZZ_CHECK(decode_error(reply).ok() && reply.size() <= pkt.size()); break;
    case kActionPublish: FUZZ_CHECK(decode_publish_ack(reply).ok()); break;
    case kActionList: FUZZ_CHECK(decode_list_response(reply).ok()); break;
    case kActionLookup: FUZZ_CHECK(decode_lookup_response(reply).ok()); break;
    default: FUZZ_CHECK(!"unexpected reply action");
    }
}

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Loop loop; // never run: handle() needs no I/O
    std::uint32_t wall = 1'700'000'000;
    ServerConfig cfg;
    cfg.max_catalog = 8; // small, so "catalog full" and paging are reachable
    cfg.limits = SwarmLimits{};
    TrackerServer server(
        loop.get(), cfg, [&wall] { return wall; }, [] { return std::uint64_t{1000}; });

    // A connection id for each source (index: v6 * 2 + second).
    std::uint64_t ids[4];
    std::string reply;
    for (int i = 0; i < 4; ++i) {
        auto from = addr(i & 2, i & 1);
        FUZZ_CHECK(server.handle(encode_connect_request(7), reinterpret_cast<const sockaddr*>(&from), reply));
        auto r = decode_connect_response(reply);
        FUZZ_CHECK(r.ok());
        ids[i] = r->connection_id;
    }

    fuzz::Bytes b{fuzz::as_view(data, size)};
    while (!b.in.empty()) {
        std::uint8_t ctl = b.u8();
        std::size_t len = b.u16() % 2048;
        std::string pkt(b.take(len));
        bool v6 = ctl & 1, second = ctl & 2;
        if ((ctl & 4) && pkt.size() >= 8) {
            std::string id;
            put_be64(id, ids[(v6 ? 2 : 0) + (second ? 1 : 0)]);
            pkt.replace(0, 8, id);
        }
        wall += ctl >> 3;
        fuzz::check_requests(pkt);
        auto from = addr(v6, second);
        if (server.handle(pkt, reinterpret_cast<const sockaddr*>(&from), reply)) check_reply(pkt, reply, v6);
        FUZZ_CHECK(server.catalog().size() <= 8);
    }
    return 0;
}
