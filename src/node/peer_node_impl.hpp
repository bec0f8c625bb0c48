// PeerNode's declaration, for the files that define it: peer_node.cpp (start, torrents, exit), peer_node_downloads.cpp
// (--get: .torrent files, magnets, info hashes, catalog names), peer_node_shares.cpp (the share folder and
// `share PATH`) and peer_node_console.cpp (the console and the progress display). Private to src/node/.
#pragma once
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "dht/dht_node.hpp"
#include "loop/life_token.hpp"
#include "loop/loop.hpp"
#include "node/dht_host.hpp"
#include "loop/timer.hpp"
#include "node/catalog_lookup.hpp"
#include "node/lsd_service.hpp"
#include "node/metadata_fetches.hpp"
#include "node/peer_console.hpp"
#include "node/peer_node.hpp"
#include "node/progress.hpp"
#include "node/rpc_server.hpp"
#include "node/share_queue.hpp"
#include "node/share_watcher.hpp"
#include "node/tracker_query.hpp"
#include "session/announcer.hpp"
#include "session/session.hpp"
#include "tracker/resolver.hpp"

namespace p2p {

class PeerNode {
public:
    static constexpr std::uint64_t kStopTimeoutMs = 3000; // `stopped` announces: wait this long at most
    // host_loop: the embedder's libuv loop (p2p::Node), never run, stopped or closed here; null: a loop of our
    // own. embedded: driven through the public API (include/p2pnode/node.hpp): no progress line, no summary
    // lines, and signals only on a loop of our own.
    explicit PeerNode(const PeerNodeConfig& cfg, uv_loop_t* host_loop = nullptr, bool embedded = false)
        : cfg_(cfg), embedded_(embedded), loop_(host_loop), session_(loop_, session_config(cfg)),
          clients_(loop_.get(), {}, HttpGetOptions{.ca_file = cfg.ca_file}), status_timer_(loop_.get()),
          deadline_(loop_.get()), printer_(!cfg.quiet && !embedded, stderr_is_terminal()),
          query_(loop_.get(), cfg.trackers, 10, cfg.ca_file), lookups_(loop_, cfg.trackers, lookup_timeout(cfg)),
          fetches_(loop_, session_, clients_, cfg.trackers, [this](FetchedMetadata m) { metadata_done(std::move(m)); }),
          shares_(
              loop_, cfg.trackers, [this](const ShareJob& j, ShareSource s) { announce_share(j, std::move(s)); },
              [this](const ShareJob& j, const Error& e) { share_failed(j, e); },
              [this](const ShareJob& j) { return being_downloaded_here(j); }, session_.file_descriptors()) {}

    int run();

    // run() without the loop: everything up to listening, sharing and the --gets. -1: running; else the exit
    // status (why: start_error()). `listening`: the failure came after the port was bound (stop_now() follows
    // for a loop of our own).
    int start(bool& listening);
    const Error& start_error() const { return start_error_; }

private:
    friend class Node; // the public API (node_api.cpp): its calls are the operations below

    // ---- the public API's events (node_api.cpp), delivered after the current callback returns
    std::function<void(const NodeEvent&)> on_event_;
    std::function<void(int)> on_stopped_; // after teardown (embedded)
    bool torn_down_ = false;
    void emit(NodeEventKind kind, const std::string& raw_hash, const std::string& name, std::string message = {});
    // Options of an API add whose metainfo is still to come (magnets, names), by info hash.
    struct PendingAdd {
        bool paused = false;
        std::vector<std::size_t> files;
    };
    std::map<std::string, PendingAdd> pending_adds_;
    bool fetched_now_ = false; // add() called from metadata_done: the event is `metadata`, not `added`
    void apply_pending_add(const std::string& hash); // start_download, once the torrent is added
    Result<std::string> verify_item(const std::string& what);
    Error start_error_;

    static SessionConfig session_config(const PeerNodeConfig& c);

    // A name lookup's time per tracker: short, and within --timeout when the run has one.
    static double lookup_timeout(const PeerNodeConfig& c);

    std::string data_root() const;

    // Result lines on stdout, one per event a user or script waits for. --quiet: none (errors go to stderr and
    // the final summary lines are printed anyway).
    void say(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
    // One line on stderr; also the reason start() gives (start_error()).
    void error_line(const std::string& msg) {
        last_error_ = msg;
        print_above_status_line(stderr, "p2pnode: " + msg + "\n");
    }
    std::string last_error_;
    int fail_start(const Error& e);

    // ---- torrents: one Item per info hash, seeded or downloaded

    struct Item {
        Torrent* torrent = nullptr;
        std::unique_ptr<Announcer> announcer;
        bool download = false;
        bool reported_done = false;
        bool completed_sent = false; // the trackers heard `completed` (once, even if a verify makes it incomplete)
        bool failed = false;       // paused by an error (e.g. EIO, full disk): finished, not complete
        bool stopped_sent = false; // the announcer was told `stopped` (a failed torrent is not a leecher)
        bool paused = false;       // `pause`: its announcer was told `stopped`; a fresh one waits for `resume`
        std::string share_key;     // a shared item: root/name on disk
        // What a fresh announcer is made with (resume after pause).
        AnnouncerConfig announce_cfg;
    };

    Torrent* add(Metainfo meta, bool all_present, bool download, bool publish, const std::string& root,
                 StoragePlacement placement = {}, std::vector<bool> wanted_files = {});

    std::unique_ptr<Announcer> make_announcer(Torrent* t, const AnnouncerConfig& ac);

    // ---- control, peer_node_control.cpp: the console's pause/resume/remove/limit/files (an RPC's later)
    Result<std::string> pause_item(const std::string& what);
    Result<std::string> resume_item(const std::string& what);
    Result<std::string> remove_item(const std::string& what, bool delete_files);
    Result<std::string> limit_item(const std::string& what, std::uint64_t up, std::uint64_t down);
    // want/skip: file selection of a download by file index (Session::set_files_wanted).
    Result<std::string> select_item(const std::string& what, const std::vector<std::size_t>& files, bool wanted);
    // A magnet (info hash, catalog name) still fetching its metadata, by hex hash or label: its raw hash, or empty.
    // pause/resume/remove act on such a fetch too (MetadataFetches::pause, resume, cancel).
    std::string find_fetch(const std::string& what) const;

    // A torrent paused by an error. A download's trackers are told `stopped` (a paused torrent is no leecher);
    // a shared item whose files changed is taken down and shared anew once its files settle.
    void torrent_failed(const std::string& hash, const Error& e);

    // ---- downloads: WHAT is a .torrent file, a magnet link, an info hash (40 hex / 32 base32) or a catalog name.
    // Returns false when the download cannot start (the reason is on stderr); failures found later (an unknown
    // name, an unreachable tracker, no peer with the metadata) are printed then, and end the run under
    // --exit-when-done.
    bool add_download(const std::string& what);
    // How add_download reads WHAT, in its order: an existing file is a .torrent; then a magnet link; then an info
    // hash; then a catalog name if it could be one (else a .torrent path, most likely mistyped).
    enum class AddKind { torrent_file, magnet, info_hash, name };
    static AddKind add_kind(const std::string& what);

    bool add_torrent_file(const std::string& what);

    // What a .torrent, or fetched metadata, continues with. `hint` addresses are peers known to have it.
    // `handed`: a metadata fetch's connections, for the new torrent (closed when there is none).
    void start_download(Metainfo meta, const std::vector<sockaddr_storage>& hint, std::vector<HandedPeer> handed = {});

    // 40 hex digits or 32 base32 characters (BEP 9's two spellings of a v1 info hash): the raw 20 bytes.
    static std::optional<std::string> parse_info_hash_arg(const std::string& what);

    bool lookup_name(const std::string& name);

    // A download that had started (lookup or metadata fetch) failed. Under --exit-when-done the run fails once
    // the other downloads are finished.
    void download_failed(const std::string& msg);
    // --select-file applies to the downloads of --get: those started while the flag's gets are added, and the
    // info hashes they resolved to (magnets, catalog names, whose metadata comes later).
    bool adding_cli_gets_ = false;
    std::set<std::string> cli_get_hashes_;

    // ---- metadata (BEP 9): metadata_fetches.hpp; on success continue exactly like a .torrent download.
    bool fetch_metadata(const std::string& hash, const std::string& label, const std::vector<std::string>& trackers,
                        const std::vector<sockaddr_storage>& peers = {});
    // A magnet's x.pe peers: IP literals ("1.2.3.4:6881", "[::1]:6881") become addresses; names are skipped (a
    // line says so).
    std::vector<sockaddr_storage> magnet_peers(const std::vector<std::string>& peers);

    void metadata_done(FetchedMetadata m);

    // ---- sharing (files stay where they are; a torrent's root is the folder that holds the item)

    // Every top-level entry of the share folder becomes a torrent; then the folder is watched: entries copied in
    // later are shared once complete, entries deleted stop being shared, entries edited are shared anew.
    void start_sharing();

    static std::string share_key(const std::string& root, const std::string& name) { return root + "/" + name; }

    // The console's `share PATH`: any file or folder, shared in place.
    Result<std::string> share_path(const std::string& path);

    bool enqueue_share(ShareJob job) { return !quitting_ && shares_.push(std::move(job)); }

    // An item we are downloading into the share folder is not re-shared from its partial data.
    bool being_downloaded_here(const ShareJob& job) const;

    void share_failed(const ShareJob& job, const Error& e);

    void announce_share(const ShareJob& job, ShareSource src);

    // The item at `key` is gone from disk or changed: drop its torrent and announce `stopped` (the tracker frees
    // its catalog name once no seeder is left; docs/catalog-protocol.md). Downloads are left alone: their own
    // storage errors say what happened.
    void unshare(const std::string& key, const std::string& why);

    // A shared item that changed on disk (its seeder refused to serve it): stop sharing it now and share it
    // anew once it settles: the watcher's for the share folder, at once for a console `share PATH`.
    void reshare(const std::string& key);

    // Sends `stopped` and destroys the announcer once answered (or after kStopTimeoutMs); then `done`.
    void retire_announcer(std::unique_ptr<Announcer> a, std::function<void()> done);

    // ---- the DHT (BEP 5), peer_node_dht.cpp: a node on the uTP socket, every public torrent and magnet tracked

    void start_dht();
    void dht_track(const std::string& hash, bool is_private);
    // A DHT node by name: a bootstrap node (asked for our neighbourhood) or a .torrent's "nodes" entry (pinged).
    void dht_resolve(const std::string& host, std::uint16_t port, bool bootstrap);
    void dht_refresh_starved();
    void dht_untrack(const std::string& hash);
    void dht_found(const std::string& hash, const std::vector<dht::Endpoint>& peers);
    void stop_dht(); // the final save; the socket no longer hands datagrams over
    std::string dht_state_path() const;
    bool dht_save_now();        // SIGHUP: the table written now; false without a DHT (a failure is logged)
    std::string dht_describe(); // the console's `dht`
    // Deletes the host in the file that knows it, so that nothing else refers to its code: a build with the DHT
    // left out (meson -Ddht=false, node/dht_none.cpp) never makes one and links none of src/dht.
    struct DhtHostDelete {
        void operator()(DhtHost* host) const;
    };

    // ---- Local Service Discovery (BEP 14), peer_node_lsd.cpp: every public torrent and magnet announced on the LAN

    void start_lsd();
    void stop_lsd();
    void lsd_add(const std::string& hash, bool is_private);
    void lsd_remove(const std::string& hash);
    void lsd_peer(const udp::Hash20& h, const sockaddr_storage& peer);

    // ---- signals

    // SIGHUP: the log is reopened (rotation), the share folder looked at again now. Nothing stops.
    void hangup();

    // ---- the console

    Item* find_item(const std::string& what);

    PeerConsoleCommands console_commands();

    static ConsoleTrackerRow tracker_row(const std::string& name, const std::string& hash, const TrackerStatus& t,
                                         std::uint64_t now);

    void show_status();

    // ---- the RPC port (--rpc-port), peer_node_rpc.cpp: Transmission's RPC and /stats, /metrics over the
    // operations above (the console's), nothing of its own. A build without it (meson -Drpc=false) has
    // peer_node_rpc_none.cpp instead: start_rpc fails with one line naming the option.
    Status start_rpc();
    void rpc_close(); // no more requests: the `stopped` announces run without it
    struct RpcServerDelete {
        void operator()(RpcServer* server) const;
    };
    RpcNodeOps rpc_ops();
    // The rows and counters every face reads (the RPC, the public API's list): peer_node_rows.cpp.
    std::vector<RpcTorrentInfo> rpc_torrents();
    static std::string absolute_dir(const std::string& dir); // lexically normal, no trailing '/'; as is on error
    Result<RpcAdded> rpc_add(const RpcAddRequest& req);
    // torrent-add answered later: an http(s):// URL of a .torrent (fetched with HttpGet, then added as an uploaded
    // metainfo is) or a catalog name (looked up like `get NAME`, then fetched like a magnet); anything else is
    // rpc_add at once. At most kMaxRpcAdds in flight; rpc_cancel_adds (the RPC closing) ends them.
    static constexpr std::size_t kMaxRpcAdds = 8;
    // What every face says of a name or hash that is none of ours (the console adds " (see status)").
    static constexpr const char* kNotOurs = "not one of our torrents";
    static Error not_ours(const std::string& what); // kNotOurs (see status), Errc::not_found
    static constexpr std::uint64_t kRpcFetchTimeoutMs = 15'000;
    static constexpr std::uint64_t kRpcAddDeadlineMs = 25'000; // < RpcServer::kDeferredTimeoutMs (static_assert)
    void rpc_add_expired(std::uint64_t id);
    static std::uint64_t rpc_add_deadline_ms();
    struct RpcAddJob {
        std::string what; // the URL or the name
        bool paused = false;
        RpcNodeOps::AddDone done;
        std::unique_ptr<HttpGet> get; // a URL's fetch; null for a name (its lookup is lookups_')
        std::unique_ptr<Timer> expiry; // rpc_add_deadline_ms: then it ends unanswered ("no answer"), before the
                                       // RPC's own 504, so nothing is added after the client was told it failed
    };
    void rpc_add_async(const RpcAddRequest& req, RpcNodeOps::AddDone done);
    void rpc_add_fetched(std::uint64_t id, Result<HttpResponse> r);
    void rpc_add_found(std::uint64_t id, Result<CatalogHit> r);
    std::optional<RpcAddJob> rpc_take_job(std::uint64_t id); // its HttpGet let go of after this callback
    std::optional<RpcAdded> rpc_existing(const std::string& hash, const std::string& name);
    void rpc_cancel_adds();
    Result<std::string> reannounce_item(const std::string& what);
    PeerCounters peer_counters();

    // ---- exit

    void check_done();

    // Every exit path comes here (signal, console quit, --exit-when-done, its deadline): every torrent and
    // metadata fetch tells its trackers `stopped` (bounded wait), resume data is saved, then the summary lines.
    void quit(int code, const std::string& why);

    // Before anything was announced (a bad --get at start): nothing to tell the trackers.
    int stop_now(int code);

    void teardown();

    PeerNodeConfig cfg_;
    bool embedded_ = false;
    Loop loop_;
    Session session_;
    TrackerClients clients_;
    Timer status_timer_, deadline_;
    ProgressPrinter printer_;
    TrackerQuery query_;                        // the console's list/scrape
    std::map<std::string, Item> items_;         // by info hash
    std::map<std::string, std::string> shared_; // root/name -> info hash of what we seed from disk
    CatalogLookups lookups_;                    // --get NAME
    MetadataFetches fetches_;                   // magnets, info hashes, names (BEP 9)
    ShareQueue shares_;                         // items waiting to be hashed
    std::unique_ptr<ShareWatcher> watcher_;     // --share DIR, live
    std::unique_ptr<PeerConsole> console_;      // stdin, unless --no-console
    std::uint64_t born_ms_ = loop_.now_ms();    // --timeout counts from here
    // A download failed before it became an item (name lookup, metadata) or was removed while failed:
    // --exit-when-done exits 1 once the rest are finished. A failed item counts through its own `failed` flag,
    // which a successful verify clears.
    bool any_failed_ = false;
    bool quitting_ = false;
    int exit_code_ = 0;
    // the DHT (peer_node_dht.cpp); null with --no-dht, without a uTP socket, or built with -Ddht=false
    std::unique_ptr<DhtHost, DhtHostDelete> dht_host_; // the node, its timer, names, saved table (dht_host.hpp)
    dht::DhtNode* dht_ = nullptr;                      // dht_host_'s node, or null
    std::map<std::string, std::uint64_t> dht_first_; // info hash -> when it was tracked (0 once peers came)
    std::unique_ptr<LsdService> lsd_; // peer_node_lsd.cpp; null with --no-lsd, on loopback, or without port 6771
    std::map<std::uint64_t, RpcAddJob> rpc_adds_; // peer_node_rpc.cpp: torrent-adds in flight, <= kMaxRpcAdds
    std::uint64_t rpc_add_next_ = 0;              // (declared before rpc_: destroyed after it)
    std::unique_ptr<RpcServer, RpcServerDelete> rpc_; // peer_node_rpc.cpp; null without --rpc-port
    // Last: it expires first, so a callback of work that outlives the node (a removal's file deletion, which the
    // session finishes on its own) touches nothing.
    LifeToken life_;
};

} // namespace p2p
