// MSE/PE: the Diffie-Hellman of crypto/dh.hpp and the handshake codec of proto/mse.hpp against golden bytes from
// an independent Python implementation (tools/mse_golden.py: rerun it and paste its output below after changing
// a parameter), then the same handshake split at every byte boundary, every method choice, and every refusal.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "base/bytes.hpp"
#include "crypto/dh.hpp"
#include "crypto/rc4.hpp"
#include "proto/mse.hpp"

using namespace p2p;
using namespace p2p::mse;

namespace {

std::string hex(std::string_view h) {
    std::string out;
    if (!from_hex(h, out)) out = "<bad hex>";
    return out;
}

std::string range_bytes(int first, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(first + i));
    return s;
}

// The parameters of tools/mse_golden.py.
const std::string kXa = range_bytes(0x01, 20);
const std::string kXb = range_bytes(0xA1, 20);
const std::string kSkey = "infohash-infohash-20";
const std::string kIa = "initial payload IA";
constexpr std::size_t kPad = 3;

// tools/mse_golden.py output.
const std::string kYa =
    hex("96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e02a87f7e5fb14b18a"
        "553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d79896312aad63238c39e1a633821eb693");
const std::string kYb =
    hex("6f72c10f7c5cb043a9f36fa7089d06b8e6dfac4e4a1aa6b0132d7ab064b33c595079f97e083b5d2dd56908c635c06cfd"
        "18da020eaf0da28bb27f7a2feb2cdd93260c139a59bf00aa7fffb754d3ffd63f2c4e911b84b8dc080e0e198f2cb9f510");
const std::string kS =
    hex("647917bf1d8fa2dd2287ca80f6f3c81d3b2b46731e2cd43a15c49e6c912c1dd3daf8a43b3b12057c27bb91ebdf21d771"
        "d001ea17e04705a62d6732246dbd9cf7e0f79cb490e75962697d487eec5ca71bfa112a3323445eb2e25a7f472854e83d");
const std::string kReq1 = hex("90896606dafbb8f455a81bebcc266214333441a1");
const std::string kReq2 = hex("4a2772730f69b4da9d18ed73ce5bf81f0d35c68a");
const std::string kReq2XorReq3 = hex("29511c1601023309ddf73329a94a8347598116a9");
const std::string kKeyA = hex("7fc099966fd47b30e7d75689d784a1aacda1e246");
const std::string kKeyB = hex("4ca15fae022a4d015716a567c5d5e080835c1e90");
const std::string kMsg1 = kYa + std::string(kPad, '\0');
const std::string kMsg2 = kYb + std::string(kPad, '\0');
const std::string kMsg3 =
    hex("90896606dafbb8f455a81bebcc266214333441a129511c1601023309ddf73329a94a8347598116a9d0528c2c472c75e6"
        "28c12f1769b46aebe657f6ace07c1f4cf37dd13a5f8aeac49891ea306a");
const std::string kMsg4 = hex("542486cc351729cd50c93728d98cf291df");
const std::string kMsg4Plain = hex("542486cc351729cd50c9372bd98cf291df");
const std::string kPayloadA = hex("b5320a6d7e7b3261728552bf");
const std::string kPayloadB = hex("e21a57d34c2b8911d59bae97");

// The 768-bit prime's big-endian bytes (MSE spec), for the range checks.
const std::string kP = hex("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
                           "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F4"
                           "4C42E9A63A36210000000000090563");

std::string be_small(unsigned v) { // 96 bytes holding a small number
    std::string s(96, '\0');
    s[95] = static_cast<char>(v);
    return s;
}
std::string p_minus(unsigned v) { // P - v for v <= 0x63 (P ends in 0x63)
    std::string s = kP;
    s[95] = static_cast<char>(static_cast<unsigned char>(s[95]) - v);
    return s;
}

SkeyLookup knows(std::string skey) {
    return [skey](std::string_view req2) -> std::optional<std::string> {
        if (req2 == req2_hash(skey)) return skey;
        return std::nullopt;
    };
}

Policy policy(std::uint32_t allowed, bool prefer_rc4 = true) { return Policy{allowed, prefer_rc4}; }
Handshake golden_a(Policy p = {}) { return Handshake::initiator(kSkey, p, kIa, Fixed{kXa, kPad}); }
Handshake golden_b(Policy p = {}) { return Handshake::responder(knows(kSkey), p, Fixed{kXb, kPad}); }

// Feeds `bytes` in pieces cut at `cuts` (ascending offsets); the step of the last call. Adds what was consumed to
// `used`; a piece is fed on only while the handshake needs more.
Step feed_cut(Handshake& h, std::string_view bytes, const std::vector<std::size_t>& cuts, std::size_t& used) {
    Step step = Step::need_more;
    std::size_t from = 0;
    auto piece = [&](std::size_t to) {
        std::size_t c = 99999;
        step = h.feed(bytes.substr(from, to - from), c);
        if (step == Step::need_more) CHECK(c == to - from); // need_more takes every byte
        CHECK(c <= to - from);
        used += c;
        from = to;
    };
    for (std::size_t cut : cuts) {
        if (step != Step::need_more) break;
        piece(cut);
    }
    if (step == Step::need_more) piece(bytes.size());
    return step;
}
Step feed_all(Handshake& h, std::string_view bytes, std::size_t& used) { return feed_cut(h, bytes, {}, used); }
Step feed_bytewise(Handshake& h, std::string_view bytes, std::size_t& used) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i) cuts.push_back(i);
    return feed_cut(h, bytes, cuts, used);
}

// One message's delivery: how message `n` (1..4) is cut.
using Cutter = std::function<std::vector<std::size_t>(int n, std::size_t size)>;
std::vector<std::size_t> whole(int, std::size_t) { return {}; }

// The four messages between A and B, each cut as `cut` says; checks every message against its golden bytes.
void golden_exchange(const Cutter& cut) {
    Handshake a = golden_a(), b = golden_b();
    std::string m1 = a.take_output();
    CHECK(to_hex(m1) == to_hex(kMsg1));
    std::size_t used = 0;
    CHECK(feed_cut(b, m1, cut(1, m1.size()), used) == Step::need_more);
    std::string m2 = b.take_output();
    CHECK(to_hex(m2) == to_hex(kMsg2));
    used = 0;
    CHECK(feed_cut(a, m2, cut(2, m2.size()), used) == Step::need_more);
    CHECK(used == m2.size());
    std::string m3 = a.take_output();
    CHECK(to_hex(m3) == to_hex(kMsg3));
    used = 0;
    CHECK(feed_cut(b, m3, cut(3, m3.size()), used) == Step::done);
    CHECK(used == m3.size());
    std::string m4 = b.take_output();
    CHECK(to_hex(m4) == to_hex(kMsg4));
    used = 0;
    CHECK(feed_cut(a, m4, cut(4, m4.size()), used) == Step::done);
    CHECK(used == m4.size());
    CHECK(a.selected() == kRc4);
    CHECK(b.selected() == kRc4);
    CHECK(b.take_initial_payload() == kIa);
    CHECK(b.info_hash() == kSkey);
}

// Message 3 as an initiator with the golden keys would send it, with any field chosen by the test.
std::string forged_msg3(std::string_view vc, std::uint32_t provide, std::uint16_t pad_c_len, std::uint16_t ia_len,
                        std::string_view ia_and_more = {}) {
    std::string plain(vc);
    put_be32(plain, provide);
    put_be16(plain, pad_c_len);
    plain += std::string(pad_c_len <= kMaxPad ? pad_c_len : 0, '\0');
    put_be16(plain, ia_len);
    plain += ia_and_more;
    Rc4 enc(kKeyA, 1024);
    return kReq1 + kReq2XorReq3 + enc.crypted(plain);
}
// Message 4 as the golden responder would send it, with any crypto_select and len(PadD).
std::string forged_msg4(std::uint32_t select, std::uint16_t pad_d_len) {
    std::string plain(kVcSize, '\0');
    put_be32(plain, select);
    put_be16(plain, pad_d_len);
    plain += std::string(pad_d_len <= kMaxPad ? pad_d_len : 0, '\0');
    Rc4 enc(kKeyB, 1024);
    return enc.crypted(plain);
}

// Feeds the responder message 1 and then `rest`; returns the step.
Step responder_gets(Handshake& b, std::string_view rest) {
    std::size_t used = 0;
    REQUIRE(feed_all(b, kMsg1, used) == Step::need_more);
    return feed_all(b, rest, used);
}
// Feeds the golden initiator (after its message 1) message 2 and then `rest`.
Step initiator_gets(Handshake& a, std::string_view rest) {
    std::size_t used = 0;
    (void)a.take_output();
    REQUIRE(feed_all(a, kMsg2, used) == Step::need_more);
    return feed_all(a, rest, used);
}

} // namespace

TEST_CASE("mse: DH public keys and shared secret against golden values") {
    MseDh a(kXa), b(kXb);
    CHECK(to_hex(a.public_key()) == to_hex(kYa));
    CHECK(to_hex(b.public_key()) == to_hex(kYb));
    auto sa = a.shared_secret(b.public_key());
    auto sb = b.shared_secret(a.public_key());
    REQUIRE(sa.ok());
    REQUIRE(sb.ok());
    CHECK(to_hex(*sa) == to_hex(kS));
    CHECK(*sa == *sb);

    // A small private key gives a public key with leading zero bytes: still 96 bytes (2^1 = 2, 2^8 = 256).
    CHECK(MseDh(std::string("\x01", 1)).public_key() == be_small(2));
    MseDh k8(std::string("\x08", 1));
    CHECK(k8.public_key() == std::string(94, '\0') + std::string("\x01\x00", 2));
    auto s = MseDh(std::string("\x03", 1)).shared_secret(be_small(2)); // 2^3
    REQUIRE(s.ok());
    CHECK(*s == be_small(8));

    // Random keys agree too.
    MseDh r1, r2;
    CHECK(r1.public_key().size() == 96);
    CHECK(r1.public_key() != r2.public_key());
    auto s1 = r1.shared_secret(r2.public_key());
    auto s2 = r2.shared_secret(r1.public_key());
    REQUIRE((s1.ok() && s2.ok()));
    CHECK(*s1 == *s2);
}

TEST_CASE("mse: DH refuses public keys 0, 1, P-1 and above, and wrong sizes") {
    MseDh a(kXa);
    for (const std::string& bad : {be_small(0), be_small(1), p_minus(1), kP, std::string(96, '\xff'),
                                   std::string(95, '\x01'), std::string(97, '\x01'), std::string()}) {
        auto s = a.shared_secret(bad);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().code == Errc::bad_input);
    }
    CHECK(a.shared_secret(be_small(2)).ok());
    CHECK(a.shared_secret(p_minus(2)).ok());
}

TEST_CASE("mse: key derivation helpers against golden SHA-1 values") {
    CHECK(to_hex(req1_hash(kS)) == to_hex(kReq1));
    CHECK(to_hex(req2_hash(kSkey)) == to_hex(kReq2));
    CHECK(to_hex(req2_xor_req3(kSkey, kS)) == to_hex(kReq2XorReq3));
    CHECK(to_hex(stream_key(Role::initiator, kS, kSkey)) == to_hex(kKeyA));
    CHECK(to_hex(stream_key(Role::responder, kS, kSkey)) == to_hex(kKeyB));
    // The forgers below reproduce the golden messages when given the golden fields.
    CHECK(forged_msg3(std::string(8, '\0'), 3, kPad, static_cast<std::uint16_t>(kIa.size()), kIa) == kMsg3);
    CHECK(forged_msg4(kRc4, kPad) == kMsg4);
}

TEST_CASE("mse: golden handshake, IA and payload both ways") {
    golden_exchange(whole);

    // Again, this time with the payload following each side's last message in the same read.
    Handshake a = golden_a(), b = golden_b();
    (void)a.take_output();
    std::size_t used = 0;
    CHECK(feed_all(b, kMsg1, used) == Step::need_more);
    CHECK(b.take_output() == kMsg2);
    used = 0;
    CHECK(feed_all(a, kMsg2, used) == Step::need_more);
    CHECK(a.take_output() == kMsg3);
    CHECK(a.take_output().empty()); // moved out
    used = 0;
    CHECK(b.feed(kMsg3 + kPayloadA, used) == Step::done);
    CHECK(used == kMsg3.size()); // the payload stays with the caller
    CHECK(b.take_output() == kMsg4);
    CHECK(b.feed("more", used) == Step::done);
    CHECK(used == 0);
    used = 0;
    CHECK(a.feed(kMsg4 + kPayloadB, used) == Step::done);
    CHECK(used == kMsg4.size());
    CHECK(a.take_initial_payload().empty()); // the initiator's IA was its own

    Rc4 a_enc = a.take_encryptor(), a_dec = a.take_decryptor();
    Rc4 b_enc = b.take_encryptor(), b_dec = b.take_decryptor();
    REQUIRE((a_enc.keyed() && a_dec.keyed() && b_enc.keyed() && b_dec.keyed()));
    CHECK(to_hex(a_enc.crypted("hello from A")) == to_hex(kPayloadA));
    CHECK(b_dec.crypted(kPayloadA) == "hello from A");
    CHECK(to_hex(b_enc.crypted("hello from B")) == to_hex(kPayloadB));
    CHECK(a_dec.crypted(kPayloadB) == "hello from B");
    // The streams run on.
    CHECK(b_dec.crypted(a_enc.crypted("second")) == "second");
    CHECK(a_dec.crypted(b_enc.crypted("reply")) == "reply");
}

TEST_CASE("mse: the handshake split at every byte boundary") {
    SUBCASE("one byte at a time") {
        golden_exchange([](int, std::size_t size) {
            std::vector<std::size_t> cuts;
            for (std::size_t i = 1; i < size; ++i) cuts.push_back(i);
            return cuts;
        });
    }
    SUBCASE("every two-way split of each message") {
        for (int msg = 1; msg <= 4; ++msg) {
            std::size_t sizes[] = {kMsg1.size(), kMsg2.size(), kMsg3.size(), kMsg4.size()};
            for (std::size_t at = 0; at <= sizes[msg - 1]; ++at) {
                CAPTURE(msg);
                CAPTURE(at);
                golden_exchange([&](int n, std::size_t) {
                    return n == msg ? std::vector<std::size_t>{at} : std::vector<std::size_t>{};
                });
            }
        }
    }
}

TEST_CASE("mse: the method chosen for each policy pair") {
    struct Case {
        std::uint32_t a_allowed, b_allowed;
        bool b_prefers_rc4;
        std::uint32_t expect; // 0: refused
    };
    const Case cases[] = {
        {3, 3, true, kRc4},       {3, 3, false, kPlaintext}, {1, 3, true, kPlaintext}, {2, 3, false, kRc4},
        {3, 1, true, kPlaintext}, {3, 2, false, kRc4},       {1, 1, true, kPlaintext}, {2, 2, true, kRc4},
        {1, 2, true, 0},          {2, 1, false, 0},
    };
    for (const Case& c : cases) {
        CAPTURE(c.a_allowed);
        CAPTURE(c.b_allowed);
        CAPTURE(c.b_prefers_rc4);
        Handshake a = golden_a(policy(c.a_allowed)), b = golden_b(policy(c.b_allowed, c.b_prefers_rc4));
        std::size_t used = 0;
        REQUIRE(feed_all(b, a.take_output(), used) == Step::need_more);
        REQUIRE(feed_all(a, b.take_output(), used) == Step::need_more);
        Step sb = feed_all(b, a.take_output(), used);
        if (c.expect == 0) {
            CHECK(sb == Step::failed);
            CHECK(b.error().code == Errc::refused);
            CHECK(b.take_output().empty());
            CHECK(b.feed(kMsg3, used) == Step::failed);
            continue;
        }
        REQUIRE(sb == Step::done);
        std::string m4 = b.take_output();
        if (c.a_allowed == 3 && c.b_allowed == 3) CHECK(m4 == (c.expect == kRc4 ? kMsg4 : kMsg4Plain));
        REQUIRE(feed_all(a, m4, used) == Step::done);
        CHECK(a.selected() == c.expect);
        CHECK(b.selected() == c.expect);
        CHECK(b.take_initial_payload() == kIa); // IA is always RC4-encrypted, whatever is selected
        Rc4 ae = a.take_encryptor(), bd = b.take_decryptor(), be = b.take_encryptor(), ad = a.take_decryptor();
        CHECK(bd.crypted(ae.crypted("payload A->B")) == "payload A->B");
        CHECK(ad.crypted(be.crypted("payload B->A")) == "payload B->A");
    }
}

TEST_CASE("mse: random keys and pads, fed one byte at a time") {
    for (int round = 0; round < 8; ++round) {
        Handshake a = Handshake::initiator(kSkey, {}, round % 2 ? kIa : std::string());
        Handshake b = Handshake::responder(knows(kSkey), {});
        std::size_t used = 0;
        std::string m1 = a.take_output();
        CHECK((m1.size() >= 96 && m1.size() <= 96 + 64));
        REQUIRE(feed_bytewise(b, m1, used) == Step::need_more);
        REQUIRE(feed_bytewise(a, b.take_output(), used) == Step::need_more);
        REQUIRE(feed_bytewise(b, a.take_output(), used) == Step::done);
        REQUIRE(feed_bytewise(a, b.take_output(), used) == Step::done);
        CHECK(a.selected() == kRc4);
        CHECK(b.take_initial_payload() == (round % 2 ? kIa : std::string()));
        Rc4 ae = a.take_encryptor(), bd = b.take_decryptor();
        CHECK(bd.crypted(ae.crypted("x")) == "x");
    }
}

TEST_CASE("mse: the pads may be as long as 512 bytes and no longer") {
    // PadA: message 1 already has 3 pad bytes.
    for (std::size_t extra : {std::size_t{512 - kPad}, std::size_t{513 - kPad}}) {
        Handshake b = golden_b();
        std::size_t used = 0;
        Step st = feed_all(b, kMsg1 + std::string(extra, '\0') + kMsg3, used);
        if (extra == 512 - kPad) {
            CHECK(st == Step::done);
            CHECK(used == kMsg1.size() + extra + kMsg3.size());
        } else {
            CHECK(st == Step::failed);
            CHECK(b.error().code == Errc::bad_input);
            CHECK(used <= 96 + 512 + 20);
            CHECK(b.take_output().empty());
        }
    }
    // PadB.
    for (std::size_t extra : {std::size_t{512 - kPad}, std::size_t{513 - kPad}}) {
        Handshake a = golden_a();
        Step st = initiator_gets(a, std::string(extra, '\0') + kMsg4);
        CHECK(st == (extra == 512 - kPad ? Step::done : Step::failed));
        if (st == Step::failed) CHECK(a.error().code == Errc::bad_input);
    }
}

TEST_CASE("mse: refusals") {
    SUBCASE("garbage instead of Ya") {
        Handshake b = golden_b();
        std::size_t used = 0;
        CHECK(feed_all(b, std::string(200, '\xff'), used) == Step::failed);
        CHECK(b.error().code == Errc::bad_input);
        CHECK(b.take_output().empty());
    }
    SUBCASE("garbage after a valid Ya: no HASH('req1', S) within the bound") {
        Handshake b = golden_b();
        std::string garbage;
        for (int i = 0; i < 2000; ++i) garbage.push_back(static_cast<char>(i * 37 + 11));
        std::size_t used = 0;
        CHECK(feed_all(b, kMsg1 + garbage, used) == Step::failed);
        CHECK(b.error().code == Errc::bad_input);
        CHECK(used == 96 + 512 + 20); // read up to the bound, not beyond
    }
    SUBCASE("garbage after a valid Yb: no ENCRYPT(VC) within the bound") {
        Handshake a = golden_a();
        CHECK(initiator_gets(a, std::string(600, 'g')) == Step::failed);
        CHECK(a.error().code == Errc::bad_input);
        CHECK(a.take_output().empty());
    }
    SUBCASE("unknown SKEY") {
        Handshake b = Handshake::responder(knows("another-info-hash-20"), {}, Fixed{kXb, kPad});
        CHECK(responder_gets(b, kMsg3) == Step::failed);
        CHECK(b.error().code == Errc::not_found);
        Handshake none = Handshake::responder(nullptr, {}, Fixed{kXb, kPad});
        CHECK(responder_gets(none, kMsg3) == Step::failed);
        CHECK(none.error().code == Errc::not_found);
    }
    SUBCASE("VC not zero") {
        Handshake b = golden_b();
        CHECK(responder_gets(b, forged_msg3(std::string(7, '\0') + "\x01", 3, 0, 0)) == Step::failed);
        CHECK(b.error().code == Errc::bad_input);
    }
    SUBCASE("crypto_provide with no method we know") {
        Handshake b = golden_b();
        CHECK(responder_gets(b, forged_msg3(std::string(8, '\0'), 0x0c, 0, 0)) == Step::failed);
        CHECK(b.error().code == Errc::refused);
    }
    SUBCASE("len(PadC) > 512") {
        Handshake b = golden_b();
        CHECK(responder_gets(b, forged_msg3(std::string(8, '\0'), 3, 513, 0)) == Step::failed);
        CHECK(b.error().code == Errc::bad_input);
        Handshake ok = golden_b();
        CHECK(responder_gets(ok, forged_msg3(std::string(8, '\0'), 3, 512, 0)) == Step::done);
    }
    SUBCASE("oversized IA") {
        Handshake b = golden_b();
        CHECK(responder_gets(b, forged_msg3(std::string(8, '\0'), 3, 0, kMaxIa + 1)) == Step::failed);
        CHECK(b.error().code == Errc::bad_input);
        Handshake ok = golden_b();
        CHECK(responder_gets(ok, forged_msg3(std::string(8, '\0'), 3, 0, kMaxIa, std::string(kMaxIa, 'i'))) ==
              Step::done);
        CHECK(ok.take_initial_payload() == std::string(kMaxIa, 'i'));
        Handshake a = Handshake::initiator(kSkey, {}, std::string(kMaxIa + 1, 'i'));
        CHECK(a.take_output().empty());
        std::size_t used = 0;
        CHECK(a.feed(kMsg2, used) == Step::failed);
        CHECK(a.error().code == Errc::bad_input);
    }
    SUBCASE("crypto_select not one method we offered, len(PadD) > 512") {
        for (std::uint32_t select : {0u, 3u, 4u, 0x102u}) {
            Handshake a = golden_a();
            CHECK(initiator_gets(a, forged_msg4(select, 0)) == Step::failed);
            CHECK(a.error().code == Errc::bad_input);
        }
        Handshake plain_only = golden_a(policy(kPlaintext));
        CHECK(initiator_gets(plain_only, forged_msg4(kRc4, 0)) == Step::failed);
        Handshake a = golden_a();
        CHECK(initiator_gets(a, forged_msg4(kRc4, 513)) == Step::failed);
        CHECK(a.error().code == Errc::bad_input);
    }
    SUBCASE("Yb or Ya 0, 1 or P-1") {
        for (const std::string& bad : {be_small(0), be_small(1), p_minus(1)}) {
            Handshake a = golden_a();
            (void)a.take_output();
            std::size_t used = 0;
            CHECK(a.feed(bad, used) == Step::failed);
            CHECK(a.error().code == Errc::bad_input);
            CHECK(a.take_output().empty()); // no message 3
            Handshake b = golden_b();
            CHECK(b.feed(bad, used) == Step::failed);
            CHECK(b.take_output().empty()); // no message 2
        }
    }
    SUBCASE("bad arguments fail at creation") {
        CHECK(Handshake::initiator("short", {}).take_output().empty());
        Handshake a = Handshake::initiator(kSkey, policy(0));
        std::size_t used = 0;
        CHECK(a.feed(kMsg2, used) == Step::failed);
        CHECK(a.error().code == Errc::refused);
    }
}

TEST_CASE("mse: a truncated handshake needs more, forever") {
    Handshake b = golden_b();
    CHECK(responder_gets(b, kMsg3.substr(0, kMsg3.size() - 1)) == Step::need_more);
    std::size_t used = 7;
    for (int i = 0; i < 3; ++i) {
        CHECK(b.feed({}, used) == Step::need_more);
        CHECK(used == 0);
    }
    CHECK(b.selected() == 0);
    CHECK(b.take_initial_payload().empty());

    Handshake a = golden_a();
    CHECK(initiator_gets(a, kMsg4.substr(0, kMsg4.size() - 1)) == Step::need_more);
    CHECK(a.feed({}, used) == Step::need_more);
    CHECK(a.selected() == 0);
    CHECK(a.feed(kMsg4.substr(kMsg4.size() - 1), used) == Step::done); // the last byte completes it
    CHECK(used == 1);
}
