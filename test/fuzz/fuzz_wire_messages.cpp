// Fuzz target: decode_message over a stream of messages. The first two input bytes choose max_len.
// Invariants: ok consumes 4 + length bytes within the buffer, the payload lies inside the message, known
// messages re-encode to the same bytes, and strict prefixes of an accepted message are need_more.
#include "base/bytes.hpp"
#include "fuzz_common.hpp"
#include "proto/wire.hpp"

using namespace p2p;
using wire::MsgId;

namespace {

// Re-encodes a decoded message; empty when the id has no encoder (unknown ids).
std::string reencode(const wire::Message& m) {
    std::string out;
    if (m.keepalive) {
        wire::encode_keepalive(out);
        return out;
    }
    switch (m.msg_id()) {
    case MsgId::choke:
    case MsgId::unchoke:
    case MsgId::interested:
    case MsgId::not_interested:
    case MsgId::have_all:
    case MsgId::have_none: wire::encode_simple(out, m.msg_id()); break;
    case MsgId::have: wire::encode_have(out, m.index); break;
    case MsgId::bitfield: wire::encode_bitfield(out, m.payload); break;
    case MsgId::request: wire::encode_request(out, m.index, m.begin, m.length); break;
    case MsgId::cancel: wire::encode_cancel(out, m.index, m.begin, m.length); break;
    case MsgId::reject: wire::encode_reject(out, m.index, m.begin, m.length); break;
    case MsgId::piece: wire::encode_piece(out, m.index, m.begin, m.payload); break;
    case MsgId::port: wire::encode_port(out, m.port); break;
    case MsgId::suggest: wire::encode_suggest(out, m.index); break;
    case MsgId::allowed_fast: wire::encode_allowed_fast(out, m.index); break;
    case MsgId::extended: wire::encode_extended(out, m.ext_id, m.payload); break;
    default: break;
    }
    return out;
}

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Bytes b{fuzz::as_view(data, size)};
    std::size_t max_len = b.u16(); // 0..65535: small bounds exercise the "too long" path
    std::string_view buf = b.in;
    for (int guard = 0; guard < 10000 && !buf.empty(); ++guard) {
        auto d = wire::decode_message(buf, max_len);
        if (d.status != Decode::ok) {
            if (d.status == Decode::need_more && buf.size() >= 4) FUZZ_CHECK(read_be32(buf, 0) <= max_len);
            break;
        }
        FUZZ_CHECK(d.consumed >= 4 && d.consumed <= buf.size());
        FUZZ_CHECK(d.consumed - 4 == read_be32(buf, 0) && d.consumed - 4 <= max_len);
        FUZZ_CHECK(d.msg.keepalive == (d.consumed == 4));
        if (!d.msg.payload.empty()) {
            FUZZ_CHECK(d.msg.payload.data() >= buf.data() + 5);
            FUZZ_CHECK(d.msg.payload.data() + d.msg.payload.size() <= buf.data() + d.consumed);
        }
        if (d.msg.msg_id() == MsgId::piece) FUZZ_CHECK(d.msg.length == d.msg.payload.size());
        std::string enc = reencode(d.msg);
        if (!enc.empty()) FUZZ_CHECK(enc == buf.substr(0, d.consumed));
        for (std::size_t cut : {std::size_t{0}, std::size_t{3}, std::size_t{5}, d.consumed - 1}) {
            if (cut >= d.consumed) continue;
            FUZZ_CHECK(wire::decode_message(buf.substr(0, cut), max_len).status == Decode::need_more);
        }
        buf.remove_prefix(d.consumed);
    }
    return 0;
}
