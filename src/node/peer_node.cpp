// PeerNode: the composition root of `p2pnode --peer`. It builds the Session, the shared tracker clients, the
// catalog lookups, metadata fetches, share queue and watcher, the console and the progress display, and wires
// them: every decision of its own is about what to print and when to exit. The parts with logic of their own
// live in their own files (catalog_lookup, metadata_fetches, share_queue, share_watcher, tracker_tiers).
#include "node/peer_node.hpp"

#include "p2pnode/p2pnode.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "base/bytes.hpp"
#include "base/fd_limits.hpp"
#include "base/log.hpp"
#include "base/memory_budget.hpp"
#include "base/read_file.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "node/catalog_lookup.hpp"
#include "node/metadata_fetches.hpp"
#include "node/peer_console.hpp"
#include "node/progress.hpp"
#include "node/share_queue.hpp"
#include "node/share_watcher.hpp"
#include "node/tracker_query.hpp"
#include "node/tracker_tiers.hpp"
#include "session/announcer.hpp"
#include "session/session.hpp"

namespace p2p {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kStopTimeoutMs = 3000; // `stopped` announces: wait this long at most

// A folder we can list (--share) or write into (--into, or --share when downloads go there). One line each.
Status check_folder(const std::string& flag, const std::string& dir, bool writable) {
    std::error_code ec;
    auto st = fs::status(dir, ec);
    if (ec || !fs::exists(st)) {
        if (!writable) return make_error(flag + " " + dir, "no such folder");
        fs::create_directories(dir, ec);
        if (ec) return make_error(flag + " " + dir, "cannot create it: " + ec.message());
        return ok_status();
    }
    if (!fs::is_directory(st)) return make_error(flag + " " + dir, "not a folder");
    if (::access(dir.c_str(), R_OK | X_OK) != 0) return make_error(flag + " " + dir, "cannot read it (permission denied)");
    if (writable && ::access(dir.c_str(), W_OK) != 0)
        return make_error(flag + " " + dir, "cannot write into it (downloads go there)");
    return ok_status();
}

class PeerNode {
public:
    explicit PeerNode(const PeerNodeConfig& cfg)
        : cfg_(cfg), session_(loop_, session_config(cfg)), clients_(loop_.get()), status_timer_(loop_.get()),
          deadline_(loop_.get()), printer_(!cfg.quiet, stderr_is_terminal()), query_(loop_.get(), cfg.trackers),
          lookups_(loop_, cfg.trackers, lookup_timeout(cfg)),
          fetches_(loop_, session_, clients_, cfg.trackers, [this](FetchedMetadata m) { metadata_done(std::move(m)); }),
          shares_(
              loop_, cfg.trackers, [this](const ShareJob& j, ShareSource s) { announce_share(j, std::move(s)); },
              [this](const ShareJob& j, const Error& e) { share_failed(j, e); },
              [this](const ShareJob& j) { return being_downloaded_here(j); }, session_.file_descriptors()) {}

    int run() {
        if (auto plan = plan_peer_memory(cfg_.max_memory); !plan) {
            std::fprintf(stderr, "p2pnode: %s\n", plan.error().str().c_str());
            return 2;
        }
        // Fail at start, not later: every folder is checked before we listen or announce anything.
        if (!cfg_.share_dir.empty()) {
            if (auto st = check_folder("--share", cfg_.share_dir, false); !st) return fail_start(st.error());
        }
        if (!cfg_.gets.empty()) {
            const std::string flag = cfg_.into_dir.empty() ? (cfg_.share_dir.empty() ? "" : "--share") : "--into";
            if (auto st = check_folder(flag.empty() ? "download folder" : flag, data_root(), true); !st)
                return fail_start(st.error());
        }
        if (cfg_.max_memory) log_info("peer", session_.memory_plan().describe());
        if (auto st = session_.listen(); !st) {
            std::fprintf(stderr, "p2pnode: cannot listen on %s:%d: %s\n", cfg_.listen_ip.c_str(), cfg_.port,
                         st.error().what.c_str());
            return 1;
        }
        loop_.on_terminate([this](int) { quit(0, ""); }); // before the line below: scripts may signal on it
        loop_.on_hangup([this] { hangup(); });
        say("peer listening on %s:%u\n", cfg_.listen_ip.c_str(), session_.port());
        for (const auto& g : cfg_.gets)
            if (!add_download(g)) return stop_now(1);
        if (!cfg_.share_dir.empty()) start_sharing();
        if (cfg_.console) {
            console_ = std::make_unique<PeerConsole>(loop_.get(), console_commands());
            console_->start(0);
        }
        status_timer_.start(1000, 1000, [this] { show_status(); });
        if (cfg_.exit_when_done && cfg_.timeout_s > 0)
            deadline_.start(static_cast<std::uint64_t>(cfg_.timeout_s * 1000), 0,
                            [this] { quit(1, "timed out before the download completed"); });
        check_done();
        loop_.run();
        return exit_code_;
    }

private:
    static SessionConfig session_config(const PeerNodeConfig& c) {
        SessionConfig s;
        s.listen_ip = c.listen_ip;
        s.port = static_cast<std::uint16_t>(c.port);
        s.max_connections = c.max_connections;
        s.max_upload_rate = c.max_upload_rate;
        // --max-memory: the CLI has refused budgets below the minimum; a library caller's invalid one is reported
        // by run() and keeps the defaults meanwhile.
        if (auto plan = plan_peer_memory(c.max_memory)) s.memory = *plan;
        // Descriptors: the soft limit raised to the hard one, then shared between files and connections, so
        // sharing many files cannot starve the sockets and resume files of descriptors (base/fd_limits.hpp).
        const FdPlan fd = plan_descriptors(raise_fd_limit(), s.max_connections, s.max_pending_incoming);
        if (fd.connections < s.max_connections)
            log_warn("peer", "open file limit " + std::to_string(fd.limit) + ": at most " +
                                 std::to_string(fd.connections) + " connections (of " + std::to_string(s.max_connections) +
                                 ") and " + std::to_string(fd.files) + " open files; raise it with ulimit -n");
        s.max_connections = fd.connections;
        s.max_open_files = fd.files;
        s.peer.client = std::string("p2pnode ") + version();
        return s;
    }

    // A name lookup's time per tracker: short, and within --timeout when the run has one.
    static double lookup_timeout(const PeerNodeConfig& c) {
        double t = CatalogLookups::kDefaultTimeoutS;
        if (c.exit_when_done && c.timeout_s > 0) t = std::max(1.0, std::min(t, c.timeout_s / 2));
        return t;
    }

    std::string data_root() const {
        if (!cfg_.into_dir.empty()) return cfg_.into_dir;
        if (!cfg_.share_dir.empty()) return cfg_.share_dir;
        return ".";
    }

    // Result lines on stdout, one per event a user or script waits for. --quiet: none (errors go to stderr and
    // the final summary lines are printed anyway).
    void say(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        if (cfg_.quiet) return;
        va_list ap;
        va_start(ap, fmt);
        std::vfprintf(stdout, fmt, ap);
        va_end(ap);
        std::fflush(stdout);
    }
    static void error_line(const std::string& msg) { std::fprintf(stderr, "p2pnode: %s\n", msg.c_str()); }
    int fail_start(const Error& e) {
        error_line(e.str());
        return 1;
    }

    // ---- torrents: one Item per info hash, seeded or downloaded

    struct Item {
        Torrent* torrent = nullptr;
        std::unique_ptr<Announcer> announcer;
        bool download = false;
        bool reported_done = false;
        bool failed = false;          // paused by an error (e.g. EIO, full disk): finished, not complete
        bool stopped_sent = false;    // the announcer was told `stopped` (a failed torrent is not a leecher)
        std::string share_key;        // a shared item: root/name on disk
    };

    Torrent* add(Metainfo meta, bool all_present, bool download, bool publish, const std::string& root,
                 StoragePlacement placement = {}) {
        TorrentConfig tc;
        tc.root_dir = root;
        tc.overwrite = cfg_.overwrite;
        tc.placement = std::move(placement);
        TrackerTiers tiers = merge_tiers(cfg_.trackers, meta.trackers);
        std::string hash = meta.info_hash;
        std::uint64_t total = static_cast<std::uint64_t>(meta.total_length);
        std::string name = meta.name;
        Torrent* t = session_.add_torrent(std::move(meta), tc, all_present);
        auto& item = items_[hash];
        item.torrent = t;
        item.download = item.download || download;
        AnnouncerConfig ac;
        ac.info_hash = hash;
        ac.peer_id = session_.peer_id();
        ac.port = session_.port();
        ac.tiers = tiers;
        if (publish) ac.publish_name = name;
        ac.total_size = total;
        ac.wants_peers = [t] { return !t->complete() && t->num_links() == 0; }; // ask again soon (announcer.hpp)
        item.announcer = std::make_unique<Announcer>(
            loop_.get(), clients_, ac,
            [t] { return AnnounceStats{t->downloaded(), t->uploaded(), t->left_bytes()}; },
            [t](const std::vector<PeerEndpoint>& peers) {
                std::vector<sockaddr_storage> addrs;
                for (const auto& p : peers) addrs.push_back(p.addr);
                t->add_candidates(addrs);
            });
        Item* ip = &item;
        t->on_complete = [this, ip, hash] {
            if (ip->download && !ip->reported_done) {
                ip->reported_done = true;
                ip->announcer->completed();
                TorrentStatus s = ip->torrent->status();
                printer_.finish(ProgressInfo{s.name, static_cast<std::int64_t>(s.have_bytes),
                                             static_cast<std::int64_t>(s.total)});
                const bool renamed = ip->torrent->renamed();
                say("complete %s %s%s%s\n", s.name.c_str(), to_hex(hash).c_str(), renamed ? " as " : "",
                    renamed ? ip->torrent->save_name().c_str() : "");
            }
            check_done();
        };
        t->on_failed = [this, hash](const Error& e) { torrent_failed(hash, e); };
        // Announce once checking is over, so the first announce tells the tracker what we really have.
        t->on_ready = [this, ip] {
            if (ip->download && ip->torrent->renamed())
                say("saving %s as %s: %s\n", ip->torrent->meta().name.c_str(), ip->torrent->save_name().c_str(),
                    ip->torrent->placement_note().c_str());
            if (!ip->stopped_sent) ip->announcer->start();
        };
        return t;
    }

    // A torrent paused by an error. A download's trackers are told `stopped` (a paused torrent is no leecher);
    // a shared item whose files changed is taken down and shared anew once its files settle.
    void torrent_failed(const std::string& hash, const Error& e) {
        auto it = items_.find(hash);
        if (it == items_.end()) return;
        Item& item = it->second;
        if (!item.share_key.empty() && e.code == Errc::changed_on_disk) {
            // We run inside the torrent's on_failed, which reshare() clears: act after it returns.
            loop_.defer([this, key = item.share_key] { reshare(key); });
            return;
        }
        error_line(item.torrent->meta().name + ": " + e.str());
        if (!item.stopped_sent) {
            item.stopped_sent = true;
            item.announcer->stop(kStopTimeoutMs, [] {});
        }
        if (!item.download) return;
        item.failed = true;
        any_failed_ = true;
        check_done(); // the other downloads go on; the exit status will be 1
    }

    // ---- downloads: WHAT is a .torrent file, a magnet link, an info hash (40 hex / 32 base32) or a catalog name.
    // Returns false when the download cannot start (the reason is on stderr); failures found later (an unknown
    // name, an unreachable tracker, no peer with the metadata) are printed then, and end the run under
    // --exit-when-done.
    bool add_download(const std::string& what) {
        std::error_code ec;
        if (fs::is_regular_file(what, ec)) return add_torrent_file(what);
        if (what.rfind("magnet:", 0) == 0) {
            auto m = parse_magnet(what);
            if (!m) {
                error_line(what + ": " + m.error().str());
                return false;
            }
            return fetch_metadata(m->info_hash, m->display_name, m->trackers);
        }
        if (auto hash = parse_info_hash_arg(what)) return fetch_metadata(*hash, "", {});
        // Not a catalog name either: most likely a .torrent path with a typo, so say that.
        if (!udp::valid_name(what) || what.find('/') != std::string::npos) return add_torrent_file(what);
        return lookup_name(what);
    }

    bool add_torrent_file(const std::string& what) {
        auto bytes = read_file(what, kMaxTorrentFileSize);
        if (!bytes) {
            error_line(bytes.error().str());
            return false;
        }
        auto meta = parse_torrent(*bytes);
        if (!meta) {
            error_line(what + ": " + meta.error().str());
            return false;
        }
        start_download(std::move(*meta), {});
        return true;
    }

    // What a .torrent, or fetched metadata, continues with. `hint` addresses are peers known to have it.
    void start_download(Metainfo meta, const std::vector<sockaddr_storage>& hint) {
        if (items_.count(meta.info_hash)) {
            say("already have %s %s\n", meta.name.c_str(), to_hex(meta.info_hash).c_str());
            return;
        }
        say("downloading %s %s into %s\n", meta.name.c_str(), to_hex(meta.info_hash).c_str(), data_root().c_str());
        Torrent* t = add(std::move(meta), false, true, false, data_root());
        if (t && !hint.empty()) t->add_candidates(hint);
    }

    // 40 hex digits or 32 base32 characters (BEP 9's two spellings of a v1 info hash): the raw 20 bytes.
    static std::optional<std::string> parse_info_hash_arg(const std::string& what) {
        if (what.size() == 40) {
            std::string raw;
            if (from_hex(what, raw) && raw.size() == 20) return raw;
        }
        if (what.size() == 32) {
            auto m = parse_magnet("magnet:?xt=urn:btih:" + what);
            if (m) return m->info_hash;
        }
        return std::nullopt;
    }

    bool lookup_name(const std::string& name) {
        auto st = lookups_.start(name, [this](Result<CatalogHit> r) {
            if (quitting_) return;
            if (!r) return download_failed(r.error().str());
            say("found %s %s (%llu bytes)\n", r->name.c_str(), to_hex(r->info_hash).c_str(),
                static_cast<unsigned long long>(r->total_size));
            if (!fetch_metadata(r->info_hash, r->name, {})) download_failed("");
        });
        if (!st) {
            error_line(st.error().str());
            return false;
        }
        say("looking up %s\n", name.c_str());
        return true;
    }

    // A download that had started (lookup or metadata fetch) failed. Under --exit-when-done the run fails once
    // the other downloads are finished.
    void download_failed(const std::string& msg) {
        if (!msg.empty()) error_line(msg);
        any_failed_ = true;
        check_done();
    }

    // ---- metadata (BEP 9): metadata_fetches.hpp; on success continue exactly like a .torrent download.
    bool fetch_metadata(const std::string& hash, const std::string& label, const std::vector<std::string>& trackers) {
        const std::string hex = to_hex(hash);
        if (items_.count(hash)) {
            say("already have %s %s\n", label.c_str(), hex.c_str());
            return true;
        }
        if (fetches_.has(hash)) return true;
        std::uint64_t give_up_ms = 0;
        if (cfg_.exit_when_done && cfg_.timeout_s > 0) {
            // Due a moment before the run's own deadline (which counts from the start too), so this clearer
            // message wins.
            const auto limit = static_cast<std::uint64_t>(cfg_.timeout_s * 1000);
            const std::uint64_t used = loop_.now_ms() - born_ms_ + 50;
            give_up_ms = limit > used ? limit - used : 1;
        }
        if (auto st = fetches_.start(hash, label, trackers, give_up_ms); !st) {
            error_line(st.error().str());
            return false;
        }
        say("fetching metadata %s%s%s\n", hex.c_str(), label.empty() ? "" : " ", label.c_str());
        return true;
    }

    void metadata_done(FetchedMetadata m) {
        if (quitting_) return;
        if (!m.meta) return download_failed(m.meta.error().str());
        Metainfo meta = std::move(*m.meta);
        meta.trackers = std::move(m.tiers);
        say("metadata %s %s (%zu bytes from peers)\n", to_hex(m.info_hash).c_str(), meta.name.c_str(),
            meta.info_bytes.size());
        start_download(std::move(meta), m.hint);
    }

    // ---- sharing (files stay where they are; a torrent's root is the folder that holds the item)

    // Every top-level entry of the share folder becomes a torrent; then the folder is watched: entries copied in
    // later are shared once complete, entries deleted stop being shared, entries edited are shared anew.
    void start_sharing() {
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
            [this](const std::string& name) { enqueue_share(ShareJob{cfg_.share_dir, name}); },
            [this](const std::string& name) { unshare(share_key(cfg_.share_dir, name), "removed from disk"); },
            [this](const std::string& name) { unshare(share_key(cfg_.share_dir, name), "changed on disk"); });
        if (auto st = watcher_->start(std::set<std::string>(names.begin(), names.end())); !st)
            log_warn("share", st.error().str());
    }

    static std::string share_key(const std::string& root, const std::string& name) { return root + "/" + name; }

    // The console's `share PATH`: any file or folder, shared in place.
    Result<std::string> share_path(const std::string& path) {
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

    bool enqueue_share(ShareJob job) { return !quitting_ && shares_.push(std::move(job)); }

    // An item we are downloading into the share folder is not re-shared from its partial data.
    bool being_downloaded_here(const ShareJob& job) const {
        for (const auto& [h, it] : items_)
            if (it.download && it.torrent && it.torrent->save_name() == job.name && job.root == data_root())
                return true;
        return false;
    }

    void share_failed(const ShareJob& job, const Error& e) {
        if (e.code == Errc::changed_on_disk) log_info("share", e.str());
        else error_line("sharing " + job.name + ": " + e.str());
        // E.g. an empty folder, or a file edited while hashed: shared once it changes and settles.
        if (watcher_ && job.root == cfg_.share_dir) watcher_->failed(job.name);
    }

    void announce_share(const ShareJob& job, ShareSource src) {
        if (quitting_) return;
        Metainfo& m = src.meta;
        if (items_.count(m.info_hash)) { // the same content twice (e.g. `share` of a file already in --share)
            say("already sharing %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str());
            return;
        }
        Magnet mag{m.info_hash, m.name, cfg_.trackers};
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

    // The item at `key` is gone from disk or changed: drop its torrent and announce `stopped` (the tracker frees
    // its catalog name once no seeder is left; docs/catalog-protocol.md). Downloads are left alone: their own
    // storage errors say what happened.
    void unshare(const std::string& key, const std::string& why) {
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
        session_.remove_torrent(hash);
        retire_announcer(std::move(item.announcer), nullptr);
        say("stopped sharing %s %s (%s)\n", name.c_str(), to_hex(hash).c_str(), why.c_str());
    }

    // A shared item that changed on disk (its seeder refused to serve it): stop sharing it now and share it
    // anew once it settles: the watcher's for the share folder, at once for a console `share PATH`.
    void reshare(const std::string& key) {
        const fs::path p(key);
        const std::string root = p.parent_path().string(), name = p.filename().string();
        unshare(key, "changed on disk");
        if (watcher_ && root == cfg_.share_dir) watcher_->changed(name);
        else enqueue_share(ShareJob{root, name});
    }

    // Sends `stopped` and destroys the announcer once answered (or after kStopTimeoutMs); then `done`.
    void retire_announcer(std::unique_ptr<Announcer> a, std::function<void()> done) {
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

    // ---- signals

    // SIGHUP: the log is reopened (rotation), the share folder looked at again now. Nothing stops.
    void hangup() {
        (void)reopen_log();
        log_info("peer", "SIGHUP: log reopened" + std::string(watcher_ ? ", share folder rescanned" : ""));
        if (watcher_) watcher_->rescan_now();
    }

    // ---- the console

    Item* find_item(const std::string& what) {
        std::string raw;
        if (what.size() == 40 && from_hex(what, raw)) {
            auto it = items_.find(raw);
            return it == items_.end() ? nullptr : &it->second;
        }
        for (auto& [h, it] : items_)
            if (it.torrent && it.torrent->meta().name == what) return &it;
        return nullptr;
    }

    PeerConsoleCommands console_commands() {
        PeerConsoleCommands c;
        c.share = [this](const std::string& path) { return share_path(path); };
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
                rows.push_back(ConsoleTorrentRow{s.name, h, phase_name(s.phase), s.have_bytes, s.total, s.down_rate,
                                                 s.up_rate, s.peers, s.downloaded, s.uploaded});
            }
            for (const auto& f : fetches_.rows()) { // magnets and names: no metainfo yet (BEP 9)
                ConsoleTorrentRow r;
                r.name = f.label.empty() ? "?" : f.label;
                r.info_hash = f.info_hash;
                r.state = "fetching metadata";
                r.peers = f.status.peers;
                rows.push_back(std::move(r));
            }
            return rows;
        };
        c.peers = [this](const std::string& what) -> Result<std::vector<PeerSummary>> {
            Item* it = find_item(what);
            if (!it) return make_error(what, "not one of our torrents (see status)");
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
        c.quit = [this] { quit(0, ""); };
        return c;
    }

    static ConsoleTrackerRow tracker_row(const std::string& name, const std::string& hash, const TrackerStatus& t,
                                         std::uint64_t now) {
        ConsoleTrackerRow r;
        r.name = name;
        r.info_hash = hash;
        r.url = t.url;
        r.tier = t.tier;
        r.state = t.updating ? "updating" : t.working ? "working" : !t.last_error.empty() ? "not working" : "not yet";
        r.last_s = t.last_announce_ms ? static_cast<std::int64_t>((now - std::min(now, t.last_announce_ms)) / 1000) : -1;
        r.next_s = t.next_announce_ms ? static_cast<std::int64_t>((std::max(now, t.next_announce_ms) - now + 999) / 1000) : -1;
        r.seeders = t.seeders;
        r.leechers = t.leechers;
        r.error = t.last_error;
        return r;
    }

    void show_status() {
        for (auto& [h, it] : items_) {
            if (!it.download || it.reported_done) continue;
            TorrentStatus s = it.torrent->status();
            ProgressInfo p{s.name, static_cast<std::int64_t>(s.have_bytes), static_cast<std::int64_t>(s.total),
                           s.down_rate, s.up_rate, static_cast<int>(s.peers)};
            printer_.update(p, uv_now(loop_.get()));
        }
        for (const auto& f : fetches_.rows()) {
            std::int64_t total = f.status.metadata_size;
            std::int64_t done = std::min<std::int64_t>(total, std::int64_t{f.status.pieces_have} * 16384);
            ProgressInfo p{"fetching metadata " + f.label, done, total, -1, -1, static_cast<int>(f.status.peers)};
            printer_.update(p, uv_now(loop_.get()));
        }
    }

    // ---- exit

    void check_done() {
        if (!cfg_.exit_when_done || quitting_) return;
        if (!fetches_.empty() || lookups_.active() > 0) return; // downloads still being resolved
        bool any = any_failed_;
        for (auto& [h, it] : items_) {
            if (!it.download) continue;
            any = true;
            if (!it.failed && !it.torrent->complete()) return;
        }
        if (any) quit(any_failed_ ? 1 : 0, "");
    }

    // Every exit path comes here (signal, console quit, --exit-when-done, its deadline): every torrent and
    // metadata fetch tells its trackers `stopped` (bounded wait), resume data is saved, then the summary lines.
    void quit(int code, const std::string& why) {
        if (quitting_) return;
        quitting_ = true;
        exit_code_ = code;
        if (!why.empty()) error_line(why);
        status_timer_.stop();
        deadline_.stop();
        shares_.clear();
        lookups_.cancel_all();
        if (watcher_) watcher_->stop();
        if (console_) console_->close();
        auto remaining = std::make_shared<std::size_t>(items_.size() + 2);
        auto after_announces = [this, remaining] {
            if (--*remaining) return;
            session_.shutdown([this] { loop_.defer([this] { teardown(); }); });
        };
        for (auto& [h, it] : items_) {
            if (it.stopped_sent) {
                after_announces();
                continue;
            }
            it.stopped_sent = true;
            it.announcer->stop(kStopTimeoutMs, after_announces);
        }
        fetches_.stop_all(after_announces);
        after_announces();
    }

    // Before anything was announced (a bad --get at start): nothing to tell the trackers.
    int stop_now(int code) {
        exit_code_ = code;
        quit(code, "");
        loop_.run();
        return exit_code_;
    }

    void teardown() {
        // One line per torrent, for scripts and logs: what this run moved. Printed even with --quiet.
        for (auto& [h, it] : items_) {
            TorrentStatus s = it.torrent->status();
            std::printf("summary %s %s uploaded=%llu downloaded=%llu have=%llu/%llu resent=%llu idle_slot_s=%llu\n",
                        s.name.c_str(), to_hex(h).c_str(), static_cast<unsigned long long>(s.uploaded),
                        static_cast<unsigned long long>(s.downloaded), static_cast<unsigned long long>(s.have_bytes),
                        static_cast<unsigned long long>(s.total), static_cast<unsigned long long>(s.resent),
                        static_cast<unsigned long long>(s.idle_slot_seconds));
        }
        std::fflush(stdout);
        items_.clear();
        loop_.stop();
    }

    PeerNodeConfig cfg_;
    Loop loop_;
    Session session_;
    TrackerClients clients_;
    Timer status_timer_, deadline_;
    ProgressPrinter printer_;
    TrackerQuery query_;                                // the console's list/scrape
    std::map<std::string, Item> items_;                 // by info hash
    std::map<std::string, std::string> shared_;         // root/name -> info hash of what we seed from disk
    CatalogLookups lookups_;                            // --get NAME
    MetadataFetches fetches_;                           // magnets, info hashes, names (BEP 9)
    ShareQueue shares_;                                 // items waiting to be hashed
    std::unique_ptr<ShareWatcher> watcher_;             // --share DIR, live
    std::unique_ptr<PeerConsole> console_;              // stdin, unless --no-console
    std::uint64_t born_ms_ = loop_.now_ms();            // --timeout counts from here
    bool any_failed_ = false;  // a download failed: --exit-when-done exits 1 once the rest are finished
    bool quitting_ = false;
    int exit_code_ = 0;
};

} // namespace

int run_peer(const PeerNodeConfig& config) {
    PeerNode node(config);
    return node.run();
}

} // namespace p2p
