// Torrent's downloading side before the data: what each peer has (bitfield, have, have_all / have_none),
// whether we are interested, and keeping each unchoked peer's request pipeline full at a depth that follows its
// rate, within the session's write pool (the memory of pieces being assembled). Snubbing peers are detected here.
#include <algorithm>

#include "base/log.hpp"
#include "session/session.hpp"
#include "session/torrent.hpp"

namespace p2p {

namespace {
constexpr std::uint64_t kWarmupMs = 10'000; // a new connection's first seconds...
constexpr std::size_t kWarmupDepth = 32;    // ...keep this many 16 KiB requests out at least
} // namespace

void Torrent::on_bitfield(PeerConnection& conn, const swarm::Bitfield& bits) {
    PeerLink& link = link_of(conn);
    if (picker_ && !link.registered_availability) {
        picker_->add_peer_bitfield(bits);
        link.registered_availability = true;
    }
    if (available_.all() && bits.all()) return part_with_seed(link);
    update_interest(link);
}

void Torrent::on_have_all(PeerConnection& conn) {
    PeerLink& link = link_of(conn);
    if (picker_ && !link.registered_availability) {
        picker_->add_have_all();
        link.registered_availability = true;
        link.has_all = true;
    }
    if (available_.all()) return part_with_seed(link);
    update_interest(link);
}

void Torrent::on_have_none(PeerConnection& conn) {
    PeerLink& link = link_of(conn);
    if (picker_ && !link.registered_availability) {
        picker_->add_peer_bitfield(conn.peer_pieces());
        link.registered_availability = true;
    }
}

void Torrent::on_have(PeerConnection& conn, std::uint32_t index) {
    PeerLink& link = link_of(conn);
    if (!picker_) return;
    if (!link.registered_availability) {
        // No bitfield came first (allowed when the peer has nothing): register what we know now.
        picker_->add_peer_bitfield(conn.peer_pieces());
        link.registered_availability = true;
    } else if (!link.has_all) {
        picker_->peer_have(index);
    }
    if (suggest_) suggest_->on_have(link.token, index);
    // A piece every connected peer now has is one nobody here will ask for: out of the read cache, its buffer a
    // spare for the next read. A seed serving one leecher otherwise filled its whole cache with pieces already
    // delivered, each buffer fresh memory (~70 MB resident for 64 MiB served, and a slow first 64 MB: every page a
    // fault). A peer that connects later and asks gets it read again.
    if (available_.get(index) && !may_be_asked(index)) storage_->uncache(index);
    if (available_.all() && conn.peer_pieces().all()) return part_with_seed(link);
    update_interest(link);
}

void Torrent::update_interest(PeerLink& link) {
    if (link.dead || !picker_) return;
    PeerConnection& c = *link.conn;
    bool want = phase_ == TorrentPhase::downloading &&
                (link.has_all ? !picker_->wanted_complete() : picker_->is_interesting(c.peer_pieces()));
    if (want && !c.am_interested())
        c.interested();
    else if (!want && c.am_interested())
        c.not_interested();
    if (want) fill_requests(link);
}

void Torrent::on_unchoke(PeerConnection& conn) {
    PeerLink& link = link_of(conn);
    link.last_block_ms = now_ms();
    fill_requests(link);
}

void Torrent::on_choke(PeerConnection& conn) {
    PeerLink& link = link_of(conn);
    // BEP 3: a choke discards our pending requests. With BEP 6 the peer rejects each one explicitly instead.
    if (picker_ && !conn.supports_fast()) picker_->on_peer_gone(link.token);
    // A seed re-assigns the suggestions of the peers it chokes (seed_suggest.hpp): ours are void now.
    if (picker_) picker_->clear_suggestions(link.token);
}

void Torrent::on_suggest(PeerConnection& conn, std::uint32_t index) {
    PeerLink& link = link_of(conn);
    if (!picker_ || phase_ != TorrentPhase::downloading) return;
    picker_->add_suggestion(link.token, index);
    fill_requests(link);
}

void Torrent::on_reject(PeerConnection& conn, const BlockRequest& r) {
    PeerLink& link = link_of(conn);
    if (picker_) picker_->on_request_timeout(link.token, swarm::BlockRequest{r.index, r.begin, r.length});
}

void Torrent::fill_requests(PeerLink& link) {
    if (link.dead || !picker_ || paused_ || phase_ != TorrentPhase::downloading) return;
    PeerConnection& c = *link.conn;
    if (c.state() != PeerConnection::State::Active || c.peer_choking() || !c.am_interested()) return;
    std::size_t outstanding = c.outgoing_requests().size();
    std::size_t depth = link.snubbed ? 1 : swarm::pipeline_depth(c.download_rate(), 0.05);
    // The rate estimate needs a few seconds to build up; meanwhile a deeper start than the floor of 4 lets a
    // fast peer show its speed instead of being held to 4 blocks per round trip.
    const std::uint64_t limit = download_limit();
    if (!link.snubbed && !limit && now_ms() - static_cast<std::uint64_t>(link.connected_at_ms) < kWarmupMs)
        depth = std::max<std::size_t>(depth, kWarmupDepth);
    // Under a download limit what is requested is what arrives: at most a quarter second of the limit out per
    // peer, so the bytes a paused read leaves waiting (and the burst when it resumes) stay small.
    if (limit) depth = std::min<std::size_t>(depth, std::max<std::uint64_t>(2, limit / 4 / swarm::kBlockSize));
    if (link.ext.reqq) depth = std::min<std::size_t>(depth, link.ext.reqq); // BEP 10: the peer's queue size
    if (outstanding >= depth) return;
    // Bound the memory of pieces being assembled and queued for the disk: the session's write pool, shared by
    // all torrents, so that many downloads at once stay within --max-memory. New requests stay within the pool's
    // room, so under pressure fewer blocks are in flight. When it is exhausted only blocks of pieces already being
    // assembled are requested (finishing them is what frees the pool, even for a piece bigger than the pool); a
    // torrent with nothing of its own in the pool (assembling, at the hasher or waiting for the disk) may ask for
    // one block, so one busy torrent cannot starve the others. One with pieces waiting for the disk waits for
    // them (piece_written asks again): one block at a time from a fast peer still outran a slow disk, and the
    // pieces queued for it grew without bound (878 MB in a 64 MiB pool: a loaded box writing to disk).
    bool only_started = false;
    if (!picker_->is_endgame()) {
        const std::size_t cap = session_.memory().cap(MemPool::write), used = session_.memory().used(MemPool::write);
        const std::size_t room = used < cap ? (cap - used) / swarm::kBlockSize : 0;
        std::size_t in_flight = 0; // this torrent's requested blocks: each may start a piece when it arrives
        for (const auto& l : links_)
            if (!l->dead && l->conn) in_flight += l->conn->outgoing_requests().size();
        if (room > in_flight)
            depth = std::min(depth, outstanding + (room - in_flight));
        else if (assembling_bytes_ == 0 && hashing_.empty() && writes_in_flight_ == 0 && in_flight == 0)
            depth = 1;
        else
            only_started = true;
    }
    if (outstanding == 0) link.last_block_ms = now_ms();
    std::vector<swarm::BlockRequest> picks;
    const swarm::Bitfield& has = link.has_all ? all_pieces_ : c.peer_pieces();
    picker_->pick(link.token, has, depth - outstanding, picks);
    for (const auto& b : picks)
        if ((only_started && !assembling_.count(b.piece)) || !c.request(b.piece, b.offset, b.length))
            picker_->on_request_timeout(link.token, b); // not sent: pickable again
}

// After anything that frees blocks or write-pool room. A snapshot: fill_requests never drops a link, but the
// links it iterates must not depend on that.
void Torrent::fill_all_requests() {
    for (PeerLink* l : link_snapshot()) fill_requests(*l);
}

void Torrent::check_snubs(std::uint64_t now) {
    if (!picker_) return;
    for (auto& l : links_) {
        if (l->dead || l->snubbed || l->conn->outgoing_requests().empty()) continue;
        if (now - l->last_block_ms < cfg_.snub_ms) continue;
        l->snubbed = true;
        log_debug("torrent", meta_.name + ": " + l->address + " is snubbing us; its requests go to others");
        std::vector<BlockRequest> out(l->conn->outgoing_requests().begin(), l->conn->outgoing_requests().end());
        picker_->on_peer_gone(l->token);
        for (const auto& r : out) l->conn->cancel(r.index, r.begin, r.length);
    }
}

} // namespace p2p
