// Torrent's control surface: pause and resume, its own rate limits and how a received block is held to every
// download limit that applies (the reading of a link that overdrew a bucket is paused), and what deleting a
// download removes. The node's console (and later an RPC) reach these through the Session.
#include <algorithm>

#include "base/log.hpp"
#include "net/tcp_transport.hpp"
#include "session/session.hpp"
#include "session/torrent.hpp"

namespace p2p {

namespace {
// A throttled link is looked at again after this long at most (the session's timer clamps it too).
constexpr std::uint64_t kMaxReadWaitMs = 50;
} // namespace

// Every connection closes and dials are cancelled; the peers we had dialled stay candidates (drop() forgot them),
// dialled again once the torrent runs (connect_more waits while it is paused or checking).
void Torrent::close_links(const char* why) {
    std::vector<sockaddr_storage> again;
    for (PeerLink* l : link_snapshot()) {
        if (l->dead) continue;
        if (l->dialled) again.push_back(*l->dialled);
        drop(*l, why);
    }
    cancel_dials();
    add_candidates(again);
}

void Torrent::part_with_seed(PeerLink& link) {
    // Its listen address: the one we dialled, or an incoming peer's IP with its BEP 10 "p" (unknown without one).
    std::optional<sockaddr_storage> at = link.dialled;
    if (!at && link.ext.listen_port)
        if (auto a = make_sockaddr(ip_of(link.address), link.ext.listen_port)) at = *a;
    if (at) {
        if (parted_seeds_.size() >= kMaxPartedSeeds) parted_seeds_.erase(parted_seeds_.begin());
        parted_seeds_.push_back(*at);
    }
    drop(link, "both sides are seeds");
}

void Torrent::pause() {
    if (paused_ || shutting_down_) return;
    paused_ = true;
    log_info("torrent", meta_.name + ": paused");
    adopt_parked(); // closes them: the torrent does not run
    close_links("paused"); // dialled again on resume
    if (phase_ == TorrentPhase::downloading && writes_in_flight_ == 0) {
        resume_dirty_ = true;
        save_resume([] {});
    }
}

void Torrent::resume() {
    if (!paused_) return;
    paused_ = false;
    log_info("torrent", meta_.name + ": resumed");
    connect_more();
}

Status Torrent::verify() {
    if (shutting_down_) return make_error(meta_.name, "stopping", Errc::refused);
    if (phase_ == TorrentPhase::checking) return make_error(meta_.name, "being checked already", Errc::refused);
    if (phase_ == TorrentPhase::failed) {
        // A shared item whose files changed is shared anew by its owner (the node), not verified in place.
        if (is_shared_item() && error_.code == Errc::changed_on_disk)
            return make_error(meta_.name, "its files changed on disk: it is shared anew", Errc::refused);
        // The user fixed what failed (freed space, remounted, restored a file): what is on disk is hashed again,
        // and the torrent goes on from there (a piece that no longer matches is downloaded again).
        log_info("torrent", meta_.name + ": failed before (" + error_.str() + "); verifying to go on");
        storage_->clear_error();
        error_ = {};
    }
    // A download's files are hashed anew: the stamps sealed when it completed no longer say what is served (an
    // edit that failed it, damage a verify is to find); they are sealed again when it is complete again. A shared
    // item's seal stays: its files are the user's, and an edit is for the owner to share anew.
    if (!is_shared_item()) storage_->unseal();
    log_info("torrent", meta_.name + ": verifying every piece on disk");
    // Nothing is requested or served while the pieces are read again: every connection closes; the peers we
    // had dialled are dialled again afterwards (connect_more waits for the checking phase to end).
    close_links("verifying");
    phase_ = TorrentPhase::checking;
    suggest_.reset();
    // Half-assembled pieces are dropped (their blocks come again); those at the hasher or being written finish
    // first, so that the check reads what they wrote.
    session_.memory().release(MemPool::write, assembling_bytes_);
    assembling_bytes_ = 0;
    assembling_.clear();
    verify_pending_ = true;
    if (hashing_.empty() && writes_in_flight_ == 0) run_verify();
    return ok_status();
}

void Torrent::run_verify() {
    verify_pending_ = false;
    auto have = std::make_shared<std::vector<bool>>(meta_.piece_count(), false);
    storage_->verify_existing(
        [have](std::uint32_t i, bool ok) {
            if (i < have->size()) (*have)[i] = ok;
        },
        life_.bind([this, have](Status st) {
            if (shutting_down_) return;
            if (!st) return set_failed(st.error());
            log_info("torrent", meta_.name + ": verified");
            begin_with(*have, true);
        }));
}

void Torrent::set_rate_limits(std::uint64_t up, std::uint64_t down) {
    if (up != up_limit_.rate()) up_limit_.set_rate(up);
    if (down != down_limit_.rate()) down_limit_.set_rate(down);
    // Throttled links are looked at by the session's timer; fuller pipelines follow at the next tick.
}

std::uint64_t Torrent::download_limit() const {
    const std::uint64_t own = down_limit_.rate(), all = session_.max_download_rate();
    if (!own) return all;
    if (!all) return own;
    return std::min(own, all);
}

// Counted when the bytes are in: the bucket may go into debt (rate_limit.hpp), and then this link reads nothing
// more until it is out. Bytes parsed already in this read are handled as usual; what the peer sends meanwhile
// waits in the kernel (TCP) or the uTP receive buffer, whose window closes, so the sender slows to the limit.
void Torrent::count_received(PeerLink& link, std::size_t n) {
    const std::uint64_t now = now_ms();
    down_limit_.spend(n, now);
    const bool global = session_.count_download(n);
    if (!global && !down_limit_.in_debt(now)) return;
    if (!link.read_throttled) {
        link.read_throttled = true;
        link.conn->transport().pause_reading();
    }
    session_.wait_download(
        this, link.token,
        std::min(kMaxReadWaitMs, std::max(down_limit_.ms_until_clear(now), session_.download_wait_ms())));
}

void Torrent::resume_reading(std::uint64_t token) {
    PeerLink* l = find_token(token);
    if (!l || l->dead || !l->read_throttled) return;
    const std::uint64_t now = now_ms();
    const std::uint64_t wait = std::max(down_limit_.ms_until_clear(now), session_.download_wait_ms());
    if (wait > 0) return session_.wait_download(this, token, std::min(wait, kMaxReadWaitMs));
    l->read_throttled = false;
    l->conn->transport().resume_reading(); // bytes waiting in the kernel come with the next read
}

TorrentFiles Torrent::downloaded_files() const {
    TorrentFiles out;
    if (is_shared_item()) return out;
    for (std::size_t i = 0; i < meta_.files.size(); ++i)
        if (std::string p = storage_->file_path(i); !p.empty()) out.files.push_back(std::move(p));
    if (meta_.multi_file) {
        std::string top = cfg_.root_dir;
        if (top.empty() || top.back() != '/') top += '/';
        top += save_name();
        out.dirs = folders_of(top, out.files);
    }
    out.files.push_back(storage_->resume_path());
    if (std::string parts = storage_->parts_path(); !parts.empty()) out.files.push_back(std::move(parts));
    return out;
}

} // namespace p2p
