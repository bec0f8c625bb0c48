// Fuzz target: decode_resume (the JSON resume record). Invariants: an accepted record is consistent
// (20-byte hash, one have bit per piece) and encode_resume of it decodes to an equal record.
#include "fuzz_common.hpp"
#include "storage/resume.hpp"

using namespace p2p;

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = decode_resume(fuzz::as_view(data, size));
    if (!r.ok()) return 0;
    FUZZ_CHECK(r->info_hash.size() == 20);
    FUZZ_CHECK(r->have.size() == r->piece_count);
    auto again = decode_resume(encode_resume(*r));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->info_hash == r->info_hash && again->piece_count == r->piece_count && again->have == r->have &&
               again->files == r->files);
    return 0;
}
