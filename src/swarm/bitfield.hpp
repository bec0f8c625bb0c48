// Compact set of piece indices, and its BEP 3 wire form.
//
// BEP 3 "bitfield" message: byte 0's high bit is piece 0; the length is ceil(num_pieces / 8) bytes and the spare
// bits at the end must be zero. Internally the bits live in 64-bit words, bit i at word i/64, mask 1 << (i%64),
// so counting and "any piece they have that we lack" run a word at a time. Spare bits of the last word are always
// zero (every mutator keeps that invariant) so count()/all() need no masking.
#pragma once
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace p2p::swarm {

class Bitfield {
public:
    Bitfield() = default;
    explicit Bitfield(std::size_t nbits, bool value = false);

    std::size_t size() const { return nbits_; }
    bool get(std::size_t i) const { return (words_[i >> 6] >> (i & 63)) & 1u; }
    bool operator[](std::size_t i) const { return get(i); }
    // Preconditions: i < size(). Keeps the cached count exact.
    void set(std::size_t i, bool value = true);
    void reset(std::size_t i) { set(i, false); }
    void set_all();
    void reset_all();

    std::size_t count() const { return count_; } // O(1): cached
    bool all() const { return count_ == nbits_; }
    bool none() const { return count_ == 0; }
    bool any() const { return count_ != 0; }

    // True when this has a bit that `other` lacks (sizes must match; false otherwise). O(size/64).
    // "Is the peer interesting?" is peer_has.has_any_not_in(we_have).
    bool has_any_not_in(const Bitfield& other) const;

    const std::vector<std::uint64_t>& words() const { return words_; }

    // Calls fn(i) for every set bit i in increasing order, a word at a time (skips empty words; O(size/64 +
    // count)). fn must not modify this bitfield.
    template <class F>
    void for_each_set(F fn) const {
        for (std::size_t w = 0; w < words_.size(); ++w) {
            for (std::uint64_t v = words_[w]; v; v &= v - 1)
                fn(static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(v))));
        }
    }

    // BEP 3 wire bytes: exactly ceil(nbits/8) bytes, high bit first, spare bits zero — otherwise an error
    // (op "bitfield.from_wire"). A peer sending a bad bitfield must be disconnected (BEP 3).
    static Result<Bitfield> from_wire(std::string_view bytes, std::size_t nbits);
    std::string to_wire() const;
    static std::size_t wire_size(std::size_t nbits) { return (nbits + 7) / 8; }

    bool operator==(const Bitfield& o) const { return nbits_ == o.nbits_ && words_ == o.words_; }

private:
    std::vector<std::uint64_t> words_;
    std::size_t nbits_ = 0;
    std::size_t count_ = 0;
};

} // namespace p2p::swarm
