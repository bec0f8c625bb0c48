// The peer's metadata fetches (BEP 9): a magnet link, a bare info hash or a catalog name has no metainfo yet.
// Each fetch announces the info hash to its trackers as a leecher with `left` unknown, feeds the peers it
// learns to a MetadataFetch, and reports the verified info dictionary (or why not) once.
//
// Every way a fetch ends tells its trackers `stopped` before its announcer goes: a success (the torrent then
// announces `started` itself once its files are placed, so a torrent that fails before that leaves no leecher
// behind), a failure, a give-up (the --exit-when-done deadline), and stop_all() at quit (bounded wait). No ghost
// leecher is left on the tracker.
//
// Bounds: kMaxFetches at once (and the session's memory plan). Callbacks run from the loop, never inside
// start(); the fetch, announcer and timer of a finished fetch are destroyed after the callback that ended it.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "node/tracker_tiers.hpp"
#include "session/announcer.hpp"
#include "session/metadata_fetch.hpp"
#include "session/session.hpp"

namespace p2p {

struct FetchedMetadata {
    std::string info_hash;              // raw 20 bytes
    std::string label;                  // dn, catalog name, or the start of the hex hash
    Result<Metainfo> meta;              // trackers empty: `tiers` are the magnet's
    std::vector<sockaddr_storage> hint; // peers that completed a handshake: they have it
    TrackerTiers tiers;                 // the magnet's tr= URLs (BEP 12: one tier each)
    std::vector<HandedPeer> handed;     // on success: the fetch's connections, for Torrent::adopt_handed
};

struct FetchRow {
    std::string info_hash, label;
    bool paused = false; // MetadataFetches::pause: no connections, no announces; status is empty
    MetadataFetchStatus status;
    std::vector<TrackerStatus> trackers;
};

class MetadataFetches {
public:
    using Done = std::function<void(FetchedMetadata)>;
    static constexpr std::size_t kMaxFetches = 64;
    static constexpr std::uint64_t kStopTimeoutMs = 3000; // `stopped` announces: wait this long at most

    MetadataFetches(Loop& loop, Session& session, TrackerClients& clients, std::vector<std::string> cli_trackers,
                    Done done);
    ~MetadataFetches();
    MetadataFetches(const MetadataFetches&) = delete;
    MetadataFetches& operator=(const MetadataFetches&) = delete;

    // Starts a fetch (a second one for the same hash is a no-op). `give_up_ms` > 0: fail after that long. Fails at
    // once, with the reason, when there are too many or no tracker to find peers on.
    // `peers`: addresses to dial at once (a magnet's x.pe); with some, no tracker is needed.
    Status start(const std::string& info_hash, const std::string& label,
                 const std::vector<std::string>& magnet_trackers, std::uint64_t give_up_ms,
                 const std::vector<sockaddr_storage>& peers = {});
    bool has(const std::string& info_hash) const { return fetches_.count(info_hash) > 0; }
    bool paused(const std::string& info_hash) const {
        auto it = fetches_.find(info_hash);
        return it != fetches_.end() && !it->second.fetch;
    }
    // The label (dn, catalog name) of a fetch, empty when there is none.
    std::string label(const std::string& info_hash) const {
        auto it = fetches_.find(info_hash);
        return it == fetches_.end() ? std::string() : it->second.label;
    }
    // Pause: the fetch's connections close and its trackers hear `stopped`; the entry stays (listed as paused)
    // with what resume() needs to start it again: the magnet's trackers and x.pe peers, the give-up time.
    // False when there is no such fetch or it is paused already. Never call these from a fetch's own callback
    // (they destroy the fetch at once); the node calls them from console, RPC and API commands.
    bool pause(const std::string& info_hash);
    bool resume(const std::string& info_hash);
    // Remove: as pause, and the entry goes. False when there is none.
    bool cancel(const std::string& info_hash);
    // Peers found elsewhere (the DHT, LSD) for a fetch in progress; ignored when there is none.
    void add_candidates(const std::string& info_hash, const std::vector<sockaddr_storage>& addrs);
    // Whether peers can come from somewhere other than trackers (the DHT or LSD): then a fetch with no tracker
    // starts and waits for them instead of failing at once.
    void set_trackerless_ok(bool ok) { trackerless_ok_ = ok; }
    bool empty() const { return fetches_.empty(); }
    std::vector<FetchRow> rows() const;
    // Quit: every fetch ends without a callback; its trackers are told `stopped`; done runs once all answered or
    // after kStopTimeoutMs.
    void stop_all(std::function<void()> done);

private:
    struct Fetch {
        std::string label;
        TrackerTiers tiers;                  // the magnet's
        TrackerTiers all_tiers;              // with --tracker's: what the announcer uses
        std::vector<sockaddr_storage> peers; // the magnet's x.pe, dialled again on resume
        std::uint64_t give_up_ms = 0;
        // Null while paused (the announcer too).
        std::unique_ptr<MetadataFetch> fetch;
        std::unique_ptr<Announcer> announcer;
        std::unique_ptr<Timer> deadline;
    };
    void launch(const std::string& hash, Fetch& f); // the fetch, its announcer and its deadline
    void halt(Fetch& f);                            // the reverse: `stopped` sent, the fetch gone
    void finished(const std::string& hash, Result<Metainfo> r);
    bool trackerless_ok_ = false;
    // Sends `stopped` and destroys the announcer once answered (or timed out); done after that.
    void retire(std::unique_ptr<Announcer> a, std::function<void()> done = nullptr);

    Loop& loop_;
    Session& session_;
    TrackerClients& clients_;
    std::vector<std::string> cli_trackers_;
    Done done_;
    std::map<std::string, Fetch> fetches_; // by info hash; bounded by kMaxFetches
    LifeToken life_;
};

} // namespace p2p
