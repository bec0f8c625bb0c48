// Torrent's choking: who gets our upload slots (the choker's rounds every 10 s, a freed slot given at once, the
// slots of unchoked peers that request nothing lent to waiting ones) and, while seeding, which never-sent pieces
// each unchoked peer is steered to (BEP 6 suggest); while downloading, dropping a peer's suggestions that keep
// us idle.
#include <algorithm>

#include "base/log.hpp"
#include "session/torrent.hpp"

namespace p2p {

namespace {
// Seeding: never-sent pieces suggested (BEP 6) to each unchoked peer ahead of its requests. 8 pieces of 256 KiB
// are more than a peer's request pipeline to us holds at a 4-slot share of a 20 Mbit/s link (~80 blocks).
constexpr std::size_t kSuggestWindow = 8;
// A suggesting peer whose pending suggestions leave us idle this many ticks (seconds) has them dropped, so it is
// picked from freely: they can all be on their way from other peers. (One whose suggestions ran out is picked from
// freely at once, picker.cpp.)
constexpr std::uint32_t kSuggestIdleTicks = 5;
// An unchoked, interested peer with nothing requested from us at this many ticks in a row is "idle": its upload
// slot is lent to a waiting peer (choker.hpp). In a swarm of peers at the same progress this is common: what a
// peer wants from us is often already on its way from others. Two ticks: a pipeline momentarily empty is not idle.
constexpr std::uint32_t kIdleUploadTicks = 2;
} // namespace

void Torrent::on_interested(PeerConnection& conn) {
    // Do not make a newcomer wait for the next 10 s round when an upload slot is free.
    std::size_t unchoked = 0;
    for (auto& l : links_)
        if (!l->dead && !l->conn->am_choking() && l->conn->peer_interested()) ++unchoked;
    if (conn.am_choking() && unchoked < cfg_.upload_slots)
        unchoke(link_of(conn));
    else if (!conn.am_choking())
        suggest_to(link_of(conn)); // interested again while unchoked
}

void Torrent::on_not_interested(PeerConnection& conn) {
    if (available_.all() && conn.peer_pieces().all()) return part_with_seed(link_of(conn));
    if (suggest_) suggest_->release(link_of(conn).token, unfinished_pieces(conn));
    if (!conn.am_choking()) fill_free_slot();
}

// An upload slot freed between rechoke rounds (its peer left or lost interest): give it to a waiting peer now
// rather than at the next 10 s round. At the end of a swarm's download, the last leechers are exactly the
// peers left waiting, and 10 s of idle upload there is most of the gap to the optimal finish time (tools/swarm).
// Idle unchoked peers (upload_idle) do not count against the slots, up to twice the slots unchoked in all.
void Torrent::fill_free_slot() {
    std::size_t busy = 0, unchoked = 0;
    PeerLink* best = nullptr;
    for (auto& l : links_) {
        if (l->dead || l->conn->state() != PeerConnection::State::Active || !l->conn->peer_interested()) continue;
        if (!l->conn->am_choking()) {
            ++unchoked;
            if (!upload_idle(*l)) ++busy;
        } else if (!best || l->conn->download_rate() > best->conn->download_rate()) {
            best = l.get();
        }
    }
    if (best && busy < cfg_.upload_slots && unchoked < 2 * std::size_t{cfg_.upload_slots}) unchoke(*best);
}

bool Torrent::upload_idle(const PeerLink& l) const { return l.upload_idle_ticks >= kIdleUploadTicks; }

// Once a tick: which unchoked, interested peers requested nothing since the last tick (and still have nothing).
// Returns how many are idle now.
std::size_t Torrent::track_idle_uploads() {
    std::size_t idle = 0;
    for (auto& l : links_) {
        if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
        PeerConnection& c = *l->conn;
        const bool empty = !c.am_choking() && c.peer_interested() && c.incoming_requests().empty() &&
                           c.queued_send_bytes() == 0 && !l->reading_piece;
        l->upload_idle_ticks = empty ? l->upload_idle_ticks + 1 : 0;
        if (upload_idle(*l)) ++idle;
    }
    idle_upload_slot_ticks_ += idle;
    return idle;
}

// Suggestions go out before the unchoke, so the peer's first requests already follow them.
void Torrent::unchoke(PeerLink& link) {
    suggest_to(link);
    link.conn->unchoke();
}

void Torrent::choke(PeerLink& link) {
    if (suggest_) suggest_->release(link.token, unfinished_pieces(*link.conn));
    link.conn->choke(); // rejects the queued requests
}

// Pieces with requests still queued (unanswered) that the peer does not have: a choke or a drop leaves them
// half-sent. Bounded by the peer's queued requests (PeerConfig::max_incoming_requests).
std::vector<std::uint32_t> Torrent::unfinished_pieces(PeerConnection& c) {
    std::vector<std::uint32_t> out;
    for (const BlockRequest& r : c.incoming_requests())
        if (!c.peer_has(r.index) && std::find(out.begin(), out.end(), r.index) == out.end()) out.push_back(r.index);
    return out;
}

void Torrent::suggest_to(PeerLink& link) {
    if (!suggest_ || !picker_ || link.dead || !link.conn->supports_fast() || !link.conn->peer_interested()) return;
    std::vector<std::uint32_t> pieces;
    suggest_->top_up(
        link.token, link.conn->peer_pieces(), kSuggestWindow,
        [this](std::uint32_t p) { return picker_->availability(p); }, pieces);
    for (std::uint32_t p : pieces) link.conn->send_suggest(p);
}

void Torrent::rechoke(std::uint64_t now) {
    last_rechoke_ms_ = now;
    std::vector<swarm::ChokePeer> peers;
    for (auto& l : links_) {
        if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
        PeerConnection& c = *l->conn;
        peers.push_back(swarm::ChokePeer{l->token, c.peer_interested(), c.am_choking(), c.download_rate(),
                                         c.upload_rate(), l->snubbed, upload_idle(*l), l->connected_at_ms});
    }
    swarm::ChokeDecision d = choker_.rechoke(peers, phase_ == TorrentPhase::seeding, static_cast<std::int64_t>(now));
    std::set<std::uint64_t> chosen(d.unchoke.begin(), d.unchoke.end());
    for (auto& l : links_) {
        if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
        bool want = chosen.count(l->token) > 0;
        if (want && l->conn->am_choking())
            unchoke(*l);
        else if (!want && !l->conn->am_choking())
            choke(*l);
    }
}

// Once a tick. Seeding: unchoked peers get pieces that returned to the pool (a choked or departed peer's). Downloading:
// a suggesting peer whose pending suggestions keep us idle has them dropped (kSuggestIdleTicks).
void Torrent::check_suggesters() {
    for (auto& l : links_) {
        if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
        PeerConnection& c = *l->conn;
        if (suggest_ && !c.am_choking()) suggest_to(*l);
        if (!picker_ || phase_ != TorrentPhase::downloading) continue;
        const bool idle = picker_->num_suggestions(l->token) > 0 && !c.peer_choking() && c.am_interested() &&
                          c.outgoing_requests().empty();
        if (!idle) {
            l->suggest_idle_ticks = 0;
        } else if (++l->suggest_idle_ticks >= kSuggestIdleTicks) {
            l->suggest_idle_ticks = 0;
            picker_->clear_suggestions(l->token);
            log_debug("torrent",
                      meta_.name + ": " + l->address + "'s suggestions left us idle; picking from it freely");
        }
    }
}

} // namespace p2p
