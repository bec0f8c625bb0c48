// What udp-load and http-load must derive alike, so that bench-tracker's whitelist (written from `udp-load
// --print-hashes`) holds the hashes both tools announce, and a peer is the same peer over either transport.
#pragma once
#include <cstddef>
#include <cstdint>

#include "proto/udp_tracker.hpp"

namespace loadgen {

// splitmix64: a small deterministic mixer, so hashes and peers derive from (seed, index) alone.
inline std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Torrent i of the run with this seed.
inline p2p::udp::Hash20 info_hash(std::uint64_t seed, std::uint32_t i) {
    p2p::udp::Hash20 h;
    std::uint64_t s = mix(seed * 0x100000001b3ULL + i);
    for (std::size_t k = 0; k < 20; ++k) {
        if (k % 8 == 0) s = mix(s);
        h.b[k] = static_cast<std::uint8_t>(s >> ((k % 8) * 8));
    }
    return h;
}

// The bits peer j of torrent t is made from (its id, port, whether it seeds).
inline std::uint64_t peer_bits(std::uint64_t seed, std::uint32_t t, std::uint32_t j) {
    return mix((std::uint64_t(t) << 20) ^ j ^ (seed << 52));
}

} // namespace loadgen
