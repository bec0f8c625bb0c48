// The fixed parties of the mse fuzz target, shared with make_corpus.cpp so the seeds are real handshakes the
// target's fixed-key initiator and responder complete: with both private keys fixed, every message is
// deterministic, and a seed recorded once stays valid.
//
// Input layout of fuzz_mse: [flags][chunking][stream...]
//   flags bit0 the target plays the initiator (else the responder); bits1-2 policy.allowed (0 means both);
//   bit3 prefer_rc4; bits4-5 the fixed pad length (0..3).
//   chunking 0: the stream in one feed(); n > 0: pieces of 1..n bytes (a pseudo-random sequence seeded by n).
#pragma once
#include <string>
#include <utility>

#include "proto/mse.hpp"

namespace fuzz {

inline const std::string kMseSkey(20, 'S');
inline const std::string kMseKeyA(20, '\x5a');
inline const std::string kMseKeyB(20, '\xa5');
inline const std::string kMseIa = "\x13"
                                  "BitTorrent protocol (fuzz IA)";

struct MseFlags {
    bool initiator = false;
    std::uint32_t allowed = p2p::mse::kPlaintext | p2p::mse::kRc4;
    bool prefer_rc4 = true;
    std::size_t pad = 0;

    static MseFlags from(std::uint8_t f) {
        MseFlags m;
        m.initiator = f & 1;
        m.allowed = (f >> 1) & 3;
        if (m.allowed == 0) m.allowed = p2p::mse::kPlaintext | p2p::mse::kRc4;
        m.prefer_rc4 = f & 8;
        m.pad = (f >> 4) & 3;
        return m;
    }
    std::uint8_t byte() const {
        return static_cast<std::uint8_t>((initiator ? 1 : 0) | ((allowed & 3) << 1) | (prefer_rc4 ? 8 : 0) |
                                         ((pad & 3) << 4));
    }
    p2p::mse::Policy policy() const { return {allowed, prefer_rc4}; }
};

inline p2p::mse::SkeyLookup mse_lookup() {
    return [](std::string_view req2) -> std::optional<std::string> {
        if (req2 == p2p::mse::req2_hash(kMseSkey)) return kMseSkey;
        return std::nullopt;
    };
}

inline p2p::mse::Handshake mse_party(const MseFlags& f) {
    using p2p::mse::Handshake;
    p2p::mse::Fixed fixed{f.initiator ? kMseKeyA : kMseKeyB, f.pad};
    if (f.initiator) return Handshake::initiator(kMseSkey, f.policy(), kMseIa, fixed);
    return Handshake::responder(mse_lookup(), f.policy(), fixed);
}

// A whole handshake between the fixed parties: {what A sent, what B sent}.
inline std::pair<std::string, std::string> mse_streams(MseFlags a, MseFlags b) {
    a.initiator = true;
    b.initiator = false;
    auto ha = mse_party(a), hb = mse_party(b);
    std::string to_b, to_a;
    for (int round = 0; round < 4; ++round) {
        std::string x = ha.take_output();
        to_b += x;
        std::size_t used = 0;
        hb.feed(x, used);
        std::string y = hb.take_output();
        to_a += y;
        ha.feed(y, used);
    }
    return {to_b, to_a};
}

} // namespace fuzz
