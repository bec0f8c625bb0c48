// PeerNode: the composition root of `p2pnode --peer` (declared in peer_node_impl.hpp). It builds the Session, the
// shared tracker clients, the catalog lookups, metadata fetches, share queue and watcher, the console and the
// progress display, and wires them: every decision of its own is about what to print and when to exit. This file:
// start-up checks, the torrents' items and announcers, signals and every exit path.
#include "node/peer_node_impl.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <filesystem>

#include "base/bytes.hpp"
#include "base/fd_limits.hpp"
#include "base/log.hpp"
#include "base/memory_budget.hpp"
#include "node/tracker_tiers.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

namespace fs = std::filesystem;

namespace {

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
    if (::access(dir.c_str(), R_OK | X_OK) != 0)
        return make_error(flag + " " + dir, "cannot read it (permission denied)");
    if (writable && ::access(dir.c_str(), W_OK) != 0)
        return make_error(flag + " " + dir, "cannot write into it (downloads go there)");
    return ok_status();
}

} // namespace

int PeerNode::run() {
    bool listening = false;
    if (int rc = start(listening); rc >= 0) return listening ? stop_now(rc) : rc;
    loop_.run();
    return exit_code_;
}

int PeerNode::start(bool& listening) {
    listening = false;
    auto failed = [this](int rc, const Error& e) {
        start_error_ = e;
        return rc;
    };
    if (auto plan = plan_peer_memory(cfg_.max_memory); !plan) {
        std::fprintf(stderr, "p2pnode: %s\n", plan.error().str().c_str());
        return failed(2, plan.error());
    }
    // Fail at start, not later: every folder is checked before we listen or announce anything.
    if (!cfg_.share_dir.empty()) {
        if (auto st = check_folder("--share", cfg_.share_dir, false); !st) return failed(fail_start(st.error()), st.error());
    }
    if (!cfg_.gets.empty()) {
        const std::string flag = cfg_.into_dir.empty() ? (cfg_.share_dir.empty() ? "" : "--share") : "--into";
        if (auto st = check_folder(flag.empty() ? "download folder" : flag, data_root(), true); !st)
            return failed(fail_start(st.error()), st.error());
    }
    if (cfg_.max_memory) log_info("peer", session_.memory_plan().describe());
    if (auto st = session_.listen(); !st) {
        std::fprintf(stderr, "p2pnode: cannot listen on %s:%d: %s\n", cfg_.listen_ip.c_str(), cfg_.port,
                     st.error().what.c_str());
        return failed(1, make_error("listen on " + cfg_.listen_ip + ":" + std::to_string(cfg_.port), st.error().what,
                                    Errc::io));
    }
    listening = true;
    start_dht();
    start_lsd();
    // Magnets without tr= wait for the DHT or LSD.
    fetches_.set_trackerless_ok(dht_ != nullptr || lsd_ != nullptr);
    if (!loop_.borrowed()) { // a host's loop: its signals are the host's
        loop_.on_terminate([this](int) { quit(0, ""); }); // before the line below: scripts may signal on it
        loop_.on_hangup([this] { hangup(); });
    }
    say("peer listening on %s:%u\n", cfg_.listen_ip.c_str(), session_.port()); // TCP and uTP, unless turned off
    if (cfg_.rpc_port >= 0) {
        if (auto st = start_rpc(); !st) {
            error_line(st.error().str());
            return failed(1, st.error());
        }
    }
    adding_cli_gets_ = true; // --select-file applies to these
    for (const auto& g : cfg_.gets)
        if (!add_download(g)) return failed(1, make_error(g, last_error_, Errc::bad_input));
    adding_cli_gets_ = false;
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
    return -1;
}

SessionConfig PeerNode::session_config(const PeerNodeConfig& c) {
    SessionConfig s;
    s.listen_ip = c.listen_ip;
    s.port = static_cast<std::uint16_t>(c.port);
    s.max_connections = c.max_connections;
    s.max_upload_rate = c.max_upload_rate;
    s.max_download_rate = c.max_download_rate;
    s.peer.encryption = c.encryption == EncryptionMode::require   ? Encryption::require
                        : c.encryption == EncryptionMode::disable ? Encryption::disable
                        : c.encryption == EncryptionMode::prefer  ? Encryption::prefer
                                                                  : Encryption::allow;
    s.utp = c.utp;
    s.tcp = c.tcp;
    // --max-memory: the CLI has refused budgets below the minimum; a library caller's invalid one is reported
    // by run() and keeps the defaults meanwhile.
    if (auto plan = plan_peer_memory(c.max_memory)) s.memory = *plan;
    // Descriptors: the soft limit raised to the hard one, then shared between files and connections, so
    // sharing many files cannot starve the sockets and resume files of descriptors (base/fd_limits.hpp).
    const FdPlan fd = plan_descriptors(raise_fd_limit(), s.max_connections, s.max_pending_incoming);
    if (fd.connections < s.max_connections)
        log_warn("peer", "open file limit " + std::to_string(fd.limit) + ": at most " + std::to_string(fd.connections) +
                             " connections (of " + std::to_string(s.max_connections) + ") and " +
                             std::to_string(fd.files) + " open files; raise it with ulimit -n");
    s.max_connections = fd.connections;
    s.max_open_files = fd.files;
    s.peer.client = std::string("p2pnode ") + version();
    return s;
}

double PeerNode::lookup_timeout(const PeerNodeConfig& c) {
    double t = CatalogLookups::kDefaultTimeoutS;
    if (c.exit_when_done && c.timeout_s > 0) t = std::max(1.0, std::min(t, c.timeout_s / 2));
    return t;
}

std::string PeerNode::data_root() const {
    if (!cfg_.into_dir.empty()) return cfg_.into_dir;
    if (!cfg_.share_dir.empty()) return cfg_.share_dir;
    return ".";
}

void PeerNode::say(const char* fmt, ...) {
    if (cfg_.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    va_list again;
    va_copy(again, ap);
    int n = std::vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    std::string text;
    if (n >= 0 && static_cast<std::size_t>(n) < sizeof small) {
        text.assign(small, static_cast<std::size_t>(n));
    } else if (n >= 0) {
        text.resize(static_cast<std::size_t>(n) + 1);
        std::vsnprintf(text.data(), text.size(), fmt, again);
        text.resize(static_cast<std::size_t>(n));
    }
    va_end(again);
    print_above_status_line(stdout, text); // never glued to the live progress line (base/log.hpp)
}

int PeerNode::fail_start(const Error& e) {
    error_line(e.str());
    return 1;
}

Torrent* PeerNode::add(Metainfo meta, bool all_present, bool download, bool publish, const std::string& root,
                       StoragePlacement placement, std::vector<bool> wanted_files) {
    TorrentConfig tc;
    tc.wanted_files = std::move(wanted_files);
    tc.root_dir = root;
    tc.overwrite = cfg_.overwrite;
    tc.placement = std::move(placement);
    TrackerTiers tiers = merge_tiers(cfg_.trackers, meta.trackers);
    std::string hash = meta.info_hash;
    const bool is_private = meta.is_private;
    if (!is_private) // BEP 5: a trackerless torrent's "nodes"
        for (const auto& [host, port] : meta.dht_nodes) dht_resolve(host, port, false);
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
    item.announce_cfg = ac;
    item.announcer = make_announcer(t, ac);
    Item* ip = &item;
    t->on_complete = [this, ip, hash] {
        if (ip->download && !ip->reported_done) {
            ip->reported_done = true;
            if (!ip->completed_sent) ip->announcer->completed();
            ip->completed_sent = true;
            TorrentStatus s = ip->torrent->status();
            printer_.finish(
                ProgressInfo{s.name, static_cast<std::int64_t>(s.have_bytes), static_cast<std::int64_t>(s.total)});
            const bool renamed = ip->torrent->renamed();
            say("complete %s %s%s%s\n", s.name.c_str(), to_hex(hash).c_str(), renamed ? " as " : "",
                renamed ? ip->torrent->save_name().c_str() : "");
            emit(NodeEventKind::complete, hash, s.name);
        }
        check_done();
    };
    t->on_failed = [this, hash](const Error& e) { torrent_failed(hash, e); };
    // Announce once checking is over, so the first announce tells the tracker what we really have.
    t->on_ready = [this, ip] {
        if (ip->download && ip->torrent->renamed())
            say("saving %s as %s: %s\n", ip->torrent->meta().name.c_str(), ip->torrent->save_name().c_str(),
                ip->torrent->placement_note().c_str());
        if (!ip->stopped_sent && !ip->paused) ip->announcer->start();
    };
    dht_track(hash, is_private);
    lsd_add(hash, is_private);
    if (!fetched_now_) emit(NodeEventKind::added, hash, name); // a magnet's was its fetch's start
    return t;
}

std::unique_ptr<Announcer> PeerNode::make_announcer(Torrent* t, const AnnouncerConfig& config) {
    AnnouncerConfig ac = config;
    ac.wants_peers = [t] { return !t->complete() && t->num_links() == 0; }; // ask again soon (announcer.hpp)
    return std::make_unique<Announcer>(
        loop_.get(), clients_, ac,
        [t] {
            return AnnounceStats{t->downloaded(), t->uploaded(), t->left_bytes()};
        },
        [t](const std::vector<PeerEndpoint>& peers) {
            std::vector<sockaddr_storage> addrs;
            for (const auto& p : peers) addrs.push_back(p.addr);
            t->add_candidates(addrs);
        });
}

void PeerNode::torrent_failed(const std::string& hash, const Error& e) {
    auto it = items_.find(hash);
    if (it == items_.end()) return;
    Item& item = it->second;
    if (!item.share_key.empty() && e.code == Errc::changed_on_disk) {
        // We run inside the torrent's on_failed, which reshare() clears: act after it returns.
        loop_.defer([this, key = item.share_key] { reshare(key); });
        return;
    }
    error_line(item.torrent->meta().name + ": " + e.str());
    emit(NodeEventKind::error, hash, item.torrent->meta().name, e.str());
    lsd_remove(hash); // paused: no LAN peer should come for it
    if (!item.stopped_sent) {
        item.stopped_sent = true;
        item.announcer->stop(kStopTimeoutMs, [] {});
    }
    if (!item.download) return;
    item.failed = true; // a verify after the cause is fixed clears it (peer_node_control.cpp), and the exit status
    check_done();       // then follows the revived download; the other downloads go on
}

void PeerNode::hangup() {
    (void)reopen_log();
    log_info("peer", "SIGHUP: log reopened" + std::string(watcher_ ? ", share folder rescanned" : "") +
                         (dht_host_ ? ", DHT table saved" : ""));
    if (watcher_) watcher_->rescan_now();
    (void)dht_save_now(); // a failure is logged by the host
}

void PeerNode::check_done() {
    if (!cfg_.exit_when_done || quitting_) return;
    if (!fetches_.empty() || lookups_.active() > 0) return; // downloads still being resolved
    bool any = any_failed_, failed = any_failed_;
    for (auto& [h, it] : items_) {
        if (!it.download) continue;
        any = true;
        if (!it.failed && !it.torrent->complete()) return;
        failed = failed || it.failed;
    }
    if (any) quit(failed ? 1 : 0, "");
}

void PeerNode::quit(int code, const std::string& why) {
    if (quitting_) return;
    quitting_ = true;
    exit_code_ = code;
    if (!why.empty()) error_line(why);
    status_timer_.stop();
    deadline_.stop();
    stop_dht();
    stop_lsd();
    shares_.clear();
    lookups_.cancel_all();
    if (watcher_) watcher_->stop();
    if (console_) console_->close();
    rpc_close(); // no RPC during the `stopped` announces
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

int PeerNode::stop_now(int code) {
    exit_code_ = code;
    quit(code, "");
    loop_.run();
    return exit_code_;
}

void PeerNode::teardown() {
    // One line per torrent, for scripts and logs: what this run moved. Printed even with --quiet (not for an
    // embedder: its stdout is its own).
    for (auto& [h, it] : items_) {
        if (embedded_) break;
        TorrentStatus s = it.torrent->status();
        std::printf("summary %s %s uploaded=%llu downloaded=%llu have=%llu/%llu resent=%llu idle_slot_s=%llu\n",
                    s.name.c_str(), to_hex(h).c_str(), static_cast<unsigned long long>(s.uploaded),
                    static_cast<unsigned long long>(s.downloaded), static_cast<unsigned long long>(s.have_bytes),
                    static_cast<unsigned long long>(s.total), static_cast<unsigned long long>(s.resent),
                    static_cast<unsigned long long>(s.idle_slot_seconds));
    }
    std::fflush(stdout);
    rpc_.reset(); // its operations read the items
    items_.clear();
    stop_dht();
    dht_ = nullptr;
    dht_host_.reset();
    torn_down_ = true;
    emit(NodeEventKind::stopped, "", "", std::to_string(exit_code_));
    if (on_stopped_)
        loop_.defer([this] {
            if (auto done = std::move(on_stopped_)) done(exit_code_);
        });
    // A loop of our own stops here; Node::run() turns it once more for the deferred event and callback.
    if (!loop_.borrowed()) loop_.stop();
}

int run_peer(const PeerNodeConfig& config) {
    PeerNode node(config);
    return node.run();
}

} // namespace p2p
