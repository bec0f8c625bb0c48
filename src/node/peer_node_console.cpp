// PeerNode, what a user sees while it runs: the console's commands (peer_console.hpp parses and formats them;
// these answer them) and the progress display.
#include "node/peer_node_impl.hpp"

#include <algorithm>

#include "base/bytes.hpp"

namespace p2p {

PeerNode::Item* PeerNode::find_item(const std::string& what) {
    std::string raw;
    if (what.size() == 40 && from_hex(what, raw)) {
        auto it = items_.find(raw);
        return it == items_.end() ? nullptr : &it->second;
    }
    for (auto& [h, it] : items_)
        if (it.torrent && it.torrent->meta().name == what) return &it;
    return nullptr;
}

PeerConsoleCommands PeerNode::console_commands() {
    PeerConsoleCommands c;
    c.share = [this](const std::string& path) { return share_path(path); };
    if (dht_) c.dht = [this] { return dht_describe(); };
    c.get = [this](const std::string& what) -> Result<std::string> {
        if (quitting_) return make_error(what, "stopping");
        if (!add_download(what)) return make_error(what, "not started (the reason is on stderr)");
        return "get: started " + what;
    };
    c.list = [this](PeerConsoleCommands::Done<std::vector<udp::CatalogEntry>> done) { query_.list(std::move(done)); };
    c.scrape = [this](const std::string& what, PeerConsoleCommands::Done<ConsoleScrape> done) {
        if (Item* it = find_item(what))
            return query_.scrape_hash(it->torrent->meta().name, it->torrent->info_hash(), std::move(done));
        query_.scrape(what, std::move(done));
    };
    c.status = [this] {
        std::vector<ConsoleTorrentRow> rows;
        for (auto& [h, it] : items_) {
            if (!it.torrent) continue;
            TorrentStatus s = it.torrent->status();
            rows.push_back(ConsoleTorrentRow{s.name, h, s.paused ? "paused" : phase_name(s.phase), s.have_bytes,
                                             s.total, s.down_rate, s.up_rate, s.peers, s.downloaded, s.uploaded});
        }
        for (const auto& f : fetches_.rows()) { // magnets and names: no metainfo yet (BEP 9)
            ConsoleTorrentRow r;
            r.name = f.label.empty() ? "?" : f.label;
            r.info_hash = f.info_hash;
            r.state = f.paused ? "paused (no metadata yet)" : "fetching metadata";
            r.peers = f.status.peers;
            rows.push_back(std::move(r));
        }
        return rows;
    };
    c.peers = [this](const std::string& what) -> Result<std::vector<PeerSummary>> {
        Item* it = find_item(what);
        if (!it) return not_ours(what);
        return it->torrent->peer_summaries();
    };
    c.trackers = [this] {
        std::vector<ConsoleTrackerRow> rows;
        const std::uint64_t now = loop_.now_ms();
        auto add_rows = [&](const std::string& name, const std::string& hash, const std::vector<TrackerStatus>& ts) {
            for (const auto& t : ts) rows.push_back(tracker_row(name, hash, t, now));
        };
        for (auto& [h, it] : items_)
            if (it.torrent && it.announcer) add_rows(it.torrent->meta().name, h, it.announcer->trackers());
        for (const auto& f : fetches_.rows()) add_rows(f.label, f.info_hash, f.trackers);
        return rows;
    };
    c.files = [this](const std::string& what) -> Result<std::vector<FileProgress>> {
        Item* it = find_item(what);
        if (!it) return not_ours(what);
        return it->torrent->files();
    };
    c.pause = [this](const std::string& what) { return pause_item(what); };
    c.verify = [this](const std::string& what) { return verify_item(what); };
    c.select_files = [this](const std::string& what, const std::vector<std::size_t>& files, bool wanted) {
        return select_item(what, files, wanted);
    };
    c.resume = [this](const std::string& what) { return resume_item(what); };
    c.remove = [this](const std::string& what, bool del) { return remove_item(what, del); };
    c.limit = [this](const std::string& what, std::uint64_t up, std::uint64_t down) {
        return limit_item(what, up, down);
    };
    c.quit = [this] { quit(0, ""); };
    return c;
}

ConsoleTrackerRow PeerNode::tracker_row(const std::string& name, const std::string& hash, const TrackerStatus& t,
                                        std::uint64_t now) {
    ConsoleTrackerRow r;
    r.name = name;
    r.info_hash = hash;
    r.url = t.url;
    r.tier = t.tier;
    r.state = t.updating ? "updating" : t.working ? "working" : !t.last_error.empty() ? "not working" : "not yet";
    r.last_s = t.last_announce_ms ? static_cast<std::int64_t>((now - std::min(now, t.last_announce_ms)) / 1000) : -1;
    r.next_s =
        t.next_announce_ms ? static_cast<std::int64_t>((std::max(now, t.next_announce_ms) - now + 999) / 1000) : -1;
    r.seeders = t.seeders;
    r.leechers = t.leechers;
    r.error = t.last_error;
    return r;
}

void PeerNode::show_status() {
    // Every active download in one call: the printer shows them on one line (the most active first, "+N more").
    std::vector<ProgressInfo> active;
    for (auto& [h, it] : items_) {
        if (!it.download || it.reported_done || it.failed) continue;
        TorrentStatus s = it.torrent->status();
        active.push_back(ProgressInfo{s.name, static_cast<std::int64_t>(s.have_bytes),
                                      static_cast<std::int64_t>(s.total), s.down_rate, s.up_rate,
                                      static_cast<int>(s.peers)});
    }
    for (const auto& f : fetches_.rows()) {
        if (f.paused) continue;
        std::int64_t total = f.status.metadata_size;
        std::int64_t done = std::min<std::int64_t>(total, std::int64_t{f.status.pieces_have} * 16384);
        active.push_back(
            ProgressInfo{"fetching metadata " + f.label, done, total, -1, -1, static_cast<int>(f.status.peers)});
    }
    printer_.update(active, uv_now(loop_.get()));
}

} // namespace p2p
