// PeerNode's control of running torrents: pause, resume, remove (optionally deleting what a download wrote),
// per-torrent rate limits and file selection. The engine does the work (Session::pause_torrent, ...); the node
// adds what only it knows: the trackers (`stopped` on pause and remove, a fresh announcer on resume), the DHT and LSD, and the
// share folder's bookkeeping. The console's commands call these; an RPC would call the same.
#include "node/peer_node_impl.hpp"

#include "base/bytes.hpp"

namespace p2p {

namespace {
std::string rate_text(std::uint64_t r) { return r ? format_bytes(r) + "/s" : std::string("none"); }
} // namespace

Error PeerNode::not_ours(const std::string& what) {
    return make_error(what, std::string(kNotOurs) + " (see status)", Errc::not_found);
}

std::string PeerNode::find_fetch(const std::string& what) const {
    std::string raw;
    if (what.size() == 40 && from_hex(what, raw)) return fetches_.has(raw) && !items_.count(raw) ? raw : std::string();
    for (const auto& row : fetches_.rows())
        if (row.label == what && !items_.count(row.info_hash)) return row.info_hash;
    return {};
}

Result<std::string> PeerNode::pause_item(const std::string& what) {
    if (quitting_) return make_error(what, "stopping");
    Item* it = find_item(what);
    if (!it) {
        // A magnet still fetching its metadata: its connections close, its trackers hear `stopped`, and it waits
        // listed as paused (BEP 9's fetch starts again on resume).
        const std::string hash = find_fetch(what);
        if (hash.empty()) return not_ours(what);
        const std::string label = fetches_.label(hash);
        if (!fetches_.pause(hash)) return "already paused: " + label;
        dht_untrack(hash);
        lsd_remove(hash);
        return "paused " + label + " " + to_hex(hash) + " (no metadata yet)";
    }
    const std::string hash = it->torrent->info_hash(), name = it->torrent->meta().name;
    if (it->paused) return "already paused: " + name;
    session_.pause_torrent(hash);
    it->paused = true;
    // The trackers hear `stopped` (we are no peer of this swarm now); the next start needs a fresh announcer.
    if (!it->stopped_sent) {
        retire_announcer(std::move(it->announcer), nullptr);
        it->announcer = make_announcer(it->torrent, it->announce_cfg);
    }
    dht_untrack(hash);
    lsd_remove(hash);
    return "paused " + name + " " + to_hex(hash);
}

Result<std::string> PeerNode::resume_item(const std::string& what) {
    if (quitting_) return make_error(what, "stopping");
    Item* it = find_item(what);
    if (!it) {
        const std::string hash = find_fetch(what);
        if (hash.empty()) return not_ours(what);
        const std::string label = fetches_.label(hash);
        if (!fetches_.resume(hash)) return "not paused: " + label;
        // Resumed by hand: the torrent that follows the metadata starts too (an add's `paused` is spent).
        if (auto p = pending_adds_.find(hash); p != pending_adds_.end()) p->second.paused = false;
        dht_track(hash, false);
        lsd_add(hash, false);
        return "resumed " + label + " " + to_hex(hash) + " (fetching metadata)";
    }
    const std::string hash = it->torrent->info_hash(), name = it->torrent->meta().name;
    if (!it->paused) return "not paused: " + name;
    it->paused = false;
    session_.resume_torrent(hash);
    // Still checking: its on_ready starts the announcer, as for a new torrent.
    if (!it->stopped_sent && it->torrent->status().phase != TorrentPhase::checking) it->announcer->start();
    const bool is_private = it->torrent->meta().is_private;
    dht_track(hash, is_private);
    lsd_add(hash, is_private);
    return "resumed " + name + " " + to_hex(hash);
}

Result<std::string> PeerNode::remove_item(const std::string& what, bool delete_files) {
    if (quitting_) return make_error(what, "stopping");
    Item* found = find_item(what);
    if (!found) {
        // A magnet still fetching its metadata has written nothing: there is nothing to delete.
        const std::string hash = find_fetch(what);
        if (hash.empty()) return not_ours(what);
        const std::string label = fetches_.label(hash);
        fetches_.cancel(hash); // its trackers hear `stopped`
        pending_adds_.erase(hash);
        dht_untrack(hash);
        lsd_remove(hash);
        loop_.defer([this] { check_done(); });
        emit(NodeEventKind::removed, hash, label);
        return "removed " + label + " " + to_hex(hash) + " (no metadata yet, nothing written)";
    }
    const std::string hash = found->torrent->info_hash(), name = found->torrent->meta().name;
    // A shared item's files are the user's own: never deleted, whatever was asked.
    if (delete_files && found->torrent->is_shared_item())
        return make_error(name, "shared from your own files, which are never deleted (use remove without delete)");
    auto at = items_.find(hash);
    Item item = std::move(at->second);
    items_.erase(at);
    if (item.download && item.failed) any_failed_ = true; // the exit status still tells of it
    // Its callbacks point at the erased Item: none may run during the torrent's shutdown.
    item.torrent->on_ready = nullptr;
    item.torrent->on_complete = nullptr;
    item.torrent->on_failed = nullptr;
    if (!item.share_key.empty()) shared_.erase(item.share_key);
    dht_untrack(hash);
    lsd_remove(hash);
    if (!item.stopped_sent) retire_announcer(std::move(item.announcer), nullptr);
    // The deletion may finish after this node is gone (an embedder destroying its p2p::Node): then no line.
    session_.remove_torrent(hash, delete_files, life_.bind([this, name, hash, delete_files](Status st) {
        if (!st) return error_line("remove " + name + ": " + st.error().str());
        if (delete_files) say("deleted %s %s\n", name.c_str(), to_hex(hash).c_str());
    }));
    loop_.defer([this] { check_done(); }); // a download removed is no longer waited for (--exit-when-done)
    emit(NodeEventKind::removed, hash, name);
    return "removed " + name + " " + to_hex(hash) + (delete_files ? "; deleting its files" : "");
}

Result<std::string> PeerNode::select_item(const std::string& what, const std::vector<std::size_t>& files, bool wanted) {
    if (quitting_) return make_error(what, "stopping");
    Item* it = find_item(what);
    if (!it) return not_ours(what);
    Torrent* t = it->torrent;
    std::vector<bool> w = t->files_wanted();
    for (std::size_t i : files)
        if (i >= w.size())
            return make_error(what,
                              "no file " + std::to_string(i) + " (files 0-" + std::to_string(w.size() - 1) + "; see files)",
                              Errc::bad_input);
    for (std::size_t i : files) w[i] = wanted;
    if (auto st = session_.set_files_wanted(t->info_hash(), std::move(w)); !st) return st.error();
    // More to fetch: a later completion is reported again (the `complete` line, --exit-when-done).
    if (!t->complete()) it->reported_done = false;
    std::size_t n = 0;
    for (bool b : t->files_wanted()) n += b;
    return std::string(wanted ? "wanted " : "skipped ") + std::to_string(files.size()) + " file(s) of " +
           t->meta().name + "; " + std::to_string(n) + " of " + std::to_string(t->meta().files.size()) + " wanted";
}

Result<std::string> PeerNode::verify_item(const std::string& what) {
    if (quitting_) return make_error(what, "stopping");
    Item* it = find_item(what);
    if (!it && !find_fetch(what).empty()) return make_error(what, "no metadata yet: nothing to verify");
    if (!it) return not_ours(what);
    const bool was_failed = it->failed || it->torrent->status().phase == TorrentPhase::failed;
    if (auto st = it->torrent->verify(); !st) return st.error();
    it->reported_done = false; // complete again (or later): said again; the trackers heard `completed` once
    const std::string hash = it->torrent->info_hash();
    if (was_failed) {
        // It runs again: back in its swarm with a fresh announcer (the failure told the trackers `stopped`), on
        // the LAN, and no longer counted as failed. (A failure already seen by --exit-when-done ended the run.)
        it->failed = false;
        if (it->stopped_sent && !it->paused) {
            loop_.defer_delete(std::move(it->announcer)); // stopped already; its stop may still be in flight
            it->announcer = make_announcer(it->torrent, it->announce_cfg);
            it->stopped_sent = false;
            it->announcer->start();
        }
        if (!it->paused) lsd_add(hash, it->torrent->meta().is_private);
    }
    return "verifying " + it->torrent->meta().name + " " + to_hex(hash) + (was_failed ? " (it had failed)" : "");
}

Result<std::string> PeerNode::limit_item(const std::string& what, std::uint64_t up, std::uint64_t down) {
    Item* it = find_item(what);
    if (!it) return not_ours(what);
    session_.set_torrent_limits(it->torrent->info_hash(), up, down);
    return "limits of " + it->torrent->meta().name + ": up " + rate_text(up) + ", down " + rate_text(down);
}

} // namespace p2p
