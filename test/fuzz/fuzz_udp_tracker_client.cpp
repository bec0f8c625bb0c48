// Fuzz target: every BEP 15 / catalog reply decoder a client runs on a tracker's datagram, for IPv4 and IPv6.
#include "udp_check.hpp"

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto pkt = fuzz::as_view(data, size);
    fuzz::check_responses(pkt, false);
    fuzz::check_responses(pkt, true);
    return 0;
}
