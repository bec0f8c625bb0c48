#include "node/peer_node.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "cli/progress.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "maker/torrent_maker.hpp"
#include "node/share_cache.hpp"
#include "session/announcer.hpp"
#include "session/session.hpp"

namespace p2p {

namespace fs = std::filesystem;

namespace {

Result<std::string> read_whole_file(const std::string& path, std::size_t max) {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec) return make_error("read " + path, ec.message());
    if (size > max) return make_error("read " + path, "larger than " + std::to_string(max) + " bytes");
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    if (!f) return make_error("read " + path, "failed");
    return ss.str();
}

class PeerNode {
public:
    explicit PeerNode(const PeerNodeConfig& cfg)
        : cfg_(cfg), session_(loop_, session_config(cfg)), clients_(loop_.get()), status_timer_(loop_.get()),
          deadline_(loop_.get()),
          printer_(!cfg.quiet, stderr_is_terminal()) {}

    int run() {
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
            if (cfg_.exit_when_done && ip->download) quit(1, "");
        };
        // Announce once checking is over, so the first announce tells the tracker what we really have.
        t->on_ready = [ip] { ip->announcer->start(); };
        return t;
    }

    bool add_download(const std::string& what) {
        auto bytes = read_whole_file(what, kMaxTorrentFileSize);
        if (!bytes) {
            std::fprintf(stderr, "p2pnode: %s\n", bytes.error().str().c_str());
            return false;
        }
        auto meta = parse_torrent(*bytes);
        if (!meta) {
            std::fprintf(stderr, "p2pnode: %s: %s\n", what.c_str(), meta.error().str().c_str());
            return false;
        }
        std::error_code ec;
        fs::create_directories(data_root(), ec);
        std::printf("downloading %s %s into %s\n", meta->name.c_str(), to_hex(meta->info_hash).c_str(),
                    data_root().c_str());
        std::fflush(stdout);
        add(std::move(*meta), false, true, false, data_root());
        return true;
    }

    // Every top-level entry of the share folder becomes a torrent with --make-torrent's defaults. Entries are
    // hashed one at a time, to bound memory and disk load.
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
        share_queue_ = names;
        share_next();
        return true;
    }

    void share_next() {
        if (share_queue_.empty()) {
            maker_.reset();
            return;
        }
        std::string name = share_queue_.front();
        share_queue_.erase(share_queue_.begin());
        // An item we are downloading into the share folder is not re-shared from its partial data.
        for (auto& [h, it] : items_)
            if (it.download && it.torrent->meta().name == name) return share_next();
        if (auto cached = load_cached_share(cfg_.share_dir, name, cfg_.trackers)) {
            announce_share(std::move(*cached));
            return share_next();
        }
        MakeTorrentOptions mo{(fs::path(cfg_.share_dir) / name).string(), cfg_.trackers, 0, false};
        maker_ = TorrentMaker::start(loop_.get(), mo, nullptr, [this, name](Result<MadeTorrent> r) {
            if (!r) {
                std::fprintf(stderr, "p2pnode: sharing %s: %s\n", name.c_str(), r.error().str().c_str());
            } else {
                if (auto st = save_cached_share(cfg_.share_dir, name, r->torrent); !st)
                    log_debug("share", "not caching " + name + ": " + st.error().str());
                announce_share(r->metainfo);
            }
            // Continue after this callback returns: it runs inside the maker we are about to replace.
            loop_.defer([this] { share_next(); });
        });
    }

    void announce_share(Metainfo m) {
        Magnet mag{m.info_hash, m.name, cfg_.trackers};
        std::printf("sharing %s %s %s\n", m.name.c_str(), to_hex(m.info_hash).c_str(), make_magnet(mag).c_str());
        std::fflush(stdout);
        add(std::move(m), true, false, true, cfg_.share_dir);
    }

    void show_status() {
        for (auto& [h, it] : items_) {
            if (!it.download || it.reported_done) continue;
            TorrentStatus s = it.torrent->status();
            ProgressInfo p{s.name, static_cast<std::int64_t>(s.have_bytes), static_cast<std::int64_t>(s.total),
                           s.down_rate, s.up_rate, static_cast<int>(s.peers)};
            printer_.update(p, uv_now(loop_.get()));
        }
    }

    void check_done() {
        if (!cfg_.exit_when_done || quitting_) return;
        bool any = false;
        for (auto& [h, it] : items_) {
            if (!it.download) continue;
            any = true;
            if (!it.torrent->complete()) return;
        }
        if (any) quit(0, "");
    }

    void quit(int code, const std::string& why) {
        if (quitting_) return;
        quitting_ = true;
        exit_code_ = code;
        if (!why.empty()) std::fprintf(stderr, "p2pnode: %s\n", why.c_str());
        status_timer_.stop();
        deadline_.stop();
        maker_.reset();
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
            std::printf("summary %s %s uploaded=%llu downloaded=%llu have=%llu/%llu\n", s.name.c_str(),
                        to_hex(h).c_str(), static_cast<unsigned long long>(s.uploaded),
                        static_cast<unsigned long long>(s.downloaded), static_cast<unsigned long long>(s.have_bytes),
                        static_cast<unsigned long long>(s.total));
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
    std::vector<std::string> share_queue_;
    std::unique_ptr<TorrentMaker> maker_;
    bool quitting_ = false;
    int exit_code_ = 0;
};

} // namespace

int run_peer(const PeerNodeConfig& config) {
    PeerNode node(config);
    return node.run();
}

} // namespace p2p
