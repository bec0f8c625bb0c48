#include "swarm/picker.hpp"

#include <algorithm>
#include <bit>

#include "base/assert.hpp"
#include "swarm/splitmix.hpp"

namespace p2p::swarm {

namespace {
bool contains(const std::vector<PeerToken>& v, PeerToken p) { return std::find(v.begin(), v.end(), p) != v.end(); }
void add_unique(std::vector<PeerToken>& v, PeerToken p) {
    if (!contains(v, p)) v.push_back(p);
}
} // namespace

Result<PiecePicker> PiecePicker::create(std::uint32_t num_pieces, std::uint32_t piece_length,
                                        std::uint64_t total_length, const Bitfield* have, PickerOptions options) {
    const char* op = "picker.create";
    if (num_pieces == 0 || piece_length == 0) return make_error(op, "no pieces or zero piece length", Errc::bad_input);
    if (num_pieces == kNone) return make_error(op, "too many pieces", Errc::bad_input);
    const std::uint64_t before_last = std::uint64_t(num_pieces - 1) * piece_length;
    if (total_length <= before_last || total_length > before_last + piece_length)
        return make_error(op,
                          "total length " + std::to_string(total_length) + " does not fit " +
                              std::to_string(num_pieces) + " pieces of " + std::to_string(piece_length),
                          Errc::bad_input);
    if (have && have->size() != num_pieces)
        return make_error(op, "have bitfield size differs from piece count", Errc::bad_input);

    PiecePicker p;
    p.num_pieces_ = num_pieces;
    p.piece_length_ = piece_length;
    p.total_length_ = total_length;
    p.max_requesters_ = std::clamp<std::uint32_t>(options.endgame_max_requesters, 1, kMaxRequesters);
    // splitmix64 accepts any seed, 0 included.
    p.rng_state_ = options.seed;
    p.state_.assign(num_pieces, PieceState::missing);
    p.avail_.assign(num_pieces, 0);
    p.pos_.assign(num_pieces, kNone);
    p.slot_of_.assign(num_pieces, kNone);
    p.have_bits_ = Bitfield(num_pieces);
    p.left_ = total_length;
    p.buckets_.resize(1);
    p.buckets_[0].reserve(num_pieces);
    for (std::uint32_t i = 0; i < num_pieces; ++i) {
        if (have && have->get(i)) {
            p.state_[i] = PieceState::have;
            p.have_bits_.set(i);
            ++p.num_have_;
            p.left_ -= p.piece_size(i);
        } else {
            p.bucket_insert(i);
            ++p.num_needed_;
        }
    }
    return p;
}

// ---- selection

void PiecePicker::set_wanted(const Bitfield& w) {
    if (w.size() != num_pieces_) return;
    unneeded_valid_ = true;
    wanted_ = w;
    unneeded_ = have_bits_;
    num_needed_ = 0;
    for (std::uint32_t i = 0; i < num_pieces_; ++i) {
        if (!wanted_.get(i)) unneeded_.set(i);
        if (!unneeded_.get(i)) ++num_needed_;
        if (state_[i] != PieceState::missing) continue; // in progress or here: finished as it is
        const bool in_bucket = pos_[i] != kNone;
        if (wanted_.get(i) && !in_bucket) bucket_insert(i);
        if (!wanted_.get(i) && in_bucket) bucket_erase(i);
    }
    for (auto& [peer, v] : suggested_) std::erase_if(v, [this](std::uint32_t piece) { return !wanted(piece); });
}

void PiecePicker::mark_have(std::uint32_t piece) {
    if (!unneeded_valid_ && num_needed_ > 0) --num_needed_;
    if (unneeded_valid_ && !unneeded_.get(piece)) {
        unneeded_.set(piece);
        if (num_needed_ > 0) --num_needed_;
    }
}

// ---- geometry

std::uint32_t PiecePicker::piece_size(std::uint32_t piece) const {
    if (piece + 1 == num_pieces_)
        return static_cast<std::uint32_t>(total_length_ - std::uint64_t(piece) * piece_length_);
    return piece_length_;
}

std::uint32_t PiecePicker::blocks_in_piece(std::uint32_t piece) const {
    return (piece_size(piece) + kBlockSize - 1) / kBlockSize;
}

BlockRequest PiecePicker::block(std::uint32_t piece, std::uint32_t block_index) const {
    const std::uint32_t offset = block_index * kBlockSize;
    return BlockRequest{piece, offset, std::min(kBlockSize, piece_size(piece) - offset)};
}

// ---- random source (swarm/splitmix.hpp)

std::uint64_t PiecePicker::next_random() { return splitmix64(rng_state_); }

// ---- availability buckets

void PiecePicker::bucket_insert(std::uint32_t piece) {
    if (!wanted(piece)) return; // unwanted pieces are never started: they sit in no bucket
    // Only not-started pieces sit in the buckets, each once: a second entry would be picked twice.
    P2P_ASSERT(state_[piece] == PieceState::missing && pos_[piece] == kNone, "picker: piece put in a bucket twice");
    if (pos_[piece] != kNone) return;
    const std::uint32_t a = avail_[piece];
    if (a >= buckets_.size()) buckets_.resize(std::size_t(a) + 1);
    pos_[piece] = static_cast<std::uint32_t>(buckets_[a].size());
    buckets_[a].push_back(piece);
    ++num_fresh_;
}

void PiecePicker::bucket_erase(std::uint32_t piece) {
    // The piece must be where its availability says: erasing another slot would lose an unrelated piece.
    const bool in_place = avail_[piece] < buckets_.size() && pos_[piece] < buckets_[avail_[piece]].size() &&
                          buckets_[avail_[piece]][pos_[piece]] == piece;
    P2P_ASSERT(in_place, "picker: piece not in the bucket of its availability");
    if (!in_place) return;
    auto& b = buckets_[avail_[piece]];
    const std::uint32_t at = pos_[piece];
    const std::uint32_t moved = b.back();
    b[at] = moved;
    pos_[moved] = at;
    b.pop_back();
    pos_[piece] = kNone;
    --num_fresh_;
}

// avail_[piece] changed from old_avail; keep a not-started piece in the matching bucket.
void PiecePicker::avail_changed(std::uint32_t piece, std::uint32_t old_avail) {
    if (state_[piece] != PieceState::missing || !wanted(piece)) return;
    const std::uint32_t now = avail_[piece];
    avail_[piece] = old_avail;
    bucket_erase(piece);
    avail_[piece] = now;
    bucket_insert(piece);
}

void PiecePicker::add_peer_bitfield(const Bitfield& peer_has) {
    if (peer_has.size() != num_pieces_) return;
    peer_has.for_each_set([this](std::uint32_t i) {
        ++avail_[i];
        avail_changed(i, avail_[i] - 1);
    });
}

void PiecePicker::remove_peer_bitfield(const Bitfield& peer_has) {
    if (peer_has.size() != num_pieces_) return;
    peer_has.for_each_set([this](std::uint32_t i) {
        if (avail_[i] == 0) return; // unbalanced call; never underflow
        --avail_[i];
        avail_changed(i, avail_[i] + 1);
    });
}

void PiecePicker::peer_have(std::uint32_t piece) {
    if (piece >= num_pieces_) return;
    ++avail_[piece];
    avail_changed(piece, avail_[piece] - 1);
}

// ---- downloads

std::uint32_t PiecePicker::start_download(std::uint32_t piece) {
    P2P_ASSERT(state_[piece] == PieceState::missing && slot_of_[piece] == kNone,
               "picker: starting a piece that is already started or present");
    bucket_erase(piece);
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    Download& d = slots_[slot];
    const std::uint32_t n = blocks_in_piece(piece);
    d.piece = piece;
    d.num_free = n;
    d.num_requested = 0;
    d.num_received = 0;
    d.first_free = 0;
    d.blocks.assign(n, Block{{}, 0, BlockState::free, 0});
    d.peers.clear();
    total_free_ += n;
    active_.push_back(slot);
    slot_of_[piece] = slot;
    state_[piece] = PieceState::downloading;
    return slot;
}

// Drop a slot from active_ (the piece stops being pickable: verifying, or abandoned).
void PiecePicker::deactivate(std::uint32_t slot) {
    auto it = std::find(active_.begin(), active_.end(), slot);
    P2P_ASSERT(it != active_.end(), "picker: deactivating a piece that is not in progress");
    if (it == active_.end()) return;
    active_.erase(it);
    // total_free_ counts the free blocks of exactly the pieces in active_.
    P2P_ASSERT(total_free_ >= slots_[slot].num_free, "picker: free block count below a piece's free blocks");
    total_free_ -= std::min<std::size_t>(total_free_, slots_[slot].num_free);
}

void PiecePicker::free_slot(std::uint32_t slot) {
    P2P_ASSERT(slot_of_[slots_[slot].piece] == slot, "picker: freeing a slot its piece does not use");
    slot_of_[slots_[slot].piece] = kNone;
    free_slots_.push_back(slot);
}

// A downloading piece with nothing requested and nothing received goes back to the buckets, so abandoned pieces
// do not pile up in active_ and the piece is chosen again by rarity.
void PiecePicker::abandon_if_idle(std::uint32_t slot) {
    Download& d = slots_[slot];
    if (d.num_requested != 0 || d.num_received != 0) return;
    deactivate(slot);
    free_slot(slot);
    state_[d.piece] = PieceState::missing;
    bucket_insert(d.piece);
}

std::size_t PiecePicker::request_free(Download& d, PeerToken peer, std::size_t max, std::vector<BlockRequest>& out) {
    std::size_t got = 0;
    const auto n = static_cast<std::uint32_t>(d.blocks.size());
    std::uint32_t i = d.first_free;
    for (; i < n && got < max && d.num_free > 0; ++i) {
        Block& b = d.blocks[i];
        if (b.state != BlockState::free) continue;
        P2P_ASSERT(total_free_ > 0, "picker: a free block that total_free_ does not count");
        b.state = BlockState::requested;
        b.nreq = 1;
        b.req[0] = peer;
        --d.num_free;
        ++d.num_requested;
        --total_free_;
        out.push_back(block(d.piece, i));
        ++got;
    }
    d.first_free = i;
    if (got) add_unique(d.peers, peer);
    return got;
}

std::size_t PiecePicker::pick(PeerToken peer, const Bitfield& peer_has, std::size_t max_blocks,
                              std::vector<BlockRequest>& out) {
    if (peer_has.size() != num_pieces_ || max_blocks == 0 || is_complete()) return 0;
    std::size_t got = 0;

    // 1. Partial pieces: those this peer is already part of, then any other (oldest first) -- but not another
    // peer's partial piece that is more common than the rarest fresh piece this peer offers: a seed's upload
    // is the swarm's scarcest resource, and spending it on blocks other leechers could supply makes the seed
    // send the file more than once (tools/swarm measured the seed uploading 1.3x the file before this rule).
    if (total_free_ > 0) {
        const std::uint32_t rarest = rarest_fresh_avail(peer_has);
        for (int pass = 0; pass < 2 && got < max_blocks; ++pass) {
            for (std::uint32_t slot : active_) {
                Download& d = slots_[slot];
                if (d.num_free == 0 || !peer_has.get(d.piece)) continue;
                if (contains(d.peers, peer) != (pass == 0)) continue;
                if (pass == 1 && avail_[d.piece] > rarest) continue;
                got += request_free(d, peer, max_blocks - got, out);
                if (got == max_blocks) return got;
            }
        }
    }

    // 1b. The peer's suggestions; a suggester with suggestions pending gets no rule 2. One whose list ran dry is
    // picked from freely at once: a p2pnode seed tops a window up on every request while it has never-sent pieces
    // left, so an empty list means it has none for us, and waiting would leave its upload idle (tools/swarm: ~4 s
    // of the seed's time at the end of its first copy, with a 5 s timeout here).
    auto sug = suggested_.find(peer);
    if (sug != suggested_.end() && !sug->second.empty()) {
        got += request_suggested(sug->second, peer, peer_has, max_blocks - got, out);
        if (got == max_blocks) return got;
        if (!sug->second.empty()) {
            if (is_endgame()) got += request_endgame(peer, peer_has, max_blocks - got, out);
            return got;
        }
        // Ran dry just now (the last suggestions are here or hashing): on to rule 2.
    }

    // 2. New pieces, rarest first. Collect first (starting a piece edits the bucket being walked), stopping once
    // the candidates hold enough blocks. Within a bucket the walk starts at a random position: random tie-break.
    if (num_fresh_ > 0) {
        scratch_.clear();
        std::size_t need = max_blocks - got;
        for (std::size_t a = 0; a < buckets_.size() && need > 0; ++a) {
            const auto& b = buckets_[a];
            if (b.empty()) continue;
            const std::size_t sz = b.size();
            const std::size_t start = static_cast<std::size_t>(((next_random() >> 32) * sz) >> 32);
            for (std::size_t k = 0; k < sz && need > 0; ++k) {
                std::size_t at = start + k;
                if (at >= sz) at -= sz;
                const std::uint32_t piece = b[at];
                if (!peer_has.get(piece)) continue;
                scratch_.push_back(piece);
                need -= std::min<std::size_t>(need, blocks_in_piece(piece));
            }
        }
        for (std::uint32_t piece : scratch_) {
            const std::uint32_t slot = start_download(piece);
            got += request_free(slots_[slot], peer, max_blocks - got, out);
        }
        if (got == max_blocks) return got;
    }

    // 3. Endgame duplicates.
    if (is_endgame()) got += request_endgame(peer, peer_has, max_blocks - got, out);
    return got;
}

// ---- suggestions

void PiecePicker::add_suggestion(PeerToken peer, std::uint32_t piece) {
    if (piece >= num_pieces_ || state_[piece] == PieceState::have || state_[piece] == PieceState::verifying) return;
    std::vector<std::uint32_t>& v = suggested_[peer];
    if (std::find(v.begin(), v.end(), piece) != v.end()) return;
    if (v.size() >= kMaxSuggestions) v.erase(v.begin());
    v.push_back(piece);
}

void PiecePicker::clear_suggestions(PeerToken peer) {
    if (auto it = suggested_.find(peer); it != suggested_.end()) it->second.clear();
}

std::size_t PiecePicker::num_suggestions(PeerToken peer) const {
    auto it = suggested_.find(peer);
    return it == suggested_.end() ? 0 : it->second.size();
}

std::size_t PiecePicker::request_suggested(std::vector<std::uint32_t>& v, PeerToken peer, const Bitfield& peer_has,
                                           std::size_t max, std::vector<BlockRequest>& out) {
    std::size_t got = 0, keep = 0;
    for (std::size_t k = 0; k < v.size(); ++k) {
        const std::uint32_t piece = v[k];
        // Done with it (have, hashing), not wanted, or it cannot come from this peer: forget the suggestion.
        if (state_[piece] == PieceState::have || state_[piece] == PieceState::verifying || !peer_has.get(piece) ||
            (state_[piece] == PieceState::missing && !wanted(piece)))
            continue;
        v[keep++] = piece;
        if (got == max) continue;
        if (state_[piece] == PieceState::missing) start_download(piece);
        Download& d = slots_[slot_of_[piece]];
        if (d.num_free > 0) got += request_free(d, peer, max - got, out);
        // A piece just started and left without requests (max reached before it) is put back at once.
        abandon_if_idle(slot_of_[piece]);
    }
    v.resize(keep);
    return got;
}

std::uint32_t PiecePicker::rarest_fresh_avail(const Bitfield& peer_has) const {
    // Bounded scan: a peer holding few pieces could make this O(pieces); past the bound we answer "unknown"
    // (no piece is skipped), which is the old behaviour.
    constexpr std::size_t kMaxScan = 512;
    std::size_t scanned = 0;
    for (std::size_t a = 0; a < buckets_.size() && scanned < kMaxScan; ++a) {
        for (std::uint32_t piece : buckets_[a]) {
            if (peer_has.get(piece)) return static_cast<std::uint32_t>(a);
            if (++scanned == kMaxScan) break;
        }
    }
    return UINT32_MAX;
}

std::size_t PiecePicker::request_endgame(PeerToken peer, const Bitfield& peer_has, std::size_t max,
                                         std::vector<BlockRequest>& out) {
    std::size_t got = 0;
    // Least-duplicated blocks first: every block at 1 requester before any gets a third.
    for (std::uint32_t level = 1; level < max_requesters_ && got < max; ++level) {
        for (std::uint32_t slot : active_) {
            Download& d = slots_[slot];
            if (d.num_requested == 0 || !peer_has.get(d.piece)) continue;
            bool added = false;
            for (std::uint32_t i = 0; i < d.blocks.size() && got < max; ++i) {
                Block& b = d.blocks[i];
                if (b.state != BlockState::requested || b.nreq != level) continue;
                if (std::find(b.req, b.req + b.nreq, peer) != b.req + b.nreq) continue;
                b.req[b.nreq++] = peer;
                out.push_back(block(d.piece, i));
                ++got;
                added = true;
            }
            if (added) add_unique(d.peers, peer);
            if (got == max) return got;
        }
    }
    return got;
}

bool PiecePicker::is_endgame() const {
    return !is_complete() && num_fresh_ == 0 && total_free_ == 0 && !active_.empty();
}

// ---- events

// Validates piece, offset alignment and exact length; returns the Download (or nullptr) and the block index.
PiecePicker::Download* PiecePicker::download_for(const BlockRequest& br, std::uint32_t& index_out) {
    if (br.piece >= num_pieces_ || br.offset % kBlockSize != 0) return nullptr;
    const std::uint32_t idx = br.offset / kBlockSize;
    if (idx >= blocks_in_piece(br.piece) || br.length != block(br.piece, idx).length) return nullptr;
    index_out = idx;
    const std::uint32_t slot = slot_of_[br.piece];
    return slot == kNone ? nullptr : &slots_[slot];
}

bool PiecePicker::remove_requester(Block& b, PeerToken peer) {
    for (std::uint8_t k = 0; k < b.nreq; ++k) {
        if (b.req[k] != peer) continue;
        b.req[k] = b.req[b.nreq - 1];
        --b.nreq;
        return true;
    }
    return false;
}

BlockReceived PiecePicker::on_block_received(PeerToken peer, const BlockRequest& br) {
    BlockReceived r;
    std::uint32_t idx = 0;
    Download* d = download_for(br, idx);
    if (!d) {
        // A block we need but never asked for (its request timed out and the piece went idle): take it.
        if (br.piece >= num_pieces_ || state_[br.piece] != PieceState::missing || !wanted(br.piece)) return r;
        if (br.offset % kBlockSize != 0 || br.offset / kBlockSize >= blocks_in_piece(br.piece)) return r;
        if (br.length != block(br.piece, br.offset / kBlockSize).length) return r;
        d = &slots_[start_download(br.piece)];
        idx = br.offset / kBlockSize;
    }
    if (state_[br.piece] != PieceState::downloading) return r;
    Block& b = d->blocks[idx];
    if (b.state == BlockState::received) return r; // endgame loser or duplicate
    if (b.state == BlockState::requested) {
        for (std::uint8_t k = 0; k < b.nreq; ++k)
            if (b.req[k] != peer) r.cancel.push_back(b.req[k]);
        P2P_ASSERT(d->num_requested > 0, "picker: a requested block that num_requested does not count");
        --d->num_requested;
    } else {
        P2P_ASSERT(d->num_free > 0 && total_free_ > 0, "picker: a free block that the free counts do not count");
        --d->num_free;
        --total_free_;
    }
    b.state = BlockState::received;
    b.nreq = 0;
    b.from = peer;
    ++d->num_received;
    add_unique(d->peers, peer);
    r.accepted = true;
    if (d->num_received == d->blocks.size()) {
        const std::uint32_t slot = slot_of_[br.piece];
        deactivate(slot);
        state_[br.piece] = PieceState::verifying;
        r.piece_complete = true;
    }
    return r;
}

bool PiecePicker::on_request_timeout(PeerToken peer, const BlockRequest& br) {
    std::uint32_t idx = 0;
    Download* d = download_for(br, idx);
    if (!d || state_[br.piece] != PieceState::downloading) return false;
    Block& b = d->blocks[idx];
    if (b.state != BlockState::requested || !remove_requester(b, peer)) return false;
    if (b.nreq == 0) {
        P2P_ASSERT(d->num_requested > 0, "picker: a requested block that num_requested does not count");
        b.state = BlockState::free;
        --d->num_requested;
        ++d->num_free;
        ++total_free_;
        d->first_free = std::min(d->first_free, idx);
    }
    abandon_if_idle(slot_of_[br.piece]);
    return true;
}

std::size_t PiecePicker::on_peer_gone(PeerToken peer) {
    suggested_.erase(peer);
    std::size_t released = 0;
    scratch_.clear();
    for (std::uint32_t slot : active_) {
        Download& d = slots_[slot];
        auto it = std::find(d.peers.begin(), d.peers.end(), peer);
        if (it == d.peers.end()) continue; // O(1)-ish skip for pieces it never touched
        for (std::uint32_t i = 0; i < d.blocks.size(); ++i) {
            Block& b = d.blocks[i];
            if (b.state != BlockState::requested || !remove_requester(b, peer)) continue;
            ++released;
            if (b.nreq == 0) {
                P2P_ASSERT(d.num_requested > 0, "picker: a requested block that num_requested does not count");
                b.state = BlockState::free;
                --d.num_requested;
                ++d.num_free;
                ++total_free_;
                d.first_free = std::min(d.first_free, i);
            }
        }
        // Contributors are read from Block::from, so the affinity list may forget the peer.
        *it = d.peers.back();
        d.peers.pop_back();
        if (d.num_requested == 0 && d.num_received == 0) scratch_.push_back(slot);
    }
    for (std::uint32_t slot : scratch_) abandon_if_idle(slot);
    return released;
}

std::vector<PeerToken> PiecePicker::on_piece_verified(std::uint32_t piece, bool ok) {
    std::vector<PeerToken> contributors;
    if (piece >= num_pieces_ || state_[piece] != PieceState::verifying) return contributors;
    const std::uint32_t slot = slot_of_[piece];
    if (ok) {
        // A verifying piece is not present yet: counting it twice would make num_have_ and left_ lie to the
        // tracker and end the download early.
        P2P_ASSERT(!have_bits_.get(piece) && num_have_ < num_pieces_ && left_ >= piece_size(piece),
                   "picker: a piece marked have twice");
        state_[piece] = PieceState::have;
        if (!have_bits_.get(piece)) {
            have_bits_.set(piece);
            ++num_have_;
            left_ -= std::min<std::uint64_t>(left_, piece_size(piece));
            mark_have(piece);
        }
    } else {
        for (const Block& b : slots_[slot].blocks) add_unique(contributors, b.from);
        state_[piece] = PieceState::missing;
        bucket_insert(piece);
    }
    free_slot(slot);
    return contributors;
}

// ---- queries

std::size_t PiecePicker::num_requested_blocks() const {
    std::size_t n = 0;
    for (std::uint32_t slot : active_)
        for (const Block& b : slots_[slot].blocks)
            if (b.state == BlockState::requested) n += b.nreq;
    return n;
}

bool PiecePicker::check_invariants() const {
    std::size_t fresh = 0, have = 0, free_blocks = 0;
    std::uint64_t left = total_length_;
    for (std::uint32_t i = 0; i < num_pieces_; ++i) {
        switch (state_[i]) {
        case PieceState::missing:
            if (!wanted(i)) {
                if (pos_[i] != kNone || slot_of_[i] != kNone) return false;
                break;
            }
            ++fresh;
            if (avail_[i] >= buckets_.size() || pos_[i] >= buckets_[avail_[i]].size() ||
                buckets_[avail_[i]][pos_[i]] != i || slot_of_[i] != kNone)
                return false;
            break;
        case PieceState::have:
            ++have;
            left -= piece_size(i);
            if (!have_bits_.get(i) || slot_of_[i] != kNone) return false;
            break;
        case PieceState::downloading:
        case PieceState::verifying: {
            if (slot_of_[i] == kNone || slots_[slot_of_[i]].piece != i) return false;
            const bool in_active = std::find(active_.begin(), active_.end(), slot_of_[i]) != active_.end();
            if (in_active != (state_[i] == PieceState::downloading)) return false;
            const Download& d = slots_[slot_of_[i]];
            std::uint32_t f = 0, r = 0, v = 0;
            for (std::uint32_t k = 0; k < d.blocks.size(); ++k) {
                const Block& b = d.blocks[k];
                if (b.state == BlockState::free) {
                    ++f;
                    if (k < d.first_free) return false;
                }
                if (b.state == BlockState::requested) {
                    ++r;
                    if (b.nreq == 0 || b.nreq > max_requesters_) return false;
                    for (std::uint8_t q = 0; q < b.nreq; ++q)
                        if (!contains(d.peers, b.req[q])) return false;
                }
                if (b.state == BlockState::received) ++v;
            }
            if (f != d.num_free || r != d.num_requested || v != d.num_received) return false;
            if (state_[i] == PieceState::downloading) {
                free_blocks += f;
                if (r == 0 && v == 0) return false; // idle pieces go back to the buckets
            }
            break;
        }
        }
        if (state_[i] != PieceState::have && have_bits_.get(i)) return false;
    }
    std::size_t in_buckets = 0;
    for (const auto& b : buckets_) in_buckets += b.size();
    return fresh == num_fresh_ && in_buckets == fresh && have == num_have_ && left == left_ &&
           free_blocks == total_free_ && have_bits_.count() == have;
}

} // namespace p2p::swarm
