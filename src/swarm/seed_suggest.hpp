// SeedSuggest: which pieces a seed steers each unchoked peer to with BEP 6 SUGGEST_PIECE. Pure logic: no uv.h,
// no I/O, no clock.
//
// Why: in a seed-bound swarm the seed's upload is the bottleneck, and every piece it sends twice is time lost
// (Kumar–Ross: the swarm cannot finish before the seed has sent F once). Leechers that pick "rarest first" on
// their own see the same seed-only pieces as rarest and ask the seed for the same piece within the same second;
// tools/swarm measured the seed sending 1.10 × F that way. So the seed hands out disjoint pieces: each unchoked
// peer holds a small window of suggested pieces nobody has been sent yet, and a piece is in at most one window.
// p2pnode's picker takes a peer's suggestions first (picker.hpp); other clients may ignore them, which costs
// nothing but the 9-byte messages.
//
// Per piece: whether it was ever requested from us (`sent`), and the peer it is suggested to. Never-sent,
// unsuggested pieces sit in one pool (swap-remove, O(1) moves). Per peer: its window (≤ window, bounded by
// kMaxWindow) and the last pieces it requested (≤ kRecent, so a piece counts once per peer, not once per block).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "swarm/bitfield.hpp"

namespace p2p::swarm {

using PeerToken = std::uint64_t; // same alias in picker.hpp

class SeedSuggest {
public:
    static constexpr std::size_t kMaxWindow = 32; // suggested, unrequested pieces per peer (the picker's bound too)
    static constexpr std::size_t kRecent = 16;    // requested pieces remembered per peer
    static constexpr std::size_t kSample = 8;     // candidates compared by availability per suggestion

    // `seed`: random source for the pool order (p2p::random_u32() in production, fixed in tests).
    explicit SeedSuggest(std::uint32_t num_pieces = 0, std::uint64_t seed = 1);

    // Appends to `out` the pieces to suggest to `peer` now, so that it holds `window` (≤ kMaxWindow) suggested
    // pieces it has not requested yet; returns how many. Only never-sent pieces the peer lacks are suggested;
    // among a few random candidates the one with the lowest `avail(piece)` (connected peers that have it) wins.
    // Once every piece was sent, nothing more is suggested and peers pick on their own again.
    std::size_t top_up(PeerToken peer, const Bitfield& peer_has, std::size_t window,
                       const std::function<std::uint32_t(std::uint32_t)>& avail, std::vector<std::uint32_t>& out);
    // The peer requested a block of `piece`: the piece is sent (leaves the pool, and any window it was in).
    void on_request(PeerToken peer, std::uint32_t piece);
    // The peer announced the piece (got it elsewhere): drop it from its window; unsent, it returns to the pool.
    void on_have(PeerToken peer, std::uint32_t piece);
    // We choked the peer, it lost interest or left: its untouched suggestions go back to the pool, and so do
    // `unfinished` pieces (those whose queued requests the choke rejected: only part of them went out). p2pnode
    // leechers start no new piece from a suggesting seed on their own (picker.hpp), so a piece left half-sent to
    // a choked peer would otherwise wait until that peer is unchoked again.
    void release(PeerToken peer, const std::vector<std::uint32_t>& unfinished = {});
    // The peer left: release() and forget its record.
    void forget(PeerToken peer, const std::vector<std::uint32_t>& unfinished = {});
    // A peer that left had these pieces: those we sent that nobody connected has any more (`avail` 0) are
    // unsent again, so they are suggested anew. O(pieces); returns how many returned to the pool.
    std::size_t repool_lost(const Bitfield& gone_had, const std::function<std::uint32_t(std::uint32_t)>& avail);

    // ---- queries (tests, status)
    bool sent(std::uint32_t piece) const { return sent_[piece]; }
    std::size_t window_size(PeerToken peer) const;
    bool suggested_to(std::uint32_t piece, PeerToken peer) const;
    std::size_t unsent_pool() const { return pool_.size(); }
    std::size_t num_peers() const { return peers_.size(); }

private:
    static constexpr std::uint32_t kNone = UINT32_MAX;
    struct Peer {
        std::vector<std::uint32_t> window; // suggested, not yet requested by it
        std::vector<std::uint32_t> recent; // last pieces it requested, newest last
    };
    void pool_insert(std::uint32_t piece);
    void pool_erase(std::uint32_t piece);
    static bool erase_from(std::vector<std::uint32_t>& v, std::uint32_t piece);
    std::uint64_t next_random();

    std::vector<std::uint32_t> pool_;     // never sent and not suggested
    std::vector<std::uint32_t> pool_pos_; // index in pool_, or kNone
    std::vector<bool> sent_;
    std::vector<PeerToken> owner_; // valid when owned_[piece]
    std::vector<bool> owned_;
    std::unordered_map<PeerToken, Peer> peers_; // peers we suggested to or that requested; bounded by connections
    std::uint64_t rng_state_;
};

} // namespace p2p::swarm
