#include "node/peer_node.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "base/bytes.hpp"
#include "base/fd_limits.hpp"
#include "base/log.hpp"
#include "base/memory_budget.hpp"
#include "base/read_file.hpp"
#include "cli/progress.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "maker/torrent_maker.hpp"
#include "node/peer_console.hpp"
#include "node/share_cache.hpp"
#include "node/share_watcher.hpp"
#include "node/tracker_query.hpp"
#include "session/announcer.hpp"
#include "session/metadata_fetch.hpp"
#include "session/session.hpp"

namespace p2p {

namespace fs = std::filesystem;

namespace {

class PeerNode {
public:
    explicit PeerNode(const PeerNodeConfig& cfg)
        : cfg_(cfg), session_(loop_, session_config(cfg)), clients_(loop_.get()), status_timer_(loop_.get()),
          deadline_(loop_.get()),
          printer_(!cfg.quiet, stderr_is_terminal()), query_(loop_.get(), cfg.trackers) {}

    int run() {
        if (auto plan = plan_peer_memory(cfg_.max_memory); !plan) {
            std::fprintf(stderr, "p2pnode: %s\n", plan.error().str().c_str());
            return 2;
        }
        if (cfg_.max_memory) log_info("peer", session_.memory_plan().describe());
        if (auto st = session_.listen(); !st) {
            std::fprintf(stderr, "p2pnode: listen on %s:%d: %s\n", cfg_.listen_ip.c_str(), cfg_.port,
                         st.error().str().c_str());
            return 1;
        }
        loop_.on_terminate([this](int) { quit(0, ""); }); // before the line below: scripts may signal on it
        std::printf("peer listening on %s:%u\n", cfg_.listen_ip.c_str(), session_.port());
        std::fflush(stdout);
        for (const auto& g : cfg_.gets)
            if (!add_download(g)) return 1;
        if (!cfg_.share_dir.empty() && !start_sharing()) return 1;
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
        // --max-memory (issue 7): the CLI has refused budgets below the minimum; a library caller's invalid one
        // is reported by run() and keeps the defaults meanwhile.
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
        return s;
    }

    std::string data_root() const {
        if (!cfg_.into_dir.empty()) return cfg_.into_dir;
        if (!cfg_.share_dir.empty()) return cfg_.share_dir;
        return ".";
    }

    struct Item {
        Torrent* torrent = nullptr;
        std::unique_ptr<Announcer> announcer;
        bool download = false;
        bool reported_done = false;
        bool failed = false; // paused by an error (e.g. EIO, full disk): finished, not complete
    };

    Torrent* add(Metainfo meta, bool all_present, bool download, bool publish, const std::string& root) {
        TorrentConfig tc;
        tc.root_dir = root;
        std::vector<std::vector<std::string>> tiers = meta.trackers;
        // Trackers given on the command line come first, each a tier of its own.
        for (auto it = cfg_.trackers.rbegin(); it != cfg_.trackers.rend(); ++it) {
            bool present = false;
            for (auto& t : tiers)
                if (std::find(t.begin(), t.end(), *it) != t.end()) present = true;
            if (!present) tiers.insert(tiers.begin(), std::vector<std::string>{*it});
        }
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
                std::printf("complete %s %s\n", s.name.c_str(), to_hex(hash).c_str());
                std::fflush(stdout);
            }
            check_done();
        };
        t->on_failed = [this, ip](const Error& e) {
            std::fprintf(stderr, "p2pnode: %s: %s\n", ip->torrent->meta().name.c_str(), e.str().c_str());
            if (!ip->download) return;
            ip->failed = true;
            any_failed_ = true;
            check_done(); // the other downloads go on; the exit status will be 1
        };
        // Announce once checking is over, so the first announce tells the tracker what we really have.
        t->on_ready = [ip] { ip->announcer->start(); };
        return t;
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
                std::fprintf(stderr, "p2pnode: %s: %s\n", what.c_str(), m.error().str().c_str());
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
            std::fprintf(stderr, "p2pnode: %s\n", bytes.error().str().c_str());
            return false;
        }
        auto meta = parse_torrent(*bytes);
        if (!meta) {
            std::fprintf(stderr, "p2pnode: %s: %s\n", what.c_str(), meta.error().str().c_str());
            return false;
        }
        start_download(std::move(*meta), {});
        return true;
    }

    // What a .torrent, or fetched metadata, continues with. `hint` addresses are peers known to have it.
    void start_download(Metainfo meta, const std::vector<sockaddr_storage>& hint) {
        std::error_code ec;
        fs::create_directories(data_root(), ec);
        std::printf("downloading %s %s into %s\n", meta.name.c_str(), to_hex(meta.info_hash).c_str(),
                    data_root().c_str());
        std::fflush(stdout);
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

    // ---- catalog names: looked up on the --tracker URLs (udp:// only: the catalog is our BEP 15 extension),
    // one after the other, each with a short timeout so an unreachable tracker gives an error line, not the hour
    // of BEP 15 retransmissions.
    struct Lookup {
        std::string name;
        std::vector<std::string> urls;
        std::size_t next = 0;
        std::vector<std::string> not_found; // URLs that answered "not in the catalog"
        std::string last_error;
        std::unique_ptr<UdpTrackerClient> client;
    };
    static constexpr std::size_t kMaxLookups = 64; // catalog lookups in flight (console `get` included)

    bool lookup_name(const std::string& name) {
        std::vector<std::string> urls;
        for (const auto& u : cfg_.trackers)
            if (parse_udp_tracker_url(u)) urls.push_back(u);
        if (cfg_.trackers.empty()) {
            std::fprintf(stderr, "p2pnode: no tracker given to look up %s (use --tracker udp://HOST:PORT)\n",
                         name.c_str());
            return false;
        }
        if (urls.empty()) {
            std::fprintf(stderr, "p2pnode: %s: looking up a name needs a udp:// tracker (the catalog is a BEP 15 "
                                 "extension)\n", name.c_str());
            return false;
        }
        if (lookups_.size() >= kMaxLookups) {
            std::fprintf(stderr, "p2pnode: %s: too many lookups in flight\n", name.c_str());
            return false;
        }
        auto l = std::make_unique<Lookup>();
        l->name = name;
        l->urls = std::move(urls);
        Lookup* raw = l.get();
        lookups_.push_back(std::move(l));
        std::printf("looking up %s\n", name.c_str());
        std::fflush(stdout);
        lookup_next(raw);
        return true;
    }

    void lookup_next(Lookup* l) {
        if (l->next >= l->urls.size()) {
            std::string msg;
            if (!l->not_found.empty()) {
                msg = l->name + ": not in the catalog of";
                for (const auto& u : l->not_found) msg += " " + u;
                if (!l->last_error.empty()) msg += " (other trackers: " + l->last_error + ")";
            } else {
                msg = l->name + ": " + l->last_error;
            }
            end_lookup(l);
            download_failed(msg);
            return;
        }
        const std::string url = l->urls[l->next++];
        UdpClientOptions o;
        o.timeout_s = kLookupTimeoutS;
        if (cfg_.exit_when_done && cfg_.timeout_s > 0) o.timeout_s = std::max(1.0, std::min(o.timeout_s, cfg_.timeout_s / 2));
        if (l->client) retire_client(std::move(l->client)); // we may be inside its callback
        l->client = std::make_unique<UdpTrackerClient>(loop_.get(), url, o);
        l->client->lookup(l->name, [this, l, url](Result<std::optional<udp::CatalogEntry>> r) {
            if (quitting_) return;
            if (!r) {
                l->last_error = "tracker " + url + " unreachable: " + r.error().str();
                return lookup_next(l);
            }
            if (!*r) {
                l->not_found.push_back(url);
                return lookup_next(l);
            }
            std::string hash = (*r)->info_hash.str();
            std::string name = l->name;
            std::printf("found %s %s (%llu bytes)\n", name.c_str(), to_hex(hash).c_str(),
                        static_cast<unsigned long long>((*r)->total_size));
            std::fflush(stdout);
            end_lookup(l);
            if (!fetch_metadata(hash, name, {})) download_failed("");
        });
    }

    void end_lookup(Lookup* l) {
        auto it = std::find_if(lookups_.begin(), lookups_.end(), [&](auto& x) { return x.get() == l; });
        if (it == lookups_.end()) return;
        if ((*it)->client) retire_client(std::move((*it)->client)); // we may be inside its callback
        lookups_.erase(it);
    }

    // Destroys a tracker client after the current callback (which may be its own).
    void retire_client(std::unique_ptr<UdpTrackerClient> c) {
        auto keep = std::make_shared<std::unique_ptr<UdpTrackerClient>>(std::move(c));
        loop_.defer([keep] { keep->reset(); });
    }

    // A download that had started (lookup or metadata fetch) failed. Under --exit-when-done the run fails once
    // the other downloads are finished.
    void download_failed(const std::string& msg) {
        if (!msg.empty()) std::fprintf(stderr, "p2pnode: %s\n", msg.c_str());
        any_failed_ = true;
        check_done();
    }

    // ---- metadata (BEP 9): announce the info hash to the trackers as a leecher with `left` unknown, feed the
    // peers to a MetadataFetch, and on success continue exactly like a .torrent download.
    struct Fetching {
        std::string label;                              // dn or catalog name, for the progress line
        std::vector<std::vector<std::string>> tiers;    // the magnet's trackers (BEP 12: one tier each)
        std::unique_ptr<MetadataFetch> fetch;
        std::unique_ptr<Announcer> announcer;
        std::unique_ptr<Timer> deadline;
    };
    static constexpr std::size_t kMaxFetching = 64;      // metadata fetches at once
    static constexpr double kLookupTimeoutS = 20;        // per tracker, for a catalog name

    bool fetch_metadata(const std::string& hash, const std::string& label, const std::vector<std::string>& trackers) {
        const std::string hex = to_hex(hash);
        if (items_.count(hash)) {
            std::printf("already have %s %s\n", label.c_str(), hex.c_str());
            std::fflush(stdout);
            return true;
        }
        if (fetching_.count(hash)) return true;
        if (fetching_.size() >= std::min(kMaxFetching, session_.memory_plan().max_fetches)) {
            std::fprintf(stderr, "p2pnode: %s: too many metadata fetches at once\n", hex.c_str());
            return false;
        }
        std::vector<std::vector<std::string>> magnet_tiers;
        for (const auto& t : trackers) magnet_tiers.push_back({t});
        // The same tiers add() will use for the torrent: --tracker URLs first, then the magnet's.
        std::vector<std::vector<std::string>> tiers = magnet_tiers;
        for (auto it = cfg_.trackers.rbegin(); it != cfg_.trackers.rend(); ++it)
            if (std::find(trackers.begin(), trackers.end(), *it) == trackers.end())
                tiers.insert(tiers.begin(), std::vector<std::string>{*it});
        if (tiers.empty()) {
            std::fprintf(stderr, "p2pnode: %s: no tracker to find peers on (give --tracker URL, or a magnet with "
                                 "tr=)\n", hex.c_str());
            return false;
        }
        std::printf("fetching metadata %s%s%s\n", hex.c_str(), label.empty() ? "" : " ", label.c_str());
        std::fflush(stdout);
        Fetching& f = fetching_[hash];
        f.label = label.empty() ? hex.substr(0, 12) : label;
        f.tiers = magnet_tiers;
        MetadataFetchConfig mc;
        mc.info_hash = hash;
        mc.listen_port = session_.port();
        mc.peer = session_.peer_config();
        mc.max_peers = std::min(mc.max_peers, session_.memory_plan().fetch_peers);
        mc.connections = session_.connection_counter(); // its sockets count against --max-connections too
        mc.transport = session_.transport_limits();
        f.fetch = std::make_unique<MetadataFetch>(loop_, mc, [this, hash](Result<Metainfo> r) {
            metadata_done(hash, std::move(r));
        });
        AnnouncerConfig ac;
        ac.info_hash = hash;
        ac.peer_id = session_.peer_id();
        ac.port = session_.port();
        ac.tiers = tiers;
        f.announcer = std::make_unique<Announcer>(
            loop_.get(), clients_, ac, [] { return AnnounceStats{0, 0, 1}; }, // left: unknown, but not 0 (a seed)
            [this, hash](const std::vector<PeerEndpoint>& peers) {
                auto it = fetching_.find(hash);
                if (it == fetching_.end() || !it->second.fetch) return;
                std::vector<sockaddr_storage> addrs;
                for (const auto& p : peers) addrs.push_back(p.addr);
                it->second.fetch->add_candidates(addrs);
            });
        f.announcer->start();
        if (cfg_.exit_when_done && cfg_.timeout_s > 0) {
            // Due a moment before the run's own deadline (which counts from the start too), so this clearer
            // message wins.
            const std::uint64_t limit = static_cast<std::uint64_t>(cfg_.timeout_s * 1000);
            const std::uint64_t used = loop_.now_ms() - born_ms_ + 50;
            f.deadline = std::make_unique<Timer>(loop_.get());
            f.deadline->start(limit > used ? limit - used : 0, 0, [this, hash, hex] {
                auto it = fetching_.find(hash);
                if (it == fetching_.end()) return;
                MetadataFetchStatus st = it->second.fetch->status();
                it->second.fetch->give_up(make_error(
                    hex, "no peer sent the metadata within " + std::to_string(static_cast<long>(cfg_.timeout_s)) +
                             " s (" + std::to_string(st.tried) + " peers tried, " + std::to_string(st.with_metadata) +
                             " offering it now)"));
            });
        }
        return true;
    }

    // Runs inside the fetch's callback: the fetch, its announcer and timer are destroyed after it returns.
    void metadata_done(const std::string& hash, Result<Metainfo> r) {
        auto it = fetching_.find(hash);
        if (it == fetching_.end()) return;
        auto f = std::make_shared<Fetching>(std::move(it->second));
        fetching_.erase(it);
        std::vector<sockaddr_storage> hint = f->fetch->good_peers();
        loop_.defer([f] { f->fetch.reset(); f->announcer.reset(); f->deadline.reset(); });
        if (quitting_) return;
        if (!r) return download_failed(r.error().str());
        Metainfo meta = std::move(*r);
        meta.trackers = f->tiers;
        std::printf("metadata %s %s (%zu bytes from peers)\n", to_hex(hash).c_str(), meta.name.c_str(),
                    meta.info_bytes.size());
        start_download(std::move(meta), hint);
    }

    void show_fetch_status() {
        for (auto& [h, f] : fetching_) {
            MetadataFetchStatus st = f.fetch->status();
            std::int64_t total = st.metadata_size;
            std::int64_t done = std::min<std::int64_t>(total, std::int64_t{st.pieces_have} * 16384);
            ProgressInfo p{"fetching metadata " + f.label, done, total, -1, -1, static_cast<int>(st.peers)};
            printer_.update(p, uv_now(loop_.get()));
        }
    }

    // ---- sharing (files stay where they are; a torrent's root is the folder that holds the item)

    struct ShareJob {
        std::string root, name;
    };
    static constexpr std::size_t kMaxShareQueue = 4096; // items waiting to be hashed; more are refused
    static constexpr std::size_t kSharesPerTurn = 16;   // cached items added per loop turn
    static std::string share_key(const std::string& root, const std::string& name) {
        return (fs::path(root) / name).string();
    }

    // Every top-level entry of the share folder becomes a torrent with --make-torrent's defaults. Entries are
    // hashed one at a time, to bound memory and disk load. Then the folder is watched: entries copied in later
    // are shared once complete, entries deleted stop being shared.
    bool start_sharing() {
        std::error_code ec;
        if (!fs::is_directory(cfg_.share_dir, ec)) {
            std::fprintf(stderr, "p2pnode: --share %s: not a folder\n", cfg_.share_dir.c_str());
            return false;
        }
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(cfg_.share_dir, ec)) {
            std::string n = e.path().filename().string();
            if (n.empty() || n[0] == '.') continue; // hidden files and our .p2pnode folder
            if (!e.is_regular_file(ec) && !e.is_directory(ec)) continue;
            if (e.is_symlink(ec)) continue;
            names.push_back(n);
        }
        std::sort(names.begin(), names.end());
        for (const auto& n : names) share_queue_.push_back(ShareJob{cfg_.share_dir, n});
        watcher_ = std::make_unique<ShareWatcher>(
            loop_.get(), cfg_.share_dir, ShareWatcherOptions{},
            [this](const std::string& name) { enqueue_share(ShareJob{cfg_.share_dir, name}); },
            [this](const std::string& name) { unshare(share_key(cfg_.share_dir, name)); });
        if (auto st = watcher_->start(std::set<std::string>(names.begin(), names.end())); !st)
            log_warn("share", st.error().str());
        share_next();
        return true;
    }

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

    bool enqueue_share(ShareJob job) {
        if (quitting_ || share_queue_.size() >= kMaxShareQueue) return false;
        share_queue_.push_back(std::move(job));
        if (!share_busy_) share_next(); // else the running chain picks it up
        return true;
    }

    // Works through share_queue_: hashes one item at a time (TorrentMaker), and adds items whose torrent is
    // cached at most kSharesPerTurn per loop turn, so a folder of thousands neither recurses nor opens thousands
    // of storages in one turn. share_busy_ is true while a maker runs or a continuation is deferred: exactly one
    // chain works the queue.
    void share_next() {
        share_busy_ = false;
        for (std::size_t n = 0; n < kSharesPerTurn; ++n) {
            if (share_queue_.empty() || quitting_) {
                maker_.reset();
                return;
            }
            ShareJob job = std::move(share_queue_.front());
            share_queue_.pop_front();
            if (being_downloaded_here(job)) continue;
            if (auto cached = load_cached_share(job.root, job.name, cfg_.trackers)) {
                announce_share(std::move(*cached), job.root);
                continue;
            }
            share_busy_ = true;
            start_maker(job);
            return;
        }
        share_busy_ = true;
        loop_.defer([this] { share_next(); });
    }

    // An item we are downloading into the share folder is not re-shared from its partial data.
    bool being_downloaded_here(const ShareJob& job) const {
        for (const auto& [h, it] : items_)
            if (it.download && it.torrent && it.torrent->meta().name == job.name && job.root == data_root())
                return true;
        return false;
    }

    void start_maker(const ShareJob& job) {
        MakeTorrentOptions mo{share_key(job.root, job.name), cfg_.trackers, 0, false};
        maker_ = TorrentMaker::start(loop_.get(), mo, nullptr, [this, job](Result<MadeTorrent> r) {
            if (!r) {
                std::fprintf(stderr, "p2pnode: sharing %s: %s\n", job.name.c_str(), r.error().str().c_str());
                // E.g. an empty folder: shared once something is copied into it.
                if (watcher_ && job.root == cfg_.share_dir) watcher_->failed(job.name);
            } else {
                if (auto st = save_cached_share(job.root, job.name, r->torrent); !st)
                    log_debug("share", "not caching " + job.name + ": " + st.error().str());
                announce_share(r->metainfo, job.root);
            }
            // Continue after this callback returns: it runs inside the maker we are about to replace.
            loop_.defer([this] { share_next(); });
        });
    }

    void announce_share(Metainfo m, const std::string& root) {
        if (quitting_) return;
        if (items_.count(m.info_hash)) { // the same content twice (e.g. `share` of a file already in --share)
            std::printf("already sharing %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str());
            std::fflush(stdout);
            return;
        }
        Magnet mag{m.info_hash, m.name, cfg_.trackers};
        std::printf("sharing %s %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str(), make_magnet(mag).c_str());
        std::fflush(stdout);
        shared_[share_key(root, m.name)] = m.info_hash;
        add(std::move(m), true, false, true, root);
    }

    // The item at `key` is gone from disk: drop its torrent and announce `stopped` (its catalog entry expires
    // on the tracker). Downloads are left alone: their own storage errors say what happened.
    void unshare(const std::string& key) {
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
        Announcer* a = item.announcer.get();
        retired_.push_back(std::move(item.announcer));
        a->stop(3000, [this, a] {
            // Destroyed after this callback, which runs inside the announcer.
            loop_.defer([this, a] {
                for (auto r = retired_.begin(); r != retired_.end(); ++r)
                    if (r->get() == a) {
                        retired_.erase(r);
                        break;
                    }
            });
        });
        std::printf("stopped sharing %s %s (removed from disk)\n", name.c_str(), to_hex(hash).c_str());
        std::fflush(stdout);
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
            for (auto& [h, f] : fetching_) { // magnets and names: no metainfo yet (BEP 9)
                if (!f.fetch) continue;
                MetadataFetchStatus st = f.fetch->status();
                ConsoleTorrentRow r;
                r.name = f.label.empty() ? "?" : f.label;
                r.info_hash = h;
                r.state = "fetching metadata";
                r.peers = st.peers;
                rows.push_back(std::move(r));
            }
            return rows;
        };
        c.peers = [this](const std::string& what) -> Result<std::vector<PeerSummary>> {
            Item* it = find_item(what);
            if (!it) return make_error(what, "not one of our torrents (see status)");
            return it->torrent->peer_summaries();
        };
        c.quit = [this] { quit(0, ""); };
        return c;
    }

    void show_status() {
        for (auto& [h, it] : items_) {
            if (!it.download || it.reported_done) continue;
            TorrentStatus s = it.torrent->status();
            ProgressInfo p{s.name, static_cast<std::int64_t>(s.have_bytes), static_cast<std::int64_t>(s.total),
                           s.down_rate, s.up_rate, static_cast<int>(s.peers)};
            printer_.update(p, uv_now(loop_.get()));
        }
        show_fetch_status();
    }

    void check_done() {
        if (!cfg_.exit_when_done || quitting_) return;
        if (!fetching_.empty() || !lookups_.empty()) return; // downloads still being resolved
        bool any = any_failed_;
        for (auto& [h, it] : items_) {
            if (!it.download) continue;
            any = true;
            if (!it.failed && !it.torrent->complete()) return;
        }
        if (any) quit(any_failed_ ? 1 : 0, "");
    }

    void quit(int code, const std::string& why) {
        if (quitting_) return;
        quitting_ = true;
        exit_code_ = code;
        if (!why.empty()) std::fprintf(stderr, "p2pnode: %s\n", why.c_str());
        status_timer_.stop();
        deadline_.stop();
        maker_.reset();
        share_queue_.clear();
        if (watcher_) watcher_->stop();
        if (console_) console_->close();
        auto remaining = std::make_shared<std::size_t>(items_.size() + 1);
        auto after_announces = [this, remaining] {
            if (--*remaining) return;
            session_.shutdown([this] { loop_.defer([this] { teardown(); }); });
        };
        for (auto& [h, it] : items_) it.announcer->stop(3000, after_announces);
        after_announces();
    }

    void teardown() {
        // One line per torrent, for scripts and logs: what this run moved.
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
    std::map<std::string, Item> items_;
    std::deque<ShareJob> share_queue_;                  // bounded by kMaxShareQueue (+ the folder at start)
    bool share_busy_ = false;  // a maker runs or share_next() is deferred
    bool any_failed_ = false;  // a download failed: --exit-when-done exits 1 once the rest are finished
    std::unique_ptr<TorrentMaker> maker_;
    std::map<std::string, std::string> shared_;         // root/name -> info hash of what we seed from disk
    std::vector<std::unique_ptr<Announcer>> retired_;   // sending `stopped` for unshared items (~3 s each)
    TrackerQuery query_;                                // the console's list/scrape
    std::unique_ptr<ShareWatcher> watcher_;             // --share DIR, live
    std::unique_ptr<PeerConsole> console_;              // stdin, unless --no-console
    std::map<std::string, Fetching> fetching_;          // metadata fetches by info hash; bounded by kMaxFetching
    std::vector<std::unique_ptr<Lookup>> lookups_;      // catalog lookups; bounded by kMaxLookups
    std::uint64_t born_ms_ = loop_.now_ms();            // --timeout counts from here
    bool quitting_ = false;
    int exit_code_ = 0;
};

} // namespace

int run_peer(const PeerNodeConfig& config) {
    PeerNode node(config);
    return node.run();
}

} // namespace p2p
