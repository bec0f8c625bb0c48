#include "proto/http_tracker_query.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

#include "base/bytes.hpp"

namespace p2p::http_tracker {

namespace {

Error bad(std::string what) { return make_error("http tracker request", std::move(what), Errc::bad_input); }

// A decimal number in [0, max]: digits only (no sign, no spaces), as every client sends them.
bool parse_uint(std::string_view s, std::uint64_t max, std::uint64_t& out) {
    if (s.empty() || s.size() > 20) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

void append_int(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec; // 24 bytes hold any u64
    out.push_back('i');
    out.append(buf, p);
    out.push_back('e');
}

void append_str(std::string& out, std::string_view s) {
    char buf[24];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, s.size());
    (void)ec;
    out.append(buf, p);
    out.push_back(':');
    out.append(s);
}

} // namespace

namespace {

// Percent-decodes s into out (which holds at least s.size() bytes); the decoded length, or -1 on a bad escape.
std::ptrdiff_t decode_into(std::string_view s, char* out) {
    char* o = out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (s.size() - i < 3) return -1;
        int hi = hex_value(s[i + 1]);
        int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return -1;
        *o++ = static_cast<char>(hi << 4 | lo);
        i += 2;
    }
    return o - out;
}

// One decoded name or value: on the stack when short (every announce parameter is: a 20-byte hash is at most 60
// bytes encoded), on the heap otherwise. The view is valid while this lives.
class Decoded {
public:
    bool decode(std::string_view s) {
        char* buf = small_;
        if (s.size() > sizeof small_) {
            big_.resize(s.size());
            buf = big_.data();
        }
        std::ptrdiff_t n = decode_into(s, buf);
        if (n < 0) return false;
        view_ = std::string_view(buf, static_cast<std::size_t>(n));
        return true;
    }
    std::string_view view() const { return view_; }

private:
    char small_[128];
    std::string big_;
    std::string_view view_;
};

// Calls f(name, value) for each parameter of the query, decoded, in order, while f returns no error. Parsing a
// query thus costs no allocation per parameter (an announce has about a dozen).
template <class F>
std::optional<Error> for_each_param(std::string_view query, F&& f) {
    std::size_t count = 0;
    Decoded name, value;
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        if (++count > kMaxParams) return bad("too many parameters");
        std::size_t eq = part.find('=');
        if (!name.decode(part.substr(0, eq))) return bad("bad percent escape");
        if (!value.decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1)))
            return bad("bad percent escape");
        if (auto e = f(name.view(), value.view())) return e;
    }
    return std::nullopt;
}

} // namespace

Result<std::string> percent_decode(std::string_view s) {
    std::string out(s.size(), '\0');
    std::ptrdiff_t n = decode_into(s, out.data());
    if (n < 0) return bad("bad percent escape");
    out.resize(static_cast<std::size_t>(n));
    return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> out;
    auto e = for_each_param(query, [&](std::string_view name, std::string_view value) -> std::optional<Error> {
        out.emplace_back(name, value);
        return std::nullopt;
    });
    if (e) return *e;
    return out;
}

Result<AnnounceQuery> decode_announce_query(std::string_view query) {
    AnnounceQuery q;
    bool have_hash = false, have_id = false, have_port = false, have_up = false, have_down = false;
    bool have_event = false, have_numwant = false, have_compact = false;
    auto e = for_each_param(query, [&](std::string_view name, std::string_view value) -> std::optional<Error> {
        std::uint64_t n = 0;
        if (name == "info_hash" && !have_hash) {
            if (value.size() != 20) return bad("info_hash is not 20 bytes");
            q.info_hash = udp::Hash20::from(value);
            have_hash = true;
        } else if (name == "peer_id" && !have_id) {
            if (value.size() != 20) return bad("peer_id is not 20 bytes");
            q.peer_id = udp::Hash20::from(value);
            have_id = true;
        } else if (name == "port" && !have_port) {
            if (!parse_uint(value, 65535, n) || n == 0) return bad("bad port");
            q.port = static_cast<std::uint16_t>(n);
            have_port = true;
        } else if (name == "uploaded" && !have_up) {
            if (!parse_uint(value, UINT64_MAX, q.uploaded)) return bad("bad uploaded");
            have_up = true;
        } else if (name == "downloaded" && !have_down) {
            if (!parse_uint(value, UINT64_MAX, q.downloaded)) return bad("bad downloaded");
            have_down = true;
        } else if (name == "left" && !q.left) {
            if (!parse_uint(value, UINT64_MAX, n)) return bad("bad left");
            q.left = n;
        } else if (name == "event" && !have_event) {
            if (value == "started")
                q.event = udp::kEventStarted;
            else if (value == "completed")
                q.event = udp::kEventCompleted;
            else if (value == "stopped")
                q.event = udp::kEventStopped;
            else if (value.empty() || value == "empty" || value == "paused") // BEP 21: paused = a regular announce
                q.event = udp::kEventNone;
            else
                return bad("bad event");
            have_event = true;
        } else if (name == "numwant" && !have_numwant) {
            // Some clients send -1 for "the tracker's default"; anything else negative or huge is clamped later.
            if (value == "-1")
                q.numwant = -1;
            else if (parse_uint(value, UINT64_MAX, n))
                q.numwant = static_cast<std::int32_t>(std::min<std::uint64_t>(n, INT32_MAX));
            else
                return bad("bad numwant");
            have_numwant = true;
        } else if (name == "compact" && !have_compact) {
            q.compact = value != "0";
            have_compact = true;
        } else if (name == "ip" && !q.ip) {
            q.ip = std::string(value);
        }
        return std::nullopt;
    });
    if (e) return *e;
    if (!have_hash) return bad("missing info_hash");
    if (!have_id) return bad("missing peer_id");
    if (!have_port) return bad("missing port");
    return q;
}

Result<std::vector<udp::Hash20>> decode_scrape_query(std::string_view query) {
    std::vector<udp::Hash20> out;
    auto e = for_each_param(query, [&](std::string_view name, std::string_view value) -> std::optional<Error> {
        if (name != "info_hash") return std::nullopt;
        if (value.size() != 20) return bad("info_hash is not 20 bytes");
        if (out.size() >= kMaxScrapeQuery) return bad("too many info_hash parameters");
        out.push_back(udp::Hash20::from(value));
        return std::nullopt;
    });
    if (e) return *e;
    if (out.empty()) return bad("missing info_hash (full scrape is not served)");
    return out;
}

void append_announce_reply(std::string& out, const AnnounceReply& r) {
    out += "d8:complete";
    append_int(out, r.complete);
    out += "10:incomplete";
    append_int(out, r.incomplete);
    out += "8:interval";
    append_int(out, r.interval);
    if (r.min_interval) {
        out += "12:min interval";
        append_int(out, r.min_interval);
    }
    out += "5:peers";
    append_str(out, r.peers);
    if (!r.peers6.empty()) {
        out += "6:peers6";
        append_str(out, r.peers6);
    }
    out.push_back('e');
}

std::string encode_failure(std::string_view reason) {
    std::string out = "d14:failure reason";
    append_str(out, reason);
    out.push_back('e');
    return out;
}

std::string encode_scrape_reply(std::vector<std::pair<udp::Hash20, udp::ScrapeEntry>> files) {
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    files.erase(
        std::unique(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
        files.end());
    std::string out = "d5:filesd";
    for (const auto& [h, e] : files) {
        append_str(out, h.view());
        out += "d8:complete";
        append_int(out, e.seeders);
        out += "10:downloaded";
        append_int(out, e.completed);
        out += "10:incomplete";
        append_int(out, e.leechers);
        out.push_back('e');
    }
    out += "ee";
    return out;
}

} // namespace p2p::http_tracker
