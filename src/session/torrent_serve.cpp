// Torrent's serving: answering a peer's queued requests with blocks of verified pieces, from the storage read
// cache or after one read of the piece, while the peer's send queue (TorrentConfig::max_send_queue), the
// session's send pool and its upload limit allow; serving resumes when the transport drains or tokens return.
// Counts what was sent, and what was sent again, for the exit summary.
#include "base/log.hpp"
#include "session/session.hpp"
#include "session/torrent.hpp"

namespace p2p {

void Torrent::on_request(PeerConnection& conn, const BlockRequest& r) {
    PeerLink& link = link_of(conn);
    if (!available_.get(r.index)) {
        if (conn.supports_fast()) return conn.reject(r.index, r.begin, r.length);
        return drop(link, "requested piece " + std::to_string(r.index) + " which we do not have");
    }
    if (suggest_) {
        suggest_->on_request(link.token, r.index);
        suggest_to(link);
    }
    serve(link);
}

void Torrent::on_send_drained(PeerConnection& conn) { serve(link_of(conn)); }

void Torrent::resume_serving(std::uint64_t token) {
    if (PeerLink* l = find_token(token); l && !l->dead) serve(*l);
}

// `hint` is piece `hint_index`, just read for this link (not necessarily kept by the read cache).
void Torrent::serve(PeerLink& link, std::uint32_t hint_index, std::shared_ptr<const std::string> hint) {
    while (!link.dead) {
        PeerConnection& c = *link.conn;
        if (c.incoming_requests().empty() || c.queued_send_bytes() >= cfg_.max_send_queue) return;
        // All connections' queues together are bounded by the session's send pool: retry shortly.
        if (session_.memory().exhausted(MemPool::send)) return session_.wait_upload(this, link.token);
        BlockRequest r = c.incoming_requests().front();
        if (!available_.get(r.index)) {
            if (c.supports_fast()) {
                c.reject(r.index, r.begin, r.length);
                continue;
            }
            return drop(link, "requested a piece we do not have");
        }
        std::shared_ptr<const std::string> piece = r.index == hint_index ? hint : storage_->cached_piece(r.index);
        if (!piece) return read_to_serve(link, r.index);
        // Both limits apply: this torrent's own, then the session's; neither is spent unless both allow it.
        if (!up_limit_.can_take(r.length, now_ms()) || !session_.take_upload(r.length))
            return session_.wait_upload(this, link.token);
        up_limit_.take(r.length, now_ms());
        if (!c.send_piece(r.index, r.begin, piece, r.begin, r.length)) return; // request vanished meanwhile
        uploaded_ += r.length;
        count_sent(r);
        // The piece's last block is on its way and every other connected peer has the piece: nobody here will
        // ask for it soon, so it leaves the read cache (on_have does the same when a HAVE says so, but a leecher
        // sends none to a seed). Its buffer is freed once sent instead of holding cache room: a seed serving one
        // leecher otherwise kept every piece it sent until its cache was full, ~70 MB of fresh pages.
        if (r.begin + r.length == meta_.piece_size(r.index) && !may_be_asked(r.index, 1)) storage_->uncache(r.index);
    }
}

// One read at a time per link; serving goes on when it is in. The link is found again by its token: it may be
// gone by then.
void Torrent::read_to_serve(PeerLink& link, std::uint32_t index) {
    if (link.reading_piece) return;
    link.reading_piece = true;
    const std::uint64_t token = link.token;
    storage_->read_piece(index, life_.bind([this, token, index](Result<std::shared_ptr<const std::string>> res) {
        PeerLink* l = find_token(token);
        if (!l || l->dead) return;
        l->reading_piece = false;
        if (!res) {
            // An edited file: nothing more is served of this torrent (set_failed closes every link).
            if (res.error().code == Errc::changed_on_disk) return set_failed(res.error());
            log_error("torrent", meta_.name + ": " + res.error().str());
            return drop(*l, "cannot read piece to serve it");
        }
        serve(*l, index, *res);
    }));
}

void Torrent::count_sent(const BlockRequest& r) {
    if (sent_bytes_.empty()) sent_bytes_.assign(meta_.piece_count(), 0);
    std::uint32_t& n = sent_bytes_[r.index];
    const std::uint32_t size = meta_.piece_size(r.index);
    if (n >= size) resent_ += r.length;
    const bool first_whole = n < size && n + r.length >= size;
    if (n < UINT32_MAX - r.length) n += r.length;
    // A seed's first full copy is the swarm's critical path (Kumar–Ross): say when it went out and what it cost.
    if (first_whole && ++pieces_sent_whole_ == meta_.piece_count() && phase_ == TorrentPhase::seeding)
        log_info("torrent", meta_.name + ": every piece sent once; " + std::to_string(uploaded_) + " bytes uploaded, " +
                                std::to_string(resent_) + " of them repeats");
}

} // namespace p2p
