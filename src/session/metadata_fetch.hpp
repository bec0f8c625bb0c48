// MetadataFetch: gets one torrent's info dictionary from peers by its info hash (BEP 9 ut_metadata over the BEP 10
// extension protocol), for downloads started from a magnet link, a bare info hash or a catalog name.
//
// How: addresses come in through add_candidates() (trackers, later PEX), and peers that dial us come in through
// add_transport(): with cfg.incoming set the fetch registers its info hash there while it runs, and the Session
// hands it accepted connections whose handshake names that hash (a seed that announced after us learns our
// address from the tracker before we learn its, and only its dialling us can bring the metadata). Up to
// max_peers of them are connected
// at once with metadata-only PeerConnections (no geometry: see PeerConnection::outgoing_without_metadata). After
// the BitTorrent handshake we send our BEP 10 handshake (m = {ut_metadata: ext::kUtMetadataId}, p, v). A peer
// whose handshake names ut_metadata and a metadata_size is asked for 16 KiB metadata pieces, at most
// max_outstanding_per_peer at a time, spread over the peers; a piece not answered within request_timeout_ms (or
// rejected) is asked again, of another peer when there is one. When every piece is in, the whole is checked
// against the info hash (MetadataAssembler::verify): on a mismatch every peer that sent a piece is dropped and
// the fetch starts over, from one peer at a time; a sole contributor of bad metadata is barred. metadata_size
// above ext::kMaxMetadataSize, or a piece that does not fit, drops that peer.
//
// done(Result<Metainfo>) is called exactly once: with the parsed info dict (parse_info_dict checks the hash
// again; trackers are empty, the caller adds them), with an error when the owner calls give_up(), or with
// parse_info_dict's error when verified metadata does not parse (the torrent itself is bad: no peer can do
// better). Otherwise the fetch keeps looking for peers until the owner's deadline. After done() nothing else is
// called back, and every connection is closed except, on success, the established ones whose BEP 10 handshake we
// kept: those are parked (handed_peer.hpp) for take_handed(), so the torrent goes on with them instead of dialling
// the same peers again. Those not taken close when the fetch is destroyed.
//
// Lifetime: the owner owns the MetadataFetch and must not destroy it inside done() (or any other callback of it):
// defer the destruction (Loop::defer_delete). Connections are owned here; a dropped one is marked dead at once
// and destroyed after the current callback (Loop::defer_delete), never inside its own callback.
//
// A peer whose handshake carries our own peer id (a tracker that lists us to ourselves) is dropped and barred.
//
// Bounds: max_peers connections plus max_peers connection attempts, each also counted in the session's connection
// cap (cfg.connections); max_candidates addresses waiting;
// kMaxKnown addresses remembered (tried or barred); max_outstanding_per_peer requests per peer; the metadata
// itself ext::kMaxMetadataSize.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "net/connecting.hpp"
#include "net/transport.hpp"
#include "peer/connection.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "session/connection_count.hpp"
#include "session/handed_peer.hpp"

namespace p2p {

class MetadataFetch;

// The info hashes being fetched, for the session's listener (Session::incoming_fetches): an incoming connection
// whose handshake names one is handed to that fetch, since no Torrent exists yet to take it. Shared by the Session
// and the fetches, so either may be destroyed first. A fetch is registered from its construction until it
// finishes. Bounded by the fetches alive (the owner caps them); a second fetch of a hash is not registered.
class IncomingFetches {
public:
    MetadataFetch* find(const std::string& info_hash) const;
    bool empty() const { return by_hash_.empty(); }
    std::size_t size() const { return by_hash_.size(); }
    // The first info hash of a fetch that `pred` accepts (MSE's search by HASH('req2', info hash)).
    template <class Pred>
    std::optional<std::string> find_if(Pred pred) const {
        for (const auto& [hash, _] : by_hash_)
            if (pred(hash)) return hash;
        return std::nullopt;
    }

private:
    friend class MetadataFetch;
    void add(const std::string& info_hash, MetadataFetch* f) { by_hash_.emplace(info_hash, f); }
    void remove(const std::string& info_hash, const MetadataFetch* f);
    std::map<std::string, MetadataFetch*> by_hash_;
};

struct MetadataFetchConfig {
    std::string info_hash;                        // raw 20 bytes
    std::uint16_t listen_port = 0;                // our TCP port, sent as "p" in the extension handshake (0: left out)
    std::string client = "p2pnode";               // "v"
    std::size_t max_peers = 8;                    // connections and connection attempts at once
    std::shared_ptr<ConnectionCount> connections; // the session's count: each attempt or connection takes a slot
                                                  // (null: max_peers alone bounds them)
    std::shared_ptr<IncomingFetches> incoming;    // the session's registry (Session::incoming_fetches): peers that
                                                  // dial us are handed over (null: only our own connections)
    TransportLimits transport;                    // receive limits and memory accounting (the session's plan)
    DialFn dial;                                  // how to reach a peer (Session::dialer); null: TCP only
    std::size_t max_candidates = 500;             // addresses waiting to be tried
    std::size_t max_outstanding_per_peer = 3;     // metadata pieces asked of one peer at a time
    std::uint64_t request_timeout_ms = 10'000;
    std::uint64_t connect_timeout_ms = 10'000;
    std::uint64_t tick_ms = 1000; // timeouts and keep-alives; 0: no timer (tests call tick())
    PeerConfig peer;              // peer_id (20 bytes) and clock are required
};

struct MetadataFetchStatus {
    std::size_t connecting = 0;    // TCP attempts in flight
    std::size_t peers = 0;         // connections (handshaking or established)
    std::size_t with_metadata = 0; // peers that offered ut_metadata with a size
    std::size_t candidates = 0;    // addresses waiting
    std::uint32_t pieces_have = 0, pieces_total = 0;
    std::int64_t metadata_size = 0;  // 0 until a peer told us
    std::size_t tried = 0;           // connections made so far
    std::size_t verify_failures = 0; // assembled metadata that did not match the info hash
};

class MetadataFetch final : private PeerOwner {
public:
    using Done = std::function<void(Result<Metainfo>)>;
    static constexpr std::size_t kMaxKnown = 4096;         // addresses remembered as tried or barred
    static constexpr std::size_t kMaxKeptHandshake = 4096; // a larger BEP 10 handshake: the peer is not handed on

    MetadataFetch(Loop& loop, MetadataFetchConfig cfg, Done done);
    ~MetadataFetch() override;
    MetadataFetch(const MetadataFetch&) = delete;
    MetadataFetch& operator=(const MetadataFetch&) = delete;

    // Addresses to try. Deduplicated against what is waiting, connected or barred; bounded by max_candidates.
    void add_candidates(const std::vector<sockaddr_storage>& addrs);
    // Takes an already connected transport (an incoming connection, or a test's FakeTransport) and starts a
    // metadata-only connection over it: our handshake goes out at once, the peer's may already be waiting in it.
    // Returns nullptr when taken; the transport itself, untouched (not started), when refused: finished, at
    // max_peers, or the session's connection cap is full. The caller disposes of it (outside its callbacks).
    std::unique_ptr<Transport> add_transport(std::unique_ptr<Transport> t);
    // Timeouts, re-asks, keep-alives, more connections. Called by the internal timer every tick_ms.
    void tick();
    // Ends the fetch: done(error) unless done was already called.
    void give_up(const Error& why);

    bool finished() const { return finished_; }
    MetadataFetchStatus status() const;
    // After a successful done(): the parked connections for the torrent (Torrent::adopt_handed). Once.
    std::vector<HandedPeer> take_handed() { return std::move(handed_); }
    // Addresses of the peers that completed a handshake with us, for the torrent to connect to afterwards.
    const std::vector<sockaddr_storage>& good_peers() const { return good_peers_; }
    const std::string& info_hash() const { return cfg_.info_hash; }

private:
    struct Peer {
        std::unique_ptr<PeerConnection> conn;
        std::string address;
        sockaddr_storage addr{};
        bool has_addr = false;
        bool established = false;
        std::uint64_t established_at = 0;
        std::uint8_t ut_metadata = 0;   // the peer's id for ut_metadata (0: none)
        std::int64_t metadata_size = 0; // from its handshake
        struct Ask {
            std::uint32_t piece;
            std::uint64_t at_ms;
        };
        std::vector<Ask> asked;           // bounded by cfg_.max_outstanding_per_peer
        std::vector<std::uint32_t> sent;  // pieces this peer gave for the current attempt
        std::size_t misses = 0;           // rejects and timeouts
        std::vector<std::uint32_t> avoid; // pieces it rejected or let time out; bounded: kMaxMisses drops it
        std::string ext_handshake;        // its BEP 10 handshake (at most kMaxKeptHandshake bytes), for the torrent
        bool accepted = false;            // it dialled us (handed over by the session): incoming for the torrent
        bool dead = false;                // closed: no callback follows; destroyed after the current callback
        ConnectionSlot slot;              // its place under the session's connection cap
    };
    struct Attempt; // a TCP connection attempt in flight

    void connect_more();
    std::unique_ptr<Connecting> dial(const sockaddr_storage& addr, std::uint64_t timeout_ms, ConnectCallback cb,
                                     TransportLimits limits);
    void start_peer(std::unique_ptr<Transport> t, const sockaddr_storage* addr, ConnectionSlot slot);
    void drop(Peer& p, const std::string& why, bool bar); // close, forget, destroy later
    void retire(Peer& p);                                 // out of peers_, destroyed after the current callback
    void pump();                                          // sends requests to peers with free slots
    bool ask_one(Peer& p, std::uint64_t now);             // one more request of this peer; false if none
    void on_metadata_size(Peer& p, std::int64_t size);
    void on_data(Peer& p, const ext::MetadataMessage& m);
    void assembled();
    void finish(Result<Metainfo> r);
    void forget_asks_of(Peer& p);
    std::uint64_t now() const { return cfg_.peer.clock(); }
    Peer& peer_of(PeerConnection& c) { return *static_cast<Peer*>(c.context()); }
    void remember(const std::string& key);
    void remember_listen_address(Peer& p, std::uint16_t port);

    // PeerOwner
    bool on_handshake(PeerConnection& conn, const wire::Handshake& hs) override;
    void on_established(PeerConnection& conn) override;
    void on_extended(PeerConnection& conn, std::uint8_t ext_id, std::string_view payload) override;
    void on_closed(PeerConnection& conn, const Error& why) override;

    Loop& loop_;
    MetadataFetchConfig cfg_;
    Done done_;
    bool finished_ = false;

    std::vector<std::unique_ptr<Peer>> peers_;       // bounded by cfg_.max_peers
    std::vector<std::unique_ptr<Attempt>> attempts_; // bounded by cfg_.max_peers
    std::deque<sockaddr_storage> candidates_;        // bounded by cfg_.max_candidates
    std::set<std::string> known_;                    // waiting, connected or tried; bounded by kMaxKnown
    std::set<std::string> barred_;                   // sent pieces of bad metadata; bounded by kMaxKnown
    std::vector<sockaddr_storage> good_peers_;       // bounded by kMaxKnown
    std::vector<HandedPeer> handed_;                 // after success, until taken; bounded by cfg_.max_peers
    std::size_t tried_ = 0;
    std::size_t verify_failures_ = 0;

    // The metadata being assembled. The size is taken from the first peer that offers one; asked_at_ is our own
    // bookkeeping of requests (so a reject or a dropped peer can make a piece wanted again at once).
    ext::MetadataAssembler assembler_;
    std::vector<std::uint64_t> asked_at_; // per piece: 0 = not asked (or the ask was given up)
    std::size_t rotate_ = 0;              // where pump() starts, so requests spread over the peers
    // After a failed verification with several contributors: ask one peer at a time, so the next failure names
    // its culprit (a sole contributor of bad metadata is barred; an honest one among several never is).
    bool single_source_ = false;
    Timer timer_;
    LifeToken life_; // connect callbacks check it; last, so it expires first
};

} // namespace p2p
