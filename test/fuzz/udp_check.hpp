// Round-trip checks of the BEP 15 / catalog codecs, shared by the udp_tracker_* and catalog fuzz targets.
// Each decoder that accepts a packet must describe it completely: encoding the decoded value gives back the
// packet's bytes (the whole packet, or its fixed part where trailing bytes are ignored by design).
#pragma once
#include "base/bytes.hpp"
#include "fuzz_common.hpp"
#include "proto/udp_tracker.hpp"

namespace fuzz {

inline bool prefix_of(std::string_view enc, std::string_view pkt) {
    return enc.size() <= pkt.size() && pkt.substr(0, enc.size()) == enc;
}

// Client -> tracker packets (what the server decodes).
inline void check_requests(std::string_view pkt) {
    using namespace p2p;
    using namespace p2p::udp;
    if (auto h = decode_header(pkt)) {
        FUZZ_CHECK(pkt.size() >= kHeaderSize);
        FUZZ_CHECK(h->connection_id == read_be64(pkt, 0) && h->action == read_be32(pkt, 8) &&
                   h->transaction_id == read_be32(pkt, 12));
    } else {
        FUZZ_CHECK(pkt.size() < kHeaderSize);
    }
    if (auto tid = decode_connect_request(pkt)) FUZZ_CHECK(prefix_of(encode_connect_request(*tid), pkt));
    if (auto a = decode_announce_request(pkt)) {
        FUZZ_CHECK(a->event <= kEventStopped);
        FUZZ_CHECK(encode_announce_request(*a) == pkt.substr(0, kAnnounceRequestSize));
    }
    if (auto s = decode_scrape_request(pkt)) {
        FUZZ_CHECK(s->count() >= 1 && s->count() <= kMaxScrapeHashes && s->hashes.size() == s->count() * 20);
        std::vector<Hash20> hashes;
        for (std::size_t i = 0; i < s->count(); ++i) hashes.push_back(s->at(i));
        FUZZ_CHECK(encode_scrape_request(s->connection_id, s->transaction_id, hashes) == pkt);
    }
    if (auto p = decode_publish_request(pkt)) {
        FUZZ_CHECK(valid_name(p->name));
        FUZZ_CHECK(encode_publish_request(*p) == pkt);
    }
    if (auto l = decode_list_request(pkt)) FUZZ_CHECK(prefix_of(encode_list_request(*l), pkt));
    if (auto l = decode_lookup_request(pkt)) {
        FUZZ_CHECK(valid_name(l->name));
        FUZZ_CHECK(encode_lookup_request(*l) == pkt);
    }
}

// Tracker -> client packets (what the client decodes). v6 chooses the compact peer size.
inline void check_responses(std::string_view pkt, bool v6) {
    using namespace p2p;
    using namespace p2p::udp;
    if (auto h = decode_reply_header(pkt))
        FUZZ_CHECK(h->action == read_be32(pkt, 0) && h->transaction_id == read_be32(pkt, 4));
    else
        FUZZ_CHECK(pkt.size() < kReplyHeaderSize);
    if (auto c = decode_connect_response(pkt)) {
        std::string enc;
        append_connect_response(enc, c->transaction_id, c->connection_id);
        FUZZ_CHECK(prefix_of(enc, pkt));
    }
    if (auto a = decode_announce_response(pkt, v6)) {
        for (const auto& p : a->peers) FUZZ_CHECK(p.v6 == v6);
        FUZZ_CHECK(prefix_of(encode_announce_response(*a, v6), pkt));
    }
    if (auto s = decode_scrape_response(pkt)) FUZZ_CHECK(prefix_of(encode_scrape_response(*s), pkt));
    if (auto e = decode_error(pkt)) {
        FUZZ_CHECK(e->message.size() <= pkt.size());
        FUZZ_CHECK(prefix_of(encode_error(e->transaction_id, e->message, pkt.size()), pkt));
    }
    if (auto tid = decode_publish_ack(pkt)) {
        std::string enc;
        append_publish_ack(enc, *tid);
        FUZZ_CHECK(prefix_of(enc, pkt));
    }
    if (auto l = decode_list_response(pkt)) FUZZ_CHECK(prefix_of(encode_list_response(*l), pkt));
    if (auto l = decode_lookup_response(pkt)) FUZZ_CHECK(prefix_of(encode_lookup_response(*l), pkt));
}

} // namespace fuzz
