// Public: drive a BitTorrent peer from a host program. Part of <p2pnode/p2pnode.hpp>.
//
// A p2p::Node is the engine behind `p2pnode --peer`, with the controls its console, its Transmission RPC and its
// web page use: add a torrent (magnet, info hash, .torrent file or bytes, catalog name), read a snapshot of every
// torrent and its files, pause, resume, remove (optionally deleting what it downloaded), re-verify, set limits,
// choose files, and hear events (added, metadata, complete, error, removed).
//
// The loop: a Node runs on ONE libuv loop, the host's (Node::start(config, loop)) or one of its own
// (loop = nullptr, then Node::run()). Every call must be made on that loop's thread; none blocks. The node never
// calls uv_run, uv_stop or uv_loop_close on a host's loop and installs no signal handlers on it (the host owns
// its signals). After a Node on a host's loop is destroyed, the host keeps running its loop until uv_run returns
// 0 (the node's handles close there), as before any uv_loop_close.
//
// Errors are values: no exception leaves this API (allocation failure aside). Only the C++ standard library is
// needed to include this header; link with `pkg-config --libs p2pnode` (libuv, libsodium, nettle, mbedTLS).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "p2pnode/peer.hpp"

struct uv_loop_s; // libuv's uv_loop_t

namespace p2p {

enum class NodeErrc {
    bad_input = 1, // not a magnet, hash, .torrent or name; an unknown file index; a bad config
    not_found,     // no torrent with that info hash
    refused,       // not in this state (stopping, a shared item's files asked to be deleted, ...)
    io,            // a port, a folder, a file
};

struct NodeError {
    NodeErrc code = NodeErrc::bad_input;
    std::string op;      // what failed, e.g. "pause 0a1b…" or "--share ./dir"
    std::string message; // why
    std::string str() const { return op.empty() ? message : op + ": " + message; }
};

// A value or the error that prevented it.
template <class T>
class NodeResult {
public:
    NodeResult(T value) : value_(std::move(value)) {}
    NodeResult(NodeError error) : error_(std::move(error)) {}
    bool ok() const { return value_.has_value(); }
    explicit operator bool() const { return ok(); }
    T& value() { return *value_; } // only when ok()
    const T& value() const { return *value_; }
    T& operator*() { return *value_; }
    T* operator->() { return &*value_; }
    const NodeError& error() const { return error_; } // only when !ok()

private:
    std::optional<T> value_;
    NodeError error_;
};

enum class TorrentState { fetching_metadata, checking, downloading, seeding, paused, failed };
const char* state_name(TorrentState s); // "fetching metadata", "checking", ...

struct TorrentSnapshot {
    std::string hash; // 40 lower-case hex digits: the handle every call takes
    std::string name;
    TorrentState state = TorrentState::downloading;
    std::uint64_t total_bytes = 0;  // the whole torrent (0 while fetching metadata)
    std::uint64_t have_bytes = 0;   // in verified pieces
    double progress = 0;            // 0..1 of the wanted files
    std::uint64_t downloaded = 0, uploaded = 0; // payload bytes since this node started
    double down_rate = 0, up_rate = 0;          // payload bytes/s
    std::size_t peers = 0;
    std::int64_t eta_s = -1;                    // seconds to the wanted files' end at the current rate; -1 unknown
    std::uint64_t up_limit = 0, down_limit = 0; // its own limits, bytes/s (0: none)
    std::string error;                          // why it failed (state failed), else empty
    std::string save_dir;                       // the folder that holds it
    std::string magnet;
    bool shared_item = false; // seeded from the user's own files (never deleted by remove)
};

struct FileSnapshot {
    std::string path; // inside the torrent, '/'-separated
    std::uint64_t size = 0, done = 0;
    bool wanted = true;
};

enum class NodeEventKind {
    added,    // a torrent or a magnet was added (by any face: API, console, RPC, the share folder)
    metadata, // a magnet's or an info hash's metainfo arrived (BEP 9): its name, size and files are known
    complete, // a download has every wanted piece, hash-checked
    error,    // a torrent stopped on an error (message), or a download could not start or resolve
    removed,  // a torrent was removed
    stopped,  // the node finished stopping (after stop(), a signal on its own loop, or --exit-when-done)
};
const char* event_name(NodeEventKind k);

struct NodeEvent {
    NodeEventKind kind = NodeEventKind::added;
    std::string hash;    // 40 hex, or empty (a catalog name that never resolved; stopped)
    std::string name;    // the torrent's name when known
    std::string message; // error: why; stopped: the exit code as text
};

struct AddOptions {
    bool paused = false;                // added, checked, but not started; a magnet fetches no metadata until resumed
    std::vector<std::size_t> files;     // 0-based indices of the files to download; empty: every file
};

class PeerNode;

class Node {
public:
    // Builds a peer from `config` on `loop` (nullptr: a loop of the node's own, run by run()): listens on its
    // port, starts the DHT, LSD and RPC as configured, shares config.share_dir and adds config.gets. Errors: a
    // folder that cannot be used, a port that cannot be bound, a bad --get, a memory budget below the minimum.
    static NodeResult<std::unique_ptr<Node>> start(const PeerNodeConfig& config, uv_loop_s* loop = nullptr);
    ~Node(); // a running node is closed at once: its trackers are not told; prefer stop() and its callback
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Its own loop only: runs it until the node has stopped (stop(), SIGINT/SIGTERM, or completion with
    // config.exit_when_done); returns the exit status. -1 on a host's loop (run that instead).
    int run();

    std::uint16_t port() const; // the TCP (and uTP) port peers reach us on

    // WHAT: a magnet link, an info hash (40 hex or 32 base32), a path to a .torrent file, or a catalog name on
    // config.trackers. Returns the info hash (40 hex); empty for a catalog name, whose hash comes with the
    // `added` event once a tracker answered. Adding what is already there returns its hash (a magnet's x.pe
    // peers are then offered to it: a way to point a torrent at a peer).
    NodeResult<std::string> add(const std::string& what, const AddOptions& options = {});
    // A .torrent's bytes.
    NodeResult<std::string> add_metainfo(const std::string& torrent_bytes, const AddOptions& options = {});

    std::vector<TorrentSnapshot> torrents();
    NodeResult<TorrentSnapshot> torrent(const std::string& hash);
    NodeResult<std::vector<FileSnapshot>> files(const std::string& hash);

    // Each answers a one-line description of what it did (the console's words).
    NodeResult<std::string> pause(const std::string& hash);
    NodeResult<std::string> resume(const std::string& hash);
    NodeResult<std::string> remove(const std::string& hash, bool delete_data = false);
    // Hash-checks every piece on disk again (connections are closed meanwhile); the torrent goes on from what
    // is there. A download that lost pieces downloads them again; `complete` comes again when done. A failed
    // torrent (disk full, write refused, file edited) goes on this way once the cause is fixed.
    NodeResult<std::string> verify(const std::string& hash);
    NodeResult<std::string> reannounce(const std::string& hash);
    NodeResult<std::string> set_limits(const std::string& hash, std::uint64_t up, std::uint64_t down); // bytes/s
    void set_global_limits(std::uint64_t up, std::uint64_t down); // bytes/s over every torrent, 0: none
    NodeResult<std::string> select_files(const std::string& hash, const std::vector<std::size_t>& files, bool wanted);

    // One handler; events are delivered on the loop after the call or callback that caused them has returned
    // (never from inside a Node call), so a handler may call any Node function, including stop().
    void on_event(std::function<void(const NodeEvent&)> handler);

    // A clean stop: every tracker is told `stopped` (3 s at most), resume data is saved, connections close;
    // then a `stopped` event and done(exit status). The node can then be destroyed. Calling it twice is harmless.
    void stop(std::function<void(int exit_status)> done = {});

private:
    explicit Node(std::unique_ptr<PeerNode> node);
    std::unique_ptr<PeerNode> node_;
    std::function<void(int)> stopped_;
};

} // namespace p2p
