// MSE/PE handshake (proto/mse.hpp) as a state machine over phases. Each phase either waits for a fixed number
// of bytes (collected in `buf`, then handled at once) or searches for a pattern whose position the other side
// hid behind a random pad (PadA before HASH('req1', S), PadB before ENCRYPT(VC)). A phase never takes more
// bytes than it can use, so whatever follows the handshake stays with the caller.
//
// Spec: "Message Stream Encryption" (Azureus wiki, 2006), as libtorrent, Transmission and aria2 implement it.
#include "proto/mse.hpp"

#include <algorithm>
#include <utility>

#include "base/assert.hpp"
#include "base/bytes.hpp"
#include "crypto/dh.hpp"
#include "crypto/random.hpp"
#include "crypto/sha.hpp"

namespace p2p::mse {

namespace {

constexpr std::size_t kHashSize = 20;           // SHA-1: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S), SKEY
constexpr std::size_t kDiscard = 1024;          // MSE spec: the first 1024 bytes of each RC4 stream are discarded
constexpr std::size_t kOurPadMax = 64;          // ours: random pads of 0..64 bytes (the spec allows up to kMaxPad)
constexpr std::size_t kHeadR = kVcSize + 4 + 2; // message 3, encrypted: VC, crypto_provide, len(PadC)
constexpr std::size_t kHeadI = 4 + 2;           // message 4, after VC: crypto_select, len(PadD)
constexpr std::uint32_t kKnown = kPlaintext | kRc4;
constexpr const char* kOp = "mse";

static_assert(Handshake::kMaxHandshakeIn ==
              kKeySize + (kMaxPad + kHashSize) + kHashSize + kHeadR + kMaxPad + 2 + kMaxIa);

enum class Phase {
    r_ya,     // responder: Ya (96)
    r_sync,   // PadA, then HASH('req1', S) within kMaxPad + 20 bytes
    r_skey,   // HASH('req2', SKEY) xor HASH('req3', S) (20)
    r_head,   // ENCRYPT(VC, crypto_provide, len(PadC)) (14)
    r_padc,   // ENCRYPT(PadC)
    r_ia_len, // ENCRYPT(len(IA)) (2)
    r_ia,     // ENCRYPT(IA)
    i_yb,     // initiator: Yb (96)
    i_sync,   // PadB, then ENCRYPT(VC) within kMaxPad + 8 bytes
    i_head,   // ENCRYPT(crypto_select, len(PadD)) (6)
    i_padd,   // ENCRYPT(PadD)
    done,
    failed,
};

std::string hash_of(std::string_view a, std::string_view b, std::string_view c = {}) {
    Sha1 h;
    h.update(a);
    h.update(b);
    h.update(c);
    return h.finish();
}

std::string xor20(std::string_view a, std::string_view b) {
    std::string out(kHashSize, '\0');
    for (std::size_t i = 0; i < kHashSize; ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
    return out;
}

bool all_zero(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

MseDh make_dh(const Fixed& fixed) { return fixed.private_key.empty() ? MseDh() : MseDh(fixed.private_key); }

} // namespace

struct Handshake::State {
    State(Role r, Policy p, Fixed f) : role(r), policy(p), fixed(std::move(f)), dh(make_dh(fixed)) {}

    Role role;
    Policy policy;
    Fixed fixed;
    SkeyLookup lookup; // responder
    std::string skey;  // the initiator's from the start, the responder's from the lookup
    std::string ia;    // initiator: IA to send; responder: IA received (kMaxIa at most)
    MseDh dh;
    std::string secret; // S, 96 bytes, once the other side's key arrived
    Phase phase = Phase::failed;
    std::size_t need = 0;       // fixed-size phases: how many bytes `buf` must hold
    std::string buf;            // this phase's bytes so far: at most kMaxPad + 20
    std::string pattern;        // sync phases: what to search for
    std::size_t total_in = 0;   // bytes consumed from the other side, at most kMaxHandshakeIn
    std::string out;            // to send, until take_output()
    Rc4 enc, dec;               // our bytes, the other side's bytes
    std::uint32_t provided = 0; // initiator: what we offered
    std::uint32_t selected = 0; // after done
    Error error;

    void fail(std::string what, Errc code) {
        error = make_error(kOp, std::move(what), code);
        phase = Phase::failed;
        out.clear(); // nothing we produced is worth sending: the caller closes the connection
        buf.clear();
    }
    void expect(Phase p, std::size_t n) {
        phase = p;
        need = n;
    }
    std::string pad() const {
        if (fixed.pad_len) return std::string(std::min(*fixed.pad_len, kMaxPad), '\0');
        std::string p(random_u32() % (kOurPadMax + 1), '\0');
        random_bytes(p.data(), p.size());
        return p;
    }
    bool is_sync() const { return phase == Phase::r_sync || phase == Phase::i_sync; }
    std::size_t sync_limit() const { return kMaxPad + pattern.size(); }

    bool fill_step(std::string_view in, std::size_t& consumed);
    bool sync_step(std::string_view in, std::size_t& consumed);
    void handle(std::string field);
    bool take_secret(std::string_view other_key);

    void on_ya(std::string_view ya);
    void on_skey(std::string_view xored);
    void on_head_r(std::string& field);
    void on_ia(std::string field);
    void on_yb(std::string_view yb);
    void on_head_i(std::string& field);
    void send_message_1();
};

// ---- stepping

// A fixed-size phase: collects up to `need` bytes, handles them when complete. Returns whether the phase ended
// (false: every byte of `in` was taken and more are needed).
bool Handshake::State::fill_step(std::string_view in, std::size_t& consumed) {
    std::size_t take = std::min(need - buf.size(), in.size() - consumed);
    buf.append(in.substr(consumed, take));
    consumed += take;
    total_in += take;
    if (buf.size() < need) return false;
    std::string field = std::move(buf);
    buf.clear();
    handle(std::move(field));
    return true;
}

// A sync phase: appends bytes up to the search bound and looks for `pattern` in what is new; takes only the
// bytes up to the end of the match. Returns whether the phase ended (found, or failed at the bound).
bool Handshake::State::sync_step(std::string_view in, std::size_t& consumed) {
    std::size_t old = buf.size();
    std::size_t take = std::min(sync_limit() - old, in.size() - consumed);
    buf.append(in.substr(consumed, take));
    // A match ending in the old bytes would have been found by an earlier call.
    std::size_t from = old >= pattern.size() ? old - pattern.size() + 1 : 0;
    std::size_t at = buf.find(pattern, from);
    if (at != std::string::npos) {
        std::size_t used = at + pattern.size() - old; // bytes of this call up to the end of the match
        consumed += used;
        total_in += used;
        buf.clear();
        if (phase == Phase::r_sync) {
            expect(Phase::r_skey, kHashSize);
        } else {
            expect(Phase::i_head, kHeadI);
        }
        return true;
    }
    consumed += take;
    total_in += take;
    if (buf.size() < sync_limit()) return false;
    fail(phase == Phase::r_sync ? "no HASH('req1', S) within 512 bytes after Ya"
                                : "no ENCRYPT(VC) within 512 bytes after Yb",
         Errc::bad_input);
    return true;
}

void Handshake::State::handle(std::string field) {
    switch (phase) {
    case Phase::r_ya: on_ya(field); return;
    case Phase::r_skey: on_skey(field); return;
    case Phase::r_head: on_head_r(field); return;
    case Phase::r_padc:
        dec.crypt(field); // PadC: content unused, but it runs the stream on
        expect(Phase::r_ia_len, 2);
        return;
    case Phase::r_ia_len: {
        dec.crypt(field);
        std::size_t n = read_be16(field, 0);
        if (n > kMaxIa) return fail("IA of " + std::to_string(n) + " bytes, more than 580", Errc::bad_input);
        expect(Phase::r_ia, n);
        return;
    }
    case Phase::r_ia: on_ia(std::move(field)); return;
    case Phase::i_yb: on_yb(field); return;
    case Phase::i_head: on_head_i(field); return;
    case Phase::i_padd:
        dec.crypt(field);
        phase = Phase::done;
        return;
    case Phase::r_sync:
    case Phase::i_sync:
    case Phase::done:
    case Phase::failed: break;
    }
    P2P_ASSERT(false, "mse: handle() in a phase without a fixed-size field");
    fail("internal state", Errc::bad_input);
}

// ---- both sides

// S from the other side's public key; false (and failed) when the key is out of range.
bool Handshake::State::take_secret(std::string_view other_key) {
    auto s = dh.shared_secret(other_key);
    if (!s) {
        fail(s.error().what, Errc::bad_input);
        return false;
    }
    secret = std::move(*s);
    return true;
}

// ---- responder

void Handshake::State::on_ya(std::string_view ya) {
    if (!take_secret(ya)) return;
    out += dh.public_key(); // message 2: Yb, PadB
    out += pad();
    pattern = req1_hash(secret);
    phase = Phase::r_sync;
}

void Handshake::State::on_skey(std::string_view xored) {
    std::string req2 = xor20(xored, hash_of("req3", secret));
    std::optional<std::string> found = lookup ? lookup(req2) : std::nullopt;
    if (!found || found->size() != kHashSize) return fail("no torrent with that HASH('req2', SKEY)", Errc::not_found);
    skey = std::move(*found);
    dec = Rc4(stream_key(Role::initiator, secret, skey), kDiscard);
    enc = Rc4(stream_key(Role::responder, secret, skey), kDiscard);
    expect(Phase::r_head, kHeadR);
}

void Handshake::State::on_head_r(std::string& field) {
    dec.crypt(field);
    if (!all_zero(std::string_view(field).substr(0, kVcSize)))
        return fail("VC is not zero (wrong SKEY or S)", Errc::bad_input);
    std::uint32_t provide = read_be32(field, kVcSize);
    std::size_t pad_c = read_be16(field, kVcSize + 4);
    if (pad_c > kMaxPad) return fail("len(PadC) " + std::to_string(pad_c) + " > 512", Errc::bad_input);
    std::uint32_t common = provide & policy.allowed & kKnown;
    if (common == 0) return fail("no common method (crypto_provide " + std::to_string(provide) + ")", Errc::refused);
    if (common == kKnown) common = policy.prefer_rc4 ? kRc4 : kPlaintext;
    selected = common;
    expect(Phase::r_padc, pad_c);
}

void Handshake::State::on_ia(std::string field) {
    dec.crypt(field);
    ia = std::move(field);
    std::string pad_d = pad(); // message 4: ENCRYPT(VC, crypto_select, len(PadD), PadD)
    std::string msg(kVcSize, '\0');
    put_be32(msg, selected);
    put_be16(msg, static_cast<std::uint16_t>(pad_d.size()));
    msg += pad_d;
    enc.crypt(msg);
    out += msg;
    phase = Phase::done;
}

// ---- initiator

void Handshake::State::send_message_1() {
    out += dh.public_key();
    out += pad();
    expect(Phase::i_yb, kKeySize);
}

void Handshake::State::on_yb(std::string_view yb) {
    if (!take_secret(yb)) return;
    enc = Rc4(stream_key(Role::initiator, secret, skey), kDiscard);
    dec = Rc4(stream_key(Role::responder, secret, skey), kDiscard);
    // B's VC is its key stream's first 8 bytes applied to zeros; computing it runs `dec` past VC.
    pattern = dec.crypted(std::string(kVcSize, '\0'));
    // Message 3: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S), ENCRYPT(VC, crypto_provide, len(PadC),
    // PadC, len(IA)), ENCRYPT(IA).
    out += req1_hash(secret);
    out += req2_xor_req3(skey, secret);
    std::string pad_c = pad();
    std::string msg(kVcSize, '\0');
    put_be32(msg, provided);
    put_be16(msg, static_cast<std::uint16_t>(pad_c.size()));
    msg += pad_c;
    put_be16(msg, static_cast<std::uint16_t>(ia.size()));
    msg += ia;
    enc.crypt(msg);
    out += msg;
    ia.clear();
    phase = Phase::i_sync;
}

void Handshake::State::on_head_i(std::string& field) {
    dec.crypt(field);
    std::uint32_t select = read_be32(field, 0);
    if ((select != kPlaintext && select != kRc4) || (select & provided) == 0)
        return fail("crypto_select " + std::to_string(select) + " is not one method we offered", Errc::bad_input);
    std::size_t pad_d = read_be16(field, 4);
    if (pad_d > kMaxPad) return fail("len(PadD) " + std::to_string(pad_d) + " > 512", Errc::bad_input);
    selected = select;
    expect(Phase::i_padd, pad_d);
}

// ---- public

Handshake::Handshake(std::unique_ptr<State> s) : s_(std::move(s)) {}
Handshake::Handshake(Handshake&&) noexcept = default;
Handshake& Handshake::operator=(Handshake&&) noexcept = default;
Handshake::~Handshake() = default;

Handshake Handshake::initiator(std::string info_hash, Policy policy, std::string ia, Fixed fixed) {
    bool key_ok = fixed.private_key.empty() || fixed.private_key.size() == MseDh::kPrivateKeySize;
    auto st = std::make_unique<State>(Role::initiator, policy, std::move(fixed));
    st->skey = std::move(info_hash);
    st->ia = std::move(ia);
    st->provided = policy.allowed & kKnown;
    if (st->skey.size() != kHashSize) {
        st->fail("info hash of " + std::to_string(st->skey.size()) + " bytes", Errc::bad_input);
    } else if (st->ia.size() > kMaxIa) {
        st->fail("IA of " + std::to_string(st->ia.size()) + " bytes, more than 580", Errc::bad_input);
    } else if (!key_ok) {
        st->fail("fixed private key is not 20 bytes", Errc::bad_input);
    } else if (st->provided == 0) {
        st->fail("the policy allows no method", Errc::refused);
    } else {
        st->send_message_1();
    }
    return Handshake(std::move(st));
}

Handshake Handshake::responder(SkeyLookup lookup, Policy policy, Fixed fixed) {
    bool key_ok = fixed.private_key.empty() || fixed.private_key.size() == MseDh::kPrivateKeySize;
    auto st = std::make_unique<State>(Role::responder, policy, std::move(fixed));
    st->lookup = std::move(lookup);
    if (!key_ok) {
        st->fail("fixed private key is not 20 bytes", Errc::bad_input);
    } else {
        st->expect(Phase::r_ya, kKeySize);
    }
    return Handshake(std::move(st));
}

std::string Handshake::take_output() { return std::exchange(s_->out, std::string()); }

Step Handshake::feed(std::string_view in, std::size_t& consumed) {
    consumed = 0;
    State& st = *s_;
    for (;;) {
        if (st.phase == Phase::done) return Step::done;
        if (st.phase == Phase::failed) return Step::failed;
        bool ended = st.is_sync() ? st.sync_step(in, consumed) : st.fill_step(in, consumed);
        P2P_ASSERT(st.total_in <= kMaxHandshakeIn, "mse: handshake read past its bound");
        if (!ended) return Step::need_more;
    }
}

std::uint32_t Handshake::selected() const { return s_->phase == Phase::done ? s_->selected : 0; }
const std::string& Handshake::info_hash() const { return s_->skey; }
std::string Handshake::take_initial_payload() {
    if (s_->role != Role::responder) return {};
    return std::exchange(s_->ia, std::string());
}
Rc4 Handshake::take_encryptor() { return std::exchange(s_->enc, Rc4()); }
Rc4 Handshake::take_decryptor() { return std::exchange(s_->dec, Rc4()); }
const Error& Handshake::error() const { return s_->error; }

// ---- helpers

std::string req1_hash(std::string_view s) { return hash_of("req1", s); }
std::string req2_hash(std::string_view skey) { return hash_of("req2", skey); }
std::string req2_xor_req3(std::string_view skey, std::string_view s) {
    return xor20(req2_hash(skey), hash_of("req3", s));
}
std::string stream_key(Role sender, std::string_view s, std::string_view skey) {
    return hash_of(sender == Role::initiator ? "keyA" : "keyB", s, skey);
}

} // namespace p2p::mse
