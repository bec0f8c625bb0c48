// splitmix64: the tiny seedable random source of the picker's tie-breaks, the choker's optimistic draw and the
// seed's suggestion sampling.
// Good enough to spread choices across a swarm; not for secrets.
#pragma once
#include <cstdint>

namespace p2p::swarm {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

} // namespace p2p::swarm
