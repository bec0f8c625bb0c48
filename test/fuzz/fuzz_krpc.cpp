// Fuzz target: one datagram through krpc::decode (proto/krpc.hpp). Invariants: a refusal is bad_input from
// "krpc.decode" with a reason; an accepted message respects every bound of the header (datagram, transaction id,
// version, nodes per family, values, token, unknown method name); query_transaction() gives the "t" of exactly the
// messages that are queries; and encoding what was decoded gives a datagram within kMaxDatagram that decodes to the
// same message and re-encodes to the same bytes.
#include "fuzz_common.hpp"
#include "proto/krpc.hpp"

using namespace p2p;
using namespace p2p::krpc;

FUZZ_INIT

namespace {

void check_bounds(const Message& m) {
    FUZZ_CHECK(m.t.size() <= kMaxTransactionId);
    if (m.v) FUZZ_CHECK(m.v->size() <= kMaxVersion);
    if (const Query* q = m.query()) {
        if (q->method == Method::unknown) {
            FUZZ_CHECK(q->unknown_name.size() <= kMaxMethodName);
            FUZZ_CHECK(q->id == NodeId{}); // an unknown method's arguments are not read
        } else {
            FUZZ_CHECK(q->unknown_name.empty());
        }
        FUZZ_CHECK(q->token.size() <= kMaxToken);
        if (q->method != Method::announce_peer) FUZZ_CHECK(q->port == 0 && !q->implied_port && q->token.empty());
    } else if (const Response* r = m.response()) {
        std::size_t v4 = 0, v6 = 0;
        for (const NodeInfo& n : r->nodes) {
            if (n.addr.v6) {
                ++v6;
            } else {
                FUZZ_CHECK(v6 == 0); // "nodes" come before "nodes6"
                ++v4;
            }
        }
        FUZZ_CHECK(v4 <= kMaxNodes && v6 <= kMaxNodes);
        FUZZ_CHECK(r->values.size() <= kMaxValues);
        if (r->token) FUZZ_CHECK(r->token->size() <= kMaxToken);
    } else {
        FUZZ_CHECK(m.error() != nullptr);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    auto r = decode(in);
    auto t = query_transaction(in);
    if (!r) {
        FUZZ_CHECK(r.error().code == Errc::bad_input && r.error().op == "krpc.decode" && !r.error().what.empty());
        return 0;
    }
    const Message& m = *r;
    FUZZ_CHECK(in.size() <= kMaxDatagram);
    check_bounds(m);
    if (m.kind() == Kind::query) {
        FUZZ_CHECK(t && *t == m.t);
    } else {
        FUZZ_CHECK(!t);
    }

    std::string enc = encode(m);
    FUZZ_CHECK(enc.size() <= kMaxDatagram);
    auto again = decode(enc);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == m);
    FUZZ_CHECK(encode(*again) == enc);
    return 0;
}
