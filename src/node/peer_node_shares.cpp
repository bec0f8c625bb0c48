// PeerNode, sharing: the --share folder (every top-level entry a torrent, watched for new, removed and edited
// entries) and the console's `share PATH`. Files stay where they are; a torrent's root is the folder that holds
// the item, and its storage reads each file from its own path (storage.hpp, StoragePlacement).
#include "node/peer_node_impl.hpp"

#include <filesystem>

#include "base/bytes.hpp"
#include "base/log.hpp"

namespace p2p {

namespace fs = std::filesystem;

void PeerNode::start_sharing() {
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(cfg_.share_dir, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
        std::string n = it->path().filename().string();
        if (n.empty() || n[0] == '.') continue; // hidden files and our .p2pnode folder
        std::error_code e2;
        auto st = it->symlink_status(e2);
        if (e2 || !(fs::is_regular_file(st) || fs::is_directory(st))) continue;
        names.push_back(n);
    }
    if (ec) log_warn("share", "listing " + cfg_.share_dir + ": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) enqueue_share(ShareJob{cfg_.share_dir, n});
    watcher_ = std::make_unique<ShareWatcher>(
        loop_.get(), cfg_.share_dir, ShareWatcherOptions{},
        [this](const std::string& name) {
            enqueue_share(ShareJob{cfg_.share_dir, name});
        },
        [this](const std::string& name) { unshare(share_key(cfg_.share_dir, name), "removed from disk"); },
        [this](const std::string& name) { unshare(share_key(cfg_.share_dir, name), "changed on disk"); });
    if (auto st = watcher_->start(std::set<std::string>(names.begin(), names.end())); !st)
        log_warn("share", st.error().str());
}

Result<std::string> PeerNode::share_path(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::absolute(path, ec).lexically_normal();
    if (ec) return make_error(path, ec.message());
    if (!p.has_filename()) p = p.parent_path(); // "dir/" -> "dir"
    auto st = fs::symlink_status(p, ec);
    if (ec) return make_error(path, ec.message());
    if (!fs::is_regular_file(st) && !fs::is_directory(st)) return make_error(path, "not a regular file or folder");
    ShareJob job{p.parent_path().string(), p.filename().string()};
    if (shared_.count(share_key(job.root, job.name))) return make_error(path, "already shared");
    if (!enqueue_share(job)) return make_error(path, "too many items waiting to be hashed");
    return "hashing " + p.string() + "; a 'sharing' line follows when it is ready";
}

bool PeerNode::being_downloaded_here(const ShareJob& job) const {
    for (const auto& [h, it] : items_)
        if (it.download && it.torrent && it.torrent->save_name() == job.name && job.root == data_root()) return true;
    return false;
}

void PeerNode::share_failed(const ShareJob& job, const Error& e) {
    if (e.code == Errc::changed_on_disk)
        log_info("share", e.str());
    else
        error_line("sharing " + job.name + ": " + e.str());
    // E.g. an empty folder, or a file edited while hashed: shared once it changes and settles.
    if (watcher_ && job.root == cfg_.share_dir) watcher_->failed(job.name);
}

void PeerNode::announce_share(const ShareJob& job, ShareSource src) {
    if (quitting_) return;
    Metainfo& m = src.meta;
    if (items_.count(m.info_hash)) { // the same content twice (e.g. `share` of a file already in --share)
        say("already sharing %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str());
        return;
    }
    Magnet mag{m.info_hash, m.name, cfg_.trackers, {}};
    say("sharing %s %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str(), make_magnet(mag).c_str());
    const std::string key = share_key(job.root, job.name);
    shared_[key] = m.info_hash;
    StoragePlacement pl;
    for (const auto& f : src.files) {
        pl.disk_paths.push_back(f.disk_path);
        pl.stamps.push_back(f.stamp);
    }
    const std::string hash = m.info_hash;
    add(std::move(m), true, false, true, job.root, std::move(pl));
    items_[hash].share_key = key;
}

void PeerNode::unshare(const std::string& key, const std::string& why) {
    auto s = shared_.find(key);
    if (s == shared_.end()) return;
    std::string hash = s->second;
    shared_.erase(s);
    auto it = items_.find(hash);
    if (it == items_.end() || it->second.download || quitting_) return;
    Item item = std::move(it->second);
    items_.erase(it);
    // Its callbacks point at the erased Item: none may run during the torrent's shutdown.
    item.torrent->on_ready = nullptr;
    item.torrent->on_complete = nullptr;
    item.torrent->on_failed = nullptr;
    std::string name = item.torrent->meta().name;
    dht_untrack(hash);
    lsd_remove(hash);
    session_.remove_torrent(hash);
    retire_announcer(std::move(item.announcer), nullptr);
    say("stopped sharing %s %s (%s)\n", name.c_str(), to_hex(hash).c_str(), why.c_str());
}

void PeerNode::reshare(const std::string& key) {
    const fs::path p(key);
    const std::string root = p.parent_path().string(), name = p.filename().string();
    unshare(key, "changed on disk");
    if (watcher_ && root == cfg_.share_dir)
        watcher_->changed(name);
    else
        enqueue_share(ShareJob{root, name});
}

void PeerNode::retire_announcer(std::unique_ptr<Announcer> a, std::function<void()> done) {
    if (!a) {
        if (done) done();
        return;
    }
    Announcer* raw = a.get();
    auto holder = std::make_shared<std::unique_ptr<Announcer>>(std::move(a));
    raw->stop(kStopTimeoutMs, [this, holder, done = std::move(done)] {
        loop_.defer_delete(std::move(*holder)); // we run inside the announcer
        if (done) done();
    });
}

} // namespace p2p
