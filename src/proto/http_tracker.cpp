#include "proto/http_tracker.hpp"

#include <arpa/inet.h> // inet_pton: a pure text -> bytes conversion, no I/O

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/bytes.hpp"
#include "proto/bencode.hpp"

namespace p2p::http_tracker {

namespace {

Error decode_error(std::string what) { return make_error("http_tracker.decode", std::move(what), Errc::bad_input); }

std::uint32_t clamp_u32(std::int64_t v) {
    if (v < 0) return 0;
    if (v > 0xffffffffLL) return 0xffffffffu;
    return static_cast<std::uint32_t>(v);
}

// Adds a peer unless it is over the cap or has port 0 (nobody listens there).
void add_peer(AnnounceResponse& out, const udp::CompactPeer& p) {
    if (p.port == 0 || out.peers.size() >= kMaxPeers) {
        ++out.dropped;
        return;
    }
    out.peers.push_back(p);
}

// A compact string of fixed-size entries: BEP 23 (6 bytes) or BEP 7 (18 bytes).
Status add_compact(AnnounceResponse& out, std::string_view s, bool v6, const char* key) {
    std::size_t size = v6 ? kPeerSizeV6 : kPeerSizeV4;
    if (s.size() % size != 0)
        return decode_error(std::string("bad length of \"") + key + "\": " + std::to_string(s.size()) +
                            " is not a multiple of " + std::to_string(size));
    std::size_t addr = size - 2;
    for (std::size_t at = 0; at < s.size(); at += size) {
        if (out.peers.size() >= kMaxPeers) { // the rest only counts as dropped; no need to parse it
            out.dropped += (s.size() - at) / size;
            break;
        }
        udp::CompactPeer p;
        p.v6 = v6;
        std::memcpy(p.ip.data(), s.data() + at, addr);
        p.port = read_be16(s, at + addr);
        add_peer(out, p);
    }
    return ok_status();
}

// BEP 3's original form: a list of dicts with "ip" (numeric address or DNS name) and "port".
void add_dict_list(AnnounceResponse& out, const bencode::List& list) {
    for (const auto& item : list) {
        if (out.peers.size() >= kMaxPeers) {
            ++out.dropped;
            continue;
        }
        const std::string* ip = item.find_string("ip");
        const std::int64_t* port = item.find_int("port");
        if (!ip || !port || *port <= 0 || *port > 65535 || ip->size() > 64) {
            ++out.dropped;
            continue;
        }
        udp::CompactPeer p;
        p.port = static_cast<std::uint16_t>(*port);
        std::string text = *ip; // NUL-terminated copy for inet_pton; an embedded NUL makes it fail, as it should
        if (text.find('\0') != std::string::npos) {
            ++out.dropped;
            continue;
        }
        if (inet_pton(AF_INET, text.c_str(), p.ip.data()) == 1)
            p.v6 = false;
        else if (inet_pton(AF_INET6, text.c_str(), p.ip.data()) == 1)
            p.v6 = true;
        else {
            ++out.dropped; // a host name: resolving is not a decoder's job, and trackers rarely send them
            continue;
        }
        add_peer(out, p);
    }
}

} // namespace

std::string Url::host_header() const {
    std::string h;
    if (v6_literal)
        h.append("[").append(host).append("]");
    else
        h = host;
    if (port != (tls ? kDefaultTlsPort : kDefaultPort)) h.append(":").append(std::to_string(port));
    return h;
}

std::string Url::origin() const { return (tls ? "https://" : "http://") + host_header(); }

Result<Url> parse_url(std::string_view url) {
    auto bad = [&](const char* why) {
        return make_error("http tracker url", std::string(why) + ": " + std::string(url), Errc::bad_input);
    };
    const bool tls = starts_with_nocase(url, "https://");
    if (!tls && !starts_with_nocase(url, "http://")) return bad("not an http:// or https:// URL");
    for (char c : url) {
        auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7f) return bad("space, control or non-ASCII byte in URL");
    }
    std::string_view rest = url.substr(tls ? 8 : 7);
    rest = rest.substr(0, rest.find('#')); // the fragment never goes to the server
    std::size_t auth_end = rest.find_first_of("/?");
    std::string_view auth = rest.substr(0, auth_end);
    std::string_view tail = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    if (auth.find('@') != std::string_view::npos) return bad("user info in tracker URL is not supported");

    Url u;
    u.tls = tls;
    u.port = tls ? kDefaultTlsPort : kDefaultPort;
    std::string_view port;
    bool has_port = false;
    if (!auth.empty() && auth.front() == '[') {
        auto close = auth.find(']');
        if (close == std::string_view::npos) return bad("bad IPv6 literal");
        u.host = std::string(auth.substr(1, close - 1));
        u.v6_literal = true;
        std::string_view after = auth.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("bad IPv6 literal");
            port = after.substr(1);
            has_port = true;
        }
        if (u.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return bad("bad IPv6 literal");
    } else {
        auto colon = auth.rfind(':');
        if (colon != std::string_view::npos) {
            port = auth.substr(colon + 1);
            has_port = true;
            auth = auth.substr(0, colon);
        }
        u.host = std::string(auth);
        if (u.host.find_first_of("[]:") != std::string::npos) return bad("bad host");
    }
    if (u.host.empty()) return bad("missing host");
    if (has_port) {
        u.port = parse_port(port);
        if (u.port == 0) return bad("bad port");
    }
    std::size_t q = tail.find('?');
    u.path = std::string(tail.substr(0, q));
    if (u.path.empty()) u.path.push_back('/');
    if (q != std::string_view::npos) u.query = std::string(tail.substr(q + 1));
    return u;
}

std::string percent_encode(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size() * 3);
    for (char c : bytes) {
        auto b = static_cast<unsigned char>(c);
        bool unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' ||
                          b == '.' || b == '_' || b == '~'; // RFC 3986 section 2.3
        if (unreserved)
            out.push_back(c);
        else {
            out.push_back('%');
            out.push_back(kHex[b >> 4]);
            out.push_back(kHex[b & 15]);
        }
    }
    return out;
}

std::string announce_target(const Url& url, const AnnounceRequest& r) {
    std::string t = url.path;
    t += '?';
    if (!url.query.empty()) {
        t += url.query;
        if (url.query.back() != '&') t += '&';
    }
    t += "info_hash=" + percent_encode(r.info_hash.view());
    t += "&peer_id=" + percent_encode(r.peer_id.view());
    t += "&port=" + std::to_string(r.port);
    t += "&uploaded=" + std::to_string(r.uploaded);
    t += "&downloaded=" + std::to_string(r.downloaded);
    t += "&left=" + std::to_string(r.left);
    t += "&compact=1";    // BEP 23
    t += "&no_peer_id=1"; // BEP 3 (later addition): ids are useless to us in the dict form
    switch (r.event) {    // BEP 3: absent for the regular announces
    case udp::kEventStarted: t += "&event=started"; break;
    case udp::kEventCompleted: t += "&event=completed"; break;
    case udp::kEventStopped: t += "&event=stopped"; break;
    default: break;
    }
    if (r.numwant >= 0) t += "&numwant=" + std::to_string(r.numwant);
    char key[16];
    std::snprintf(key, sizeof key, "%08X", static_cast<unsigned>(r.key));
    t += "&key=";
    t += key;
    return t;
}

Result<std::string> scrape_url(std::string_view announce_url) {
    auto u = parse_url(announce_url);
    if (!u) return u.error();
    std::size_t slash = u->path.rfind('/');
    std::string_view last = std::string_view(u->path).substr(slash + 1);
    constexpr std::string_view kAnnounce = "announce";
    if (last.substr(0, kAnnounce.size()) != kAnnounce)
        return make_error("http tracker url",
                          "no scrape URL (BEP 48: the last path component must start with "
                          "\"announce\"): " +
                              std::string(announce_url),
                          Errc::unsupported);
    std::string path = u->path.substr(0, slash + 1) + "scrape" + std::string(last.substr(kAnnounce.size()));
    return u->origin() + path + (u->query.empty() ? "" : "?" + u->query);
}

std::string scrape_target(const Url& scrape, const std::vector<udp::Hash20>& hashes) {
    std::string t = scrape.path;
    char sep = '?';
    if (!scrape.query.empty()) {
        t += '?';
        t += scrape.query;
        sep = scrape.query.back() == '&' ? '\0' : '&';
    }
    for (const auto& h : hashes) {
        if (sep) t += sep;
        sep = '&';
        t += "info_hash=" + percent_encode(h.view());
    }
    return t;
}

namespace {

// Both answers: a bencoded dictionary, trailing whitespace tolerated, "failure reason" an error (BEP 3).
Result<bencode::Value> decode_body(std::string_view body) {
    std::size_t end = body.size();
    while (end > 0 && (body[end - 1] == '\n' || body[end - 1] == '\r' || body[end - 1] == ' ')) --end;
    bencode::Limits limits;
    limits.max_tokens = 100'000; // a peer list of kMaxPeers dicts is ~5000 tokens; bound the work on garbage
    auto v = bencode::decode(body.substr(0, end), limits);
    if (!v) return decode_error(v.error().str());
    if (!v->is_dict()) return decode_error("the response is not a dictionary");
    if (const std::string* f = v->find_string("failure reason")) // BEP 3
        return make_error("tracker", "failure reason: " + *f, Errc::rejected);
    return v;
}

} // namespace

Result<ScrapeResponse> decode_scrape_response(std::string_view body) {
    auto v = decode_body(body);
    if (!v) return v.error();
    const bencode::Dict* files = v->find_dict("files"); // BEP 48
    if (!files) return decode_error("the scrape response has no \"files\" dictionary");
    ScrapeResponse out;
    for (const auto& [key, entry] : *files) {
        if (key.size() != 20 || !entry.is_dict() || out.files.size() >= kMaxScrapeFiles) {
            ++out.dropped;
            continue;
        }
        ScrapeFile f;
        f.info_hash = udp::Hash20::from(key);
        if (const std::int64_t* i = entry.find_int("complete")) f.complete = clamp_u32(*i);
        if (const std::int64_t* i = entry.find_int("downloaded")) f.downloaded = clamp_u32(*i);
        if (const std::int64_t* i = entry.find_int("incomplete")) f.incomplete = clamp_u32(*i);
        if (const std::string* n = entry.find_string("name")) f.name = *n;
        out.files.push_back(std::move(f));
    }
    return out;
}

Result<AnnounceResponse> decode_announce_response(std::string_view body) {
    auto v = decode_body(body);
    if (!v) return v.error();

    AnnounceResponse out;
    if (const std::int64_t* i = v->find_int("interval")) out.interval = clamp_u32(*i); // BEP 3
    if (const std::int64_t* i = v->find_int("min interval")) out.min_interval = clamp_u32(*i);
    if (const std::string* w = v->find_string("warning message")) out.warning = *w;
    if (const std::int64_t* i = v->find_int("complete")) out.complete = clamp_u32(*i);
    if (const std::int64_t* i = v->find_int("incomplete")) out.incomplete = clamp_u32(*i);

    if (const bencode::Value* peers = v->find("peers")) {
        if (peers->is_string()) {
            if (auto st = add_compact(out, peers->as_string(), false, "peers"); !st) return st.error();
        } else if (peers->is_list()) {
            add_dict_list(out, peers->as_list());
        } else {
            return decode_error("\"peers\" is neither a string nor a list");
        }
    }
    if (const bencode::Value* peers6 = v->find("peers6")) { // BEP 7
        if (!peers6->is_string()) return decode_error("\"peers6\" is not a string");
        if (auto st = add_compact(out, peers6->as_string(), true, "peers6"); !st) return st.error();
    }
    return out;
}

} // namespace p2p::http_tracker
