// The Transmission RPC's methods (the JSON inside POST /transmission/rpc; rpc_server.hpp has the HTTP side), so
// that transmission-remote and other Transmission clients can drive `p2pnode --peer`. Why a face and not a
// second engine: every method calls an operation of RpcNodeOps, which the node builds from the same calls its
// console makes (pause_item, resume_item, remove_item, limit_item, add_download: peer_node_rpc.cpp); this file
// only translates JSON to those calls and their answers back to Transmission's shapes (rpc-version 15, as
// Transmission 3.00 speaks). What it keeps of its own is what Transmission's protocol needs and the node has no
// notion of: the small torrent ids (stable per info hash for the process life), the date each torrent was first
// seen, and the speed-limit numbers a client set while their "-enabled" switch is off.
//
// Honest answers: what p2pnode cannot do is an error result naming why (port-test, file priorities, changing
// the peer port or the encryption at run time), never a silent "success".
//
// Answers later: every method answers at once but torrent-add of a URL or a catalog name, which the node answers
// once it has fetched the .torrent or looked the name up (RpcNodeOps::add_async; the HTTP side defers its answer,
// http::Response::defer). The asynchronous handle() takes a callback for the answer, with the request's tag.
//
// Never throws: the body is parsed with nlohmann's non-throwing parser, values are read through checked helpers,
// and a bug that throws anyway is answered as an error result (handle() catches everything), so no exception
// reaches the HTTP server's libuv callback. Bounds: ids_ and limits_ hold one entry per torrent the node has
// (pruned on every torrents() snapshot), removed_ at most kMaxRemembered; adds in flight are the node's to bound.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "session/announcer.hpp" // TrackerStatus
#include "session/torrent.hpp"   // TorrentPhase, Torrent::PeerSummary, FileProgress

namespace p2p {

// One torrent as the node sees it now.
struct RpcTorrentInfo {
    std::string hash; // 40 lower-case hex digits
    std::string name;
    bool has_metadata = true; // false: a magnet or info hash whose metainfo is still being fetched (BEP 9)
    bool paused = false;
    TorrentPhase phase = TorrentPhase::downloading;
    std::uint64_t total = 0, have = 0;          // bytes; have: inside verified pieces
    std::uint64_t downloaded = 0, uploaded = 0; // payload bytes this run
    double down_rate = 0, up_rate = 0;          // payload bytes/s
    std::size_t peers = 0;
    std::uint64_t up_limit = 0, down_limit = 0; // its own limits, bytes/s (0: none)
    std::string error;                          // why it stopped (a failed torrent), else empty
    std::string download_dir;                   // the folder that holds it
    bool is_private = false, multi_file = false, shared_item = false;
    std::uint32_t piece_count = 0;
    std::uint64_t piece_size = 0;
    std::string magnet;
};

struct RpcAddRequest {
    // a magnet link, a path to a .torrent on this machine, an info hash, an http(s):// URL of a .torrent, or a
    // catalog name (the last two only through RpcNodeOps::add_async)
    std::string filename;
    std::string metainfo; // or the .torrent's bytes (already base64-decoded)
    bool paused = false;
};
struct RpcAdded {
    std::string hash, name; // hash: 40 hex
    bool duplicate = false;
};

struct RpcSessionInfo {
    std::string version;
    std::uint16_t peer_port = 0;
    std::string download_dir;
    std::string encryption; // Transmission's words: "required", "preferred", "tolerated"; ours: "disabled"
    std::uint64_t up_limit = 0, down_limit = 0; // the global limits now, bytes/s (0: none)
    bool utp = true, dht = true, lsd = true;
    std::size_t peer_limit = 0;
};

// What the methods may ask of the node. `what` is always a torrent's 40-hex info hash. Every operation answers
// at once (the node's own operations are synchronous; removing files finishes later, as in Transmission), but
// add_async.
struct RpcNodeOps {
    using PeerSummary = Torrent::PeerSummary;
    using AddDone = std::function<void(Result<RpcAdded>)>;
    std::function<std::vector<RpcTorrentInfo>()> torrents;
    std::function<Result<std::vector<FileProgress>>(const std::string& what)> files;
    std::function<Result<std::vector<PeerSummary>>(const std::string& what)> peers;
    std::function<std::vector<TrackerStatus>(const std::string& what)> trackers;
    std::function<Result<RpcAdded>(const RpcAddRequest&)> add;
    // torrent-add through the asynchronous handle(): `done` runs once, inside the call (what add answers at once)
    // or later from the loop (a URL fetched, a name looked up), or never once the node is gone. Unset: add.
    std::function<void(const RpcAddRequest&, AddDone done)> add_async;
    std::function<void()> cancel_adds; // the RPC closes: the adds in flight end now (each answered "stopping")
    std::function<Result<std::string>(const std::string&what)> pause, resume, reannounce, verify;
    std::function<Result<std::string>(const std::string& what, bool delete_files)> remove;
    std::function<Result<std::string>(const std::string& what, std::uint64_t up, std::uint64_t down)> limit;
    // File selection by 0-based file index (torrent-set files-wanted / files-unwanted).
    std::function<Result<std::string>(const std::string& what, const std::vector<std::size_t>& files, bool wanted)>
        select;
    std::function<RpcSessionInfo()> session;
    std::function<void(std::uint64_t up, std::uint64_t down)> set_session_limits; // bytes/s, 0: none
    std::function<Result<std::uint64_t>(const std::string& path)> free_space;
    std::function<void()> quit;                 // session-close (the node defers it past this request)
    std::function<std::uint64_t()> loop_now_ms; // the clock of TrackerStatus's times
};

// Base64 (RFC 4648, padding optional, whitespace skipped): torrent-add's "metainfo" and HTTP basic auth.
std::optional<std::string> base64_decode(std::string_view in);

class RpcMethods {
public:
    static constexpr int kRpcVersion = 15; // Transmission 3.00's
    static constexpr int kRpcVersionMinimum = 1;
    static constexpr std::uint64_t kSpeedUnit = 1000;  // speed limits are kB/s (transmission-remote's SPEED_K)
    static constexpr std::size_t kMaxRemembered = 256; // removed ids kept for "recently-active"
    static constexpr std::int64_t kRecentS = 60;       // "recently-active": active now, or removed this recently

    // unix_now: seconds since the epoch (tests pass a fixed clock).
    explicit RpcMethods(RpcNodeOps ops, std::function<std::int64_t()> unix_now = {});

    // One request body in, one answer body out: {"result": "success" | why, "arguments": {...}, "tag": N}.
    // torrent-add goes through ops.add (at once).
    std::string handle(std::string_view body);
    // The same, the answer through `done`: inside the call for every method but a torrent-add the node answers
    // later (ops.add_async); then from the loop, once, and never after this RpcMethods is destroyed.
    using Answer = std::function<void(std::string)>;
    void handle(std::string_view body, Answer done);
    // The RPC closes (quit): the node drops the adds in flight (ops.cancel_adds).
    void cancel();
    // The largest answer the RPC will send (its body cap under --max-memory; 0: none). torrent-get stops
    // building once its list would pass it, so an answer too big to send is never held whole.
    void set_answer_cap(std::size_t bytes) { answer_cap_ = bytes; }

    struct Counters {
        std::uint64_t calls = 0, errors = 0; // errors: answers whose result is not "success"
    };
    const Counters& counters() const { return counters_; }

private:
    struct Limits { // a torrent's speed limits as a client set them (kB/s; applied only when enabled)
        std::uint64_t up = 0, down = 0;
        bool up_on = false, down_on = false;
    };
    using Json = nlohmann::json;
    void run(std::string_view body, bool allow_async, const Answer& done);
    std::string finish(Json answer, const std::string& result, Json out); // the body; counts the errors
    // Each method fills `out` and returns "success" or why not.
    std::string call(const std::string& method, const Json& args, Json& out);
    std::string add_request(const Json& args, RpcAddRequest& req); // torrent-add's arguments checked
    void added(const RpcAdded& a, Json& out);
    std::string session_get(Json& out);
    std::string session_set(const Json& args);
    std::string session_stats(Json& out);
    std::string torrent_get(const Json& args, Json& out);
    std::string torrent_add(const Json& args, Json& out);
    std::string torrent_set(const Json& args);
    std::string torrent_each(const std::string& method, const Json& args);
    std::string free_space(const Json& args, Json& out);
    // The torrents named by args["ids"] (absent: all), each with its id.
    std::string select(const Json& args, std::vector<RpcTorrentInfo>& picked, bool* recent = nullptr);
    std::vector<RpcTorrentInfo> snapshot(); // every torrent, ids assigned, stale ids pruned
    int id_of(const std::string& hash);
    Json torrent_fields(const RpcTorrentInfo& t, const std::vector<std::string>& fields);
    void forget(const std::string& hash);

    RpcNodeOps ops_;
    std::function<std::int64_t()> unix_now_;
    std::int64_t started_;
    std::map<std::string, int> ids_; // info hash (hex) -> id
    std::map<std::string, std::int64_t> added_;
    std::map<std::string, Limits> limits_;
    std::vector<std::pair<int, std::int64_t>> removed_; // (id, when) for "recently-active"
    int next_id_ = 1;
    std::size_t answer_cap_ = 0;
    bool start_added_ = true; // session-set start-added-torrents (for this run): false adds every torrent paused
    std::uint64_t session_up_kb_ = 0, session_down_kb_ = 0; // the numbers shown while a global limit is off
    Counters counters_;
    LifeToken life_; // an add answered after we are gone (ops.add_async's done) touches nothing
};

} // namespace p2p
