#include "swarm/bitfield.hpp"

#include <bit>

namespace p2p::swarm {

Bitfield::Bitfield(std::size_t nbits, bool value) : words_((nbits + 63) / 64, 0), nbits_(nbits) {
    if (value) set_all();
}

void Bitfield::set(std::size_t i, bool value) {
    std::uint64_t& w = words_[i >> 6];
    const std::uint64_t mask = std::uint64_t{1} << (i & 63);
    const bool old = (w & mask) != 0;
    if (old == value) return;
    if (value) {
        w |= mask;
        ++count_;
    } else {
        w &= ~mask;
        --count_;
    }
}

void Bitfield::set_all() {
    for (auto& w : words_) w = ~std::uint64_t{0};
    if (nbits_ & 63) words_.back() = (std::uint64_t{1} << (nbits_ & 63)) - 1; // keep spare bits zero
    count_ = nbits_;
}

void Bitfield::reset_all() {
    for (auto& w : words_) w = 0;
    count_ = 0;
}

bool Bitfield::has_any_not_in(const Bitfield& other) const {
    if (other.nbits_ != nbits_) return false;
    for (std::size_t k = 0; k < words_.size(); ++k)
        if (words_[k] & ~other.words_[k]) return true;
    return false;
}

Result<Bitfield> Bitfield::from_wire(std::string_view bytes, std::size_t nbits) {
    if (bytes.size() != wire_size(nbits))
        return make_error("bitfield.from_wire",
                          "length " + std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(wire_size(nbits)) + " for " + std::to_string(nbits) + " pieces",
                          Errc::bad_input);
    // BEP 3: "Spare bits at the end are set to zero. Clients receiving a bitfield of the wrong length should drop
    // the connection" — same for non-zero spare bits.
    if (nbits & 7) {
        const auto last = static_cast<std::uint8_t>(bytes.back());
        const std::uint8_t spare_mask = static_cast<std::uint8_t>(0xffu >> (nbits & 7));
        if (last & spare_mask)
            return make_error("bitfield.from_wire", "spare bits set in the last byte", Errc::bad_input);
    }
    Bitfield b(nbits);
    std::size_t count = 0;
    for (std::size_t byte = 0; byte < bytes.size(); ++byte) {
        const auto v = static_cast<std::uint8_t>(bytes[byte]);
        if (!v) continue;
        count += static_cast<std::size_t>(std::popcount(v));
        // Wire bit 7 of byte k is piece 8k; internal bit j of a word is piece 64w + j.
        for (int bit = 0; bit < 8; ++bit)
            if (v & (0x80u >> bit)) {
                const std::size_t i = byte * 8 + static_cast<std::size_t>(bit);
                b.words_[i >> 6] |= std::uint64_t{1} << (i & 63);
            }
    }
    b.count_ = count;
    return b;
}

std::string Bitfield::to_wire() const {
    std::string out(wire_size(nbits_), '\0');
    for (std::size_t w = 0; w < words_.size(); ++w) {
        std::uint64_t v = words_[w];
        while (v) {
            const int j = std::countr_zero(v);
            v &= v - 1;
            const std::size_t i = w * 64 + static_cast<std::size_t>(j);
            out[i >> 3] = static_cast<char>(static_cast<std::uint8_t>(out[i >> 3]) | (0x80u >> (i & 7)));
        }
    }
    return out;
}

} // namespace p2p::swarm
