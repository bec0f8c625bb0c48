#include "node/share_watcher.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include "base/log.hpp"
#include "loop/fence.hpp"

namespace p2p {

namespace fs = std::filesystem;

namespace {

std::int64_t mtime_ns(const fs::path& p, std::error_code& ec) {
    auto t = fs::last_write_time(p, ec);
    if (ec) return 0;
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The entry names of dir worth sharing: regular files and folders, not hidden, not symlinks.
Result<std::set<std::string>> list_entries(const std::string& dir) {
    std::set<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return make_error("watch " + dir, ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) return make_error("watch " + dir, ec.message());
        std::string n = it->path().filename().string();
        if (n.empty() || n[0] == '.') continue; // hidden names and our .p2pnode folder
        auto st = it->symlink_status(ec);
        if (ec) continue; // vanished meanwhile
        if (fs::is_regular_file(st) || fs::is_directory(st)) names.insert(n);
    }
    return names;
}

} // namespace

Result<EntrySignature> entry_signature(const std::string& path) {
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (ec) return make_error("stat " + path, ec.message());
    EntrySignature s;
    if (fs::is_regular_file(st)) {
        s.size = fs::file_size(path, ec);
        if (ec) return make_error("stat " + path, ec.message());
        s.mtime_ns = mtime_ns(path, ec);
        s.files = 1;
        return s;
    }
    if (!fs::is_directory(st)) return make_error("stat " + path, "not a regular file or folder");
    s.folder = true;
    s.mtime_ns = mtime_ns(path, ec); // a new empty subfolder changes it
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        std::error_code e2;
        auto fst = it->symlink_status(e2);
        if (e2) continue;
        if (fs::is_symlink(fst)) {
            it.disable_recursion_pending();
            continue;
        }
        std::int64_t m = mtime_ns(it->path(), e2);
        if (m > s.mtime_ns) s.mtime_ns = m;
        if (!fs::is_regular_file(fst)) continue;
        s.size += it->file_size(e2);
        if (++s.files >= ShareWatcher::kMaxWalk) break;
    }
    // An error mid-walk (a subfolder removed while we read) leaves a partial signature: it differs from the
    // next one, so the entry simply settles later.
    return s;
}

struct ShareWatcher::FsEvent {
    uv_fs_event_t handle;
    ShareWatcher* owner = nullptr; // nulled by stop(); the block is freed in the close callback
};

ShareWatcher::ShareWatcher(uv_loop_t* loop, std::string dir, ShareWatcherOptions opt, OnName on_ready,
                           OnName on_removed, OnName on_changed)
    : loop_(loop), dir_(std::move(dir)), opt_(opt), on_ready_(std::move(on_ready)), on_removed_(std::move(on_removed)),
      on_changed_(std::move(on_changed)), timer_(loop), periodic_(loop) {}

ShareWatcher::~ShareWatcher() { stop(); }

Status ShareWatcher::start(const std::set<std::string>& known) {
    known_.clear();
    for (const auto& n : known) known_.emplace(n, std::nullopt);
    auto* ev = new FsEvent;
    ev->owner = this;
    ev->handle.data = ev;
    uv_fs_event_init(loop_, &ev->handle);
    int rc = uv_fs_event_start(
        &ev->handle,
        [](uv_fs_event_t* h, const char*, int, int) {
            auto* e = static_cast<FsEvent*>(h->data);
            if (e->owner) fence("share folder event", [&] { e->owner->on_fs_event(); });
        },
        dir_.c_str(), 0);
    if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&ev->handle),
                 [](uv_handle_t* h) { delete static_cast<FsEvent*>(h->data); });
        // Still useful without events: the periodic rescan notices changes, only later.
        log_warn("share", "cannot watch " + dir_ + " (" + uv_strerror(rc) + "); checking it every " +
                              std::to_string(opt_.rescan_ms / 1000) + " s instead");
    } else {
        event_ = ev;
    }
    periodic_.start(opt_.rescan_ms, opt_.rescan_ms, [this] { rescan(true); });
    schedule(0); // entries present now and not known settle like new ones; first look from the loop
    return ok_status();
}

void ShareWatcher::stop() {
    timer_.stop();
    periodic_.stop();
    scheduled_ = false;
    if (!event_) return;
    FsEvent* ev = event_;
    event_ = nullptr;
    ev->owner = nullptr;
    uv_fs_event_stop(&ev->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&ev->handle),
             [](uv_handle_t* h) { delete static_cast<FsEvent*>(h->data); });
}

void ShareWatcher::failed(const std::string& name) {
    known_.erase(name);
    pending_.erase(name);
    auto sig = entry_signature(dir_ + "/" + name);
    if (!sig) return; // vanished: nothing to remember
    failed_[name] = *sig;
    schedule(opt_.check_ms * 5);
}

void ShareWatcher::changed(const std::string& name) {
    known_.erase(name);
    failed_.erase(name);
    pending_.erase(name);
    schedule(0); // settles from the next look on, like a new entry
}

void ShareWatcher::on_fs_event() { schedule(opt_.debounce_ms); }

void ShareWatcher::schedule(std::uint64_t delay_ms) {
    std::uint64_t due = uv_now(loop_) + delay_ms;
    if (scheduled_ && due_ms_ <= due) return; // a rescan comes soon enough: this event joins that burst
    scheduled_ = true;
    due_ms_ = due;
    timer_.start(delay_ms, 0, [this] {
        scheduled_ = false;
        rescan(false);
    });
}

// What one rescan found, reported after all the bookkeeping is done (a callback may destroy the watcher).
struct ShareWatcher::Findings {
    std::vector<std::string> removed, changed, ready;
    bool overflow = false; // entries left out by max_pending: look again soon
};

// Known entries: gone (removed) or with a signature that moved (changed: they settle again like new ones).
// Folders are walked on full rescans only.
void ShareWatcher::check_known(const std::set<std::string>& now_names, bool full, Findings& f) {
    for (auto it = known_.begin(); it != known_.end();) {
        if (!now_names.count(it->first)) {
            f.removed.push_back(it->first);
            it = known_.erase(it);
            continue;
        }
        if (!full && it->second && it->second->folder) {
            ++it;
            continue;
        }
        auto sig = entry_signature(dir_ + "/" + it->first);
        if (!sig || (it->second && !(*it->second == *sig))) {
            f.changed.push_back(it->first); // edited in place, or replaced
            it = known_.erase(it);
            continue;
        }
        it->second = *sig;
        ++it;
    }
    // Settling or failed entries that vanished are simply forgotten: nothing was shared.
    std::erase_if(pending_, [&](const auto& p) { return !now_names.count(p.first); });
    std::erase_if(failed_, [&](const auto& p) { return !now_names.count(p.first); });
}

// Entries not known: each settles (its signature the same over stable_checks checks check_ms apart) before it is
// reported ready.
void ShareWatcher::check_new(const std::set<std::string>& now_names, Findings& f) {
    const std::uint64_t now = uv_now(loop_);
    for (const auto& n : now_names) {
        if (known_.count(n) || std::find(f.changed.begin(), f.changed.end(), n) != f.changed.end()) continue;
        auto sig = entry_signature(dir_ + "/" + n);
        if (!sig) continue;
        if (auto fl = failed_.find(n); fl != failed_.end()) {
            if (fl->second == *sig) continue; // unchanged since sharing it failed
            failed_.erase(fl);
        }
        auto p = pending_.find(n);
        if (p == pending_.end()) {
            if (pending_.size() >= opt_.max_pending)
                f.overflow = true; // picked up by a later rescan
            else
                pending_.emplace(n, Pending{*sig, 0, now});
            continue;
        }
        Pending& pe = p->second;
        if (!(pe.sig == *sig)) {
            pe = Pending{*sig, 0, now};
            continue;
        }
        // Only a check a full interval after the last one counts: rescans triggered by events on other
        // entries must not make a paused copy look finished sooner.
        if (now - pe.last_ms + 5 < opt_.check_ms) continue;
        pe.last_ms = now;
        if (++pe.stable < opt_.stable_checks) continue;
        f.ready.push_back(n);
        known_[n] = pe.sig;
        pending_.erase(p);
    }
}

void ShareWatcher::rescan(bool full) {
    auto listed = list_entries(dir_);
    if (!listed) {
        log_warn("share", listed.error().str());
        return;
    }
    Findings f;
    check_known(*listed, full, f);
    check_new(*listed, f);
    if (!pending_.empty() || f.overflow || !f.changed.empty()) schedule(opt_.check_ms);
    // A change inside a subfolder raises no event on DIR: failed entries (e.g. an empty folder being filled)
    // are looked at every few checks.
    else if (!failed_.empty())
        schedule(opt_.check_ms * 5);

    // Report last, checking after each call: a callback may destroy the watcher.
    auto alive = life_.watch();
    for (const auto& n : f.removed) {
        on_removed_(n);
        if (!alive) return;
    }
    for (const auto& n : f.changed) {
        if (on_changed_) on_changed_(n);
        if (!alive) return;
    }
    for (const auto& n : f.ready) {
        on_ready_(n);
        if (!alive) return;
    }
}

} // namespace p2p
