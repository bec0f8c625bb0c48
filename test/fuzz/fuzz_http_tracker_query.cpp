// Fuzz target: the HTTP tracker's request codec (proto/http_tracker_query.*), the query of GET /announce and
// GET /scrape as a client sends it. Invariants: parse_query's pairs, percent-encoded again, parse back to the same
// pairs; a decoded announce, re-encoded the way our own client encodes one, decodes to the same values; a decoded
// scrape has 1..kMaxScrapeQuery hashes and round-trips; a bencoded answer built from them decodes with our client.
#include "fuzz_common.hpp"
#include "proto/http_tracker.hpp"
#include "proto/http_tracker_query.hpp"

namespace ht = p2p::http_tracker;

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in = fuzz::as_view(data, size);

    if (auto pairs = ht::parse_query(in); pairs.ok()) {
        FUZZ_CHECK(pairs->size() <= ht::kMaxParams);
        std::string again;
        for (const auto& [k, v] : *pairs) {
            if (!again.empty()) again += '&';
            again += ht::percent_encode(k) + "=" + ht::percent_encode(v);
        }
        auto back = ht::parse_query(again);
        FUZZ_CHECK(back.ok() && *back == *pairs);
    }

    if (auto a = ht::decode_announce_query(in); a.ok()) {
        FUZZ_CHECK(a->port != 0);
        std::string q = "info_hash=" + ht::percent_encode(a->info_hash.view()) +
                        "&peer_id=" + ht::percent_encode(a->peer_id.view()) + "&port=" + std::to_string(a->port) +
                        "&uploaded=" + std::to_string(a->uploaded) + "&downloaded=" + std::to_string(a->downloaded) +
                        "&numwant=" + std::to_string(a->numwant) + "&compact=" + (a->compact ? "1" : "0");
        if (a->left) q += "&left=" + std::to_string(*a->left);
        if (a->ip) q += "&ip=" + ht::percent_encode(*a->ip);
        static const char* kEvents[] = {"", "completed", "started", "stopped"};
        FUZZ_CHECK(a->event <= 3);
        q += std::string("&event=") + kEvents[a->event];
        auto b = ht::decode_announce_query(q);
        FUZZ_CHECK(b.ok());
        FUZZ_CHECK(b->info_hash == a->info_hash && b->peer_id == a->peer_id && b->port == a->port);
        FUZZ_CHECK(b->uploaded == a->uploaded && b->downloaded == a->downloaded && b->left == a->left);
        FUZZ_CHECK(b->event == a->event && b->numwant == a->numwant && b->compact == a->compact && b->ip == a->ip);
    }

    if (auto s = ht::decode_scrape_query(in); s.ok()) {
        FUZZ_CHECK(!s->empty() && s->size() <= ht::kMaxScrapeQuery);
        std::string q;
        std::vector<std::pair<p2p::udp::Hash20, p2p::udp::ScrapeEntry>> files;
        for (const auto& h : *s) {
            q += "&info_hash=" + ht::percent_encode(h.view());
            files.emplace_back(h, p2p::udp::ScrapeEntry{1, 2, 3});
        }
        auto b = ht::decode_scrape_query(q);
        FUZZ_CHECK(b.ok() && *b == *s);
        auto answer = ht::decode_scrape_response(ht::encode_scrape_reply(files));
        FUZZ_CHECK(answer.ok() && answer->dropped == 0 && answer->files.size() <= s->size());
        for (const auto& f : answer->files) FUZZ_CHECK(f.complete == 1 && f.downloaded == 2 && f.incomplete == 3);
    } else {
        // The failure reason a client would get back is a valid bencoded answer saying the same thing.
        auto fr = ht::decode_announce_response(ht::encode_failure(s.error().what));
        FUZZ_CHECK(!fr.ok() && fr.error().what == "failure reason: " + s.error().what);
    }
    return 0;
}
