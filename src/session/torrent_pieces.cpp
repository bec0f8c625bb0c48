// Torrent's pieces from blocks to disk: blocks are copied into the piece's assembly buffer, a complete piece is
// hashed on the threadpool, a good one is written and then announced (HAVE to every peer) and a bad one goes
// back to the picker. Bad data is answered by bans: a sole sender of a bad piece gets strikes, and smart ban
// compares each block of a failed piece with the piece once it passes, to find the sender among several.
#include <algorithm>
#include <cstring>

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "crypto/sha.hpp"
#include "storage/piece_hash.hpp"
#include "session/session.hpp"
#include "session/torrent.hpp"

namespace p2p {

namespace {
constexpr int kBanPoints = 4;                 // sole contributor to a bad piece: 2 points (banned on the 2nd)
constexpr std::size_t kMaxSuspectPieces = 64; // failed pieces remembered for smart banning
} // namespace

// Bans are per IP: a banned peer reconnecting from another port stays banned. On loopback every peer shares
// one IP (test and development setups), so there the whole ip:port is the identity.
std::string Torrent::ban_key(const std::string& address) {
    std::string ip = ip_of(address);
    return is_loopback_ip(ip) ? address : ip;
}

void Torrent::on_piece(PeerConnection& conn, std::uint32_t index, std::uint32_t begin, std::string_view block,
                       bool /*requested*/) {
    PeerLink& link = link_of(conn);
    link.last_block_ms = now_ms();
    link.snubbed = false;
    downloaded_ += block.size();
    count_received(link, block.size()); // the download limits (torrent_control.cpp)
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
    store_block(link, index, begin, block);
    if (res.piece_complete) piece_assembled(index);
    fill_requests(link);
}

// Copies an accepted block into its piece's buffer, made (and counted in the write pool) by the first block.
void Torrent::store_block(PeerLink& link, std::uint32_t index, std::uint32_t begin, std::string_view block) {
    Assembly& a = assembling_[index];
    if (!a.data) {
        // Reserved, not zero-filled: blocks mostly arrive in order and are appended; only a gap before an
        // out-of-order block is zero-filled (and overwritten when its blocks arrive). The picker accepted every
        // block exactly once, so the buffer ends exactly at the piece size when the piece is complete.
        const auto size = static_cast<std::size_t>(meta_.piece_size(index));
        a.data = storage_->spare_buffer(size); // a written piece's buffer, already mapped (storage.hpp)
        if (a.data)
            a.data->clear(); // keeps its capacity
        else
            a.data = std::make_shared<std::string>();
        a.data->reserve(size);
        a.block_from.assign(picker_->blocks_in_piece(index), std::string());
        assembling_bytes_ += size;
        session_.memory().reserve(MemPool::write, size);
    }
    std::string& buf = *a.data;
    if (begin >= buf.size()) {
        buf.resize(begin);
        buf.append(block);
    } else {
        if (begin + block.size() > buf.size()) buf.resize(begin + block.size());
        std::memcpy(buf.data() + begin, block.data(), block.size());
    }
    if (begin / swarm::kBlockSize < a.block_from.size())
        a.block_from[begin / swarm::kBlockSize] = ban_key(link.address);
}

void Torrent::piece_assembled(std::uint32_t index) {
    auto it = assembling_.find(index);
    if (it == assembling_.end()) return;
    auto a = std::make_shared<Assembly>(std::move(it->second));
    assembling_.erase(it);
    // Still counted in the write pool while it waits for the hasher: when the threadpool falls behind (a busy
    // box, a slow disk holding its threads), the pool fills and fewer blocks are requested, instead of assembled
    // pieces queueing for the hasher without bound (a leecher's RSS reached 900 MB that way on a loaded machine).
    assembling_bytes_ -= static_cast<std::size_t>(meta_.piece_size(index));
    hashing_.push_back(index);
    hash_piece_async(loop_, a->data, std::string(meta_.piece_hash(index)),
                     life_.bind([this, index, a](bool ok) { piece_hashed(index, std::move(*a), ok); }));
}

void Torrent::piece_hashed(std::uint32_t index, Assembly a, bool ok) {
    hashing_.erase(std::remove(hashing_.begin(), hashing_.end(), index), hashing_.end());
    // Out of the hasher's share of the write pool; write_piece counts it again until it is on disk.
    session_.memory().release(MemPool::write, static_cast<std::size_t>(meta_.piece_size(index)));
    if (!picker_) return;
    if (!ok) return piece_failed(index, a);
    picker_->on_piece_verified(index, true);
    if (suspects_.count(index)) smart_ban(index, *a.data);
    if (phase_ == TorrentPhase::failed) return; // storage refuses writes while failed
    ++writes_in_flight_;
    // Kept in the read cache only while some connected peer may ask for it: from seeds alone, the buffer goes
    // straight back to assembling the next piece.
    storage_->write_piece(index, std::move(a.data), life_.bind([this, index](Status st) { piece_written(index, st); }),
                          may_be_asked(index));
}

// A piece that failed its hash: downloaded again; each block's hash and sender are kept for smart_ban().
void Torrent::piece_failed(std::uint32_t index, const Assembly& a) {
    const std::string& data = *a.data;
    std::vector<swarm::PeerToken> contributors = picker_->on_piece_verified(index, false);
    log_warn("torrent", meta_.name + ": piece " + std::to_string(index) + " failed its hash check (" +
                            std::to_string(contributors.size()) + " peer(s) sent it); downloading it again");
    if (suspects_.size() < kMaxSuspectPieces && !suspects_.count(index)) {
        std::vector<SuspectBlock> blocks;
        for (std::size_t b = 0; b < a.block_from.size(); ++b) {
            std::size_t off = b * swarm::kBlockSize;
            std::size_t len = std::min<std::size_t>(swarm::kBlockSize, data.size() - off);
            blocks.push_back(SuspectBlock{sha1(std::string_view(data).substr(off, len)), a.block_from[b]});
        }
        suspects_[index] = std::move(blocks);
    }
    // A peer that alone sent a bad piece twice is banned now; mixed pieces are settled by smart_ban().
    if (contributors.size() == 1) {
        swarm::PeerToken t = contributors.front();
        strikes_[t] += 2;
        if (strikes_[t] >= kBanPoints) strike(t);
    }
    fill_all_requests();
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
    for (const auto& ip : bad)
        ban_ip(ip, "a block of piece " + std::to_string(index) + " differed from the verified data");
}

void Torrent::ban_ip(const std::string& ip, const std::string& why) {
    if (!banned_.insert(ip).second) return;
    log_warn("torrent", meta_.name + ": banning " + ip + ": " + why);
    std::vector<PeerLink*> ls;
    for (auto& l : links_)
        if (!l->dead && ban_key(l->address) == ip) ls.push_back(l.get());
    for (PeerLink* l : ls) drop(*l, "banned: corrupt data");
}

// A verified piece is on disk: only now is it announced (HAVE) and served.
void Torrent::piece_written(std::uint32_t index, Status st) {
    --writes_in_flight_;
    if (!st) {
        set_failed(st.error());
    } else {
        if (!available_.get(index) && wanted_pieces_.size() > index && wanted_pieces_.get(index)) {
            ++wanted_have_;
            wanted_have_bytes_ += static_cast<std::uint64_t>(meta_.piece_size(index));
        }
        available_.set(index);
        resume_dirty_ = true;
        std::vector<PeerLink*> ls = link_snapshot();
        for (PeerLink* l : ls) {
            if (l->dead || l->conn->state() != PeerConnection::State::Active) continue;
            if (!l->conn->peer_has(index)) l->conn->send_have(index);
            update_interest(*l);
        }
        if (complete() && phase_ == TorrentPhase::downloading) became_seed(ls);
        else if (phase_ == TorrentPhase::downloading) fill_all_requests(); // the write pool has room again
    }
    if (shutting_down_ && writes_in_flight_ == 0 && pending_shutdown_) {
        auto done = std::move(pending_shutdown_);
        pending_shutdown_ = nullptr;
        save_resume(std::move(done));
    }
}

// The last piece is written. `ls` is the snapshot of links piece_written iterated over.
void Torrent::became_seed(const std::vector<PeerLink*>& ls) {
    phase_ = TorrentPhase::seeding;
    save_resume([] {});
    if (!available_.all()) { // file selection: the wanted pieces are here; we serve what we have
        log_info("torrent", meta_.name + ": complete, every piece of the selected files verified; seeding those");
        for (PeerLink* l : ls)
            if (!l->dead) update_interest(*l);
        if (on_complete) on_complete();
        return;
    }
    suggest_ = std::make_unique<swarm::SeedSuggest>(meta_.piece_count(), random_u32());
    log_info("torrent", meta_.name + ": complete, every piece verified; seeding");
    // Seeds have nothing to gain from other seeds.
    for (PeerLink* l : ls)
        if (!l->dead && l->conn->peer_pieces().all()) part_with_seed(*l);
    if (on_complete) on_complete();
}

} // namespace p2p
