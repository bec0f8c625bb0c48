// The iterative lookup of BEP 5 (Kademlia's node lookup), shared by find_node and get_peers: which nodes to query
// next, when to stop, which nodes answered closest. Pure: no uv.h, no I/O, no clock. The DHT node sends the
// queries, matches replies by transaction id and tells the lookup what happened (replied, failed, slow).
//
// The rules, in the terms of the API below:
//   - Candidates are kept sorted by XOR distance of their id to the target (BEP 5), ids unknown (add_bootstrap)
//     first. The FRONTIER is the first k candidates that have neither failed nor been marked slow: the k nodes
//     we currently believe closest and alive.
//   - next() queries unqueried candidates of the frontier, closest first, while fewer than alpha queries are in
//     flight (slow ones excluded) and fewer than max_queries were ever sent. It never reaches past the frontier:
//     a query to a node outside the k closest can only matter if one inside fails, and then the frontier moves.
//     A failed or slow node leaves the frontier, so the next one behind it becomes eligible (libtorrent does the
//     same by widening its branch factor on a soft timeout and skipping failed nodes).
//   - done() when nothing is in flight (slow ones included) and either every frontier node has replied (the k
//     closest live nodes we know of have all answered: Kademlia's stopping rule, libtorrent's too) or max_queries
//     were sent. With fewer than k live candidates, done once they have all answered or failed.
//   - A reply counts only if it comes from the endpoint of a query in flight (replied() matches by endpoint, never
//     by id). If the replier reports another id than the one we were told, the endpoint is believed about itself:
//     the candidate takes the reported id (and moves to that id's place), unless another candidate already holds
//     that id, in which case the reply counts as a failure and its nodes are not used.
//
// Bounds: at most max_candidates unqueried candidates (the farthest are dropped first; queried ones are kept, so
// that every reply finds its query): the list holds at most max_candidates + max_queries entries. At most
// max_queries queries per lookup, so a network of liars returning ever-closer fake nodes ends it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dht/types.hpp"

namespace p2p::dht {

struct LookupConfig {
    std::size_t alpha = 3;            // BEP 5 / Kademlia: parallel queries in flight (0 is taken as 1)
    std::size_t k = 8;                // BEP 5's K: the K closest that must have answered (0 is taken as 1)
    std::size_t max_queries = 64;     // cap on queries sent by one lookup: liars cannot make it run forever
    std::size_t max_candidates = 128; // bound on unqueried candidates (the farthest are dropped); at least k
};

class Lookup {
public:
    explicit Lookup(NodeId target, LookupConfig cfg = {});
    const NodeId& target() const { return target_; }

    // Seeds (from the routing table) and the nodes of replies. Ignored: a port of 0, an id already known, an
    // endpoint already known (under any id). Beyond max_candidates unqueried candidates, the farthest are dropped.
    // The node should leave itself out (its own id or endpoint), or the lookup may query it.
    void add_candidates(const std::vector<Contact>& nodes);
    // Endpoints whose id we do not know (bootstrap routers): placed before every known id, so they are queried
    // first; their reply tells their id, which then places them. Same endpoint and port rules as above.
    void add_bootstrap(const std::vector<Endpoint>& addrs);

    // The contacts to query now, each returned at most once in the lookup's life; empty when nothing should be sent
    // now (see the rules above). Every contact returned must later get exactly one replied() or failed(); slow()
    // may come in between.
    std::vector<Contact> next();

    // A reply from `from` (matched by the DHT node by transaction id): the nodes it returned, and its token
    // (get_peers). Ignored unless from.addr is the endpoint of a query in flight (slow included). from.id is the id
    // the reply carries.
    void replied(const Contact& from, const std::vector<Contact>& nodes,
                 std::optional<std::string> token = std::nullopt);
    // A timeout or an error reply: it will not count. Ignored unless from.addr has a query in flight.
    void failed(const Contact& from);
    // A soft timeout: it may still answer (replied() or failed() follows), but frees its alpha slot and leaves the
    // frontier so the next candidate can be queried. Ignored unless from.addr has a query in flight not yet slow.
    void slow(const Contact& from);

    // Nothing in flight, and either the k closest live candidates have all replied or max_queries were sent. True
    // for a lookup that never had a candidate.
    bool done() const;

    struct Found {
        Contact contact;
        std::string token; // empty when the reply carried none
    };
    // Up to k nearest that replied, nearest first, with their tokens (announce_peer goes to these).
    std::vector<Found> closest_replied() const;

    std::size_t queries_sent() const { return queries_sent_; }
    std::size_t replies() const { return replies_; }
    std::size_t failures() const { return failures_; }
    std::size_t in_flight() const { return in_flight_; } // sent, not yet replied or failed (slow ones included)
    std::size_t candidates() const { return entries_.size(); }

private:
    enum class State : std::uint8_t { fresh, in_flight, slow, replied, failed };
    struct Entry {
        Contact contact;
        bool id_known = true; // false: a bootstrap endpoint not yet heard from (contact.id is meaningless)
        State state = State::fresh;
        std::string token;
    };

    bool before(const Entry& a, const Entry& b) const; // the sort order: unknown ids first, then XOR distance
    std::size_t position(const Entry& e) const;        // where e goes in entries_ (after equals)
    bool has_id(const NodeId& id) const;
    std::size_t find_endpoint(const Endpoint& addr) const; // entries_.size() when absent
    std::size_t find_queried(const Endpoint& addr) const;  // an entry in flight or slow at addr, or entries_.size()
    void insert(Entry e);
    void trim();

    NodeId target_;
    LookupConfig cfg_;
    std::vector<Entry> entries_; // sorted by before(); bounded as said at the top
    std::size_t queries_sent_ = 0, replies_ = 0, failures_ = 0;
    std::size_t in_flight_ = 0; // in_flight + slow
    std::size_t active_ = 0;    // in_flight only: what alpha bounds
};

} // namespace p2p::dht
