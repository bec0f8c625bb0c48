// uTP packet codec (proto/utp.hpp): the header, the extension chain walked within the datagram and a bounded
// number of links, the SACK mask helpers, and the wrapping sequence-number compares.
#include "proto/utp.hpp"

#include <algorithm>

#include "base/assert.hpp"
#include "base/bytes.hpp"

namespace p2p::utp {

namespace {

constexpr const char* kOp = "utp.decode";
constexpr std::size_t kMaxExtLen = 255; // an extension's len is a u8

Error bad(std::string what) { return make_error(kOp, std::move(what), Errc::bad_input); }

void put_header(const Header& h, std::uint8_t first_ext, std::string& out) {
    out.push_back(static_cast<char>((static_cast<std::uint8_t>(h.type) << 4) | kVersion));
    out.push_back(static_cast<char>(first_ext));
    put_be16(out, h.connection_id);
    put_be32(out, h.timestamp_us);
    put_be32(out, h.timestamp_difference_us);
    put_be32(out, h.wnd_size);
    put_be16(out, h.seq_nr);
    put_be16(out, h.ack_nr);
}

Header read_header(std::string_view in) {
    Header h;
    h.type = static_cast<Type>(byte_at(in, 0) >> 4);
    h.version = byte_at(in, 0) & 0x0f;
    h.extension = byte_at(in, 1);
    h.connection_id = read_be16(in, 2);
    h.timestamp_us = read_be32(in, 4);
    h.timestamp_difference_us = read_be32(in, 8);
    h.wnd_size = read_be32(in, 12);
    h.seq_nr = read_be16(in, 16);
    h.ack_nr = read_be16(in, 18);
    return h;
}

// Takes one extension's body into `p`. Unknown ids, and a close reason of the wrong length (libtorrent ignores
// it too), are skipped.
Status take_extension(std::uint8_t id, std::string_view body, Packet& p) {
    if (id == kExtSack) {
        if (p.sack) return bad("second SACK extension");
        if (body.empty()) return bad("SACK extension of length 0");
        p.sack = std::string(body);
    } else if (id == kExtCloseReason && body.size() == kCloseReasonSize) {
        if (p.close_reason) return bad("second close reason extension");
        p.close_reason = read_be16(body, 2); // bytes 0..1 are reserved
    }
    return ok_status();
}

} // namespace

Result<Packet> decode(std::string_view in) {
    if (in.size() < kHeaderSize)
        return bad("truncated header: need " + std::to_string(kHeaderSize) + " bytes, got " +
                   std::to_string(in.size()));
    Packet p;
    p.h = read_header(in);
    if (p.h.version != kVersion) return bad("bad version " + std::to_string(p.h.version));
    auto type = static_cast<std::uint8_t>(p.h.type);
    if (type > kMaxType) return bad("bad type " + std::to_string(type));

    std::size_t at = kHeaderSize;
    std::uint8_t id = p.h.extension;
    for (std::size_t n = 0; id != kExtNone; ++n) {
        if (n == kMaxExtensions) return bad("more than " + std::to_string(kMaxExtensions) + " extensions");
        if (in.size() - at < kExtHeaderSize) return bad("truncated extension header at byte " + std::to_string(at));
        std::uint8_t next = byte_at(in, at);
        std::size_t len = byte_at(in, at + 1);
        at += kExtHeaderSize;
        if (in.size() - at < len)
            return bad("extension " + std::to_string(id) + " of " + std::to_string(len) + " bytes runs past the end");
        if (auto st = take_extension(id, in.substr(at, len), p); !st) return st.error();
        at += len;
        id = next;
    }
    p.payload = in.substr(at);
    return p;
}

void encode(const Header& h, const std::optional<std::string>& sack, std::optional<std::uint16_t> close_reason,
            std::string_view payload, std::string& out) {
    // The mask to write: libutp drops a packet whose first extension is the close reason (utp.hpp), so a close
    // reason always follows a SACK, an all-zero one when there is nothing to acknowledge selectively.
    std::string_view mask;
    static const std::string kZeroMask(kSackUnit, '\0');
    if (sack) {
        P2P_ASSERT(!sack->empty() && sack->size() <= kMaxExtLen, "a SACK mask holds 1..255 bytes");
        mask = sack->empty() ? std::string_view(kZeroMask) : std::string_view(*sack);
        if (mask.size() > kMaxExtLen) mask = mask.substr(0, kMaxSackBytes);
    } else if (close_reason) {
        mask = kZeroMask;
    }
    out.reserve(out.size() + kHeaderSize + (mask.empty() ? 0 : kExtHeaderSize + mask.size()) +
                (close_reason ? kExtHeaderSize + kCloseReasonSize : 0) + payload.size());
    put_header(h, mask.empty() ? kExtNone : kExtSack, out);
    if (!mask.empty()) {
        out.push_back(static_cast<char>(close_reason ? kExtCloseReason : kExtNone));
        out.push_back(static_cast<char>(mask.size()));
        out.append(mask);
    }
    if (close_reason) {
        out.push_back(static_cast<char>(kExtNone));
        out.push_back(static_cast<char>(kCloseReasonSize));
        put_be16(out, 0); // reserved
        put_be16(out, *close_reason);
    }
    out.append(payload);
}

std::string encode(const Header& h, const std::optional<std::string>& sack, std::optional<std::uint16_t> close_reason,
                   std::string_view payload) {
    std::string out;
    encode(h, sack, close_reason, payload, out);
    return out;
}

bool looks_like_utp(std::string_view d) {
    if (d.size() < kHeaderSize) return false;
    std::uint8_t b = byte_at(d, 0);
    return (b & 0x0f) == kVersion && (b >> 4) <= kMaxType;
}

bool seq_less(std::uint16_t a, std::uint16_t b) {
    std::uint16_t up = seq_distance(a, b);
    return up != 0 && up < 0x8000;
}

std::uint16_t seq_distance(std::uint16_t from, std::uint16_t to) { return static_cast<std::uint16_t>(to - from); }

std::string sack_from(std::uint16_t ack_nr, const std::function<bool(std::uint16_t)>& received, std::size_t max_bytes) {
    std::size_t bytes = std::min(max_bytes, kMaxSackBytes) / kSackUnit * kSackUnit;
    std::string mask(bytes, '\0');
    std::size_t used = 0; // bytes up to and including the last one with a bit set
    for (std::size_t i = 0; i < bytes * 8; ++i) {
        auto seq = static_cast<std::uint16_t>(ack_nr + 2 + i);
        if (!received(seq)) continue;
        mask[i / 8] = static_cast<char>(byte_at(mask, i / 8) | (1u << (i % 8)));
        used = i / 8 + 1;
    }
    mask.resize((used + kSackUnit - 1) / kSackUnit * kSackUnit);
    return mask;
}

bool sack_has(const std::string& mask, std::uint16_t ack_nr, std::uint16_t seq) {
    std::size_t i = seq_distance(static_cast<std::uint16_t>(ack_nr + 2), seq);
    if (i >= mask.size() * 8) return false;
    return (byte_at(mask, i / 8) >> (i % 8)) & 1;
}

} // namespace p2p::utp
