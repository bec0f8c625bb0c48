// Fuzz target: decode_metadata_message (BEP 9) and MetadataAssembler.
// 1. The whole input as one message: accepted messages respect the caps and re-encode to the same message.
// 2. The input as a sequence of <u16 length><message> frames fed to one assembler, with a u8 clock step before
//    each: add() accepts exactly the in-range pieces of the right length, next_wanted() never returns a piece we
//    have, and a complete assembly verifies against its own SHA-1 and is forgotten on a wrong hash.
#include "crypto/sha.hpp"
#include "fuzz_common.hpp"
#include "proto/extension.hpp"

FUZZ_INIT

namespace {
using namespace p2p::ext;

// Keeps each run fast: the engine allows 10 MiB of metadata, the fuzzer explores the same code with less.
constexpr std::int64_t kFuzzMaxSize = 256 * 1024;

void check_one(const MetadataMessage& msg) {
    FUZZ_CHECK(msg.type == MetadataType::request || msg.type == MetadataType::data || msg.type == MetadataType::reject);
    std::string bytes;
    switch (msg.type) {
    case MetadataType::request: bytes = encode_metadata_request(msg.piece); break;
    case MetadataType::reject: bytes = encode_metadata_reject(msg.piece); break;
    case MetadataType::data:
        FUZZ_CHECK(msg.total_size > 0);
        FUZZ_CHECK(msg.data.size() <= kMetadataPieceSize);
        bytes = encode_metadata_data(msg.piece, msg.total_size, msg.data);
        break;
    }
    auto again = decode_metadata_message(bytes);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->type == msg.type && again->piece == msg.piece);
    FUZZ_CHECK(again->total_size == (msg.type == MetadataType::data ? msg.total_size : 0));
    FUZZ_CHECK(again->data == msg.data);
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto whole = decode_metadata_message(fuzz::as_view(data, size));
    if (whole.ok()) check_one(*whole);

    fuzz::Bytes in{fuzz::as_view(data, size)};
    MetadataAssembler a;
    std::uint64_t now = 0;
    for (int frames = 0; frames < 64 && !in.in.empty(); ++frames) {
        now += in.u8();
        std::string_view frame = in.take(in.u16());
        auto msg = decode_metadata_message(frame);
        if (!msg.ok()) continue;
        check_one(*msg);
        if (msg->type != MetadataType::data) continue;
        if (!a.initialized()) {
            if (msg->total_size > kFuzzMaxSize) continue;
            FUZZ_CHECK(a.init(msg->total_size));
            FUZZ_CHECK(a.piece_count() == metadata_piece_count(msg->total_size));
        }
        bool fits = msg->piece < a.piece_count() && msg->data.size() == metadata_piece_size(a.size(), msg->piece);
        bool had = a.have(msg->piece);
        auto st = a.add(msg->piece, msg->data);
        FUZZ_CHECK(st.ok() == fits);
        FUZZ_CHECK(a.have(msg->piece) == (had || fits));
        std::uint32_t want = a.next_wanted(now, 16);
        if (want != UINT32_MAX) {
            FUZZ_CHECK(want < a.piece_count());
            FUZZ_CHECK(!a.have(want));
        }
        if (a.complete()) {
            FUZZ_CHECK(a.next_wanted(now) == UINT32_MAX);
            std::string hash = p2p::sha1(a.bytes());
            if (now & 1) { // sometimes the wrong hash: everything must be forgotten
                hash[0] ^= 1;
                FUZZ_CHECK(!a.verify(hash));
                FUZZ_CHECK(!a.complete());
                for (std::uint32_t i = 0; i < a.piece_count(); ++i) FUZZ_CHECK(!a.have(i));
            } else {
                FUZZ_CHECK(a.verify(hash));
                return 0;
            }
        }
    }
    return 0;
}
