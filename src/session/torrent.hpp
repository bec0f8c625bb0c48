// One torrent: its metainfo, storage, piece picker, choker and peer links. Implements PeerOwner: the Session's
// router forwards every connection event here once the connection is bound to this torrent.
//
// Data flow of a download: blocks arrive (on_piece) -> copied into the piece's assembly buffer -> the last block
// completes it -> SHA-1 on libuv's threadpool -> ok: written to disk (Storage::write_piece) -> written: the piece
// joins `available_`, HAVE goes to every peer and it may be served. A piece is never announced or served before
// it has been verified and written. A failed hash returns its blocks to the picker and gives its contributors a
// strike; repeat offenders are banned.
//
// Serving: a request is answered from the storage read cache (whole pieces, shared buffers) or after one read of
// the piece; a peer's queued payload is capped (TorrentConfig::max_send_queue) and serving resumes when its
// transport drains.
//
// One class, several files, each with one job (the private section below is grouped the same way):
//   torrent.cpp           lifecycle: start, failure, the tick, resume saves, shutdown, status
//   torrent_links.cpp     dialling and admission, handshake checks, dropping a link
//   torrent_requests.cpp  availability, interest, request pipelining under the write budget, snubs
//   torrent_pieces.cpp    piece assembly, hashing, smart ban, writes and HAVE broadcast
//   torrent_serve.cpp     answering requests under the send queue caps and the upload limit
//   torrent_choke.cpp     choking, idle-slot lending, BEP 6 suggestions
//   torrent_peers.cpp     the console's per-peer rows
//   torrent_control.cpp   pause and resume, its own rate limits, the download limits' read pauses, deletion
// They stay members of one class because every one of them works on the same links, picker and counters: helper
// classes would each need most of the torrent's state, and the state would lose its single owner.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "loop/life_token.hpp"
#include "net/tcp_transport.hpp"
#include "peer/connection.hpp"
#include "proto/metainfo.hpp"
#include "session/handed_peer.hpp"
#include "session/peer_link.hpp"
#include "session/rate_limit.hpp"
#include "session/torrent_extensions.hpp"
#include "session/torrent_files.hpp"
#include "storage/storage.hpp"
#include "swarm/choker.hpp"
#include "swarm/picker.hpp"
#include "swarm/seed_suggest.hpp"

namespace p2p {

class Session;

struct TorrentConfig {
    std::string root_dir;                  // files live at root_dir/<name>[/...] (storage/placement.hpp)
    bool overwrite = false;                // a download may overwrite files that are not its own (--overwrite)
    StoragePlacement placement;            // a shared item: its files' own paths and stamps (storage.hpp)
    std::size_t max_peers = 60;            // connections for this torrent (both directions)
    std::size_t max_connecting = 8;        // outgoing attempts in flight
    std::size_t max_candidates = 500;      // addresses remembered to try (tracker, PEX)
    std::size_t max_send_queue = 4u << 20; // payload bytes queued to one peer before serving pauses
    std::uint64_t snub_ms = 30'000;        // no block for this long with requests out: snubbed
    std::uint32_t upload_slots = 4;
    StorageLimits storage;
    // File selection (--select-file): one entry per file, false = not downloaded (never created). Empty: the
    // selection in the resume record, else every file.
    std::vector<bool> wanted_files;
};

enum class TorrentPhase { checking, downloading, seeding, failed };
const char* phase_name(TorrentPhase p);

struct TorrentStatus {
    std::string name;
    std::string info_hash; // raw
    TorrentPhase phase = TorrentPhase::checking;
    std::uint64_t total = 0, have_bytes = 0;
    std::uint64_t downloaded = 0, uploaded = 0; // payload bytes this session
    // Payload bytes sent of pieces whose every byte had already been sent once (to anyone) this session: in a
    // seed-bound swarm, the seed's wasted capacity (the exit summary line prints it for tools/swarm).
    std::uint64_t resent = 0;
    // Seconds × peers that an unchoked, interested peer requested nothing from us (its slot was lent to another).
    std::uint64_t idle_slot_seconds = 0;
    double down_rate = 0, up_rate = 0;
    std::size_t peers = 0, candidates = 0;
    bool paused = false; // Torrent::pause(): no connections, data and resume state kept
    std::uint64_t max_upload_rate = 0, max_download_rate = 0; // its own limits (0 = none)
    std::string error;
};

class Torrent final : public PeerOwner, private ExtensionHost {
public:
    Torrent(Session& session, Metainfo meta, TorrentConfig cfg);
    ~Torrent() override;
    Torrent(const Torrent&) = delete;
    Torrent& operator=(const Torrent&) = delete;

    // Opens storage and finds what is already there: `all_present` (we just hashed these files) trusts the data;
    // otherwise resume data is used when it matches the files, else every piece is re-verified.
    void start(bool all_present);
    // Addresses to connect to (from trackers). Deduplicated, bounded by max_candidates.
    void add_candidates(const std::vector<sockaddr_storage>& addrs) { add_candidates(addrs, {}); }
    void add_candidates(const std::vector<sockaddr_storage>& addrs, const std::set<std::string>& prefers_mse) override;
    // An incoming connection whose handshake named this torrent; the link moves in here.
    bool adopt(std::unique_ptr<PeerLink> link);
    // A magnet's metadata-fetch connections (handed_peer.hpp): adopted once the files are placed (parked until
    // then, at most max_peers), closed when the torrent fails or shuts down first.
    void adopt_handed(std::vector<HandedPeer> peers);
    // Once a second from the session: timeouts, snubs, connecting, rechoke every 10 s.
    void tick(std::uint64_t now_ms);
    // Saves resume data (after pending writes) and closes every connection. done runs once.
    void shutdown(std::function<void()> done);

    TorrentStatus status();
    // One row per live connection, for the peer console's `peers` (src/session/torrent_peers.cpp).
    struct PeerSummary {
        std::string address; // "ip:port"
        std::string peer_id; // raw, 20 bytes once the handshake is in
        bool incoming = false;
        double have = 0;                   // fraction of the pieces the peer has, 0..1
        double down_rate = 0, up_rate = 0; // payload bytes/s
        std::uint64_t downloaded = 0, uploaded = 0;
        bool am_choking = true, am_interested = false, peer_choking = true, peer_interested = false;
        bool snubbed = false;
        bool utp = false, encrypted = false;
    };
    std::vector<PeerSummary> peer_summaries() const;
    // The session's upload limiter has tokens again for this link.
    void resume_serving(std::uint64_t token);
    // The download limits may let this link read again (it registered Session::wait_download).
    void resume_reading(std::uint64_t token);

    // ---- control (Session::pause_torrent / resume_torrent / set_torrent_limits / remove_torrent)
    // Pause closes every connection and cancels dials; nothing is dialled, accepted, requested or served until
    // resume(). Pieces being hashed or written finish; the data and the resume record stay. The peers we had
    // dialled are the first candidates on resume.
    void pause();
    void resume();
    bool paused() const { return paused_; }
    // Re-verify: every connection closes, pieces being assembled are dropped, and once the pieces at the hasher
    // and the writes in flight are done (checked each tick), every piece on disk is hashed again (phase
    // checking); the torrent then goes on from what is there, as after start(): a download fetches what is
    // missing, a complete one seeds. on_ready is not called again; on_complete is when it is complete. Refused
    // while checking, shutting down or failed.
    Status verify();
    // Its own payload rate limits, bytes/s (0 = none); the session's global limits apply as well.
    void set_rate_limits(std::uint64_t up, std::uint64_t down);
    // Each file: size, bytes inside verified pieces we have and whether it is wanted (torrent_files.hpp).
    std::vector<FileProgress> files() const;
    // File selection: which files to download (one entry per file). Unwanted files are never created; pieces
    // touching only unwanted files are not fetched; a piece shared with a wanted file is fetched whole, its
    // unwanted bytes kept in the storage's side file (storage.hpp). A newly wanted file is created and fetched
    // (a seeding torrent downloads again). Refused for a shared item or a list of the wrong size. Remembered in
    // the resume record.
    Status set_files_wanted(std::vector<bool> wanted);
    std::vector<bool> files_wanted() const { return storage_->wanted(); }
    // What deleting this download removes (its files, its resume record, its folders if empty); nothing for a
    // shared item, whose files are the user's.
    TorrentFiles downloaded_files() const;
    const Metainfo& meta() const override { return meta_; }
    // Where the files are: root_dir/save_name(). Not meta().name when a download was given a free name because
    // the user's own file stood at its path (renamed(); placement_note() says what was found).
    const std::string& save_name() const { return storage_->save_name(); }
    bool renamed() const { return renamed_; }
    const std::string& placement_note() const { return placement_note_; }
    // A shared item: its files are the user's, seeded where they are; no resume record is kept for them.
    bool is_shared_item() const { return !cfg_.placement.disk_paths.empty(); }
    const std::string& info_hash() const { return meta_.info_hash; }
    // Every wanted piece (one touching a wanted file) is verified and written: the download is done.
    bool complete() const { return picker_ ? wanted_have_ == wanted_pieces_.count() : available_.all(); }
    std::uint64_t left_bytes() const; // of the wanted pieces
    std::uint64_t wanted_bytes() const { return wanted_bytes_; } // the wanted pieces, whole
    std::uint64_t uploaded() const { return uploaded_; }
    std::uint64_t downloaded() const { return downloaded_; }
    // Callbacks for the node: all pieces verified and written; storage failed.
    std::function<void()> on_ready; // checking is over: the phase is downloading or seeding (announce now)
    std::function<void()> on_complete;
    std::function<void(const Error&)> on_failed;

    // Every connection, closed ones included (`dead`): for the session's per-IP count, the extensions and tests.
    const std::vector<std::unique_ptr<PeerLink>>& links() const override { return links_; }
    // Test hooks.
    std::size_t num_links() const { return links_.size(); }
    const std::vector<sockaddr_storage>& candidates() const { return candidates_; }
    bool dials_mse_first(const std::string& key) const { return prefers_mse_.count(key) > 0; } // see prefers_mse_

    // ---- PeerOwner
    bool on_handshake(PeerConnection& conn, const wire::Handshake& hs) override;
    void on_established(PeerConnection& conn) override;
    void on_port(PeerConnection& conn, std::uint16_t dht_port) override; // BEP 5 PORT: a DHT node to ping
    void on_bitfield(PeerConnection& conn, const swarm::Bitfield& bits) override;
    void on_have_all(PeerConnection& conn) override;
    void on_have_none(PeerConnection& conn) override;
    void on_have(PeerConnection& conn, std::uint32_t index) override;
    void on_choke(PeerConnection& conn) override;
    void on_unchoke(PeerConnection& conn) override;
    void on_interested(PeerConnection& conn) override;
    void on_not_interested(PeerConnection& conn) override;
    void on_request(PeerConnection& conn, const BlockRequest& r) override;
    void on_cancel(PeerConnection&, const BlockRequest&) override {}
    void on_piece(PeerConnection& conn, std::uint32_t index, std::uint32_t begin, std::string_view block,
                  bool requested) override;
    void on_reject(PeerConnection& conn, const BlockRequest& r) override;
    void on_suggest(PeerConnection& conn, std::uint32_t index) override;
    void on_send_drained(PeerConnection& conn) override;
    void on_extended(PeerConnection& conn, std::uint8_t ext_id, std::string_view payload) override;
    void on_closed(PeerConnection& conn, const Error& why) override;

private:
    // A piece being assembled in memory, and who sent each block (for banning).
    struct Assembly {
        std::shared_ptr<std::string> data;
        std::vector<std::string> block_from; // sender's ban_key per 16 KiB block
    };
    PeerLink& link_of(PeerConnection& conn) { return *static_cast<PeerLink*>(conn.context()); }
    std::uint64_t now_ms() const override;

    // ---- torrent.cpp: lifecycle
    void begin_with(const std::vector<bool>& have, bool reverified = false);
    void run_verify();                // torrent_control.cpp
    void close_links(const char* why); // pause and verify: every link closed, dialled peers kept as candidates
    // Recomputes the wanted pieces and their counters from the storage's selection; updates the picker.
    void apply_selection();
    void set_failed(const Error& e);
    void save_resume(std::function<void()> done);

    // ---- torrent_links.cpp: dialling, admission, dropping
    void connect_more();
    void dial(const sockaddr_storage& addr);
    void dialled(std::uint64_t attempt, const std::string& key, const sockaddr_storage& addr,
                 Result<std::unique_ptr<Transport>> r);
    void cancel_dials();
    void attach(std::unique_ptr<PeerLink> link);
    PeerLink* same_peer(const PeerLink& link, const std::string& peer_id); // another live link to that peer id
    void drop(PeerLink& link, const std::string& why) override; // closes, destroys it later; no callbacks follow
    void forget_peer(PeerLink& link);
    PeerLink* find_token(std::uint64_t token);
    std::vector<PeerLink*> link_snapshot() const; // links_ may change while we iterate: iterate over this

    // ---- torrent_requests.cpp: interest and requests
    void update_interest(PeerLink& link);
    // Whether a connected peer may still ask for piece `index`: fewer peers known to have it than links, counting
    // `getting` more as having it (a peer just sent all of it); true when nothing is known (no picker yet). The
    // read cache keeps a piece only while this holds (piece_hashed, serve, on_have): a leecher tells a seed of no
    // piece, so a seed would otherwise keep every piece it sent.
    bool may_be_asked(std::uint32_t index, std::size_t getting = 0) const {
        return !picker_ || picker_->availability(index) + getting < links_.size();
    }
    void fill_requests(PeerLink& link);
    void fill_all_requests();
    void check_snubs(std::uint64_t now_ms);
    // Download limits: counts a received block; a bucket in debt pauses the link's reading.
    void count_received(PeerLink& link, std::size_t n);
    std::uint64_t download_limit() const; // the lowest limit that applies (0 = none)

    // ---- torrent_pieces.cpp: assembly, hashing, banning, writing
    void store_block(PeerLink& link, std::uint32_t index, std::uint32_t begin, std::string_view block);
    void piece_assembled(std::uint32_t index);
    void piece_hashed(std::uint32_t index, Assembly a, bool ok);
    void piece_failed(std::uint32_t index, const Assembly& a);
    void smart_ban(std::uint32_t index, const std::string& good);
    void ban_ip(const std::string& ip, const std::string& why);
    void strike(std::uint64_t token);
    void piece_written(std::uint32_t index, Status st);
    void became_seed(const std::vector<PeerLink*>& ls);
    // Bans are per IP; on loopback, where every peer shares one IP, per ip:port.
    static std::string ban_key(const std::string& address);

    // ---- torrent_serve.cpp: serving
    void serve(PeerLink& link, std::uint32_t hint_index = UINT32_MAX,
               std::shared_ptr<const std::string> hint = nullptr);
    void read_to_serve(PeerLink& link, std::uint32_t index);
    void count_sent(const BlockRequest& r);

    // ---- torrent_choke.cpp: choking and suggestions
    void rechoke(std::uint64_t now_ms);
    void unchoke(PeerLink& link);
    void choke(PeerLink& link);
    void suggest_to(PeerLink& link);
    static std::vector<std::uint32_t> unfinished_pieces(PeerConnection& c);
    void fill_free_slot();
    bool upload_idle(const PeerLink& l) const;
    std::size_t track_idle_uploads();
    void check_suggesters();

    // ---- ExtensionHost (the rest of it is public above, or drop/now_ms)
    std::uint16_t listen_port() const override;
    const std::string& client_name() const override;
    bool knows_address(const std::string& key) const override { return known_addresses_.count(key) > 0; }
    void add_known_address(const std::string& key) override { known_addresses_.insert(key); }

    Session& session_;
    uv_loop_t* loop_;
    Metainfo meta_;
    TorrentConfig cfg_;
    TorrentGeometry geometry_;
    std::unique_ptr<Storage> storage_;
    std::unique_ptr<swarm::PiecePicker> picker_;
    swarm::Choker choker_;
    // While seeding: which never-sent pieces each unchoked fast peer is steered to (BEP 6 suggest; null before).
    std::unique_ptr<swarm::SeedSuggest> suggest_;
    swarm::Bitfield available_;     // verified and written: what we announce and serve
    swarm::Bitfield all_pieces_;    // a full bitfield, the `peer_has` of HaveAll peers
    swarm::Bitfield wanted_pieces_; // pieces touching a wanted file (file selection; all when none is made)
    std::uint32_t wanted_have_ = 0; // wanted pieces in available_
    std::uint64_t wanted_bytes_ = 0, wanted_have_bytes_ = 0;
    TorrentPhase phase_ = TorrentPhase::checking;
    bool renamed_ = false;
    std::string placement_note_;
    Error error_;

    std::vector<std::unique_ptr<PeerLink>> links_;
    std::unordered_map<std::uint64_t, PeerLink*> by_token_;
    std::vector<sockaddr_storage> candidates_; // to try, newest last; bounded by max_candidates
    std::set<std::string> known_addresses_;    // tried or connected, so candidates are not repeated
    // Candidates a PEX message flagged as preferring encryption (BEP 11 0x01): under --encryption allow they are
    // dialled with MSE first, as prefer would (no plaintext attempt that a peer requiring RC4 closes). An entry
    // leaves when its address is dialled; bounded like candidates_.
    std::set<std::string> prefers_mse_;
    // One more dial of a peer that closed before its handshake (torrent_links.cpp, drop()): each address once.
    struct Redial {
        sockaddr_storage addr;
        std::uint64_t due_ms;
    };
    static constexpr std::uint64_t kRedialDelayMs = 2000;
    std::vector<HandedPeer> parked_; // adopt_handed() before the files are placed; bounded by cfg_.max_peers
    void adopt_parked();
    void adopt_one(HandedPeer h);
    static constexpr std::size_t kMaxRedialled = 1024;
    std::vector<Redial> redials_; // at most kMaxRedialled over the torrent's life
    // Seeds we parted with while seeding (both sides had everything): their listen addresses, newest last, so a
    // re-verify that finds damage dials them again (they have what we lost; a seed never dials a seed back).
    static constexpr std::size_t kMaxPartedSeeds = 32;
    std::vector<sockaddr_storage> parted_seeds_;
    void part_with_seed(PeerLink& link); // remembers it, then drop()
    std::set<std::string> redialled_;
    std::set<std::string> banned_;                   // addresses that sent bad data repeatedly
    std::unordered_map<std::uint64_t, int> strikes_; // per token
    std::size_t connecting_ = 0;
    // Outgoing attempts in flight, by a number of their own; bounded by max_connecting.
    std::map<std::uint64_t, std::unique_ptr<Connecting>> connect_attempts_;
    std::uint64_t last_attempt_ = 0;

    // Pieces being assembled: index -> buffer of the piece's size, and who sent each block. Bounded by the
    // session's write pool (fill_requests).
    std::unordered_map<std::uint32_t, Assembly> assembling_;
    // Smart ban: for a piece that failed its hash, each block's SHA-1 and sender. When the piece later passes,
    // a sender whose block differs from the good data sent corrupt data and is banned, however many peers
    // contributed. Bounded by kMaxSuspectPieces.
    struct SuspectBlock {
        std::string sha1;
        std::string ip;
    };
    std::unordered_map<std::uint32_t, std::vector<SuspectBlock>> suspects_;
    std::size_t assembling_bytes_ = 0;
    std::size_t writes_in_flight_ = 0;
    std::vector<std::uint32_t> hashing_; // pieces at the hasher (status), still in the write pool (torrent_pieces.cpp)

    std::uint64_t downloaded_ = 0, uploaded_ = 0, wasted_ = 0;
    std::vector<std::uint32_t> sent_bytes_; // per piece: payload bytes served (saturating), for `resent_`
    std::uint64_t resent_ = 0;
    std::uint32_t pieces_sent_whole_ = 0; // pieces whose every byte went out at least once
    std::uint64_t idle_upload_slot_ticks_ =
        0; // sum over ticks of idle unchoked peers (status: how often slots were lent)
    std::uint64_t last_rechoke_ms_ = 0;
    std::uint64_t last_resume_save_ms_ = 0;
    bool resume_dirty_ = false;
    // Resume saves are serialized: they share one temporary file name. Callers arriving during a save wait
    // for the next one, which records the state as it is then.
    bool saving_resume_ = false;
    std::vector<std::function<void()>> resume_waiters_;
    bool shutting_down_ = false;
    bool paused_ = false;
    bool verify_pending_ = false; // verify() asked; run_verify once hashing_ and writes are done
    RateBucket up_limit_, down_limit_; // this torrent's own limits
    std::function<void()> pending_shutdown_;
    std::unique_ptr<TorrentExtensions> ext_; // BEP 10 handshake, BEP 9 serving, BEP 11 PEX
    // Last: it expires first, so a storage, hashing or connect callback that finds it expired touches nothing.
    LifeToken life_;
};

} // namespace p2p
