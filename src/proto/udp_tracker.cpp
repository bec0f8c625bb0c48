#include "proto/udp_tracker.hpp"

#include "base/bytes.hpp"
#include "base/utf8.hpp"

namespace p2p::udp {
namespace {

Error truncated(std::string_view what, std::size_t need, std::size_t got) {
    return make_error("udp_tracker.decode",
                      "truncated " + std::string(what) + ": need " + std::to_string(need) + " bytes, got " +
                          std::to_string(got),
                      Errc::bad_input);
}
Error bad(std::string what, Errc code = Errc::bad_input) {
    return make_error("udp_tracker.decode", std::move(what), code);
}

void put_header(std::string& out, std::uint64_t conn, std::uint32_t action, std::uint32_t tid) {
    put_be64(out, conn);
    put_be32(out, action);
    put_be32(out, tid);
}

// Checks the reply header's action; returns an empty optional-like Status.
Status check_reply(std::string_view in, std::uint32_t action, std::size_t min, std::string_view what) {
    if (in.size() < min) return truncated(what, min, in.size());
    std::uint32_t a = read_be32(in, 0);
    if (a != action) return bad("bad action " + std::to_string(a) + " in " + std::string(what));
    return ok_status();
}

Status check_request(std::string_view in, std::uint32_t action, std::size_t min, std::string_view what) {
    if (in.size() < min) return truncated(what, min, in.size());
    std::uint32_t a = read_be32(in, 8);
    if (a != action) return bad("bad action " + std::to_string(a) + " in " + std::string(what));
    return ok_status();
}

void put_name(std::string& out, std::string_view name) {
    put_be16(out, static_cast<std::uint16_t>(name.size()));
    out.append(name);
}

// Reads a u16-length-prefixed name at `at` that must end exactly at the end of `in`.
Result<std::string> read_name_to_end(std::string_view in, std::size_t at) {
    std::size_t len = read_be16(in, at);
    std::size_t have = in.size() - at - 2;
    if (have < len) return truncated("name", len, have);
    if (have > len)
        return bad("bad length: name length " + std::to_string(len) + " but " + std::to_string(have) + " bytes follow");
    std::string name(in.substr(at + 2, len));
    if (!valid_name(name)) return bad("bad name", Errc::bad_name);
    return name;
}

// Decodes one catalog entry at `at`; advances `at`.
Result<CatalogEntry> read_entry(std::string_view in, std::size_t& at) {
    if (in.size() - at < kCatalogEntryFixedSize)
        return truncated("catalog entry", kCatalogEntryFixedSize, in.size() - at);
    CatalogEntry e;
    e.info_hash = Hash20::from(in.substr(at, 20));
    e.total_size = read_be64(in, at + 20);
    e.seeders = read_be32(in, at + 28);
    e.leechers = read_be32(in, at + 32);
    e.completed = read_be32(in, at + 36);
    std::size_t len = read_be16(in, at + 40);
    at += kCatalogEntryFixedSize;
    if (in.size() - at < len) return truncated("catalog entry name", len, in.size() - at);
    e.name.assign(in.substr(at, len));
    at += len;
    if (!valid_name(e.name)) return bad("bad name in catalog entry", Errc::bad_name);
    return e;
}

} // namespace

Result<Header> decode_header(std::string_view in) {
    if (in.size() < kHeaderSize) return truncated("header", kHeaderSize, in.size());
    return Header{read_be64(in, 0), read_be32(in, 8), read_be32(in, 12)};
}

Result<Header> decode_reply_header(std::string_view in) {
    if (in.size() < kReplyHeaderSize) return truncated("reply header", kReplyHeaderSize, in.size());
    return Header{0, read_be32(in, 0), read_be32(in, 4)};
}

// --- connect ---
std::string encode_connect_request(std::uint32_t tid) {
    std::string out;
    put_header(out, kProtocolId, kActionConnect, tid);
    return out;
}

Result<std::uint32_t> decode_connect_request(std::string_view in) {
    if (auto s = check_request(in, kActionConnect, kConnectRequestSize, "connect request"); !s) return s.error();
    if (read_be64(in, 0) != kProtocolId) return bad("bad protocol id");
    return read_be32(in, 12);
}

void append_connect_response(std::string& out, std::uint32_t tid, std::uint64_t conn) {
    put_be32(out, kActionConnect);
    put_be32(out, tid);
    put_be64(out, conn);
}

Result<ConnectResponse> decode_connect_response(std::string_view in) {
    if (auto s = check_reply(in, kActionConnect, kConnectResponseSize, "connect response"); !s) return s.error();
    return ConnectResponse{read_be32(in, 4), read_be64(in, 8)};
}

// --- announce ---
std::string encode_announce_request(const AnnounceRequest& r) {
    std::string out;
    out.reserve(kAnnounceRequestSize);
    put_header(out, r.connection_id, kActionAnnounce, r.transaction_id);
    out.append(r.info_hash.view());
    out.append(r.peer_id.view());
    put_be64(out, r.downloaded);
    put_be64(out, r.left);
    put_be64(out, r.uploaded);
    put_be32(out, r.event);
    put_be32(out, r.ip);
    put_be32(out, r.key);
    put_be32(out, static_cast<std::uint32_t>(r.num_want));
    put_be16(out, r.port);
    return out;
}

Result<AnnounceRequest> decode_announce_request(std::string_view in) {
    if (auto s = check_request(in, kActionAnnounce, kAnnounceRequestSize, "announce request"); !s) return s.error();
    AnnounceRequest r;
    r.connection_id = read_be64(in, 0);
    r.transaction_id = read_be32(in, 12);
    r.info_hash = Hash20::from(in.substr(16, 20));
    r.peer_id = Hash20::from(in.substr(36, 20));
    r.downloaded = read_be64(in, 56);
    r.left = read_be64(in, 64);
    r.uploaded = read_be64(in, 72);
    r.event = read_be32(in, 80);
    r.ip = read_be32(in, 84);
    r.key = read_be32(in, 88);
    r.num_want = static_cast<std::int32_t>(read_be32(in, 92));
    r.port = read_be16(in, 96);
    if (r.event > kEventStopped) return bad("bad event " + std::to_string(r.event));
    return r;
}

void append_announce_response_header(std::string& out, std::uint32_t tid, std::uint32_t interval,
                                     std::uint32_t leechers, std::uint32_t seeders) {
    put_be32(out, kActionAnnounce);
    put_be32(out, tid);
    put_be32(out, interval);
    put_be32(out, leechers);
    put_be32(out, seeders);
}

void append_compact_peer(std::string& out, const CompactPeer& p) {
    out.append(reinterpret_cast<const char*>(p.ip.data()), p.v6 ? 16 : 4);
    put_be16(out, p.port);
}

std::string encode_announce_response(const AnnounceResponse& r, bool v6) {
    std::string out;
    append_announce_response_header(out, r.transaction_id, r.interval, r.leechers, r.seeders);
    for (CompactPeer p : r.peers) {
        p.v6 = v6;
        append_compact_peer(out, p);
    }
    return out;
}

Result<AnnounceResponse> decode_announce_response(std::string_view in, bool v6) {
    if (auto s = check_reply(in, kActionAnnounce, kAnnounceResponseHeaderSize, "announce response"); !s)
        return s.error();
    std::size_t psize = v6 ? kPeerSizeV6 : kPeerSizeV4;
    std::size_t body = in.size() - kAnnounceResponseHeaderSize;
    if (body % psize)
        return bad("bad length: " + std::to_string(body) + " peer bytes is not a multiple of " + std::to_string(psize));
    AnnounceResponse r;
    r.transaction_id = read_be32(in, 4);
    r.interval = read_be32(in, 8);
    r.leechers = read_be32(in, 12);
    r.seeders = read_be32(in, 16);
    r.peers.reserve(body / psize);
    for (std::size_t at = kAnnounceResponseHeaderSize; at < in.size(); at += psize) {
        CompactPeer p;
        p.v6 = v6;
        std::memcpy(p.ip.data(), in.data() + at, psize - 2);
        p.port = read_be16(in, at + psize - 2);
        r.peers.push_back(p);
    }
    return r;
}

// --- scrape ---
std::string encode_scrape_request(std::uint64_t conn, std::uint32_t tid, const std::vector<Hash20>& hashes) {
    std::string out;
    put_header(out, conn, kActionScrape, tid);
    for (const auto& h : hashes) out.append(h.view());
    return out;
}

Result<ScrapeRequest> decode_scrape_request(std::string_view in) {
    if (auto s = check_request(in, kActionScrape, kHeaderSize + 20, "scrape request"); !s) return s.error();
    std::size_t body = in.size() - kHeaderSize;
    if (body % 20) return bad("bad length: scrape body of " + std::to_string(body) + " bytes");
    if (body / 20 > kMaxScrapeHashes) return bad("bad length: more than 74 info hashes");
    ScrapeRequest r;
    r.connection_id = read_be64(in, 0);
    r.transaction_id = read_be32(in, 12);
    r.hashes = in.substr(kHeaderSize);
    return r;
}

void append_scrape_response_header(std::string& out, std::uint32_t tid) {
    put_be32(out, kActionScrape);
    put_be32(out, tid);
}

void append_scrape_entry(std::string& out, const ScrapeEntry& e) {
    put_be32(out, e.seeders);
    put_be32(out, e.completed);
    put_be32(out, e.leechers);
}

std::string encode_scrape_response(const ScrapeResponse& r) {
    std::string out;
    append_scrape_response_header(out, r.transaction_id);
    for (const auto& e : r.entries) append_scrape_entry(out, e);
    return out;
}

Result<ScrapeResponse> decode_scrape_response(std::string_view in) {
    if (auto s = check_reply(in, kActionScrape, kReplyHeaderSize, "scrape response"); !s) return s.error();
    std::size_t body = in.size() - kReplyHeaderSize;
    if (body % kScrapeEntrySize) return bad("bad length: scrape response body of " + std::to_string(body) + " bytes");
    ScrapeResponse r;
    r.transaction_id = read_be32(in, 4);
    for (std::size_t at = kReplyHeaderSize; at < in.size(); at += kScrapeEntrySize)
        r.entries.push_back({read_be32(in, at), read_be32(in, at + 4), read_be32(in, at + 8)});
    return r;
}

// --- error ---
std::string encode_error(std::uint32_t tid, std::string_view message, std::size_t max_size) {
    std::string out;
    put_be32(out, kActionError);
    put_be32(out, tid);
    std::size_t room = max_size > kReplyHeaderSize ? max_size - kReplyHeaderSize : 0;
    out.append(message.substr(0, room));
    return out;
}

Result<ErrorResponse> decode_error(std::string_view in) {
    if (auto s = check_reply(in, kActionError, kReplyHeaderSize, "error response"); !s) return s.error();
    return ErrorResponse{read_be32(in, 4), std::string(in.substr(kReplyHeaderSize))};
}

// --- catalog extension ---
bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > kMaxNameSize || !valid_utf8(s)) return false;
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f || c == '/') return false;
    return true;
}

std::string encode_publish_request(const PublishRequest& r) {
    std::string out;
    put_header(out, r.connection_id, kActionPublish, r.transaction_id);
    out.append(r.info_hash.view());
    put_be64(out, r.total_size);
    put_name(out, r.name);
    return out;
}

Result<PublishRequest> decode_publish_request(std::string_view in) {
    if (auto s = check_request(in, kActionPublish, kPublishFixedSize, "publish request"); !s) return s.error();
    PublishRequest r;
    r.connection_id = read_be64(in, 0);
    r.transaction_id = read_be32(in, 12);
    r.info_hash = Hash20::from(in.substr(16, 20));
    r.total_size = read_be64(in, 36);
    auto name = read_name_to_end(in, 44);
    if (!name) return name.error();
    r.name = std::move(name.value());
    return r;
}

void append_publish_ack(std::string& out, std::uint32_t tid) {
    put_be32(out, kActionPublish);
    put_be32(out, tid);
}

Result<std::uint32_t> decode_publish_ack(std::string_view in) {
    if (auto s = check_reply(in, kActionPublish, kReplyHeaderSize, "publish ack"); !s) return s.error();
    if (in.size() != kReplyHeaderSize) return bad("bad length: publish ack of " + std::to_string(in.size()) + " bytes");
    return read_be32(in, 4);
}

std::string encode_list_request(const ListRequest& r) {
    std::string out;
    put_header(out, r.connection_id, kActionList, r.transaction_id);
    put_be32(out, r.start);
    return out;
}

Result<ListRequest> decode_list_request(std::string_view in) {
    if (auto s = check_request(in, kActionList, kListRequestSize, "list request"); !s) return s.error();
    if (in.size() != kListRequestSize)
        return bad("bad length: list request of " + std::to_string(in.size()) + " bytes");
    return ListRequest{read_be64(in, 0), read_be32(in, 12), read_be32(in, 16)};
}

void append_list_response_header(std::string& out, std::uint32_t tid, std::uint32_t total, std::uint32_t next,
                                 std::uint16_t count) {
    put_be32(out, kActionList);
    put_be32(out, tid);
    put_be32(out, total);
    put_be32(out, next);
    put_be16(out, count);
}

std::size_t catalog_entry_size(std::size_t name_size) { return kCatalogEntryFixedSize + name_size; }

void append_catalog_entry(std::string& out, const CatalogEntry& e) {
    out.append(e.info_hash.view());
    put_be64(out, e.total_size);
    put_be32(out, e.seeders);
    put_be32(out, e.leechers);
    put_be32(out, e.completed);
    put_name(out, e.name);
}

std::string encode_list_response(const ListResponse& r) {
    std::string out;
    append_list_response_header(out, r.transaction_id, r.total, r.next, static_cast<std::uint16_t>(r.entries.size()));
    for (const auto& e : r.entries) append_catalog_entry(out, e);
    return out;
}

Result<ListResponse> decode_list_response(std::string_view in) {
    if (auto s = check_reply(in, kActionList, kListResponseHeaderSize, "list response"); !s) return s.error();
    ListResponse r;
    r.transaction_id = read_be32(in, 4);
    r.total = read_be32(in, 8);
    r.next = read_be32(in, 12);
    std::size_t count = read_be16(in, 16);
    std::size_t at = kListResponseHeaderSize;
    for (std::size_t i = 0; i < count; ++i) {
        auto e = read_entry(in, at);
        if (!e) return e.error();
        r.entries.push_back(std::move(e.value()));
    }
    if (at != in.size()) return bad("bad length: " + std::to_string(in.size() - at) + " bytes after the entries");
    return r;
}

std::string encode_lookup_request(const LookupRequest& r) {
    std::string out;
    put_header(out, r.connection_id, kActionLookup, r.transaction_id);
    put_name(out, r.name);
    return out;
}

Result<LookupRequest> decode_lookup_request(std::string_view in) {
    if (auto s = check_request(in, kActionLookup, kLookupFixedSize, "lookup request"); !s) return s.error();
    LookupRequest r;
    r.connection_id = read_be64(in, 0);
    r.transaction_id = read_be32(in, 12);
    auto name = read_name_to_end(in, kHeaderSize);
    if (!name) return name.error();
    r.name = std::move(name.value());
    return r;
}

std::string encode_lookup_response(const LookupResponse& r) {
    std::string out;
    put_be32(out, kActionLookup);
    put_be32(out, r.transaction_id);
    put_be16(out, r.found ? 1 : 0);
    if (r.found) append_catalog_entry(out, r.entry);
    return out;
}

Result<LookupResponse> decode_lookup_response(std::string_view in) {
    if (auto s = check_reply(in, kActionLookup, kLookupResponseHeaderSize, "lookup response"); !s) return s.error();
    LookupResponse r;
    r.transaction_id = read_be32(in, 4);
    std::size_t count = read_be16(in, 8);
    if (count > 1) return bad("bad length: lookup response with " + std::to_string(count) + " entries");
    std::size_t at = kLookupResponseHeaderSize;
    if (count == 1) {
        auto e = read_entry(in, at);
        if (!e) return e.error();
        r.found = true;
        r.entry = std::move(e.value());
    }
    if (at != in.size()) return bad("bad length: " + std::to_string(in.size() - at) + " bytes after the entry");
    return r;
}

} // namespace p2p::udp
