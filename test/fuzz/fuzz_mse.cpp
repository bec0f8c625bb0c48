// Fuzz target: one side of the MSE/PE handshake (proto/mse.hpp) fed arbitrary bytes in arbitrary pieces: the
// responder from its first byte, or the initiator after its message 1. Layout in mse_fixture.hpp.
// Invariants: need_more takes every byte given; never more than kMaxHandshakeIn bytes taken in all; done and
// failed are final (a later feed takes nothing); a failure has a known code and leaves nothing to send; done
// gives a method both sides allow, SKEY and an IA within bounds; and the outcome (step, bytes taken, bytes sent,
// method, IA) does not depend on how the stream was cut: the same stream fed whole gives the same (after a
// failure, the whole run's output is a prefix of the cut run's: output pending at a failure is dropped).
#include "fuzz_common.hpp"
#include "mse_fixture.hpp"

using namespace p2p;
using namespace p2p::mse;

FUZZ_INIT

namespace {

struct Outcome {
    Step step = Step::need_more;
    std::size_t taken = 0;
    std::string sent, ia;
    std::uint32_t selected = 0;
    Errc code = Errc::unspecified;
};

Outcome run(const fuzz::MseFlags& f, std::string_view stream, std::uint8_t chunking) {
    Handshake h = fuzz::mse_party(f);
    Outcome o;
    o.sent = h.take_output();
    FUZZ_CHECK(f.initiator == !o.sent.empty());
    std::uint32_t rng = chunking * 2654435761u + 1;
    std::size_t at = 0;
    while (at < stream.size() && o.step == Step::need_more) {
        std::size_t n = stream.size() - at;
        if (chunking != 0) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            n = std::min<std::size_t>(n, 1 + rng % chunking);
        }
        std::size_t used = 12345;
        o.step = h.feed(stream.substr(at, n), used);
        FUZZ_CHECK(used <= n);
        if (o.step == Step::need_more) FUZZ_CHECK(used == n);
        o.taken += used;
        at += n;
        FUZZ_CHECK(o.taken <= Handshake::kMaxHandshakeIn);
        o.sent += h.take_output();
    }
    if (o.step != Step::need_more) {
        std::size_t used = 1;
        FUZZ_CHECK(h.feed(stream.substr(std::min(at, stream.size())), used) == o.step);
        FUZZ_CHECK(used == 0);
        FUZZ_CHECK(h.take_output().empty());
    }
    if (o.step == Step::failed) {
        o.code = h.error().code;
        FUZZ_CHECK(o.code == Errc::bad_input || o.code == Errc::not_found || o.code == Errc::refused);
        FUZZ_CHECK(!h.error().what.empty());
    }
    if (o.step == Step::done) {
        o.selected = h.selected();
        FUZZ_CHECK(o.selected == kPlaintext || o.selected == kRc4);
        FUZZ_CHECK((o.selected & f.allowed) != 0);
        FUZZ_CHECK(h.info_hash() == fuzz::kMseSkey);
        o.ia = h.take_initial_payload();
        FUZZ_CHECK(o.ia.size() <= kMaxIa);
        if (f.initiator) FUZZ_CHECK(o.ia.empty());
        FUZZ_CHECK(h.take_encryptor().keyed());
        FUZZ_CHECK(h.take_decryptor().keyed());
    } else {
        FUZZ_CHECK(h.selected() == 0);
    }
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Bytes in{fuzz::as_view(data, size)};
    auto flags = fuzz::MseFlags::from(in.u8());
    std::uint8_t chunking = in.u8();
    std::string_view stream = in.in;
    Outcome cut = run(flags, stream, chunking);
    if (chunking == 0) return 0;
    Outcome whole = run(flags, stream, 0);
    FUZZ_CHECK(cut.step == whole.step);
    // What was sent before a failure depends on when the caller took it: output pending at the failure is
    // dropped, so a run cut finer may have sent more (the whole run's is then a prefix of it).
    if (cut.step == Step::failed) {
        FUZZ_CHECK(cut.sent.compare(0, whole.sent.size(), whole.sent) == 0);
    } else {
        FUZZ_CHECK(cut.sent == whole.sent);
    }
    FUZZ_CHECK(cut.ia == whole.ia);
    FUZZ_CHECK(cut.selected == whole.selected);
    FUZZ_CHECK(cut.code == whole.code);
    // need_more took everything it was given; done and failed stop at the same byte however the stream was cut.
    FUZZ_CHECK(cut.taken == whole.taken);
    return 0;
}
