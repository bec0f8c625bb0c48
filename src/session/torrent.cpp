#include "session/torrent.hpp"

#include <algorithm>
#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/sha.hpp"
#include "crypto/random.hpp"
#include "net/tcp_transport.hpp"
#include "session/piece_hasher.hpp"
#include "session/session.hpp"
#include "session/torrent_extensions.hpp"
#include "storage/placement.hpp"

namespace p2p {

namespace {
constexpr std::uint64_t kRechokeMs = 10'000;       // BEP 3: rechoke every ten seconds
constexpr std::uint64_t kResumeSaveMs = 60'000;    // resume data at most a minute stale while downloading
constexpr std::uint64_t kConnectTimeoutMs = 10'000;
constexpr std::uint64_t kWarmupMs = 10'000;         // a new connection's first seconds...
constexpr std::size_t kWarmupDepth = 32;            // ...keep this many 16 KiB requests out at least
constexpr int kBanPoints = 4;                       // sole contributor to a bad piece: 2 points (banned on the 2nd)
constexpr std::size_t kMaxSuspectPieces = 64;       // failed pieces remembered for smart banning
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

std::string addr_key(const sockaddr_storage& ss) { return format_sockaddr(reinterpret_cast<const sockaddr*>(&ss)); }

// Bans are per IP: a banned peer reconnecting from another port stays banned. On loopback every peer shares
// one IP (test and development setups), so there the whole ip:port is the identity.
std::string ban_key(const std::string& address) {
    std::string ip = ip_of(address);
    return is_loopback_ip(ip) ? address : ip;
}
} // namespace

const char* phase_name(TorrentPhase p) {
    switch (p) {
    case TorrentPhase::checking: return "checking";
    case TorrentPhase::downloading: return "downloading";
    case TorrentPhase::seeding: return "seeding";
    case TorrentPhase::failed: return "failed";
    }
    return "?";
}

Torrent::Torrent(Session& session, Metainfo meta, TorrentConfig cfg)
    : session_(session), loop_(session.uv()), meta_(std::move(meta)), cfg_(std::move(cfg)),
      choker_(swarm::ChokerOptions{cfg_.upload_slots, 3, 30'000, 3, random_u32()}) {
    geometry_ = TorrentGeometry{meta_.piece_count(), static_cast<std::uint32_t>(meta_.piece_length),
                                static_cast<std::uint64_t>(meta_.total_length)};
    all_pieces_ = swarm::Bitfield(meta_.piece_count(), true);
    available_ = swarm::Bitfield(meta_.piece_count(), false);
    storage_ = std::make_unique<Storage>(loop_, meta_, cfg_.root_dir, cfg_.storage, cfg_.placement);
    ext_ = std::make_unique<TorrentExtensions>(*this);
}

Torrent::~Torrent() {
    session_.memory().release(MemPool::write, assembling_bytes_); // pieces left half-assembled
    for (auto& l : links_) {
        l->dead = true;
        if (l->conn) l->conn->close();
        session_.connection_closed();
    }
    links_.clear();
}

std::uint64_t Torrent::now_ms() const { return uv_now(loop_); }

void Torrent::start(bool all_present) {
    std::weak_ptr<int> alive = alive_;
    if (all_present) { // we just hashed these files (a shared item): seed them as they are, read-only
        storage_->open(OpenMode::seed, [this, alive](Status st) {
            if (alive.expired()) return;
            if (!st) return set_failed(st.error());
            begin_with(std::vector<bool>(meta_.piece_count(), true));
        });
        return;
    }
    prepare_download(*storage_, meta_, cfg_.overwrite, [this, alive](Result<PlacementOutcome> r) {
        if (alive.expired()) return;
        if (!r) return set_failed(r.error());
        placement_note_ = r->note;
        renamed_ = r->renamed;
        if (r->renamed) log_info("torrent", meta_.name + ": saving as " + storage_->save_name() + ": " + r->note);
        else if (!r->note.empty()) log_info("torrent", meta_.name + ": " + r->note);
        begin_with(r->have);
    });
}

void Torrent::begin_with(const std::vector<bool>& have) {
    swarm::Bitfield hb(meta_.piece_count(), false);
    for (std::uint32_t i = 0; i < have.size(); ++i)
        if (have[i]) hb.set(i);
    auto picker = swarm::PiecePicker::create(meta_.piece_count(), static_cast<std::uint32_t>(meta_.piece_length),
                                             static_cast<std::uint64_t>(meta_.total_length), &hb,
                                             swarm::PickerOptions{random_u32(), 2});
    if (!picker) return set_failed(picker.error());
    picker_ = std::make_unique<swarm::PiecePicker>(std::move(*picker));
    available_ = hb;
    phase_ = available_.all() ? TorrentPhase::seeding : TorrentPhase::downloading;
    if (phase_ == TorrentPhase::seeding) suggest_ = std::make_unique<swarm::SeedSuggest>(meta_.piece_count(), random_u32());
    last_resume_save_ms_ = now_ms();
    log_info("torrent", meta_.name + ": " + std::to_string(available_.count()) + "/" +
                            std::to_string(meta_.piece_count()) + " pieces present, " + phase_name(phase_));
    if (on_ready) on_ready();
    if (phase_ == TorrentPhase::seeding) {
        resume_dirty_ = true;
        save_resume([] {});
        if (on_complete) on_complete();
    }
    connect_more();
}

void Torrent::set_failed(const Error& e) {
    if (phase_ == TorrentPhase::failed) return;
    phase_ = TorrentPhase::failed;
    error_ = e;
    if (e.code == Errc::changed_on_disk) {
        // Its files no longer hold what we advertise: serve nothing more, to anyone (the owner re-hashes it).
        log_warn("torrent", meta_.name + ": " + e.str() + "; no longer served");
        std::vector<PeerLink*> ls;
        for (auto& l : links_) ls.push_back(l.get());
        for (PeerLink* l : ls)
            if (!l->dead) drop(*l, "its files changed on disk");
        candidates_.clear();
    } else {
        log_error("torrent", meta_.name + ": " + e.str() + " (torrent paused; other torrents keep running)");
        // Stop downloading: drop our requests; keep serving what is already verified on disk.
        for (auto& l : links_)
            if (!l->dead && l->conn->am_interested()) l->conn->not_interested();
    }
    if (on_failed) on_failed(e);
}

std::uint64_t Torrent::left_bytes() const {
    std::uint64_t have = 0;
    std::uint32_t n = meta_.piece_count();
    have = std::uint64_t(available_.count()) * std::uint64_t(meta_.piece_length);
    if (n && available_.get(n - 1)) have -= std::uint64_t(meta_.piece_length) - std::uint64_t(meta_.piece_size(n - 1));
    return std::uint64_t(meta_.total_length) - have;
}

// ---------------------------------------------------------------- connections

void Torrent::add_candidates(const std::vector<sockaddr_storage>& addrs) {
    for (const auto& a : addrs) {
        std::string key = addr_key(a);
        if (known_addresses_.count(key) || banned_.count(ban_key(key))) continue;
        if (candidates_.size() >= cfg_.max_candidates) candidates_.erase(candidates_.begin());
        candidates_.push_back(a);
        known_addresses_.insert(key);
    }
    connect_more();
}

void Torrent::connect_more() {
    if (shutting_down_ || phase_ == TorrentPhase::checking || phase_ == TorrentPhase::failed) return;
    while (!candidates_.empty() && connecting_ < cfg_.max_connecting &&
           links_.size() + connecting_ < cfg_.max_peers && session_.may_connect()) {
        sockaddr_storage addr = candidates_.back();
        candidates_.pop_back();
        std::string key = addr_key(addr);
        ++connecting_;
        session_.connection_opened(); // count attempts against the global cap too
        std::weak_ptr<int> alive = alive_;
        auto holder = std::make_shared<std::unique_ptr<TcpConnect>>();
        connect_attempts_.push_back(holder);
        *holder = tcp_connect(
            loop_, reinterpret_cast<const sockaddr*>(&addr), kConnectTimeoutMs,
            [this, alive, key, holder](Result<std::unique_ptr<Transport>> r) {
                if (alive.expired()) return;
                --connecting_;
                session_.connection_closed();
                auto it = std::find(connect_attempts_.begin(), connect_attempts_.end(), holder);
                // Destroy the attempt after this callback; it is allowed, but deferring keeps it simple.
                if (it != connect_attempts_.end()) {
                    auto keep = *it;
                    connect_attempts_.erase(it);
                    session_.loop().defer([keep] {});
                }
                if (!r) {
                    log_debug("torrent", meta_.name + ": connecting to " + key + ": " + r.error().str());
                    // Forget it so a later tracker answer may offer it again.
                    known_addresses_.erase(key);
                    return;
                }
                if (shutting_down_ || phase_ == TorrentPhase::failed || links_.size() >= cfg_.max_peers) return;
                auto link = std::make_unique<PeerLink>();
                link->token = session_.next_token();
                link->torrent = this;
                link->address = key;
                link->connected_at_ms = static_cast<std::int64_t>(now_ms());
                link->conn = session_.make_outgoing(std::move(*r), meta_.info_hash, geometry_, link.get());
                PeerConnection* c = link->conn.get();
                session_.connection_opened();
                attach(std::move(link));
                c->start();
            });
    }
}

void Torrent::attach(std::unique_ptr<PeerLink> link) {
    by_token_[link->token] = link.get();
    links_.push_back(std::move(link));
}

bool Torrent::adopt(std::unique_ptr<PeerLink> link) {
    if (shutting_down_ || phase_ == TorrentPhase::checking || links_.size() >= cfg_.max_peers ||
        banned_.count(ban_key(link->address))) {
        link->conn->close();
        session_.connection_closed();
        session_.reap(std::move(link));
        return false;
    }
    known_addresses_.insert(link->address);
    attach(std::move(link));
    return true;
}

PeerLink* Torrent::find_token(std::uint64_t token) {
    auto it = by_token_.find(token);
    return it == by_token_.end() ? nullptr : it->second;
}

void Torrent::drop(PeerLink& link, const std::string& why) {
    if (link.dead) return;
    link.dead = true;
    log_debug("torrent", meta_.name + ": dropping " + link.address + ": " + why);
    const bool held_slot = !link.conn->am_choking() && link.conn->peer_interested();
    link.conn->close();
    if (picker_) {
        picker_->on_peer_gone(link.token);
        if (link.registered_availability) {
            if (link.has_all) picker_->remove_have_all();
            else picker_->remove_peer_bitfield(link.conn->peer_pieces());
        }
    }
    if (choker_.has_optimistic() && choker_.optimistic() == link.token) choker_.forget_optimistic();
    if (suggest_) {
        // Pieces left half-sent to it, and pieces it alone held, are suggested anew (check_suggesters tops up).
        suggest_->forget(link.token, unfinished_pieces(*link.conn));
        if (picker_ && !link.has_all)
            suggest_->repool_lost(link.conn->peer_pieces(), [this](std::uint32_t p) { return picker_->availability(p); });
    }
    by_token_.erase(link.token);
    strikes_.erase(link.token);
    session_.connection_closed();
    auto it = std::find_if(links_.begin(), links_.end(), [&](auto& p) { return p.get() == &link; });
    if (it != links_.end()) {
        std::unique_ptr<PeerLink> owned = std::move(*it);
        links_.erase(it);
        session_.reap(std::move(owned)); // destroyed after the current callback returns
    }
    // Blocks it had requested are free again: give them to others.
    std::vector<PeerLink*> others;
    for (auto& l : links_) others.push_back(l.get());
    for (PeerLink* l : others) fill_requests(*l);
    if (held_slot && !shutting_down_) fill_free_slot();
}

bool Torrent::on_handshake(PeerConnection& conn, const wire::Handshake& hs) {
    PeerLink& link = link_of(conn);
    if (log_enabled(LogLevel::debug)) {
        std::string id; // the client's tag, e.g. -TR3000-: printable bytes only
        for (char c : hs.peer_id.substr(0, 8)) id += (c >= 0x20 && c < 0x7f) ? c : '.';
        log_debug("torrent", meta_.name + ": handshake " +
                                 (conn.direction() == PeerConnection::Direction::incoming ? "from " : "with ") +
                                 link.address + " (peer id " + id + "...," + (hs.reserved.extensions() ? " BEP 10" : "") +
                                 (hs.reserved.fast() ? " fast" : "") + (hs.reserved.dht() ? " DHT" : "") + ")");
    }
    if (hs.peer_id == session_.peer_id()) {
        known_addresses_.insert(link.address);
        drop(link, "connected to ourselves");
        return false;
    }
    for (auto& l : links_)
        if (l.get() != &link && !l->dead && l->conn->state() != PeerConnection::State::AwaitHandshake &&
            l->conn->peer_id() == hs.peer_id) {
            // Two peers that learn of each other at once (PEX) dial each other at once. Both sides must keep
            // the same connection or both die: keep the one dialled by the side with the smaller peer id.
            if (l->conn->direction() != conn.direction()) {
                bool we_dial = session_.peer_id() < hs.peer_id;
                bool keep_new = (conn.direction() == PeerConnection::Direction::outgoing) == we_dial;
                if (keep_new) {
                    drop(*l, "duplicate connection to the same peer (simultaneous open)");
                    return true;
                }
            }
            drop(link, "duplicate connection to the same peer");
            return false;
        }
    return true;
}

void Torrent::on_established(PeerConnection& conn) {
    if (available_.all()) conn.send_have_all();
    else if (available_.none()) conn.send_have_none();
    else conn.send_bitfield(available_);
    ext_->on_established(link_of(conn)); // after the bitfield, which must come first
}

void Torrent::on_extended(PeerConnection& conn, std::uint8_t ext_id, std::string_view payload) {
    ext_->on_extended(link_of(conn), ext_id, payload);
}

void Torrent::on_closed(PeerConnection& conn, const Error& why) { drop(link_of(conn), why.str()); }

// ---------------------------------------------------------------- availability and interest

void Torrent::on_bitfield(PeerConnection& conn, const swarm::Bitfield& bits) {
    PeerLink& link = link_of(conn);
    if (picker_ && !link.registered_availability) {
        picker_->add_peer_bitfield(bits);
        link.registered_availability = true;
    }
    if (available_.all() && bits.all()) return drop(link, "both sides are seeds");
    update_interest(link);
}

void Torrent::on_have_all(PeerConnection& conn) {
    PeerLink& link = link_of(conn);
    if (picker_ && !link.registered_availability) {
        picker_->add_have_all();
        link.registered_availability = true;
        link.has_all = true;
    }
    if (available_.all()) return drop(link, "both sides are seeds");
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
    if (available_.all() && conn.peer_pieces().all()) return drop(link, "both sides are seeds");
    update_interest(link);
}

void Torrent::update_interest(PeerLink& link) {
    if (link.dead || !picker_) return;
    PeerConnection& c = *link.conn;
    bool want = phase_ == TorrentPhase::downloading &&
                (link.has_all ? !picker_->is_complete() : picker_->is_interesting(c.peer_pieces()));
    if (want && !c.am_interested()) c.interested();
    else if (!want && c.am_interested()) c.not_interested();
    if (want) fill_requests(link);
}

// ---------------------------------------------------------------- downloading

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
    if (link.dead || !picker_ || phase_ != TorrentPhase::downloading) return;
    PeerConnection& c = *link.conn;
    if (c.state() != PeerConnection::State::Active || c.peer_choking() || !c.am_interested()) return;
    std::size_t outstanding = c.outgoing_requests().size();
    std::size_t depth = link.snubbed ? 1 : swarm::pipeline_depth(c.download_rate(), 0.05);
    // The rate estimate needs a few seconds to build up; meanwhile a deeper start than the floor of 4 lets a
    // fast peer show its speed instead of being held to 4 blocks per round trip.
    if (!link.snubbed && now_ms() - static_cast<std::uint64_t>(link.connected_at_ms) < kWarmupMs)
        depth = std::max<std::size_t>(depth, kWarmupDepth);
    if (link.ext.reqq) depth = std::min<std::size_t>(depth, link.ext.reqq); // BEP 10: the peer's queue size
    if (outstanding >= depth) return;
    // Bound the memory of pieces being assembled and queued for the disk: the session's write pool, shared by
    // all torrents (issue 7). New requests stay within the pool's room, so under pressure fewer blocks are in
    // flight. When it is exhausted only blocks of pieces already being assembled are requested (finishing them
    // is what frees the pool, even for a piece bigger than the pool); a torrent with nothing in assembly may ask
    // for one block, so one busy torrent cannot starve the others.
    bool only_started = false;
    if (!picker_->is_endgame()) {
        const std::size_t cap = session_.memory().cap(MemPool::write), used = session_.memory().used(MemPool::write);
        const std::size_t room = used < cap ? (cap - used) / swarm::kBlockSize : 0;
        std::size_t in_flight = 0; // this torrent's requested blocks: each may start a piece when it arrives
        for (const auto& l : links_)
            if (!l->dead && l->conn) in_flight += l->conn->outgoing_requests().size();
        if (room > in_flight) depth = std::min(depth, outstanding + (room - in_flight));
        else if (assembling_bytes_ == 0 && in_flight == 0) depth = 1;
        else only_started = true;
    }
    if (outstanding == 0) link.last_block_ms = now_ms();
    std::vector<swarm::BlockRequest> picks;
    const swarm::Bitfield& has = link.has_all ? all_pieces_ : c.peer_pieces();
    picker_->pick(link.token, has, depth - outstanding, picks);
    for (const auto& b : picks)
        if ((only_started && !assembling_.count(b.piece)) || !c.request(b.piece, b.offset, b.length))
            picker_->on_request_timeout(link.token, b); // not sent: pickable again
}

void Torrent::on_piece(PeerConnection& conn, std::uint32_t index, std::uint32_t begin, std::string_view block,
                       bool /*requested*/) {
    PeerLink& link = link_of(conn);
    std::uint64_t now = now_ms();
    link.last_block_ms = now;
    link.snubbed = false;
    downloaded_ += block.size();
    if (!picker_ || phase_ != TorrentPhase::downloading) {
        wasted_ += block.size();
        return;
    }
    swarm::BlockRequest br{index, begin, static_cast<std::uint32_t>(block.size())};
    swarm::BlockReceived res = picker_->on_block_received(link.token, br);
    for (swarm::PeerToken tok : res.cancel)
        if (PeerLink* other = find_token(tok); other && !other->dead) other->conn->cancel(index, begin, br.length);
    if (!res.accepted) {
        wasted_ += block.size();
        return fill_requests(link);
    }
    Assembly& a = assembling_[index];
    if (!a.data) {
        // Reserved, not zero-filled: blocks mostly arrive in order and are appended; only a gap before an
        // out-of-order block is zero-filled (and overwritten when its blocks arrive). The picker accepted every
        // block exactly once, so the buffer ends exactly at the piece size when the piece is complete.
        a.data = std::make_shared<std::string>();
        a.data->reserve(static_cast<std::size_t>(meta_.piece_size(index)));
        a.block_from.assign(picker_->blocks_in_piece(index), std::string());
        assembling_bytes_ += static_cast<std::size_t>(meta_.piece_size(index));
        session_.memory().reserve(MemPool::write, static_cast<std::size_t>(meta_.piece_size(index)));
    }
    std::string& buf = *a.data;
    if (begin >= buf.size()) {
        buf.resize(begin);
        buf.append(block);
    } else {
        if (begin + block.size() > buf.size()) buf.resize(begin + block.size());
        std::memcpy(buf.data() + begin, block.data(), block.size());
    }
    if (begin / swarm::kBlockSize < a.block_from.size()) a.block_from[begin / swarm::kBlockSize] = ban_key(link.address);
    if (res.piece_complete) piece_assembled(index);
    fill_requests(link);
}

void Torrent::piece_assembled(std::uint32_t index) {
    auto it = assembling_.find(index);
    if (it == assembling_.end()) return;
    auto a = std::make_shared<Assembly>(std::move(it->second));
    assembling_.erase(it);
    assembling_bytes_ -= static_cast<std::size_t>(meta_.piece_size(index));
    session_.memory().release(MemPool::write, static_cast<std::size_t>(meta_.piece_size(index)));
    hashing_.push_back(index);
    std::weak_ptr<void> alive = std::static_pointer_cast<void>(std::shared_ptr<int>(alive_));
    hash_piece_async(loop_, a->data, std::string(meta_.piece_hash(index)), alive,
                     [this, index, a](bool ok) { piece_hashed(index, std::move(*a), ok); });
}

void Torrent::piece_hashed(std::uint32_t index, Assembly a, bool ok) {
    hashing_.erase(std::remove(hashing_.begin(), hashing_.end(), index), hashing_.end());
    if (!picker_) return;
    std::shared_ptr<std::string> data = std::move(a.data);
    if (!ok) {
        std::vector<swarm::PeerToken> contributors = picker_->on_piece_verified(index, false);
        log_warn("torrent", meta_.name + ": piece " + std::to_string(index) + " failed its hash check (" +
                                std::to_string(contributors.size()) + " peer(s) sent it); downloading it again");
        if (suspects_.size() < kMaxSuspectPieces && !suspects_.count(index)) {
            std::vector<SuspectBlock> blocks;
            for (std::size_t b = 0; b < a.block_from.size(); ++b) {
                std::size_t off = b * swarm::kBlockSize;
                std::size_t len = std::min<std::size_t>(swarm::kBlockSize, data->size() - off);
                blocks.push_back(SuspectBlock{sha1(std::string_view(*data).substr(off, len)), a.block_from[b]});
            }
            suspects_[index] = std::move(blocks);
        }
        // A peer that alone sent a bad piece twice is banned now; mixed pieces are settled by smart_ban().
        if (contributors.size() == 1) {
            swarm::PeerToken t = contributors.front();
            strikes_[t] += 2;
            if (strikes_[t] >= kBanPoints) strike(t);
        }
        std::vector<PeerLink*> ls;
        for (auto& l : links_) ls.push_back(l.get());
        for (PeerLink* l : ls) fill_requests(*l);
        return;
    }
    picker_->on_piece_verified(index, true);
    if (suspects_.count(index)) smart_ban(index, *data);
    if (phase_ == TorrentPhase::failed) return; // storage refuses writes while failed
    ++writes_in_flight_;
    std::weak_ptr<int> alive = alive_;
    storage_->write_piece(index, std::move(data), [this, alive, index](Status st) {
        if (alive.expired()) return;
        piece_written(index, st);
    });
}

void Torrent::strike(std::uint64_t token) {
    PeerLink* l = find_token(token);
    if (!l || l->dead) return;
    ban_ip(ban_key(l->address), "sending corrupt data repeatedly");
}

void Torrent::smart_ban(std::uint32_t index, const std::string& good) {
    std::vector<SuspectBlock> blocks = std::move(suspects_[index]);
    suspects_.erase(index);
    std::set<std::string> bad;
    for (std::size_t b = 0; b < blocks.size(); ++b) {
        std::size_t off = b * swarm::kBlockSize;
        if (off >= good.size() || blocks[b].ip.empty()) continue;
        std::size_t len = std::min<std::size_t>(swarm::kBlockSize, good.size() - off);
        if (sha1(std::string_view(good).substr(off, len)) != blocks[b].sha1) bad.insert(blocks[b].ip);
    }
    for (const auto& ip : bad) ban_ip(ip, "a block of piece " + std::to_string(index) + " differed from the verified data");
}

void Torrent::ban_ip(const std::string& ip, const std::string& why) {
    if (!banned_.insert(ip).second) return;
    log_warn("torrent", meta_.name + ": banning " + ip + ": " + why);
    std::vector<PeerLink*> ls;
    for (auto& l : links_)
        if (!l->dead && ban_key(l->address) == ip) ls.push_back(l.get());
    for (PeerLink* l : ls) drop(*l, "banned: corrupt data");
}

void Torrent::piece_written(std::uint32_t index, Status st) {
    --writes_in_flight_;
    if (!st) {
        set_failed(st.error());
    } else {
        available_.set(index);
        resume_dirty_ = true;
        std::vector<PeerLink*> ls;
        for (auto& l : links_) ls.push_back(l.get());
        for (PeerLink* l : ls) {
            if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
            if (!l->conn->peer_has(index)) l->conn->send_have(index);
            update_interest(*l);
        }
        if (available_.all() && phase_ == TorrentPhase::downloading) {
            phase_ = TorrentPhase::seeding;
            suggest_ = std::make_unique<swarm::SeedSuggest>(meta_.piece_count(), random_u32());
            log_info("torrent", meta_.name + ": complete, every piece verified; seeding");
            save_resume([] {});
            // Seeds have nothing to gain from other seeds.
            for (PeerLink* l : ls)
                if (!l->dead && l->conn->peer_pieces().all()) drop(*l, "both sides are seeds");
            if (on_complete) on_complete();
        }
    }
    if (shutting_down_ && writes_in_flight_ == 0 && pending_shutdown_) {
        auto done = std::move(pending_shutdown_);
        pending_shutdown_ = nullptr;
        save_resume(std::move(done));
    }
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

// ---------------------------------------------------------------- uploading

void Torrent::on_interested(PeerConnection& conn) {
    // Do not make a newcomer wait for the next 10 s round when an upload slot is free.
    std::size_t unchoked = 0;
    for (auto& l : links_)
        if (!l->dead && !l->conn->am_choking() && l->conn->peer_interested()) ++unchoked;
    if (conn.am_choking() && unchoked < cfg_.upload_slots) unchoke(link_of(conn));
    else if (!conn.am_choking()) suggest_to(link_of(conn)); // interested again while unchoked
}

void Torrent::on_not_interested(PeerConnection& conn) {
    if (available_.all() && conn.peer_pieces().all()) return drop(link_of(conn), "both sides are seeds");
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
    suggest_->top_up(link.token, link.conn->peer_pieces(), kSuggestWindow,
                     [this](std::uint32_t p) { return picker_->availability(p); }, pieces);
    for (std::uint32_t p : pieces) link.conn->send_suggest(p);
}

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

void Torrent::serve(PeerLink& link, std::uint32_t hint_index, std::shared_ptr<const std::string> hint) {
    while (!link.dead) {
        PeerConnection& c = *link.conn;
        if (c.incoming_requests().empty() || c.queued_send_bytes() >= cfg_.max_send_queue) return;
        // All connections' queues together are bounded by the session's send pool: retry shortly.
        if (session_.memory().exhausted(MemPool::send)) return session_.wait_upload(this, link.token);
        BlockRequest r = c.incoming_requests().front();
        if (!available_.get(r.index)) {
            if (c.supports_fast()) { c.reject(r.index, r.begin, r.length); continue; }
            return drop(link, "requested a piece we do not have");
        }
        std::shared_ptr<const std::string> piece = r.index == hint_index ? hint : storage_->cached_piece(r.index);
        if (!piece) {
            if (link.reading_piece) return;
            link.reading_piece = true;
            std::weak_ptr<int> alive = alive_;
            std::uint64_t token = link.token;
            std::uint32_t index = r.index;
            storage_->read_piece(index, [this, alive, token, index](Result<std::shared_ptr<const std::string>> res) {
                if (alive.expired()) return;
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
            });
            return;
        }
        if (!session_.take_upload(r.length)) return session_.wait_upload(this, link.token);
        if (!c.send_piece(r.index, r.begin, piece, r.begin, r.length)) return; // request vanished meanwhile
        uploaded_ += r.length;
        count_sent(r);
    }
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

// ---------------------------------------------------------------- choking, ticking, status

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
        if (want && l->conn->am_choking()) unchoke(*l);
        else if (!want && !l->conn->am_choking()) choke(*l);
    }
}

void Torrent::tick(std::uint64_t now) {
    std::vector<PeerLink*> ls;
    for (auto& l : links_) ls.push_back(l.get());
    for (PeerLink* l : ls)
        if (!l->dead) l->conn->tick(); // timeouts come back through on_closed
    check_snubs(now);
    connect_more();
    const std::size_t idle_uploads = track_idle_uploads();
    if (now - last_rechoke_ms_ >= kRechokeMs) rechoke(now);
    else if (idle_uploads > 0) fill_free_slot(); // lend an idle peer's slot now, not at the next round
    check_suggesters();
    ls.clear();
    for (auto& l : links_) ls.push_back(l.get());
    for (PeerLink* l : ls) fill_requests(*l); // pipelines follow the peers' rates
    ext_->tick(now);
    if (phase_ == TorrentPhase::downloading && resume_dirty_ && now - last_resume_save_ms_ >= kResumeSaveMs &&
        writes_in_flight_ == 0)
        save_resume([] {});
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
            log_debug("torrent", meta_.name + ": " + l->address + "'s suggestions left us idle; picking from it freely");
        }
    }
}

void Torrent::save_resume(std::function<void()> done) {
    if (!picker_ || phase_ == TorrentPhase::failed || is_shared_item()) return done();
    resume_waiters_.push_back(std::move(done));
    if (saving_resume_) return; // the save after the current one covers this caller
    saving_resume_ = true;
    last_resume_save_ms_ = now_ms();
    resume_dirty_ = false;
    std::vector<bool> have(meta_.piece_count());
    for (std::uint32_t i = 0; i < have.size(); ++i) have[i] = available_.get(i);
    auto waiters = std::move(resume_waiters_);
    resume_waiters_.clear();
    std::weak_ptr<int> alive = alive_;
    storage_->save_resume(std::move(have), [this, alive, waiters = std::move(waiters)](Status st) {
        if (alive.expired()) return;
        if (!st) log_warn("torrent", meta_.name + ": saving resume data: " + st.error().str());
        saving_resume_ = false;
        for (auto& w : waiters) w();
        if (!resume_waiters_.empty()) {
            auto next = std::move(resume_waiters_);
            resume_waiters_.clear();
            auto all = std::make_shared<std::vector<std::function<void()>>>(std::move(next));
            save_resume([all] { for (auto& w : *all) w(); });
        }
    });
}

void Torrent::shutdown(std::function<void()> done) {
    if (shutting_down_) return done();
    shutting_down_ = true;
    std::vector<PeerLink*> ls;
    for (auto& l : links_) ls.push_back(l.get());
    for (PeerLink* l : ls) drop(*l, "shutting down");
    connect_attempts_.clear();
    if (writes_in_flight_ > 0) {
        pending_shutdown_ = std::move(done); // piece_written saves resume data when the last write returns
        return;
    }
    save_resume(std::move(done));
}

TorrentStatus Torrent::status() {
    TorrentStatus s;
    s.name = meta_.name;
    s.info_hash = meta_.info_hash;
    s.phase = phase_;
    s.total = static_cast<std::uint64_t>(meta_.total_length);
    s.have_bytes = s.total - left_bytes();
    s.downloaded = downloaded_;
    s.uploaded = uploaded_;
    s.resent = resent_;
    s.idle_slot_seconds = idle_upload_slot_ticks_;
    for (auto& l : links_) {
        if (l->dead) continue;
        ++s.peers;
        s.down_rate += l->conn->download_rate();
        s.up_rate += l->conn->upload_rate();
    }
    s.candidates = candidates_.size();
    if (phase_ == TorrentPhase::failed) s.error = error_.str();
    return s;
}

} // namespace p2p
