// Piece picker: decides which 16 KiB blocks to request from which peer. Pure logic: no uv.h, no I/O, no clock.
//
// Policy (BEP 3 "rarest first", as libtorrent and Transmission implement it):
//   1. finish partially downloaded pieces first — first those this peer already requested/sent blocks of,
//      then the others, oldest first (a piece is only useful once all of it is here and hashed);
//   1b. pieces the peer suggested (BEP 6 SUGGEST_PIECE), in the order suggested. A seed that steers each peer
//      to different never-sent pieces (seed_suggest.hpp) sends each piece once only if nobody starts other new
//      pieces from it: those are another peer's suggestions or already on their way to another peer. So from a
//      peer whose suggestions are pending rule 2 starts nothing (partial pieces and endgame still apply); once
//      they are all here (or cleared) rule 2 applies again at once: the seed has nothing never-sent left for us;
//   2. otherwise start the rarest piece the peer has; ties between pieces of equal availability are broken at
//      random (seeded source: PickerOptions::seed), so peers of a swarm do not all chase the same piece;
//   3. endgame: once every missing block is requested, outstanding blocks may also be requested from other
//      peers (at most PickerOptions::endgame_max_requesters per block); on_block_received() then names the
//      peers that need a CANCEL.
// Pieces we have or are verifying are never picked; before endgame no block is requested twice.
// Unwanted pieces (set_wanted: file selection, a piece is wanted when it touches a wanted file) are never started:
// they stay out of the buckets, suggestions of them are dropped and an unrequested block of one is refused. A piece
// already in progress when it becomes unwanted is finished (its blocks are here or on their way).
//
// Cost: per piece a state byte, an availability count and a bucket position. Missing, not-yet-started pieces sit
// in availability buckets (bucket k = pieces that k registered bitfields/haves report); a have or a bitfield
// moves a piece between adjacent buckets in O(1), so nothing is ever re-sorted. pick() walks the pieces in
// progress (O(in progress), each skipped in O(1) when it has no free block) and then the buckets from the rarest
// up, stopping as soon as it has enough blocks: in steady state O(in progress + pieces inspected in the rarest
// buckets), never O(all pieces) per block. Peers that have everything (BEP 6 HaveAll, or a seed's full bitfield
// if the caller chooses) are a single counter: they raise every piece equally, which changes no order.
//
// Peer tokens are opaque ids chosen by the caller (never pointers); the picker only compares them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "swarm/bitfield.hpp"

namespace p2p::swarm {

using PeerToken = std::uint64_t; // same alias in choker.hpp

// BEP 3: "All current implementations use 2^14 (16 kiB), and close connections which request an amount greater
// than that." The last block of the last piece is shorter; so is the last block of any piece whose length is not
// a multiple of 16 KiB.
inline constexpr std::uint32_t kBlockSize = 16 * 1024;

// A block as it appears in BEP 3 request/piece/cancel messages.
struct BlockRequest {
    std::uint32_t piece = 0;
    std::uint32_t offset = 0; // byte offset inside the piece, a multiple of kBlockSize
    std::uint32_t length = 0; // kBlockSize, or less for a piece's last block
    bool operator==(const BlockRequest&) const = default;
};

struct PickerOptions {
    // Seed of the tie-break random source. Seed from p2p::random_u32() in production; fixed seeds in tests.
    std::uint64_t seed = 1;
    // Endgame: most peers one block may be requested from at once (1 disables duplicates). Clamped to
    // [1, PiecePicker::kMaxRequesters].
    std::uint32_t endgame_max_requesters = 2;
};

enum class PieceState : std::uint8_t {
    missing,     // not started (in the availability buckets)
    downloading, // some blocks requested or received
    verifying,   // all blocks received; the caller is hashing it
    have,        // hash checked
};

// What on_block_received() tells the caller.
struct BlockReceived {
    // true: a block we still needed — write it. false: duplicate / unknown / bad geometry — discard the data.
    bool accepted = false;
    // true: that was the piece's last block; it is now `verifying`. Hash it, then call on_piece_verified().
    // (This is the "piece complete" event.)
    bool piece_complete = false;
    // Other peers that still had this block requested (endgame): send each a CANCEL for it.
    std::vector<PeerToken> cancel;
};

class PiecePicker {
public:
    // Inline requester slots per block: bounds endgame duplicates and keeps a block 48 bytes.
    static constexpr std::uint32_t kMaxRequesters = 4;

    // Geometry: num_pieces pieces of piece_length bytes, the last one shorter so that they sum to total_length
    // (must hold: (num_pieces-1)*piece_length < total_length <= num_pieces*piece_length).
    // `have`: pieces already present and verified (resume / seeding); nullptr = none; else size must match.
    static Result<PiecePicker> create(std::uint32_t num_pieces, std::uint32_t piece_length, std::uint64_t total_length,
                                      const Bitfield* have = nullptr, PickerOptions options = {});
    // An empty picker (0 pieces; picks nothing) so owners can hold one by value and assign create()'s result.
    PiecePicker() = default;

    // ---- geometry
    std::uint32_t num_pieces() const { return num_pieces_; }
    std::uint32_t piece_size(std::uint32_t piece) const;
    std::uint32_t blocks_in_piece(std::uint32_t piece) const;
    BlockRequest block(std::uint32_t piece, std::uint32_t block_index) const; // offset and length of a block

    // ---- availability (what connected peers report). Register each peer once, through one of:
    //   add_peer_bitfield(bf)  then peer_have(i) per HAVE, and on disconnect remove_peer_bitfield(current bf)
    //   add_have_all()         (BEP 6 HaveAll; also fine for a full bitfield) and remove_have_all()
    // Bitfields of the wrong size are ignored.
    void add_peer_bitfield(const Bitfield& peer_has);
    void remove_peer_bitfield(const Bitfield& peer_has);
    void peer_have(std::uint32_t piece);
    void add_have_all() { ++have_all_; }
    void remove_have_all() {
        if (have_all_) --have_all_;
    }
    std::uint32_t availability(std::uint32_t piece) const { return avail_[piece] + have_all_; }

    // ---- suggestions (BEP 6 SUGGEST_PIECE). At most kMaxSuggestions per peer are kept (the oldest goes), so a
    // peer flooding suggestions costs at most that much per pick. clear_suggestions() empties the list (call it
    // when the peer chokes us: a seed re-assigns a choked peer's suggestions, or when the pending ones keep us
    // idle); the peer stays a suggester (is_suggester, for tests and status) until on_peer_gone().
    static constexpr std::size_t kMaxSuggestions = 32;
    void add_suggestion(PeerToken peer, std::uint32_t piece);
    void clear_suggestions(PeerToken peer);
    bool is_suggester(PeerToken peer) const { return suggested_.count(peer) != 0; }
    std::size_t num_suggestions(PeerToken peer) const;

    // ---- selection (file selection: torrent.cpp maps files to pieces)
    // `wanted` has num_pieces bits (other sizes are ignored); every piece is wanted until the first call.
    void set_wanted(const Bitfield& wanted);
    bool wanted(std::uint32_t piece) const { return !unneeded_valid_ || wanted_.get(piece); }
    // Every wanted piece is here (what "done" means for a download of selected files).
    bool wanted_complete() const { return num_needed_ == 0; }

    // ---- picking
    // Appends up to max_blocks requests for `peer` to `out` (out is not cleared) and returns how many it added.
    // peer_has is what the peer has (a full Bitfield for HaveAll peers). The picker records the requests as
    // outstanding for `peer` until on_block_received / on_request_timeout / on_peer_gone.
    std::size_t pick(PeerToken peer, const Bitfield& peer_has, std::size_t max_blocks, std::vector<BlockRequest>& out);

    // ---- events
    // A PIECE message arrived. A block that was not requested from this peer is still accepted if we need it
    // (e.g. it arrived after its request timed out).
    BlockReceived on_block_received(PeerToken peer, const BlockRequest& block);
    // The request went unanswered too long, was rejected (BEP 6), or we cancelled it: the block becomes
    // pickable again (unless another peer still has it requested). Returns false if `peer` did not have it.
    bool on_request_timeout(PeerToken peer, const BlockRequest& block);
    // The peer disconnected or choked us (BEP 3: a choke discards pending requests): all its outstanding
    // requests return to the picker. Blocks it already delivered are kept. Returns how many were released.
    // (Availability is separate: call remove_peer_bitfield / remove_have_all on disconnect.)
    std::size_t on_peer_gone(PeerToken peer);
    // The caller hashed a `verifying` piece. ok: we have it. Failed: every block is missing again and the piece
    // can be picked anew; returns the distinct peers that sent its blocks (for strike counting / bans).
    // Returns an empty list when ok or when the piece was not verifying.
    std::vector<PeerToken> on_piece_verified(std::uint32_t piece, bool ok);

    // ---- queries
    PieceState state(std::uint32_t piece) const { return state_[piece]; }
    bool have(std::uint32_t piece) const { return state_[piece] == PieceState::have; }
    std::uint32_t num_have() const { return num_have_; }
    bool is_complete() const { return num_have_ == num_pieces_; }
    std::uint64_t left() const { return left_; } // bytes of pieces we do not have (tracker "left")
    bool is_endgame() const;                     // every missing block is requested or received
    const Bitfield& have_bitfield() const { return have_bits_; }
    std::string wire_bitfield() const { return have_bits_.to_wire(); } // BEP 3 bitfield message payload
    // The peer has a wanted piece we lack.
    bool is_interesting(const Bitfield& peer_has) const {
        return peer_has.has_any_not_in(unneeded_valid_ ? unneeded_ : have_bits_);
    }
    std::size_t num_downloading() const { return active_.size(); }
    // Outstanding requests of all peers (each peer counted per block), for tests and status.
    std::size_t num_requested_blocks() const;

    // O(pieces) self-check of the internal indexes; for tests.
    bool check_invariants() const;

private:
    static constexpr std::uint32_t kNone = UINT32_MAX;

    enum class BlockState : std::uint8_t { free, requested, received };
    struct Block {
        PeerToken req[kMaxRequesters]; // requesters [0, nreq)
        PeerToken from;                // who delivered it, when received
        BlockState state;
        std::uint8_t nreq;
    };
    // One piece in progress or being verified. Slots are reused (vectors keep their capacity).
    struct Download {
        std::uint32_t piece = 0;
        std::uint32_t num_free = 0, num_requested = 0, num_received = 0;
        std::uint32_t first_free = 0; // no free block below this index
        std::vector<Block> blocks;
        std::vector<PeerToken> peers; // every peer that requested or sent a block here (affinity, fast skip);
                                      // bounded by blocks * kMaxRequesters
    };

    // Buckets of not-started missing pieces, indexed by avail_.
    void bucket_insert(std::uint32_t piece);
    void bucket_erase(std::uint32_t piece);
    void avail_changed(std::uint32_t piece, std::uint32_t old_avail);

    std::uint32_t start_download(std::uint32_t piece);
    void free_slot(std::uint32_t slot);
    void deactivate(std::uint32_t slot);
    void abandon_if_idle(std::uint32_t slot);
    std::size_t request_free(Download& d, PeerToken peer, std::size_t max, std::vector<BlockRequest>& out);
    // The availability of the rarest not-started piece the peer has (UINT32_MAX: none found in a bounded scan).
    std::uint32_t rarest_fresh_avail(const Bitfield& peer_has) const;
    std::size_t request_endgame(PeerToken peer, const Bitfield& peer_has, std::size_t max,
                                std::vector<BlockRequest>& out);
    static bool remove_requester(Block& b, PeerToken peer);
    Download* download_for(const BlockRequest& br, std::uint32_t& index_out);
    std::uint64_t next_random();
    // Rule 1b: requests blocks of the peer's suggested pieces; drops suggestions no longer wanted.
    std::size_t request_suggested(std::vector<std::uint32_t>& suggested, PeerToken peer, const Bitfield& peer_has,
                                  std::size_t max, std::vector<BlockRequest>& out);

    std::uint32_t num_pieces_ = 0;
    std::uint32_t piece_length_ = 0;
    std::uint64_t total_length_ = 0;
    std::uint32_t max_requesters_ = 2;

    std::vector<PieceState> state_;
    std::vector<std::uint32_t> avail_;   // registered bitfields/haves reporting the piece (have-alls excluded)
    std::vector<std::uint32_t> pos_;     // index inside buckets_[avail_] while missing
    std::vector<std::uint32_t> slot_of_; // Download slot while downloading/verifying, else kNone
    std::vector<std::vector<std::uint32_t>> buckets_;
    std::size_t num_fresh_ = 0; // pieces in the buckets

    std::vector<Download> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::uint32_t> active_;  // slots of downloading pieces, oldest first
    std::size_t total_free_ = 0;         // free blocks over active_
    std::vector<std::uint32_t> scratch_; // reused by pick()

    // Suggesters and their suggested pieces, oldest first; ≤ kMaxSuggestions each, entries removed with the peer.
    std::unordered_map<PeerToken, std::vector<std::uint32_t>> suggested_;

    Bitfield have_bits_;
    // Selection: wanted_ per piece; unneeded_ = have or not wanted (what is_interesting compares against);
    // num_needed_ = wanted pieces we lack. unneeded_valid_ false: no selection made, every piece wanted.
    Bitfield wanted_, unneeded_;
    bool unneeded_valid_ = false;
    std::uint32_t num_needed_ = 0;
    void mark_have(std::uint32_t piece); // keeps unneeded_ and num_needed_
    std::uint32_t num_have_ = 0;
    std::uint64_t left_ = 0;
    std::uint32_t have_all_ = 0;
    std::uint64_t rng_state_ = 1;
};

} // namespace p2p::swarm
