// Torrent's lifecycle: construction, opening the storage and starting (or failing), the one-second tick, resume
// saves, shutdown and status. The other jobs of the class live in the torrent_*.cpp files listed in torrent.hpp.
#include "session/torrent.hpp"

#include "base/log.hpp"
#include "crypto/random.hpp"
#include "session/session.hpp"
#include "storage/file_map.hpp"
#include "storage/placement.hpp"

namespace p2p {

namespace {
constexpr std::uint64_t kRechokeMs = 10'000;    // BEP 3: rechoke every ten seconds
constexpr std::uint64_t kResumeSaveMs = 60'000; // resume data at most a minute stale while downloading
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
    if (!cfg_.wanted_files.empty() && !is_shared_item()) storage_->set_wanted(cfg_.wanted_files, [](Status) {});
    ext_ = std::make_unique<TorrentExtensions>(static_cast<ExtensionHost&>(*this)); // private base: convert here
}

Torrent::~Torrent() {
    std::size_t held = assembling_bytes_; // half-assembled pieces, and those at the hasher
    for (std::uint32_t i : hashing_) held += static_cast<std::size_t>(meta_.piece_size(i));
    session_.memory().release(MemPool::write, held);
    cancel_dials();
    for (auto& l : links_) {
        l->dead = true;
        if (l->conn) l->conn->close();
        session_.connection_closed();
    }
    links_.clear();
}

std::uint64_t Torrent::now_ms() const { return uv_now(loop_); }
std::uint16_t Torrent::listen_port() const { return session_.port(); }
const std::string& Torrent::client_name() const { return session_.peer_config().client; }

void Torrent::start(bool all_present) {
    if (all_present) { // we just hashed these files (a shared item): seed them as they are, read-only
        storage_->open(OpenMode::seed, life_.bind([this](Status st) {
            if (!st) return set_failed(st.error());
            begin_with(std::vector<bool>(meta_.piece_count(), true));
        }));
        return;
    }
    prepare_download(*storage_, meta_, cfg_.overwrite, life_.bind([this](Result<PlacementOutcome> r) {
        if (!r) return set_failed(r.error());
        placement_note_ = r->note;
        renamed_ = r->renamed;
        if (r->renamed)
            log_info("torrent", meta_.name + ": saving as " + storage_->save_name() + ": " + r->note);
        else if (!r->note.empty())
            log_info("torrent", meta_.name + ": " + r->note);
        begin_with(r->have);
        // The folders' later files are still being made (storage.hpp open); one that cannot be made fails the
        // download here, even when no write of ours reaches the storage after it.
        storage_->when_files_made(life_.bind([this](Status st) {
            if (!st) set_failed(st.error());
        }));
    }));
}

void Torrent::begin_with(const std::vector<bool>& have, bool reverified) {
    swarm::Bitfield hb(meta_.piece_count(), false);
    for (std::uint32_t i = 0; i < have.size(); ++i)
        if (have[i]) hb.set(i);
    auto picker = swarm::PiecePicker::create(meta_.piece_count(), static_cast<std::uint32_t>(meta_.piece_length),
                                             static_cast<std::uint64_t>(meta_.total_length), &hb,
                                             swarm::PickerOptions{random_u32(), 2});
    if (!picker) return set_failed(picker.error());
    picker_ = std::make_unique<swarm::PiecePicker>(std::move(*picker));
    available_ = hb;
    apply_selection();
    // Done with the selected files: "seeding" what we have (every piece: with BEP 6 suggestions).
    phase_ = complete() ? TorrentPhase::seeding : TorrentPhase::downloading;
    if (available_.all()) suggest_ = std::make_unique<swarm::SeedSuggest>(meta_.piece_count(), random_u32());
    last_resume_save_ms_ = now_ms();
    const bool selected = wanted_pieces_.count() < meta_.piece_count();
    log_info("torrent", meta_.name + ": " + std::to_string(available_.count()) + "/" +
                            std::to_string(meta_.piece_count()) + " pieces present" +
                            (selected ? " (" + std::to_string(wanted_pieces_.count()) + " wanted)" : "") + ", " +
                            phase_name(phase_));
    if (on_ready && !reverified) on_ready();
    if (reverified && phase_ == TorrentPhase::downloading) {
        resume_dirty_ = true;
        save_resume([] {});
        // Damage found: the seeds we parted with have what we lost. They are forgotten as known addresses when
        // dropped, so they are candidates again.
        add_candidates(parted_seeds_);
        parted_seeds_.clear();
    }
    if (phase_ == TorrentPhase::seeding) {
        resume_dirty_ = true;
        save_resume([] {});
        if (on_complete) on_complete();
    }
    adopt_parked();
    connect_more();
}

void Torrent::set_failed(const Error& e) {
    if (phase_ == TorrentPhase::failed) return;
    phase_ = TorrentPhase::failed;
    error_ = e;
    adopt_parked(); // closes them: the torrent does not run
    if (e.code == Errc::changed_on_disk) {
        // Its files no longer hold what we advertise: serve nothing more, to anyone (the owner re-hashes it).
        log_warn("torrent", meta_.name + ": " + e.str() + "; no longer served");
        for (PeerLink* l : link_snapshot())
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
    if (picker_) return wanted_bytes_ - std::min(wanted_bytes_, wanted_have_bytes_);
    std::uint64_t have = 0;
    std::uint32_t n = meta_.piece_count();
    have = std::uint64_t(available_.count()) * std::uint64_t(meta_.piece_length);
    if (n && available_.get(n - 1)) have -= std::uint64_t(meta_.piece_length) - std::uint64_t(meta_.piece_size(n - 1));
    return std::uint64_t(meta_.total_length) - have;
}

void Torrent::apply_selection() {
    const std::vector<bool>& files = storage_->wanted();
    const std::uint32_t n = meta_.piece_count();
    wanted_pieces_ = swarm::Bitfield(n, false);
    for (std::size_t f = 0; f < meta_.files.size(); ++f) {
        if (f < files.size() && !files[f]) continue;
        const PieceSpan span = pieces_of_file(meta_, f);
        for (std::uint32_t p = span.first; p < span.last && p < n; ++p) wanted_pieces_.set(p);
    }
    if (meta_.files.empty()) wanted_pieces_ = swarm::Bitfield(n, true);
    wanted_have_ = 0;
    wanted_bytes_ = wanted_have_bytes_ = 0;
    wanted_pieces_.for_each_set([this](std::uint32_t p) {
        const auto size = static_cast<std::uint64_t>(meta_.piece_size(p));
        wanted_bytes_ += size;
        if (!available_.get(p)) return;
        ++wanted_have_;
        wanted_have_bytes_ += size;
    });
    if (picker_) picker_->set_wanted(wanted_pieces_);
}

std::vector<FileProgress> Torrent::files() const {
    std::vector<FileProgress> out = file_progress(meta_, available_);
    const std::vector<bool>& w = storage_->wanted();
    for (auto& f : out) f.wanted = f.index >= w.size() || w[f.index];
    return out;
}

Status Torrent::set_files_wanted(std::vector<bool> wanted) {
    if (is_shared_item())
        return make_error(meta_.name, "a shared item is seeded whole: its files cannot be deselected", Errc::refused);
    if (wanted.size() != meta_.files.size())
        return make_error(meta_.name,
                          "selection has " + std::to_string(wanted.size()) + " entries for " +
                              std::to_string(meta_.files.size()) + " files",
                          Errc::bad_input);
    if (phase_ == TorrentPhase::failed) return make_error(meta_.name, "failed: " + error_.str(), Errc::refused);
    storage_->set_wanted(std::move(wanted), life_.bind([this](Status st) {
        if (!st) set_failed(st.error());
    }));
    if (!picker_) return ok_status(); // still checking: begin_with applies it
    apply_selection();
    resume_dirty_ = true;
    if (phase_ == TorrentPhase::seeding && !complete()) {
        phase_ = TorrentPhase::downloading;
        suggest_.reset();
        log_info("torrent", meta_.name + ": more files selected; downloading");
        for (PeerLink* l : link_snapshot()) update_interest(*l);
        connect_more();
    } else if (phase_ == TorrentPhase::downloading && complete()) {
        became_seed(link_snapshot());
    } else {
        for (PeerLink* l : link_snapshot()) update_interest(*l);
        save_resume([] {});
    }
    return ok_status();
}

void Torrent::tick(std::uint64_t now) {
    if (verify_pending_ && hashing_.empty() && writes_in_flight_ == 0) run_verify();
    for (PeerLink* l : link_snapshot())
        if (!l->dead) l->conn->tick(); // timeouts come back through on_closed
    check_snubs(now);
    if (!redials_.empty()) {
        std::vector<sockaddr_storage> due;
        std::erase_if(redials_, [&](const Redial& r) {
            if (r.due_ms > now) return false;
            due.push_back(r.addr);
            return true;
        });
        if (!due.empty()) add_candidates(due);
    }
    connect_more();
    const std::size_t idle_uploads = track_idle_uploads();
    if (now - last_rechoke_ms_ >= kRechokeMs)
        rechoke(now);
    else if (idle_uploads > 0)
        fill_free_slot(); // lend an idle peer's slot now, not at the next round
    check_suggesters();
    fill_all_requests(); // pipelines follow the peers' rates
    ext_->tick(now);
    if (phase_ == TorrentPhase::downloading && resume_dirty_ && now - last_resume_save_ms_ >= kResumeSaveMs &&
        writes_in_flight_ == 0)
        save_resume([] {});
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
    storage_->save_resume(std::move(have), life_.bind([this, waiters = std::move(waiters)](Status st) {
        if (!st) log_warn("torrent", meta_.name + ": saving resume data: " + st.error().str());
        saving_resume_ = false;
        for (auto& w : waiters) w();
        if (!resume_waiters_.empty()) {
            auto next = std::move(resume_waiters_);
            resume_waiters_.clear();
            auto all = std::make_shared<std::vector<std::function<void()>>>(std::move(next));
            save_resume([all] {
                for (auto& w : *all) w();
            });
        }
    }));
}

void Torrent::shutdown(std::function<void()> done) {
    if (shutting_down_) return done();
    shutting_down_ = true;
    adopt_parked(); // closes them: we are shutting down
    for (PeerLink* l : link_snapshot()) drop(*l, "shutting down");
    cancel_dials();
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
    // Of the wanted pieces (file selection): the progress line's percentage and "complete" count those only.
    s.total = picker_ ? wanted_bytes_ : static_cast<std::uint64_t>(meta_.total_length);
    s.have_bytes = s.total - std::min(s.total, left_bytes());
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
    s.paused = paused_;
    s.max_upload_rate = up_limit_.rate();
    s.max_download_rate = down_limit_.rate();
    if (phase_ == TorrentPhase::failed) s.error = error_.str();
    return s;
}

} // namespace p2p
