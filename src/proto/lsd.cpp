// BEP 14 announces: encode() writes BEP 14's layout byte for byte; decode() reads it line by line (lsd.hpp says
// what it lets through and why).
#include "proto/lsd.hpp"

#include <algorithm>

#include "base/bytes.hpp"

namespace p2p::lsd {

namespace {

Error bad(std::string what) { return make_error("lsd.decode", std::move(what), Errc::bad_input); }
Error bad_encode(std::string what) { return make_error("lsd.encode", std::move(what), Errc::bad_input); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_nocase(std::string_view a, std::string_view lower_b) {
    if (a.size() != lower_b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower_b[i]) return false;
    return true;
}

// HTTP's optional whitespace (RFC 7230 "OWS"): spaces and tabs around a header value.
bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

// A 40-digit hex value, either case (libtorrent writes lower case, Transmission upper case).
bool parse_hash(std::string_view hex, udp::Hash20& out) {
    if (hex.size() != kHexHashSize) return false;
    std::string raw;
    if (!from_hex(hex, raw) || raw.size() != 20) return false;
    out = udp::Hash20::from(raw);
    return true;
}

// Reads the next line of `rest` (without its "\n" or "\r\n"); false at the end. A CR anywhere but just before the
// LF is refused (RFC 7230 3.5: a bare CR is invalid; no client sends one), which is what keeps CR out of values.
struct Lines {
    std::string_view rest;
    std::size_t number = 0;
    bool bare_cr = false;
    bool next(std::string_view& line) {
        if (rest.empty()) return false;
        std::size_t nl = rest.find('\n');
        line = rest.substr(0, nl);
        rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.find('\r') != std::string_view::npos) bare_cr = true;
        ++number;
        return true;
    }
};

bool request_line_ok(std::string_view line) {
    // Only the method is checked: the target ("*") and the version ("HTTP/1.1") are the same in every client, and
    // BEP 14 does not version the message.
    std::size_t sp = line.find(' ');
    std::string_view method = line.substr(0, sp);
    return equal_nocase(method, "bt-search");
}

} // namespace

Result<std::string> encode(Family f, std::uint16_t port, const std::vector<udp::Hash20>& hashes,
                           std::string_view cookie) {
    if (port == 0) return bad_encode("port 0");
    if (hashes.empty()) return bad_encode("no info hash");
    if (hashes.size() > kMaxHashesPerAnnounce)
        return bad_encode(std::to_string(hashes.size()) + " info hashes, more than " +
                          std::to_string(kMaxHashesPerAnnounce) + " per announce");
    if (cookie.size() > kMaxCookie) return bad_encode("cookie longer than " + std::to_string(kMaxCookie) + " bytes");
    if (cookie.find_first_of("\r\n") != std::string_view::npos) return bad_encode("CR or LF in the cookie");
    if (!cookie.empty() && (is_ows(cookie.front()) || is_ows(cookie.back())))
        return bad_encode("space or tab at an end of the cookie");
    std::string out;
    out.reserve(kMaxAnnounceSize);
    out += kMethod;
    out += " * HTTP/1.1\r\nHost: ";
    out += f == Family::v4 ? kHostV4 : kHostV6;
    out += "\r\nPort: ";
    out += std::to_string(port);
    out += "\r\n";
    for (const udp::Hash20& h : hashes) {
        out += "Infohash: ";
        out += to_hex(h.view());
        out += "\r\n";
    }
    if (!cookie.empty()) {
        out += "cookie: ";
        out += cookie;
        out += "\r\n";
    }
    out += "\r\n\r\n"; // BEP 14: the headers end with two blank lines (Transmission 3 insists on both)
    return out;
}

Result<Announce> decode(std::string_view datagram) {
    if (datagram.empty()) return bad("empty datagram");
    if (datagram.size() > kMaxDatagram)
        return bad(std::to_string(datagram.size()) + "-byte datagram, more than " + std::to_string(kMaxDatagram));
    Lines lines{datagram};
    std::string_view line;
    (void)lines.next(line);
    if (lines.bare_cr) return bad("bare CR in the request line");
    if (!request_line_ok(line)) return bad("not a BT-SEARCH request");
    Announce a;
    bool have_port = false, have_cookie = false;
    std::size_t hash_headers = 0;
    while (lines.next(line)) {
        if (lines.bare_cr) return bad("bare CR in line " + std::to_string(lines.number));
        if (line.empty()) break; // the end of the headers; whatever follows is a body nobody sends
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return bad("line " + std::to_string(lines.number) + " has no ':'");
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (equal_nocase(name, "infohash")) {
            if (++hash_headers > kMaxHashes)
                return bad("more than " + std::to_string(kMaxHashes) + " Infohash headers");
            udp::Hash20 h;
            if (!parse_hash(value, h) || h == udp::Hash20{} ||
                std::find(a.info_hashes.begin(), a.info_hashes.end(), h) != a.info_hashes.end()) {
                ++a.skipped; // libtorrent skips a bad one too; the others still count
                continue;
            }
            a.info_hashes.push_back(h);
        } else if (equal_nocase(name, "port")) {
            const std::uint16_t port = parse_port(value);
            if (port == 0) return bad("bad Port value");
            if (have_port && port != a.port) return bad("two different Port headers");
            a.port = port;
            have_port = true;
        } else if (equal_nocase(name, "cookie")) {
            if (value.size() > kMaxCookie) return bad("cookie longer than " + std::to_string(kMaxCookie) + " bytes");
            if (have_cookie && value != a.cookie) return bad("two different cookie headers");
            a.cookie = std::string(value);
            have_cookie = true;
        }
        // Host and anything else: ignored (BEP 14: headers not understood are ignored).
    }
    if (!have_port) return bad("no Port header");
    if (a.info_hashes.empty())
        return bad(hash_headers == 0 ? std::string("no Infohash header")
                                     : "no usable Infohash (" + std::to_string(a.skipped) + " skipped)");
    return a;
}

} // namespace p2p::lsd
