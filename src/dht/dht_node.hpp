// A Mainline DHT node (BEP 5): client and server over one UDP socket it does not own.
//
// Pure like the rest of src/dht/: no uv.h, no I/O, no clock. The owner (src/node/peer_node_dht.cpp, the tracker
// node) feeds it datagrams (on_datagram), calls tick() on a timer (every 100-250 ms; every deadline inside is
// checked there), sends what it asks through the Send callback (UtpSocket::send_other: the DHT shares the uTP
// socket, as libtorrent's and Transmission's do) and resolves bootstrap host names for it (add_bootstrap). So a
// network of hundreds of nodes runs in one test under a fake clock (test/test_dht_node.cpp).
//
// Parts (each in its own file):
//   dht_node.cpp    transactions (our queries and their timeouts), the answers to other nodes' queries (ping,
//                   find_node, get_peers, announce_peer; error 203/204), routing-table upkeep (ping-before-evict,
//                   bucket refresh, bootstrap), BEP 42 (our id follows the external address that nodes report)
//   dht_search.cpp  lookups (proto-free: dht/lookup.hpp) for find_node and get_peers, announce_peer to the 8 closest
//                   with their tokens, and the torrents tracked for periodic re-announce
//   dht_state.cpp   the saved state (our id and good nodes, JSON), the console's text
//
// Bounds (all written here): kMaxPending transactions in flight, kMaxSearches lookups at once (more torrents wait
// in a queue bounded by kMaxTracked), per-lookup query cap (LookupConfig::max_queries), the routing table's
// 160 x K, the peer store's caps, the rate limiter's table, one reply per query and replies to unverified nodes no
// larger than max_reply_bytes().
//
// Callbacks (Send, Peers, Done) run inside on_datagram()/tick()/the search calls; they must not destroy the node.
// A search callback may call cancel() or start another search.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dht/lookup.hpp"
#include "dht/peer_store.hpp"
#include "dht/rate_limiter.hpp"
#include "dht/routing_table.hpp"
#include "dht/tokens.hpp"
#include "dht/types.hpp"

namespace p2p::dht {

inline constexpr std::size_t kMaxPending = 1024;           // our queries in flight (each ~100 bytes of bookkeeping)
inline constexpr std::size_t kMaxSearches = 16;            // lookups at once; more wait
inline constexpr std::size_t kMaxTracked = 4096;           // torrents announced periodically
inline constexpr TimeMs kSoftTimeoutMs = 1000;             // a lookup stops waiting for a slow node (libtorrent: 1 s)
inline constexpr TimeMs kQueryTimeoutMs = 5000;            // then the query is given up
inline constexpr TimeMs kReannounceMinMs = 15 * 60 * 1000; // BEP 5 practice: re-announce every 15-30 minutes
inline constexpr TimeMs kReannounceMaxMs = 30 * 60 * 1000;
inline constexpr TimeMs kBootstrapRetryMs = 10 * 1000; // while the table is nearly empty, ask the bootstraps again
inline constexpr std::size_t kMinHealthyNodes = 8;     // below this the table is "bootstrapping"
inline constexpr std::size_t kMaxBootstrap = 32;       // bootstrap addresses kept
inline constexpr std::size_t kMaxPeersPerReply = 50;   // values in our get_peers reply (fits 1500 bytes with v6)

struct DhtConfig {
    RoutingConfig routing;
    LookupConfig lookup;
    PeerStoreConfig store;
    RateLimitConfig rate;
    bool read_only = false;             // BEP 43: query only, never answer (not used by p2pnode itself)
    std::string version = "P2\x00\x01"; // BEP 5 "v": BEP 20 client id "P2" and version 0.1 (2 bytes)
};

struct DhtStats {
    std::size_t nodes = 0, good = 0, questionable = 0, replacements = 0;
    std::vector<BucketStats> buckets;
    std::size_t searches = 0, queued_searches = 0, pending = 0, tracked = 0;
    std::size_t stored_torrents = 0, stored_peers = 0;
    std::uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0;
    std::uint64_t queries_in = 0, replies_in = 0, errors_in = 0, dropped_in = 0, rate_limited = 0, timeouts = 0;
    std::uint64_t lookups_done = 0, lookup_queries = 0; // queries sent by finished lookups (packets per lookup)
    std::size_t memory_bytes = 0;
    NodeId id;
    std::optional<Endpoint> external; // our address as nodes report it (BEP 42 "ip")
};

class DhtNode {
public:
    // Sends one datagram; false if it was dropped (the socket's batch is full).
    using Send = std::function<bool(const Endpoint& to, std::string datagram)>;
    using Peers = std::function<void(const std::vector<Endpoint>& peers)>; // new peers only (deduplicated)
    using Done = std::function<void(std::size_t peers_found)>;

    DhtNode(DhtConfig cfg, Send send, NodeId id, TimeMs now);
    ~DhtNode();
    DhtNode(const DhtNode&) = delete;
    DhtNode& operator=(const DhtNode&) = delete;

    // --- what the owner feeds in ---
    void on_datagram(std::string_view datagram, const Endpoint& from, TimeMs now);
    void tick(TimeMs now);
    // A bootstrap node (a resolved --dht-bootstrap or well-known router): asked find_node(our id) now and again
    // while the table has fewer than kMinHealthyNodes good nodes.
    void add_bootstrap(const Endpoint& addr, TimeMs now);
    // A node learned elsewhere (BEP 5 PORT message, a .torrent's "nodes"): pinged; it enters the table if it answers.
    void add_node(const Endpoint& addr, TimeMs now);

    // --- searches ---
    // get_peers for info_hash: peers as they arrive, then done. announce_port > 0: announce_peer to the 8 closest
    // with their tokens at the end (implied_port = true when `implied`: the UDP source port is our uTP port,
    // which BEP 5 lets the peer use). Returns an id for cancel(); 0 if refused (too many waiting).
    std::uint64_t get_peers(const NodeId& info_hash, std::uint16_t announce_port, bool implied, Peers peers, Done done,
                            TimeMs now);
    void cancel(std::uint64_t search_id);
    // Track a torrent: get_peers + announce now and every 15-30 minutes until untrack(); peers go to `peers`.
    // A second track() of the same hash replaces the callback. False when kMaxTracked are tracked.
    bool track(const NodeId& info_hash, std::uint16_t announce_port, bool implied, Peers peers, TimeMs now);
    void untrack(const NodeId& info_hash);
    // Ask again now (a download that has no peers), at most once per 5 s.
    void refresh(const NodeId& info_hash, TimeMs now);

    // --- state ---
    const NodeId& id() const { return table_.self(); }
    const std::optional<Endpoint>& external() const { return external_; } // as nodes report it (BEP 42 "ip")
    DhtStats stats(TimeMs now) const;
    std::size_t memory_bytes() const;
    // JSON: {"id": hex, "nodes": [{"ip": "...", "port": n, "id": hex}, ...]} (good nodes, at most 200).
    std::string save_state(TimeMs now) const;
    // Reads save_state()'s JSON: returns the saved id (if any) and pings every saved node. Bad input: ignored.
    static std::optional<NodeId> saved_id(std::string_view json);
    void load_nodes(std::string_view json, TimeMs now);
    // --max-memory: lower the store's caps to fit bytes.
    void set_memory_limit(std::size_t bytes);

    // The text of the console's `dht` command (several lines).
    std::string describe(TimeMs now) const;

private:
    enum class Purpose : std::uint8_t { ping, bootstrap, search, announce };
    struct Pending {
        Contact to; // id all zero when unknown (bootstrap, add_node)
        bool id_known = false;
        Purpose purpose = Purpose::ping;
        std::uint64_t search = 0;
        TimeMs sent = 0;
        bool slow = false;
    };
    struct Search {
        std::uint64_t id = 0;
        NodeId target;
        bool get_peers = false; // else find_node
        std::uint16_t announce_port = 0;
        bool implied = false;
        Lookup lookup;
        Peers peers;
        Done done;
        std::set<std::string> seen_peers; // compact address bytes already reported (bounded by kMaxSeenPeers)
        std::size_t found = 0;
        TimeMs started = 0;
        bool running = false; // false while queued for a slot
        Search(std::uint64_t i, const NodeId& t, LookupConfig c) : id(i), target(t), lookup(t, c) {}
    };
    struct Tracked {
        std::uint16_t port = 0;
        bool implied = false;
        Peers peers;
        TimeMs next = 0;
        TimeMs last_refresh = 0;
        TimeMs backoff = 0;       // after a lookup that found nothing: 2 s, doubling to 60 s
        std::uint64_t search = 0; // running, 0 if none
    };

    // dht_node.cpp
    bool send_query(const Endpoint& to, const std::optional<NodeId>& id, const krpc::Query& q, Purpose purpose,
                    std::uint64_t search, TimeMs now);
    void handle_query(const krpc::Message& m, std::size_t size, const Endpoint& from, TimeMs now);
    void handle_reply(const krpc::Message& m, const Endpoint& from, TimeMs now);
    void send_reply(const Endpoint& to, std::string datagram);
    void note_external(const Endpoint& reported, const Endpoint& from, TimeMs now);
    void expire_pending(TimeMs now);
    void maintain(TimeMs now);
    std::vector<krpc::NodeInfo> nodes_for(const NodeId& target, bool v6, TimeMs now) const;
    bool verified_querier(const Endpoint& from, const NodeId& id, TimeMs now) const;
    // dht_search.cpp
    std::uint64_t start_search(const NodeId& target, bool get_peers, std::uint16_t port, bool implied, Peers peers,
                               Done done, TimeMs now, const std::vector<Contact>& seeds = {});
    void step(Search& s, TimeMs now);
    void search_reply(Pending& p, const krpc::Message& m, const Endpoint& from, TimeMs now);
    void search_failed(const Pending& p, bool soft, TimeMs now);
    void finish(std::uint64_t search_id, TimeMs now);
    void run_queue(TimeMs now);
    void tick_tracked(TimeMs now);

    DhtConfig cfg_;
    Send send_;
    RoutingTable table_;
    PeerStore store_;
    TokenKeeper tokens_;
    RateLimiter limiter_;
    std::unordered_map<std::string, Pending> pending_; // by transaction id
    std::uint16_t next_tid_ = 0;
    std::map<std::uint64_t, std::unique_ptr<Search>> searches_;
    std::vector<std::uint64_t> queue_; // search ids waiting for a slot (kMaxSearches)
    std::uint64_t next_search_ = 1;
    std::map<NodeId, Tracked> tracked_;
    std::vector<Endpoint> bootstrap_;
    TimeMs next_bootstrap_ = 0, next_maintain_ = 0, next_expire_ = 0;
    bool self_lookup_done_ = false;
    // BEP 42: external address votes (address bytes -> count), reset after a decision
    std::map<std::string, unsigned> ip_votes_;
    std::optional<Endpoint> external_;
    mutable DhtStats counters_;
    bool in_callback_ = false;
};

} // namespace p2p::dht
