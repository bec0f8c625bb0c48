// MSE/PE (Message Stream Encryption, the "BitTorrent protocol encryption" of Azureus, libtorrent, Transmission
// and aria2): the handshake of one side as a pure state machine. Bytes in, bytes to send out, and at the end the
// method both sides chose with the two RC4 ciphers. No I/O: net/mse_stream.hpp runs it over a Transport.
//
// The handshake (A dials, B answers; S = the DH secret, SKEY = the torrent's info hash):
//   1 A->B: Ya (96 bytes), PadA (0..512 random bytes)
//   2 B->A: Yb, PadB
//   3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//           ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//   4 B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload stream)
//   5 A->B: ENCRYPT2(payload stream)
// ENCRYPT is RC4 keyed with HASH('keyA', S, SKEY) for A's bytes and HASH('keyB', S, SKEY) for B's, the first 1024
// bytes of each key stream discarded; each direction's RC4 stream runs on from the handshake into the payload.
// ENCRYPT2 is that same RC4 stream when RC4 was selected, nothing (plaintext) when plaintext was.
//
// RC4 is obfuscation against traffic shaping, not security: anyone who knows the info hash can read the stream.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "crypto/rc4.hpp"

namespace p2p::mse {

// crypto_provide / crypto_select bits (MSE spec).
inline constexpr std::uint32_t kPlaintext = 0x01;
inline constexpr std::uint32_t kRc4 = 0x02;

inline constexpr std::size_t kKeySize = 96;     // Ya, Yb and S: 768-bit numbers, big-endian
inline constexpr std::size_t kMaxPad = 512;     // PadA, PadB, PadC, PadD
inline constexpr std::size_t kVcSize = 8;       // VC: eight zero bytes
inline constexpr std::size_t kMaxIa = 68 + 512; // our bound on IA: a BitTorrent handshake and then some
// The whole handshake's bytes from the other side are bounded by these; a side that needs more is refused.

enum class Role { initiator, responder };

// Which methods this side accepts. prefer_rc4: a responder offered both selects RC4.
struct Policy {
    std::uint32_t allowed = kPlaintext | kRc4;
    bool prefer_rc4 = true;
};

// Responder: maps HASH('req2', SKEY) (20 bytes) to SKEY (the 20-byte info hash) among the torrents we serve;
// nullopt when we have none with that hash.
using SkeyLookup = std::function<std::optional<std::string>(std::string_view req2_hash)>;

// Test hooks: a fixed DH private key (20 bytes, big-endian; otherwise random) and fixed pad lengths with zero
// pad bytes (otherwise random lengths and bytes), so a handshake can be compared with golden bytes.
struct Fixed {
    std::string private_key;
    std::optional<std::size_t> pad_len;
};

enum class Step { need_more, done, failed };

class Handshake {
public:
    // A: `info_hash` is SKEY (20 bytes). `ia` (may be empty, at most kMaxIa) is sent encrypted in message 3.
    static Handshake initiator(std::string info_hash, Policy policy, std::string ia = {}, Fixed fixed = {});
    // B: the first bytes of the other side's stream are fed through feed() like all others.
    static Handshake responder(SkeyLookup lookup, Policy policy, Fixed fixed = {});

    Handshake(Handshake&&) noexcept;
    Handshake& operator=(Handshake&&) noexcept;
    ~Handshake();

    // Bytes to send now (message 1 right after creation for A; message 2 after A's first 96 bytes for B, ...).
    // Moves them out: a second call returns only what was produced since. Call it after every feed(), including
    // the one that returns done (B's message 4 is produced then, and must go out before any payload). After
    // failed it returns nothing: whatever was pending is dropped, there is nothing left worth sending.
    std::string take_output();

    // Feeds received bytes. `consumed` is how many of `in` the handshake used; on done, the bytes after it
    // (in[consumed..]) are the start of the payload stream, still encrypted when RC4 was selected: decrypt them
    // with decryptor(). On failed, error() says why (Errc::bad_input for a protocol violation, Errc::not_found for
    // an unknown SKEY, Errc::refused for no common method).
    Step feed(std::string_view in, std::size_t& consumed);

    // After done:
    std::uint32_t selected() const;       // kPlaintext or kRc4
    const std::string& info_hash() const; // SKEY (the responder learnt it from the lookup)
    // Responder: IA, decrypted (the initiator's first payload bytes, usually its BitTorrent handshake).
    std::string take_initial_payload();
    // The RC4 streams of the payload, positioned after the handshake (meaningful when selected() == kRc4).
    Rc4 take_encryptor();
    Rc4 take_decryptor();

    const Error& error() const;

    // Bytes of the other side's stream the handshake will read at most before it must be done (the bound a
    // transport applies): a responder's worst case; an initiator reads at most 96 + 512 + 8 + 6 + 512.
    static constexpr std::size_t kMaxHandshakeIn =
        kKeySize + kMaxPad + 20 + 20 + kVcSize + 4 + 2 + kMaxPad + 2 + kMaxIa;

private:
    struct State;
    explicit Handshake(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

// Pure helpers, exposed for golden-byte tests.
// HASH(a, b, ...) is SHA-1 of the concatenation.
std::string req1_hash(std::string_view s);                            // HASH('req1', S)
std::string req2_xor_req3(std::string_view skey, std::string_view s); // HASH('req2', SKEY) xor HASH('req3', S)
std::string req2_hash(std::string_view skey);                         // HASH('req2', SKEY), the lookup key
// The RC4 key for A's (initiator's) or B's bytes: HASH('keyA' or 'keyB', S, SKEY).
std::string stream_key(Role sender, std::string_view s, std::string_view skey);

} // namespace p2p::mse
