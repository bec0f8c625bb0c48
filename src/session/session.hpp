// The peer side's composition of torrents and connections: one TCP listener, the torrents by info hash, a
// router that forwards connection events to the right torrent, global connection limits and a one-second tick.
// Closed links and transports are let go with Loop::defer_delete (retire_link), never inside their callbacks.
//
// Magnets: while a MetadataFetch is registered in incoming_fetches(), accepted connections first wait for the
// start of the peer's handshake (a Sniffer, bounded like the pending handshakes and timed out like them); one that
// names an info hash being fetched, and no torrent, is handed to that fetch, the rest go the usual way. Without
// that, a seed that learnt our address from the tracker first could never give a magnet its metadata.
//
// Memory: the session owns the MemoryBudget of SessionConfig::memory (--max-memory) and hands it on, so that one
// bound holds over every torrent and connection: one read cache shared by all torrents
// (StorageLimits::shared_cache), the write pool (pieces being assembled and queued for the disk: torrents request
// no new pieces while it is exhausted), the send pool (counted by every transport: serving pauses while it is
// exhausted) and the per-connection receive limits (TransportLimits, applied to incoming connections and, through
// make_outgoing, to the torrents' outgoing ones).
// Descriptors: one FdCache of max_open_files for every torrent's files and resume files (fd_cache.hpp); with
// max_connections it keeps the process under its RLIMIT_NOFILE (base/fd_limits.hpp sizes both).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/memory_budget.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "net/tcp_transport.hpp"
#include "net/utp_socket.hpp"
#include "session/connection_count.hpp"
#include "session/peer_link.hpp"
#include "session/rate_limit.hpp"
#include "session/torrent.hpp"
#include "storage/fd_cache.hpp"

namespace p2p {

class IncomingFetches; // session/metadata_fetch.hpp

struct SessionConfig {
    std::string listen_ip = "0.0.0.0";
    std::uint16_t port = 6881;             // 0: ephemeral
    std::size_t max_connections = 400;     // over all torrents, both directions
    std::size_t max_pending_incoming = 64; // accepted connections still in their handshake
    std::size_t max_per_ip = 8;            // connections from one address (any torrent)
    std::uint64_t max_upload_rate = 0;     // payload bytes/s over all torrents; 0 = unlimited
    std::uint64_t max_download_rate = 0;   // payload bytes/s over all torrents; 0 = unlimited
    std::size_t max_open_files = 128;      // descriptors of torrent files (and resume files) over all torrents
    bool utp = true;                       // uTP (BEP 29) on the UDP port of the same number: accept and dial
    bool tcp = true;                       // TCP: listen and dial (off: uTP only)
    PeerConfig peer;                       // per-connection limits (peer_id and clock are filled in)
    PeerMemoryPlan memory;                 // --max-memory; the default plan keeps the defaults above
};

class Session {
public:
    Session(Loop& loop, SessionConfig cfg);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // TCP listener and uTP socket on one port number (either may be off). A uTP socket that cannot bind the TCP
    // port's number is a warning (uTP off), unless TCP is off.
    Status listen();
    std::uint16_t port() const { return listener_ ? listener_->port() : utp_ ? utp_->port() : 0; }
    UtpSocket* utp() { return utp_.get(); }
    // Connects to a peer the way the session's settings say (session/dialer.hpp: uTP first, then TCP).
    std::unique_ptr<Connecting> dial(const sockaddr_storage& addr, std::uint64_t timeout_ms, ConnectCallback cb,
                                     TransportLimits limits);
    DialFn dialer(); // the same, for connections made outside a Torrent (MetadataFetchConfig::dial)
    const std::string& peer_id() const { return cfg_.peer.peer_id; }
    // Per-connection settings (peer_id, clock, limits), for connections made outside a Torrent (MetadataFetch).
    const PeerConfig& peer_config() const { return cfg_.peer; }
    // The DHT (BEP 5) runs on port `dht_port` (the uTP socket's): connections from now on set the handshake's DHT
    // bit and send a PORT message to peers that set theirs; a PORT message received on a public torrent's
    // connection reports the peer's DHT node (its IP, the port it named) to `on_node`.
    using DhtNodeFn = std::function<void(const std::string& ip, std::uint16_t port)>;
    void enable_dht(std::uint16_t dht_port, DhtNodeFn on_node);
    std::uint16_t dht_port() const { return dht_port_; }
    void dht_node_heard(const std::string& ip, std::uint16_t port) {
        if (on_dht_node_) on_dht_node_(ip, port);
    }
    const TransportLimits& transport_limits() const { return transport_; }
    // The memory budget's accounting and its derived limits (shared with storages and transports).
    MemoryBudget& memory() { return *budget_; }
    const PeerMemoryPlan& memory_plan() const { return cfg_.memory; }
    const ReadCache& read_cache() const { return *cache_; }
    uv_loop_t* uv() { return loop_.get(); }
    Loop& loop() { return loop_; }

    // Adds a torrent (ignored and the existing one returned when the info hash is already there).
    Torrent* add_torrent(Metainfo meta, TorrentConfig cfg, bool all_present);
    Torrent* find(const std::string& info_hash);
    std::vector<Torrent*> torrents();
    // Stops a torrent and forgets it (resume data saved). With delete_files, the files it downloaded go too (each
    // file of the torrent, its resume record, then its folders if empty); never a shared item's (the user's own
    // files: refused with Errc::refused). `done` runs once the files are gone, or at once (a no-op when the
    // torrent is unknown: Errc::not_found). The calls below are the engine's control surface: the console's
    // commands, and any RPC later, are faces of them.
    void remove_torrent(const std::string& info_hash, bool delete_files = false, std::function<void(Status)> done = {});
    // Pause: every connection of the torrent closed, no dialling, accepting, requesting or serving; its data and
    // pieces kept. Resume undoes it. (Announces are the owner's: the node tells the trackers, the DHT and LSD.)
    // False: no such torrent.
    bool pause_torrent(const std::string& info_hash);
    bool resume_torrent(const std::string& info_hash);
    // A torrent's own rate limits (payload bytes/s, 0 = none); the global ones apply as well. False: no such
    // torrent.
    bool set_torrent_limits(const std::string& info_hash, std::uint64_t up, std::uint64_t down);
    // File selection (Torrent::set_files_wanted): which files of a download are fetched and written, one entry per
    // file; or one file at a time by its 0-based index. A newly wanted file is created and fetched; an unwanted
    // one is never created. Errc::not_found: no such torrent (or file index); bad_input: wrong size; refused: a
    // shared item.
    Status set_files_wanted(const std::string& info_hash, std::vector<bool> wanted);
    Status set_file_wanted(const std::string& info_hash, std::size_t file_index, bool wanted);
    // The global limits, at run time (0 = none).
    void set_rate_limits(std::uint64_t up, std::uint64_t down);
    std::uint64_t max_upload_rate() const { return upload_.rate(); }
    std::uint64_t max_download_rate() const { return download_.rate(); }

    // New connections are allowed while under the global cap.
    bool may_connect() const;
    std::size_t connection_count() const { return connections_->open(); }
    // The count under max_connections, for connections the session does not own (a magnet's metadata fetch).
    const std::shared_ptr<ConnectionCount>& connection_counter() const { return connections_; }
    // The one bound on descriptors of files (every torrent's, resume files, a shared item being hashed).
    const std::shared_ptr<FdCache>& file_descriptors() const { return fds_; }
    // Where metadata fetches register to be handed incoming connections for their info hash
    // (MetadataFetchConfig::incoming).
    const std::shared_ptr<IncomingFetches>& incoming_fetches() const { return fetches_; }
    // Creates a connection whose events go through the router.
    std::unique_ptr<PeerConnection> make_outgoing(std::unique_ptr<Transport> t, const std::string& info_hash,
                                                  const TorrentGeometry& g, PeerLink* link);
    // Binds a metadata fetch's parked connection (handed_peer.hpp) to the router, for `link`'s torrent. False: it
    // closed meanwhile, or what it said of its pieces does not fit `g` (then closed).
    bool adopt_handed(PeerConnection& c, const TorrentGeometry& g, PeerLink* link, bool accepted);
    std::uint64_t next_token() { return ++token_counter_; }
    void connection_opened() { connections_->opened(); }
    void connection_closed() { connections_->closed(); }
    std::size_t count_ip(const std::string& ip) const;

    // Upload rate limit (token bucket over all torrents). take_upload() spends n bytes if the bucket holds
    // them; otherwise the caller registers wait_upload() and its torrent's resume_serving(token) runs when
    // tokens are back.
    bool take_upload(std::size_t n);
    bool upload_available(std::size_t n) { return upload_.can_take(n, uv_now(loop_.get())); }
    void wait_upload(Torrent* t, std::uint64_t token);
    // Download rate limit (rate_limit.hpp): payload bytes received are counted once in (count_download; true
    // when the bucket is in debt now). A connection that pushed a bucket into debt stops reading; it registers
    // wait_download() and its torrent's resume_reading(token) runs after `delay_ms` (the torrent checks again).
    bool count_download(std::size_t n);
    bool download_in_debt() { return download_.in_debt(uv_now(loop_.get())); }
    std::uint64_t download_wait_ms() { return download_.ms_until_clear(uv_now(loop_.get())); }
    void wait_download(Torrent* t, std::uint64_t token, std::uint64_t delay_ms);

    // Shuts every torrent down (resume data saved), then calls done.
    void shutdown(std::function<void()> done);

private:
    class Router;
    class Sniffer;
    void accept(std::unique_ptr<Transport> t);
    void start_incoming(std::unique_ptr<Transport> t, const std::string& address);
    void route_sniffed(Sniffer* s, const std::string& info_hash); // info_hash empty: not a BitTorrent handshake
    void drop_sniffer(Sniffer* s, const char* why);
    std::optional<std::string> skey_for(std::string_view req2) const; // MSE: the info hash behind HASH('req2', it)
    void tick();
    std::unique_ptr<PeerLink> take_pending(PeerLink& l); // null when not pending

    Loop& loop_;
    SessionConfig cfg_;
    // Declared before the torrents and links that use them. Shared: storage requests and transport blocks
    // finishing after the session is gone still hold them.
    std::shared_ptr<MemoryBudget> budget_;
    std::shared_ptr<ReadCache> cache_;
    std::shared_ptr<FdCache> fds_;
    std::shared_ptr<ConnectionCount> connections_;             // made once max_connections is final (constructor)
    static constexpr std::uint64_t kIdleDescriptorMs = 60'000; // an unused file descriptor is closed after this
    TransportLimits transport_;
    std::unique_ptr<Router> router_;
    std::unique_ptr<TcpListener> listener_;
    std::unique_ptr<UtpSocket> utp_;
    std::map<std::string, std::unique_ptr<Torrent>> torrents_;
    std::vector<std::unique_ptr<Torrent>> removing_; // removed, shutting down (resume save, last writes)
    std::map<std::string, std::string> skeys_;       // MSE: HASH('req2', info hash) -> info hash of each torrent
    std::shared_ptr<IncomingFetches> fetches_;       // registered metadata fetches (shared with them)
    std::vector<std::unique_ptr<Sniffer>> sniffing_; // incoming, info hash not read yet; with pending_ at most
                                                     // max_pending_incoming
    std::vector<std::unique_ptr<PeerLink>> pending_; // incoming, handshake not yet routed
    Timer tick_timer_;
    std::uint64_t token_counter_ = 0;
    std::uint16_t dht_port_ = 0;
    DhtNodeFn on_dht_node_;
    RateBucket upload_, download_;
    std::vector<std::pair<std::string, std::uint64_t>> upload_waiters_; // (info hash, link token), deduplicated
    Timer upload_timer_;
    // Links whose reading is paused by the download limit: (info hash, link token), deduplicated; bounded by the
    // connections.
    std::vector<std::pair<std::string, std::uint64_t>> download_waiters_;
    Timer download_timer_;
};

} // namespace p2p
