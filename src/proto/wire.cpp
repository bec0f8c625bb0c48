#include "proto/wire.hpp"

#include "base/bytes.hpp"

namespace p2p::wire {

const char* msg_name(std::uint8_t id) {
    switch (static_cast<MsgId>(id)) {
    case MsgId::choke: return "choke";
    case MsgId::unchoke: return "unchoke";
    case MsgId::interested: return "interested";
    case MsgId::not_interested: return "not_interested";
    case MsgId::have: return "have";
    case MsgId::bitfield: return "bitfield";
    case MsgId::request: return "request";
    case MsgId::piece: return "piece";
    case MsgId::cancel: return "cancel";
    case MsgId::port: return "port";
    case MsgId::suggest: return "suggest";
    case MsgId::have_all: return "have_all";
    case MsgId::have_none: return "have_none";
    case MsgId::reject: return "reject";
    case MsgId::allowed_fast: return "allowed_fast";
    case MsgId::extended: return "extended";
    }
    return "unknown";
}

HandshakeDecode decode_handshake(std::string_view buf) {
    HandshakeDecode r;
    auto fail = [&](std::string what) {
        r.status = Decode::error;
        r.error = make_error("wire.handshake", std::move(what), Errc::bad_input);
        return r;
    };
    if (buf.empty()) {
        r.status = Decode::need_more;
        return r;
    }
    if (byte_at(buf, 0) != kProtocolName.size())
        return fail("protocol name length " + std::to_string(byte_at(buf, 0)) + ", expected 19");
    // Compare whatever part of the name has arrived so a wrong protocol fails early.
    std::string_view got = buf.substr(1, kProtocolName.size());
    if (got != kProtocolName.substr(0, got.size())) return fail("protocol name is not \"BitTorrent protocol\"");
    if (buf.size() < kHandshakeSize) {
        r.status = Decode::need_more;
        return r;
    }
    std::size_t at = 1 + kProtocolName.size();
    for (std::size_t i = 0; i < 8; ++i) r.handshake.reserved.bytes[i] = byte_at(buf, at + i);
    at += 8;
    r.handshake.info_hash.assign(buf.substr(at, kHashSize));
    r.handshake.peer_id.assign(buf.substr(at + kHashSize, kHashSize));
    r.status = Decode::ok;
    r.consumed = kHandshakeSize;
    return r;
}

void encode_handshake(std::string& out, const Reserved& reserved, std::string_view info_hash,
                      std::string_view peer_id) {
    out.push_back(static_cast<char>(kProtocolName.size()));
    out.append(kProtocolName);
    for (auto b : reserved.bytes) out.push_back(static_cast<char>(b));
    out.append(info_hash.substr(0, kHashSize));
    out.append(peer_id.substr(0, kHashSize));
}

namespace {

// Required length prefix (id byte included) of each known message: exact for fixed-size messages, a minimum
// (is_min) for variable ones. Unknown ids need at least their id byte.
struct LengthRule {
    std::uint32_t len;
    bool is_min;
};
LengthRule length_rule(std::uint8_t id) {
    switch (static_cast<MsgId>(id)) {
    case MsgId::choke:
    case MsgId::unchoke:
    case MsgId::interested:
    case MsgId::not_interested:
    case MsgId::have_all:
    case MsgId::have_none: return {1, false};
    case MsgId::have:
    case MsgId::suggest:
    case MsgId::allowed_fast: return {5, false};
    case MsgId::request:
    case MsgId::cancel:
    case MsgId::reject: return {13, false};
    case MsgId::port: return {3, false};
    case MsgId::bitfield: return {1, true};
    case MsgId::piece: return {9, true};
    case MsgId::extended: return {2, true};
    }
    return {1, true};
}

} // namespace

namespace {

// The fields of a message whose length was checked against its id's rule: `body` is everything after the id.
void fill_fields(Message& m, std::string_view body) {
    switch (static_cast<MsgId>(m.id)) {
    case MsgId::have:
    case MsgId::suggest:
    case MsgId::allowed_fast: m.index = read_be32(body, 0); break;
    case MsgId::request:
    case MsgId::cancel:
    case MsgId::reject:
        m.index = read_be32(body, 0);
        m.begin = read_be32(body, 4);
        m.length = read_be32(body, 8);
        break;
    case MsgId::piece:
        m.index = read_be32(body, 0);
        m.begin = read_be32(body, 4);
        m.payload = body.substr(8);
        m.length = static_cast<std::uint32_t>(m.payload.size());
        break;
    case MsgId::port: m.port = read_be16(body, 0); break;
    case MsgId::extended:
        m.ext_id = byte_at(body, 0);
        m.payload = body.substr(1);
        break;
    case MsgId::choke:
    case MsgId::unchoke:
    case MsgId::interested:
    case MsgId::not_interested:
    case MsgId::have_all:
    case MsgId::have_none: break;
    case MsgId::bitfield:
    default: m.payload = body; break;
    }
}

} // namespace

MessageDecode decode_message(std::string_view buf, std::size_t max_len) {
    MessageDecode r;
    auto fail = [&](std::string what) {
        r.status = Decode::error;
        r.error = make_error("wire.decode", std::move(what), Errc::bad_input);
        return r;
    };
    if (buf.size() < 4) {
        r.status = Decode::need_more;
        return r;
    }
    const std::uint32_t len = read_be32(buf, 0);
    if (len > max_len)
        return fail("message length " + std::to_string(len) + " exceeds limit " + std::to_string(max_len));
    if (len == 0) {
        r.status = Decode::ok;
        r.msg.keepalive = true;
        r.consumed = 4;
        return r;
    }
    if (buf.size() < 5) {
        r.status = Decode::need_more;
        return r;
    }
    const std::uint8_t id = byte_at(buf, 4);
    const LengthRule rule = length_rule(id);
    if (rule.is_min ? len < rule.len : len != rule.len)
        return fail(std::string(msg_name(id)) + " message with length " + std::to_string(len) +
                    (rule.is_min ? ", minimum " : ", expected ") + std::to_string(rule.len));
    if (buf.size() - 4 < len) {
        r.status = Decode::need_more;
        return r;
    }
    r.msg.id = id;
    fill_fields(r.msg, buf.substr(5, len - 1));
    r.status = Decode::ok;
    r.consumed = 4 + std::size_t{len};
    return r;
}

namespace {
void header(std::string& out, std::uint32_t len, MsgId id) {
    put_be32(out, len);
    out.push_back(static_cast<char>(id));
}
void triple(std::string& out, MsgId id, std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    header(out, 13, id);
    put_be32(out, index);
    put_be32(out, begin);
    put_be32(out, length);
}
} // namespace

void encode_keepalive(std::string& out) { put_be32(out, 0); }
void encode_simple(std::string& out, MsgId id) { header(out, 1, id); }
void encode_have(std::string& out, std::uint32_t index) {
    header(out, 5, MsgId::have);
    put_be32(out, index);
}
void encode_bitfield(std::string& out, std::string_view bits) {
    header(out, static_cast<std::uint32_t>(1 + bits.size()), MsgId::bitfield);
    out.append(bits);
}
void encode_request(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    triple(out, MsgId::request, index, begin, length);
}
void encode_cancel(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    triple(out, MsgId::cancel, index, begin, length);
}
void encode_reject(std::string& out, std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    triple(out, MsgId::reject, index, begin, length);
}
void encode_piece(std::string& out, std::uint32_t index, std::uint32_t begin, std::string_view block) {
    header(out, static_cast<std::uint32_t>(9 + block.size()), MsgId::piece);
    put_be32(out, index);
    put_be32(out, begin);
    out.append(block);
}
void encode_piece_header(unsigned char (&hdr)[kPieceHeaderSize], std::uint32_t index, std::uint32_t begin,
                         std::uint32_t block_len) {
    store_be32(hdr, 9 + block_len);
    hdr[4] = static_cast<unsigned char>(MsgId::piece);
    store_be32(hdr + 5, index);
    store_be32(hdr + 9, begin);
}
void encode_port(std::string& out, std::uint16_t port) {
    header(out, 3, MsgId::port);
    put_be16(out, port);
}
void encode_suggest(std::string& out, std::uint32_t index) {
    header(out, 5, MsgId::suggest);
    put_be32(out, index);
}
void encode_allowed_fast(std::string& out, std::uint32_t index) {
    header(out, 5, MsgId::allowed_fast);
    put_be32(out, index);
}
void encode_extended(std::string& out, std::uint8_t ext_id, std::string_view payload) {
    header(out, static_cast<std::uint32_t>(2 + payload.size()), MsgId::extended);
    out.push_back(static_cast<char>(ext_id));
    out.append(payload);
}

} // namespace p2p::wire
