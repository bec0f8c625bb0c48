// The DHT routing table (BEP 5): k-buckets that split around our own id, node states, a replacement cache per bucket
// for ping-before-evict, bucket refresh, and BEP 42's preference for nodes whose id matches their address. Pure: no
// uv.h, no I/O, no clock (every time is passed in; see types.hpp).
//
// Shape. buckets_[i], for i below the last, holds the nodes whose id shares exactly i leading bits with ours; the last
// bucket holds every node sharing at least (buckets - 1) bits. Only the last bucket splits (BEP 5: "the bucket
// covering our own id"), and only for a node that has answered us, so there are at most 160 buckets.
//
// Bounds (all fixed at construction): at most 160 buckets, each with at most k nodes and `replacements` candidates,
// so at most 160 * (k + replacements) entries (2560 with the defaults), plus one address-index entry per entry.
// Memory: 72 bytes per entry in its bucket's vector (sizeof(Entry) on x86-64) and about 80 bytes per address-index
// entry (a hash-map node with malloc's overhead, and its share of the bucket array): about 150 bytes per node, 165
// measured with the vectors' slack (test "memory_bytes grows with nodes"); memory_bytes() adds the real capacities.
//
// Node states (BEP 5): a node is good when it has answered one of our queries and we heard from it (an answer or a
// query of its own) within questionable_after, with no unanswered query since; bad after max_fails unanswered queries
// in a row; questionable otherwise (heard only by its queries, quiet for questionable_after, or one query
// unanswered).
//
// Driving it (the DHT node): heard_from() for every reply (replied = true) and every query (replied = false) from a
// node that is not read-only; timed_out() for every query that went unanswered; to_ping() and refresh_targets() from a
// periodic timer (every few seconds): ping each contact to_ping() returns and report the outcome (the reply through
// heard_from(…, true), the silence through timed_out()); start a find_node lookup for each refresh target.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "dht/types.hpp"

namespace p2p::dht {

struct RoutingConfig {
    std::size_t k = 8;                          // BEP 5: K = 8 nodes per bucket (0 is taken as 1)
    std::size_t replacements = 8;               // per-bucket replacement cache
    TimeMs questionable_after = 15 * 60 * 1000; // BEP 5: good = replied within 15 minutes
    TimeMs refresh_after = 15 * 60 * 1000;      // BEP 5: refresh a bucket not changed for 15 minutes
    int max_fails = 2;                          // unanswered queries in a row before a node is bad (BEP 5: "multiple")
    bool one_node_per_ip = true; // libtorrent's rule (dht_restrict_routing_ips); tests on one host turn it off
};

enum class NodeState : std::uint8_t { good, questionable, bad };

struct BucketStats {
    int prefix_bits;
    std::size_t good, questionable, bad, replacements;
};

class RoutingTable {
public:
    explicit RoutingTable(NodeId self, RoutingConfig cfg = {});

    const NodeId& self() const { return self_; }
    // A new id (BEP 42, once our external address is known): every node (bucket entries first, then replacements) is
    // placed anew around it, keeping what we know of it; bad nodes and a node with the new id are dropped.
    void set_self(const NodeId& id, TimeMs now);

    // added: now in a bucket. updated: already known there (or in the replacement cache), its times refreshed.
    // replacement: its bucket is full, it waits in the replacement cache. refused_ip: the id is known at another
    // address, or the address (the IP alone under one_node_per_ip, else IP and port) is known under another id, and
    // the old one is not bad; under one_node_per_ip also another node of the same /24 (IPv4) or /64 (IPv6) in the
    // same bucket (libtorrent's rule). refused_self: our own id. refused_full: bucket and replacement cache full of
    // better nodes. refused_bad: an address no node can have (port 0, the unspecified address, multicast or the
    // IPv4 broadcast address).
    enum class Outcome : std::uint8_t {
        added,
        updated,
        replacement,
        refused_ip,
        refused_self,
        refused_full,
        refused_bad
    };

    // A node replied to us (replied = true) or sent us a query (replied = false). A node heard only by its queries is
    // questionable (it may be behind a NAT) until it answers; it takes a free slot but never splits a bucket nor
    // evicts anyone. verified = bep42_valid(id, addr): when a bucket that cannot split is full, a node that answered
    // takes the place of a questionable node that never answered, or of an unverified one if it is verified itself;
    // replacements are kept in the same order of preference (answered, verified, most recently heard). A reply
    // resets the node's fail count and any outstanding ping; a query only refreshes its time.
    Outcome heard_from(const Contact& c, TimeMs now, bool replied);

    // A query to c went unanswered: its fail count grows; at max_fails it is bad and, if the bucket has a replacement
    // waiting, the best replacement takes its place (else it stays, bad, until any newcomer takes its slot). A
    // replacement that reaches max_fails is dropped. Ignored unless c's id is in the table at c's address.
    void timed_out(const Contact& c, TimeMs now);

    // The n closest non-bad nodes to target, closest first (replacements are not included). replied_only: only nodes
    // that have answered one of our queries (for answering find_node / get_peers, so a node behind a NAT that only
    // queried us is not handed out).
    std::vector<Contact> closest(const NodeId& target, std::size_t n, TimeMs now, bool replied_only = false) const;

    // Ping-before-evict (BEP 5). The contacts to ping now, at most max: first the questionable nodes of full buckets
    // that have replacements waiting (least recently heard first: if one fails twice, a replacement takes its
    // place), then any questionable node not pinged by us within questionable_after (a node that only queried us
    // gets its first ping here). A returned contact counts as pinged: it is returned again only after a reply
    // (heard_from(…, true)) or a timed_out(), or, should the caller lose track of it, questionable_after later.
    std::vector<Contact> to_ping(TimeMs now, std::size_t max);

    // BEP 5's refresh: for each bucket not changed for refresh_after (oldest first, at most max), a random target
    // inside it (random_id_in_bucket; for the last bucket, any id sharing at least its prefix), and the bucket counts
    // as refreshed now. Nothing while the table is empty. A bucket changes when a node is added to it, replaced in it
    // or answers us (BEP 5's "last changed").
    std::vector<NodeId> refresh_targets(TimeMs now, std::size_t max);

    std::vector<Contact> good_nodes(TimeMs now) const; // for saving at exit
    std::size_t size() const;                          // nodes in buckets (not replacements)
    std::size_t size(NodeState s, TimeMs now) const;
    std::size_t replacement_count() const;
    std::size_t bucket_count() const { return buckets_.size(); }
    std::vector<BucketStats> stats(TimeMs now) const; // one per bucket, for the console's `dht` command
    // The state of c if its id is in a bucket at c's address; nullopt if not there (or only a replacement).
    std::optional<NodeState> state_of(const Contact& c, TimeMs now) const;
    // The bucket an id falls in: min(common prefix with self, buckets - 1).
    int bucket_of(const NodeId& id) const;
    // An honest estimate of the heap and object bytes (for --max-memory): the vectors' capacities, the address index's
    // nodes and bucket array, and allocator overhead. About 150-165 bytes per node (see the top of this file).
    std::size_t memory_bytes() const;
    // Every structural invariant, checked in full (O(entries)): for tests.
    bool check_invariants() const;

private:
    struct Entry {
        Contact c;
        TimeMs last_reply = 0; // valid when replied
        TimeMs last_heard = 0; // the last reply or query from it
        TimeMs last_ping = 0;  // valid when pinged: when to_ping() last returned it
        std::uint8_t fail_count = 0;
        bool replied = false; // has ever answered one of our queries
        bool verified = false;
        bool pinged = false;           // to_ping() has returned it at least once
        bool ping_outstanding = false; // returned by to_ping(), neither answered nor timed out yet
    };
    struct Bucket {
        std::vector<Entry> live; // at most k
        std::vector<Entry> repl; // at most cfg_.replacements; non-empty only while live is full of non-bad nodes
        TimeMs last_changed = 0;
    };
    // The address index's key: family, address, and the port unless one_node_per_ip.
    using AddrKey = std::array<std::uint8_t, 19>;
    struct AddrKeyHash {
        std::uint64_t seed;
        std::size_t operator()(const AddrKey& k) const;
    };

    NodeState state(const Entry& e, TimeMs now) const;
    AddrKey key_of(const Endpoint& a) const;
    static bool same_cidr(const Endpoint& a, const Endpoint& b);
    std::size_t bucket_index(const NodeId& id) const;
    Entry* find_live(Bucket& b, const NodeId& id);
    Entry* find_repl(Bucket& b, const NodeId& id);
    Entry* weakest_questionable(Bucket& b, TimeMs now);
    // Removes the entry with this id (live or replacement) and its index entry.
    void erase(const NodeId& id);
    // Places a node that is not in the table.
    Outcome place(Entry e, TimeMs now);
    // Fills free live slots of bucket i from its replacements, best first.
    void refill(std::size_t i, TimeMs now);
    // Replacement `id` of bucket i just answered: it swaps places with the weakest questionable node of the bucket
    // if it is stronger (see heard_from).
    void maybe_promote(std::size_t i, const NodeId& id, TimeMs now);
    // Into bucket i's replacement cache (its index entry too), displacing the weakest replacement if e is better.
    Outcome add_replacement(std::size_t i, const Entry& e);
    void split_last(TimeMs now);

    NodeId self_;
    RoutingConfig cfg_;
    std::vector<Bucket> buckets_;                              // 1..160
    std::unordered_map<AddrKey, NodeId, AddrKeyHash> by_addr_; // every entry, live and replacement
};

} // namespace p2p::dht
