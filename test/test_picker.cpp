#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "swarm/bitfield.hpp"
#include "swarm/picker.hpp"

using namespace p2p;
using namespace p2p::swarm;

namespace {

constexpr std::uint32_t B = kBlockSize;

PiecePicker make(std::uint32_t n, std::uint32_t plen, std::uint64_t total, const Bitfield* have = nullptr,
                 PickerOptions opt = {}) {
    auto r = PiecePicker::create(n, plen, total, have, opt);
    REQUIRE(r.ok());
    return std::move(r).value();
}

Bitfield bits(std::size_t n, std::initializer_list<std::size_t> set) {
    Bitfield b(n);
    for (auto i : set) b.set(i);
    return b;
}

std::vector<BlockRequest> pick(PiecePicker& p, PeerToken peer, const Bitfield& has, std::size_t max) {
    std::vector<BlockRequest> out;
    const std::size_t n = p.pick(peer, has, max, out);
    CHECK(n == out.size());
    return out;
}

// Receive every block and verify every completed piece ok.
void deliver(PiecePicker& p, PeerToken peer, const std::vector<BlockRequest>& reqs) {
    for (const auto& r : reqs) {
        auto got = p.on_block_received(peer, r);
        if (got.piece_complete) CHECK(p.on_piece_verified(r.piece, true).empty());
    }
}

} // namespace

// ---------------------------------------------------------------- bitfield

TEST_CASE("bitfield: set, get, count, all, none") {
    Bitfield b(130);
    CHECK(b.size() == 130);
    CHECK(b.none());
    CHECK_FALSE(b.all());
    b.set(0);
    b.set(63);
    b.set(64);
    b.set(129);
    b.set(129); // idempotent: count stays exact
    CHECK(b.count() == 4);
    CHECK(b.get(63));
    CHECK(b[64]);
    CHECK_FALSE(b.get(65));
    b.reset(63);
    CHECK(b.count() == 3);
    CHECK_FALSE(b.get(63));
    b.set_all();
    CHECK(b.all());
    CHECK(b.count() == 130);
    CHECK(b.words().back() == (std::uint64_t{1} << 2) - 1); // spare bits stay zero
    b.reset_all();
    CHECK(b.none());
    CHECK(Bitfield(7, true).count() == 7);
    CHECK(Bitfield(64, true).all());
    CHECK(Bitfield(0).all()); // the empty set is trivially full
}

TEST_CASE("bitfield: BEP 3 wire golden bytes and round trip") {
    // pieces 0, 2, 9 of 10: 1010 0000 | 01 00 0000 (high bit first, spare bits zero)
    const Bitfield b = bits(10, {0, 2, 9});
    CHECK(b.to_wire() == std::string("\xA0\x40", 2));
    auto back = Bitfield::from_wire(std::string("\xA0\x40", 2), 10);
    REQUIRE(back.ok());
    CHECK(*back == b);
    CHECK(back->count() == 3);

    // Across word boundaries, every 3rd bit of 200.
    Bitfield c(200);
    for (std::size_t i = 0; i < 200; i += 3) c.set(i);
    auto c2 = Bitfield::from_wire(c.to_wire(), 200);
    REQUIRE(c2.ok());
    CHECK(*c2 == c);
    CHECK(c2->count() == c.count());

    // Exact multiple of 8: no spare bits at all.
    auto full = Bitfield::from_wire(std::string(2, '\xff'), 16);
    REQUIRE(full.ok());
    CHECK(full->all());
    CHECK(full->to_wire() == std::string(2, '\xff'));
}

TEST_CASE("bitfield: from_wire rejects wrong length and set spare bits") {
    auto short_ = Bitfield::from_wire(std::string(1, '\0'), 10);
    REQUIRE_FALSE(short_.ok());
    CHECK(short_.error().op == "bitfield.from_wire");
    CHECK(short_.error().what.find("length 1") != std::string::npos);
    CHECK_FALSE(Bitfield::from_wire(std::string(3, '\0'), 10).ok());
    CHECK_FALSE(Bitfield::from_wire("", 1).ok());
    // 10 pieces: byte 1 may only use its top 2 bits.
    auto spare = Bitfield::from_wire(std::string("\x00\x20", 2), 10);
    REQUIRE_FALSE(spare.ok());
    CHECK(spare.error().what.find("spare") != std::string::npos);
    CHECK_FALSE(Bitfield::from_wire(std::string("\x00\x01", 2), 10).ok());
    CHECK(Bitfield::from_wire(std::string("\x00\xC0", 2), 10).ok());
    CHECK(Bitfield::from_wire("", 0).ok());
}

TEST_CASE("bitfield: has_any_not_in") {
    const Bitfield peer = bits(70, {3, 66});
    CHECK(peer.has_any_not_in(bits(70, {})));
    CHECK(peer.has_any_not_in(bits(70, {3})));
    CHECK_FALSE(peer.has_any_not_in(bits(70, {3, 66})));
    CHECK_FALSE(peer.has_any_not_in(bits(71, {}))); // size mismatch: never interesting
}

// ---------------------------------------------------------------- picker: geometry

TEST_CASE("picker: geometry, last piece and last block sizes") {
    // 3 pieces of 64 KiB (4 blocks), the last 20000 bytes (2 blocks: 16384 + 3616).
    auto p = make(3, 4 * B, 2ull * 4 * B + 20000);
    CHECK(p.piece_size(0) == 4 * B);
    CHECK(p.piece_size(2) == 20000);
    CHECK(p.blocks_in_piece(0) == 4);
    CHECK(p.blocks_in_piece(2) == 2);
    CHECK(p.block(2, 1) == BlockRequest{2, B, 20000 - B});
    CHECK(p.block(1, 3) == BlockRequest{1, 3 * B, B});
    CHECK(p.left() == 2ull * 4 * B + 20000);

    // Only the last piece available: the requests carry the short sizes.
    auto has = bits(3, {2});
    auto reqs = pick(p, 1, has, 10);
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0] == BlockRequest{2, 0, B});
    CHECK(reqs[1] == BlockRequest{2, B, 3616});

    // A piece length that is not a multiple of 16 KiB: each piece ends with a short block.
    auto q = make(2, 20000, 30000);
    CHECK(q.blocks_in_piece(0) == 2);
    CHECK(q.block(0, 1).length == 20000 - B);
    CHECK(q.block(1, 0).length == 10000);
    CHECK(q.blocks_in_piece(1) == 1);

    // Exact multiple: the last piece is full.
    auto e = make(2, B, 2 * B);
    CHECK(e.piece_size(1) == B);

    // Inconsistent geometry is an error value.
    CHECK_FALSE(PiecePicker::create(3, 4 * B, 2ull * 4 * B).ok());     // last piece would be empty
    CHECK_FALSE(PiecePicker::create(3, 4 * B, 3ull * 4 * B + 1).ok()); // a 4th piece needed
    CHECK_FALSE(PiecePicker::create(0, 4 * B, 1).ok());
    CHECK_FALSE(PiecePicker::create(1, 0, 1).ok());
    Bitfield wrong(4);
    CHECK_FALSE(PiecePicker::create(3, 4 * B, 2ull * 4 * B + 1, &wrong).ok());

    // A default-constructed picker is empty and inert.
    PiecePicker none;
    CHECK(none.num_pieces() == 0);
    CHECK(pick(none, 1, Bitfield(), 5).empty());
    CHECK_FALSE(none.on_block_received(1, BlockRequest{0, 0, B}).accepted);
    CHECK(none.on_peer_gone(1) == 0);
    CHECK(none.check_invariants());
}

// ---------------------------------------------------------------- picker: rarest first

TEST_CASE("picker: rarest first order") {
    // One-block pieces, availability 4, 2, 3, 1.
    auto p = make(4, B, 4 * B);
    p.add_peer_bitfield(bits(4, {0, 1, 2, 3}));
    p.add_peer_bitfield(bits(4, {0, 1, 2}));
    p.add_peer_bitfield(bits(4, {0, 2}));
    p.add_peer_bitfield(bits(4, {0}));
    CHECK(p.availability(0) == 4);
    CHECK(p.availability(3) == 1);
    const Bitfield all(4, true);
    std::vector<std::uint32_t> order;
    for (int k = 0; k < 4; ++k) {
        auto r = pick(p, 7, all, 1);
        REQUIRE(r.size() == 1);
        order.push_back(r[0].piece);
    }
    CHECK(order == std::vector<std::uint32_t>{3, 1, 2, 0});
    CHECK(pick(p, 7, all, 1).empty()); // all requested, and this peer already holds every request
    CHECK(p.check_invariants());

    // One call with a large max walks the buckets rarest first as well.
    auto q = make(4, B, 4 * B);
    q.add_peer_bitfield(bits(4, {0, 1, 2, 3}));
    q.add_peer_bitfield(bits(4, {0, 1, 2}));
    q.add_peer_bitfield(bits(4, {0, 2}));
    q.add_peer_bitfield(bits(4, {0}));
    auto r = pick(q, 7, all, 2);
    REQUIRE(r.size() == 2);
    CHECK(r[0].piece == 3);
    CHECK(r[1].piece == 1);
}

TEST_CASE("picker: rarest first only among pieces the peer has") {
    auto p = make(3, B, 3 * B);
    p.add_peer_bitfield(bits(3, {0, 1, 2}));
    p.add_peer_bitfield(bits(3, {1, 2}));
    p.add_peer_bitfield(bits(3, {2}));
    // Piece 0 is rarest, but this peer lacks it.
    auto r = pick(p, 1, bits(3, {1, 2}), 1);
    REQUIRE(r.size() == 1);
    CHECK(r[0].piece == 1);
    CHECK(pick(p, 2, Bitfield(3), 5).empty());       // a peer with nothing gets nothing
    CHECK(pick(p, 2, Bitfield(4, true), 5).empty()); // wrong-size bitfield: ignored
}

TEST_CASE("picker: random tie-break goes both ways across seeds") {
    std::map<std::uint32_t, int> first;
    for (std::uint64_t seed = 1; seed <= 64; ++seed) {
        PickerOptions opt;
        opt.seed = seed;
        auto p = make(3, B, 3 * B, nullptr, opt);
        p.add_peer_bitfield(bits(3, {0, 1, 2}));
        p.add_peer_bitfield(bits(3, {2})); // piece 2 is more common: never first
        auto r = pick(p, 1, Bitfield(3, true), 1);
        REQUIRE(r.size() == 1);
        ++first[r[0].piece];
        // Same seed, same choice.
        auto p2 = make(3, B, 3 * B, nullptr, opt);
        p2.add_peer_bitfield(bits(3, {0, 1, 2}));
        p2.add_peer_bitfield(bits(3, {2}));
        CHECK(pick(p2, 1, Bitfield(3, true), 1)[0].piece == r[0].piece);
    }
    CHECK(first[0] > 8);
    CHECK(first[1] > 8);
    CHECK(first.count(2) == 0);
}

TEST_CASE("picker: availability decrement and peer_have move pieces between buckets") {
    auto p = make(2, B, 2 * B);
    const Bitfield a = bits(2, {0, 1}), b = bits(2, {0}), c = bits(2, {0});
    p.add_peer_bitfield(a);
    p.add_peer_bitfield(b);
    p.add_peer_bitfield(c);
    CHECK(p.availability(0) == 3);
    CHECK(p.availability(1) == 1);
    p.remove_peer_bitfield(b);
    p.remove_peer_bitfield(c);
    CHECK(p.availability(0) == 1);
    p.peer_have(1); // piece 1 now more common than piece 0
    CHECK(p.availability(1) == 2);
    CHECK(p.check_invariants());
    auto r = pick(p, 9, Bitfield(2, true), 1);
    REQUIRE(r.size() == 1);
    CHECK(r[0].piece == 0);
    p.remove_peer_bitfield(a);
    CHECK(p.availability(0) == 0);
    CHECK(p.availability(1) == 1);
    // Unbalanced removal never underflows.
    p.remove_peer_bitfield(a);
    CHECK(p.availability(0) == 0);
    CHECK(p.availability(1) == 0);
    p.peer_have(99); // out of range: ignored
    CHECK(p.check_invariants());
}

TEST_CASE("picker: have_all peers are one counter and keep the order") {
    auto p = make(3, B, 3 * B);
    p.add_peer_bitfield(bits(3, {0, 2}));
    p.add_have_all();
    p.add_have_all();
    CHECK(p.availability(0) == 3);
    CHECK(p.availability(1) == 2);
    CHECK(p.availability(2) == 3);
    auto r = pick(p, 1, Bitfield(3, true), 1);
    REQUIRE(r.size() == 1);
    CHECK(r[0].piece == 1); // still the rarest
    p.remove_have_all();
    p.remove_have_all();
    p.remove_have_all(); // extra: no underflow
    CHECK(p.availability(1) == 0);
    CHECK(p.availability(0) == 1);
}

// ---------------------------------------------------------------- picker: partial pieces

TEST_CASE("picker: partial pieces are finished before new ones") {
    auto p = make(3, 4 * B, 3ull * 4 * B);
    p.add_peer_bitfield(Bitfield(3, true));
    p.peer_have(1);
    p.peer_have(2);
    p.peer_have(2); // availability 1, 2, 3
    const Bitfield all(3, true);
    auto a = pick(p, 1, all, 2);
    REQUIRE(a.size() == 2);
    CHECK(a[0] == BlockRequest{0, 0, B});
    CHECK(a[1] == BlockRequest{0, B, B});
    auto b = pick(p, 2, all, 3); // piece 0 (availability 1) is no more common than fresh piece 1 (2)
    REQUIRE(b.size() == 3);
    CHECK(b[0] == BlockRequest{0, 2 * B, B});
    CHECK(b[1] == BlockRequest{0, 3 * B, B});
    CHECK(b[2].piece == 1); // then the rarest new piece
    CHECK(p.num_downloading() == 2);
    CHECK(p.check_invariants());
}

TEST_CASE("picker: another peer's partial piece more common than a fresh piece this peer offers is left") {
    auto p = make(3, 4 * B, 3ull * 4 * B);
    p.add_peer_bitfield(Bitfield(3, true));
    p.peer_have(1);
    p.peer_have(2);
    p.peer_have(2); // availability 1, 2, 3
    const Bitfield all(3, true);
    REQUIRE(pick(p, 1, all, 1)[0].piece == 0);
    for (int k = 0; k < 5; ++k) p.peer_have(0); // piece 0 becomes the most common (6) while in progress
    // Peer 2 (think: the seed) offers fresh piece 1 (availability 2): it starts that instead of helping with
    // piece 0, which the other peers can supply.
    auto b = pick(p, 2, all, 4);
    REQUIRE(b.size() == 4);
    for (const auto& r : b) CHECK(r.piece == 1);
    // A peer whose only offer is the common partial piece still helps finish it.
    auto c = pick(p, 3, bits(3, {0}), 2);
    REQUIRE(c.size() == 2);
    CHECK(c[0] == BlockRequest{0, B, B});
    CHECK(c[1] == BlockRequest{0, 2 * B, B});
    CHECK(p.check_invariants());
}

TEST_CASE("picker: a peer's suggested pieces come first, and no other new piece is started from it meanwhile") {
    auto p = make(10, 2 * B, 10ull * 2 * B);
    p.add_have_all(); // think: the seed, token 1
    p.add_peer_bitfield(bits(10, {0, 1, 2, 3, 4, 5}));
    const Bitfield all(10, true);
    // Without suggestions the rarest pieces (6..9, only the seed has them) would come first.
    p.add_suggestion(1, 2); // common (availability 2): only a suggestion makes the seed's pick
    p.add_suggestion(1, 8);
    p.add_suggestion(1, 2); // repeated: kept once
    CHECK(p.num_suggestions(1) == 2);
    auto a = pick(p, 1, all, 8);
    REQUIRE(a.size() == 4); // both pieces, in the order suggested, then nothing: the seed is steering us
    CHECK(a[0] == BlockRequest{2, 0, B});
    CHECK(a[1] == BlockRequest{2, B, B});
    CHECK(a[2] == BlockRequest{8, 0, B});
    CHECK(a[3] == BlockRequest{8, B, B});
    CHECK(pick(p, 1, all, 8).empty()); // suggestions in flight: still steered
    // Another peer is not bound by the seed's suggestions to us.
    CHECK(pick(p, 2, bits(10, {0}), 1).size() == 1);
    deliver(p, 1, a);
    CHECK(p.have(2));
    CHECK(p.have(8));
    // Both suggested pieces are here: the list ran dry, so the seed has nothing never-sent left for us, and it is
    // picked from by rarity again at once (waiting would idle its upload), though it stays a suggester.
    CHECK(p.is_suggester(1));
    auto b = pick(p, 1, all, 2);
    REQUIRE(b.size() == 2);
    CHECK(b[0].piece >= 6);
    CHECK(b[0].piece == b[1].piece);
    CHECK(p.num_suggestions(1) == 0);
    CHECK(p.check_invariants());
}

TEST_CASE("picker: a suggester whose last suggestion completes mid-pick goes on to the rarest pieces") {
    auto p = make(10, 2 * B, 10ull * 2 * B);
    p.add_have_all(); // the seed, token 1
    p.add_peer_bitfield(bits(10, {0, 1, 2, 3, 4, 5}));
    const Bitfield all(10, true);
    p.add_suggestion(1, 3);
    auto a = pick(p, 1, all, 1); // half of piece 3
    REQUIRE(a.size() == 1);
    CHECK(a[0].piece == 3);
    // Piece 3's other half comes from someone else: the suggestion stays pending while piece 3 is unfinished.
    auto other = pick(p, 2, bits(10, {3}), 1);
    REQUIRE(other.size() == 1);
    CHECK(other[0].piece == 3);
    CHECK(pick(p, 1, all, 4).empty()); // piece 3 has no free block, and the seed is still steering us
    deliver(p, 1, a);
    deliver(p, 2, other);
    CHECK(p.have(3));
    // One pick: the spent suggestion is dropped and the same call starts the rarest pieces (6..9).
    auto b = pick(p, 1, all, 4);
    REQUIRE(b.size() == 4);
    for (const auto& r : b) CHECK(r.piece >= 6);
    CHECK(p.check_invariants());
}

TEST_CASE("picker: suggestions are bounded per peer, dropped with the peer and ignored when useless") {
    auto p = make(64, B, 64ull * B);
    p.add_have_all();
    const Bitfield all(64, true);
    for (std::uint32_t i = 0; i < 40; ++i) p.add_suggestion(7, i);
    CHECK(p.num_suggestions(7) == PiecePicker::kMaxSuggestions); // the oldest 8 went
    auto a = pick(p, 7, all, 1);
    REQUIRE(a.size() == 1);
    CHECK(a[0].piece == 40 - PiecePicker::kMaxSuggestions);
    p.on_peer_gone(7);
    CHECK(p.num_suggestions(7) == 0);
    CHECK_FALSE(p.is_suggester(7));
    p.add_suggestion(7, 5);
    p.clear_suggestions(7); // a choke voids them; it stays a suggester
    CHECK(p.num_suggestions(7) == 0);
    CHECK(p.is_suggester(7));
    // A piece we have is not remembered; one the peer does not have is dropped at the next pick.
    p.add_suggestion(7, 3);
    deliver(p, 7, pick(p, 7, all, 1));
    REQUIRE(p.have(3));
    p.add_suggestion(8, 3);
    CHECK(p.num_suggestions(8) == 0);
    p.add_suggestion(9, 30);
    p.add_suggestion(9, 31);
    auto b = pick(p, 9, bits(64, {31, 32}), 4);
    REQUIRE(b.size() == 1);
    CHECK(b[0].piece == 31);
    CHECK(p.num_suggestions(9) == 1);
    // Out of range: ignored.
    p.add_suggestion(9, 64);
    CHECK(p.num_suggestions(9) == 1);
    CHECK(p.check_invariants());
}

TEST_CASE("picker: partial pieces this peer contributed to come first") {
    auto p = make(3, 4 * B, 3ull * 4 * B);
    p.add_peer_bitfield(Bitfield(3, true));
    p.peer_have(1);
    p.peer_have(2);
    p.peer_have(2);
    // Peer 2 starts piece 0 (oldest in progress); peer 1 lacks piece 0 and starts piece 1.
    auto r2 = pick(p, 2, Bitfield(3, true), 1);
    REQUIRE(r2.size() == 1);
    CHECK(r2[0].piece == 0);
    auto r1 = pick(p, 1, bits(3, {1, 2}), 1);
    REQUIRE(r1.size() == 1);
    CHECK(r1[0].piece == 1);
    // Peer 1 now also has piece 0: it still continues its own piece 1 first, then helps with 0.
    auto more = pick(p, 1, Bitfield(3, true), 4);
    REQUIRE(more.size() == 4);
    CHECK(more[0] == BlockRequest{1, B, B});
    CHECK(more[1] == BlockRequest{1, 2 * B, B});
    CHECK(more[2] == BlockRequest{1, 3 * B, B});
    CHECK(more[3] == BlockRequest{0, B, B});
}

// ---------------------------------------------------------------- picker: no duplicates, endgame

TEST_CASE("picker: no block is requested twice before endgame") {
    auto p = make(20, 4 * B, 19ull * 4 * B + 5000);
    const Bitfield all(20, true);
    for (int k = 0; k < 5; ++k) p.add_have_all();
    std::set<std::pair<std::uint32_t, std::uint32_t>> seen;
    std::size_t total = 0;
    for (int round = 0; round < 100; ++round) {
        const PeerToken peer = 100 + static_cast<PeerToken>(round % 5);
        CHECK_FALSE(p.is_endgame());
        auto r = pick(p, peer, all, 7); // 77 blocks = 11 x 7: the last pick ends exactly at endgame
        if (r.empty()) break;
        for (const auto& b : r) {
            CHECK(seen.insert({b.piece, b.offset}).second);
            ++total;
        }
        if (p.is_endgame()) break;
    }
    CHECK(total == 19 * 4 + 1);
    CHECK(p.is_endgame());
    CHECK(p.num_requested_blocks() == total);
    CHECK(p.check_invariants());
}

TEST_CASE("picker: endgame duplicates are bounded and arrivals name peers to cancel") {
    auto p = make(1, 2 * B, 2 * B);
    p.add_have_all();
    const Bitfield all(1, true);
    auto a = pick(p, 1, all, 10);
    REQUIRE(a.size() == 2);
    CHECK(p.is_endgame());
    CHECK(pick(p, 1, all, 10).empty()); // never a duplicate to the same peer
    auto b = pick(p, 2, all, 10);       // endgame: the same blocks from a second peer
    REQUIRE(b.size() == 2);
    CHECK(b[0] == a[0]);
    CHECK(b[1] == a[1]);
    CHECK(pick(p, 3, all, 10).empty()); // at most 2 requesters per block
    CHECK(p.num_requested_blocks() == 4);
    CHECK(p.check_invariants());

    auto got = p.on_block_received(2, a[0]);
    CHECK(got.accepted);
    CHECK_FALSE(got.piece_complete);
    CHECK(got.cancel == std::vector<PeerToken>{1});
    auto late = p.on_block_received(1, a[0]); // the cancel crossed the data: discard it
    CHECK_FALSE(late.accepted);
    CHECK(late.cancel.empty());

    auto last = p.on_block_received(1, a[1]);
    CHECK(last.accepted);
    CHECK(last.piece_complete);
    CHECK(last.cancel == std::vector<PeerToken>{2});
    CHECK(p.state(0) == PieceState::verifying);
    CHECK_FALSE(p.is_endgame());
    CHECK(p.check_invariants());
}

TEST_CASE("picker: endgame duplicates prefer least-requested blocks and can be disabled") {
    PickerOptions opt;
    opt.endgame_max_requesters = 3;
    auto p = make(1, 2 * B, 2 * B, nullptr, opt);
    const Bitfield all(1, true);
    REQUIRE(pick(p, 1, all, 2).size() == 2);
    auto b = pick(p, 2, all, 1);
    REQUIRE(b.size() == 1);
    CHECK(b[0].offset == 0);
    auto c = pick(p, 3, all, 1); // block 1 has one requester, block 0 two: block 1 first
    REQUIRE(c.size() == 1);
    CHECK(c[0].offset == B);
    auto d = pick(p, 3, all, 5);
    REQUIRE(d.size() == 1);
    CHECK(d[0].offset == 0);
    auto got = p.on_block_received(1, BlockRequest{0, 0, B});
    std::sort(got.cancel.begin(), got.cancel.end());
    CHECK(got.cancel == std::vector<PeerToken>{2, 3});

    opt.endgame_max_requesters = 1;
    auto q = make(1, 2 * B, 2 * B, nullptr, opt);
    REQUIRE(pick(q, 1, all, 2).size() == 2);
    CHECK(q.is_endgame());
    CHECK(pick(q, 2, all, 2).empty());
}

// ---------------------------------------------------------------- picker: timeouts, peers leaving

TEST_CASE("picker: request timeout returns the block") {
    auto p = make(1, 4 * B, 4 * B);
    const Bitfield all(1, true);
    auto a = pick(p, 1, all, 4);
    REQUIRE(a.size() == 4);
    CHECK_FALSE(p.on_request_timeout(2, a[2])); // not peer 2's
    CHECK(p.on_request_timeout(1, a[2]));
    CHECK_FALSE(p.on_request_timeout(1, a[2]));                  // already released
    CHECK_FALSE(p.on_request_timeout(1, BlockRequest{0, 5, B})); // bad offset
    CHECK_FALSE(p.is_endgame());
    auto b = pick(p, 2, all, 1); // the released block; with max 1 no endgame duplicates follow
    REQUIRE(b.size() == 1);
    CHECK(b[0] == a[2]);
    CHECK(p.is_endgame());
    CHECK(p.check_invariants());

    // A late delivery from the timed-out peer is still accepted and peer 2 gets a cancel.
    auto late = p.on_block_received(1, a[2]);
    CHECK(late.accepted);
    CHECK(late.cancel == std::vector<PeerToken>{2});

    // Releasing everything of an untouched piece sends it back to the buckets.
    auto q = make(2, 2 * B, 4 * B);
    auto r = pick(q, 1, Bitfield(2, true), 2);
    REQUIRE(r.size() == 2);
    CHECK(q.state(r[0].piece) == PieceState::downloading);
    CHECK(q.on_request_timeout(1, r[0]));
    CHECK(q.on_request_timeout(1, r[1]));
    CHECK(q.state(r[0].piece) == PieceState::missing);
    CHECK(q.num_downloading() == 0);
    CHECK(q.check_invariants());
}

TEST_CASE("picker: peer gone returns its blocks, keeps what it delivered") {
    auto p = make(2, 4 * B, 8 * B);
    const Bitfield all(2, true);
    auto a = pick(p, 1, all, 3);
    REQUIRE(a.size() == 3);
    const std::uint32_t piece = a[0].piece;
    auto other = pick(p, 2, all, 1); // the 4th block of the same piece
    REQUIRE(other.size() == 1);
    CHECK(other[0].piece == piece);
    CHECK(p.on_block_received(1, a[0]).accepted);
    CHECK(p.on_peer_gone(1) == 2);
    CHECK(p.on_peer_gone(1) == 0);
    CHECK(p.state(piece) == PieceState::downloading);
    CHECK(p.check_invariants());
    auto b = pick(p, 3, all, 2); // the released blocks of the partial piece come first
    REQUIRE(b.size() == 2);
    CHECK(b[0] == a[1]);
    CHECK(b[1] == a[2]);

    // A peer that only had requests on an untouched piece: the piece goes back to missing.
    CHECK(p.on_peer_gone(3) == 2);
    CHECK(p.on_peer_gone(2) == 1);
    CHECK(p.state(piece) == PieceState::downloading); // still holds peer 1's block
    auto q = make(1, 2 * B, 2 * B);
    REQUIRE(pick(q, 5, Bitfield(1, true), 2).size() == 2);
    CHECK(q.on_peer_gone(5) == 2);
    CHECK(q.state(0) == PieceState::missing);
    CHECK(q.check_invariants());
}

// ---------------------------------------------------------------- picker: verification

TEST_CASE("picker: failed piece returns contributors and is picked again") {
    auto p = make(1, 2 * B, 2 * B - 100);
    const Bitfield all(1, true);
    auto a = pick(p, 1, all, 1);
    auto b = pick(p, 2, all, 1);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    CHECK(b[0].length == B - 100);
    CHECK(p.on_block_received(1, a[0]).accepted);
    auto done = p.on_block_received(2, b[0]);
    CHECK(done.piece_complete);
    CHECK(p.state(0) == PieceState::verifying);
    CHECK(pick(p, 3, all, 5).empty()); // never pick a verifying piece
    CHECK_FALSE(p.on_block_received(3, a[0]).accepted);

    auto bad = p.on_piece_verified(0, false);
    std::sort(bad.begin(), bad.end());
    CHECK(bad == std::vector<PeerToken>{1, 2});
    CHECK(p.state(0) == PieceState::missing);
    CHECK(p.num_have() == 0);
    CHECK(p.left() == 2 * B - 100);
    CHECK(p.check_invariants());

    auto again = pick(p, 3, all, 5);
    REQUIRE(again.size() == 2);
    deliver(p, 3, again);
    CHECK(p.have(0));
    CHECK(p.is_complete());
    CHECK(p.left() == 0);
    CHECK(p.on_piece_verified(0, false).empty()); // not verifying any more: ignored
    CHECK(p.have(0));
    CHECK(pick(p, 3, all, 5).empty());
    CHECK(p.check_invariants());
}

TEST_CASE("picker: one peer sending every block is reported once") {
    auto p = make(1, 3 * B, 3 * B);
    auto r = pick(p, 4, Bitfield(1, true), 3);
    for (const auto& b : r) p.on_block_received(4, b);
    CHECK(p.on_piece_verified(0, false) == std::vector<PeerToken>{4});
}

TEST_CASE("picker: blocks nobody asked for and bad geometry") {
    auto p = make(2, 2 * B, 3 * B);
    // Unrequested but needed: accepted (starts the piece).
    auto r = p.on_block_received(8, BlockRequest{1, 0, B});
    CHECK(r.accepted);
    CHECK(r.piece_complete); // piece 1 is a single block
    CHECK(p.on_piece_verified(1, true).empty());
    CHECK(p.have(1));
    CHECK_FALSE(p.on_block_received(8, BlockRequest{1, 0, B}).accepted);     // have it
    CHECK_FALSE(p.on_block_received(8, BlockRequest{0, 0, B - 1}).accepted); // wrong length
    CHECK_FALSE(p.on_block_received(8, BlockRequest{0, 1, B}).accepted);     // unaligned
    CHECK_FALSE(p.on_block_received(8, BlockRequest{0, 2 * B, B}).accepted); // beyond the piece
    CHECK_FALSE(p.on_block_received(8, BlockRequest{2, 0, B}).accepted);     // no such piece
    CHECK(p.state(0) == PieceState::missing);
    CHECK(p.check_invariants());
}

// ---------------------------------------------------------------- picker: resume / seed

TEST_CASE("picker: initialised with pieces present") {
    const Bitfield have = bits(4, {0, 3});
    auto p = make(4, 2 * B, 3ull * 2 * B + 1000, &have);
    CHECK(p.num_have() == 2);
    CHECK(p.have(0));
    CHECK(p.have(3));
    CHECK_FALSE(p.have(1));
    CHECK(p.left() == 2ull * 2 * B);
    CHECK(p.wire_bitfield() == std::string(1, '\x90'));
    CHECK(p.have_bitfield() == have);
    CHECK(p.is_interesting(bits(4, {1})));
    CHECK_FALSE(p.is_interesting(bits(4, {0, 3})));
    auto r = pick(p, 1, Bitfield(4, true), 100);
    CHECK(r.size() == 4);
    for (const auto& b : r) CHECK((b.piece == 1 || b.piece == 2));
    deliver(p, 1, r);
    CHECK(p.is_complete());
    CHECK(p.wire_bitfield() == std::string(1, '\xF0'));

    const Bitfield all(4, true);
    auto seed = make(4, 2 * B, 3ull * 2 * B + 1000, &all);
    CHECK(seed.is_complete());
    CHECK(seed.left() == 0);
    CHECK_FALSE(seed.is_endgame());
    CHECK(pick(seed, 1, all, 10).empty());
    CHECK(seed.check_invariants());
}

// ---------------------------------------------------------------- picker: stress

TEST_CASE("picker: randomized swarm keeps invariants and completes") {
    std::uint64_t x = 12345;
    auto rnd = [&](std::uint64_t n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x % n;
    };
    auto p = make(40, 4 * B, 39ull * 4 * B + 7777);
    constexpr int kPeers = 6;
    std::vector<Bitfield> has;
    for (int i = 0; i < kPeers; ++i) {
        Bitfield b(40);
        for (std::size_t k = 0; k < 40; ++k)
            if (rnd(3) != 0 || i == 0) b.set(k);
        p.add_peer_bitfield(b);
        has.push_back(b);
    }
    std::vector<std::vector<BlockRequest>> outstanding(kPeers);
    std::set<std::uint32_t> bad_once;
    int steps = 0;
    while (!p.is_complete() && steps < 20000) {
        ++steps;
        const auto peer = static_cast<std::uint32_t>(rnd(kPeers));
        auto& q = outstanding[peer];
        switch (rnd(10)) {
        case 0: // timeout
            if (!q.empty()) {
                auto i = rnd(q.size());
                p.on_request_timeout(peer, q[i]);
                q.erase(q.begin() + static_cast<std::ptrdiff_t>(i));
            }
            break;
        case 1: // peer leaves and comes back
            if (rnd(5) == 0) {
                p.on_peer_gone(peer);
                q.clear();
            }
            break;
        case 2:
        case 3:
        case 4: p.pick(peer, has[peer], 1 + rnd(8), q); break;
        default: // deliver the oldest outstanding block
            if (!q.empty()) {
                const BlockRequest b = q.front();
                q.erase(q.begin());
                auto r = p.on_block_received(peer, b);
                for (PeerToken c : r.cancel) {
                    auto& cq = outstanding[c];
                    auto it = std::find(cq.begin(), cq.end(), b);
                    CHECK(it != cq.end());
                    if (it != cq.end()) cq.erase(it);
                }
                if (r.piece_complete) {
                    // Fail each piece's first hash check once.
                    const bool ok = !bad_once.insert(b.piece).second;
                    auto culprits = p.on_piece_verified(b.piece, ok);
                    CHECK(culprits.empty() == ok);
                }
            }
        }
        if (!p.check_invariants()) {
            FAIL("invariants broken at step " << steps);
            break;
        }
    }
    CHECK(p.is_complete());
    CHECK(p.left() == 0);
    CHECK(bad_once.size() == 40);
}

TEST_CASE("picker: throughput of pick/receive/verify (not O(pieces) per block)") {
    // 40 000 pieces of 256 KiB (16 blocks): 640 000 blocks. 20 leechers each hold a random ~60 % of the pieces
    // (so rarest-first walks skip pieces a peer lacks) and one seed; each pipelines 32 blocks at a time.
    constexpr std::uint32_t n = 40000;
    constexpr int kPeers = 21;
    auto p = make(n, 16 * B, std::uint64_t(n) * 16 * B);
    std::uint64_t x = 99;
    std::vector<Bitfield> has(kPeers, Bitfield(n));
    for (int i = 0; i < kPeers; ++i) {
        for (std::uint32_t k = 0; k < n; ++k) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            if (i == 0 || (x >> 33) % 10 < 6) has[i].set(k);
        }
        if (i == 0)
            p.add_have_all();
        else
            p.add_peer_bitfield(has[i]);
    }
    std::vector<BlockRequest> out;
    std::size_t blocks = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (!p.is_complete()) {
        for (int i = 0; i < kPeers; ++i) {
            out.clear();
            p.pick(static_cast<PeerToken>(i), has[i], 32, out);
            for (const auto& b : out) {
                auto r = p.on_block_received(static_cast<PeerToken>(i), b);
                if (r.accepted) ++blocks;
                if (r.piece_complete) p.on_piece_verified(b.piece, true);
            }
        }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("picker: " << blocks << " blocks in " << secs << " s = " << static_cast<double>(blocks) / secs
                       << " blocks/s");
    CHECK(blocks == std::size_t(n) * 16);
    CHECK(p.check_invariants());
    CHECK(secs < 5.0); // an O(pieces)-per-pick picker needs minutes here; ~30 000 blocks/s is the target
}
