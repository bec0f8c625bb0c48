// Fuzz target: http_tracker::decode_announce_response and decode_scrape_response (the bodies an HTTP tracker
// sends back), plus parse_url on the same bytes. A decoded scrape answer has at most kMaxScrapeFiles entries in
// strictly increasing hash order and re-encodes to the same values. Invariants: the peer cap holds, no port-0 peer gets through, and a decoded answer re-encoded
// in compact form (BEP 23 / BEP 7) decodes to the same values; a parsed URL re-parses from its parts unchanged.
#include "base/bytes.hpp"
#include "fuzz_common.hpp"
#include "proto/bencode.hpp"
#include "proto/http_tracker.hpp"

namespace ht = p2p::http_tracker;

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = fuzz::as_view(data, size);

    if (auto u = ht::parse_url(in); u.ok()) {
        std::string again = u->origin() + u->path + (u->query.empty() ? "" : "?" + u->query);
        auto v = ht::parse_url(again);
        FUZZ_CHECK(v.ok());
        FUZZ_CHECK(v->host == u->host && v->port == u->port && v->path == u->path && v->query == u->query);
    }

    if (auto sc = ht::decode_scrape_response(in); sc.ok()) {
        FUZZ_CHECK(sc->files.size() <= ht::kMaxScrapeFiles);
        p2p::bencode::Dict files;
        for (std::size_t i = 0; i < sc->files.size(); ++i) {
            const auto& f = sc->files[i];
            if (i) FUZZ_CHECK(sc->files[i - 1].info_hash < f.info_hash);
            p2p::bencode::Dict e;
            e["complete"] = static_cast<std::int64_t>(f.complete);
            e["downloaded"] = static_cast<std::int64_t>(f.downloaded);
            e["incomplete"] = static_cast<std::int64_t>(f.incomplete);
            if (f.name) e["name"] = *f.name;
            files[f.info_hash.str()] = p2p::bencode::Value(std::move(e));
        }
        p2p::bencode::Dict top;
        top["files"] = p2p::bencode::Value(std::move(files));
        auto again = ht::decode_scrape_response(p2p::bencode::encode(p2p::bencode::Value(std::move(top))));
        FUZZ_CHECK(again.ok() && again->dropped == 0 && again->files.size() == sc->files.size());
        for (std::size_t i = 0; i < sc->files.size(); ++i) {
            const auto &x = sc->files[i], &y = again->files[i];
            FUZZ_CHECK(x.info_hash == y.info_hash && x.complete == y.complete && x.downloaded == y.downloaded &&
                       x.incomplete == y.incomplete && x.name == y.name);
        }
    }

    auto r = ht::decode_announce_response(in);
    if (!r.ok()) return 0;
    FUZZ_CHECK(r->peers.size() <= ht::kMaxPeers);
    std::string v4, v6;
    for (const auto& p : r->peers) {
        FUZZ_CHECK(p.port != 0);
        std::string& out = p.v6 ? v6 : v4;
        out.append(reinterpret_cast<const char*>(p.ip.data()), p.v6 ? 16 : 4);
        p2p::put_be16(out, p.port);
    }
    p2p::bencode::Dict d;
    d["interval"] = static_cast<std::int64_t>(r->interval);
    d["complete"] = static_cast<std::int64_t>(r->complete);
    d["incomplete"] = static_cast<std::int64_t>(r->incomplete);
    if (r->min_interval) d["min interval"] = static_cast<std::int64_t>(*r->min_interval);
    if (r->warning) d["warning message"] = *r->warning;
    d["peers"] = v4;
    d["peers6"] = v6;
    auto again = ht::decode_announce_response(p2p::bencode::encode(p2p::bencode::Value(std::move(d))));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->interval == r->interval && again->complete == r->complete && again->incomplete == r->incomplete);
    FUZZ_CHECK(again->min_interval == r->min_interval && again->warning == r->warning);
    FUZZ_CHECK(again->dropped == 0 && again->peers.size() == r->peers.size());
    // Re-encoding groups IPv4 before IPv6; compare per family, in order.
    std::size_t i = 0;
    for (bool six : {false, true})
        for (const auto& p : r->peers)
            if (p.v6 == six) {
                const auto& q = again->peers[i++];
                FUZZ_CHECK(q.v6 == p.v6 && q.port == p.port && q.ip == p.ip);
            }
    return 0;
}
