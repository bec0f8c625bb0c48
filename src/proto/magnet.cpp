// Magnet URIs (BEP 9): magnet:?xt=urn:btih:<info hash>&dn=<name>&tr=<tracker>...
#include "base/bytes.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

namespace {

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (in[i] == '+') {
            out.push_back(' ');
        } else {
            out.push_back(in[i]);
        }
    }
    return true;
}

std::string percent_encode(std::string_view in) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : in) {
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '_' || c == '.' || c == '~';
        if (unreserved)
            out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

// RFC 4648 base32, as used for 32-character btih values.
bool base32_decode(std::string_view in, std::string& out) {
    out.clear();
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a';
        else if (c >= '2' && c <= '7')
            v = c - '2' + 26;
        else
            return false;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xff));
        }
    }
    return true;
}

Error bad(std::string what) { return make_error("magnet", std::move(what), Errc::bad_input); }

} // namespace

Result<Magnet> parse_magnet(std::string_view uri) {
    constexpr std::string_view prefix = "magnet:?";
    if (uri.substr(0, prefix.size()) != prefix) return bad("not a magnet URI (expected 'magnet:?')");
    if (uri.size() > 64 * 1024) return bad("magnet URI too long");
    Magnet m;
    std::string_view rest = uri.substr(prefix.size());
    while (!rest.empty()) {
        std::size_t amp = rest.find('&');
        std::string_view param = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        std::size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view key = param.substr(0, eq);
        std::string value;
        if (!percent_decode(param.substr(eq + 1), value))
            return bad("bad percent-encoding in '" + std::string(key) + "'");
        if (key == "xt") {
            constexpr std::string_view btih = "urn:btih:";
            if (value.compare(0, btih.size(), btih) != 0) continue; // other hash kinds (btmh) are not for us yet
            std::string_view h = std::string_view(value).substr(btih.size());
            std::string raw;
            if (h.size() == 40) {
                if (!from_hex(h, raw)) return bad("info hash is not 40 hex digits");
            } else if (h.size() == 32) {
                if (!base32_decode(h, raw) || raw.size() != 20) return bad("info hash is not valid base32");
            } else {
                return bad("info hash must be 40 hex or 32 base32 characters");
            }
            m.info_hash = raw;
        } else if (key == "dn") {
            m.display_name = value;
        } else if (key == "tr" || key.substr(0, 3) == "tr.") {
            if (!value.empty()) m.trackers.push_back(value);
        } else if (key == "x.pe") { // BEP 9 "peer address": host:port; the caller parses it
            if (!value.empty() && value.size() <= 262 && m.peers.size() < kMaxMagnetPeers) m.peers.push_back(value);
        }
    }
    if (m.info_hash.size() != 20) return bad("no urn:btih info hash");
    return m;
}

std::string make_magnet(const Magnet& m) {
    std::string out = "magnet:?xt=urn:btih:" + to_hex(m.info_hash);
    if (!m.display_name.empty()) out += "&dn=" + percent_encode(m.display_name);
    for (const auto& t : m.trackers) out += "&tr=" + percent_encode(t);
    for (const auto& p : m.peers) out += "&x.pe=" + percent_encode(p);
    return out;
}

} // namespace p2p
