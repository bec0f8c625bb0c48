// --max-memory BYTES: one number bounds what p2pnode allocates as load grows, so a router or NAS can
// run it without the OOM killer. Under pressure p2pnode slows down (fewer blocks requested, serving paused,
// fewer connections) instead of growing.
//
// Two parts:
//  - Plans (pure arithmetic): the budget is split into pools with fixed shares, and the static caps (connections,
//    candidates, metadata fetches; tracker peers and swarms) are derived from what one item costs.
//      peer:    read cache 25%, write 25% (pieces being assembled + verified pieces queued for the disk),
//               send 12.5% (payload queued to peers), connections 25% (receive buffer + bookkeeping each,
//               kConnectionCost), the rest (12.5%) for candidates, metadata fetches and per-torrent state.
//      tracker: peers 45% (kTrackerPeerCost each), swarms 45% (kTrackerSwarmCost each), catalog 10%.
//    Without the flag the plan keeps the historical defaults (64 MiB read cache and 64 MiB assembly, now each
//    one for the whole session instead of one per torrent; 400 connections; no global send pool).
//  - MemoryBudget (accounting, loop thread only): used bytes per dynamic pool. Buffers that already exist are
//    recorded with reserve() (never refused: the bytes are there); new work asks exhausted()/try_reserve() first.
//    Caps are soft by at most the work already in flight when a pool filled (blocks requested, one piece per
//    torrent, one write of queued bytes); see man p2pnode, --max-memory.
//
// What the budget does not cover: the process's fixed footprint (code, libraries, libuv's threadpool stacks:
// about 4-6 MiB resident, measured in test/scripts/peer_max_memory.sh) and kernel socket buffers.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.hpp"

namespace p2p {

enum class MemPool : std::uint8_t { read_cache, write, send, receive };
inline constexpr std::size_t kMemPools = 4;

inline constexpr std::uint64_t kMinMemoryBudget = 4u << 20; // below this the shares are too small to work
// Per connection under a budget: a receive buffer of at most kBudgetReadChunk plus a partial message
// (16 KiB block, BEP 3), and the connection's bookkeeping (request queues, bitfields, picker state) ~16 KiB.
inline constexpr std::size_t kBudgetReadChunk = 32 * 1024;
inline constexpr std::size_t kConnectionCost = 64 * 1024;
// Per RPC connection, besides its request body: its record (~1 KiB), request line and headers (8 KiB, the HTTP
// server's max_header_bytes) and answers waiting to be written (64 KiB, its max_output).
inline constexpr std::size_t kRpcConnectionCost = 73 * 1024;
// Per remembered candidate address: a sockaddr_storage (128 B) plus its key in the known-address set.
inline constexpr std::size_t kCandidateCost = 256;
// Tracker, measured with mallinfo2 on the SwarmStore (glibc, x86-64): a swarm holding one IPv4 peer costs
// 129 bytes (record, hash slot, peer array chunk, vector slack); an IPv6 peer in a swarm of 8 costs 35 bytes
// with its share of the swarm, ~20 without. A swarm also costs 20 bytes more while the state file is being saved
// (the sorted snapshot of info hashes, tracker/state_writer.hpp): 129 + 20, rounded up.
inline constexpr std::size_t kTrackerSwarmCost = 152;
inline constexpr std::size_t kTrackerPeerCost = 24;
// A catalog name: its record in the sorted vector (string, hash, size, last seen, publisher: ~96 bytes + the
// name) and its (hash, name) node in the index by hash (~96 bytes + the name again when over 15 bytes), for a
// name of up to ~90 bytes; longer names are rarer and the 10% share is not a hard cap on the process.
inline constexpr std::size_t kTrackerCatalogCost = 384;

struct PeerMemoryPlan {
    std::uint64_t budget = 0;           // 0: no --max-memory
    std::size_t read_cache = 64u << 20; // one LRU of whole pieces for the session
    std::size_t write = 64u << 20;      // assembling + queued for disk, all torrents
    std::size_t send = SIZE_MAX;        // payload queued to peers, all connections
    std::size_t send_per_peer = 4u << 20;
    std::size_t max_connections = 400;
    std::size_t max_candidates = 500;            // per torrent
    std::size_t max_fetches = 64;                // metadata fetches at once
    std::size_t fetch_peers = 8;                 // connections of one metadata fetch
    std::size_t max_extended_message = 1u << 20; // BEP 10 message bound (BEP 9 pieces are 16 KiB + a dict)
    std::size_t read_chunk = 1u << 20;           // largest single socket read (transport receive buffer growth)
    std::size_t initial_read = 64 * 1024;        // first receive buffer
    std::size_t pin_factor = 4;                  // see tcp_transport.cpp kMaxPinFactor; 1 = copy every slice
    // The RPC port (--rpc-port), carved from the misc share: at most rpc_connections at once, each holding at most
    // kRpcConnectionCost plus a request body of rpc_max_body (a .torrent in base64). Without a budget: 8 and 16 MiB.
    std::size_t rpc_connections = 8;
    std::size_t rpc_max_body = 16u << 20;
    std::string describe() const; // one line for the log
};
// budget 0 = the defaults above. Error below kMinMemoryBudget, naming the minimum.
Result<PeerMemoryPlan> plan_peer_memory(std::uint64_t budget);

struct TrackerMemoryPlan {
    std::uint64_t budget = 0;
    std::size_t max_swarms = 0, max_peers = 0, max_catalog = 0; // 0: not derived (keep the defaults)
    std::string describe() const;
};
Result<TrackerMemoryPlan> plan_tracker_memory(std::uint64_t budget);

std::string format_bytes(std::uint64_t n); // "16 MiB", "512 KiB", "100 B"

class MemoryBudget {
public:
    MemoryBudget(); // every pool unlimited
    explicit MemoryBudget(const PeerMemoryPlan& plan);

    void set_cap(MemPool p, std::size_t cap) { pools_[idx(p)].cap = cap; }
    // Records bytes that exist already (always succeeds; may go over the cap).
    void reserve(MemPool p, std::size_t n);
    // Records n bytes if they fit under the cap.
    bool try_reserve(MemPool p, std::size_t n);
    void release(MemPool p, std::size_t n);
    bool exhausted(MemPool p) const { return pools_[idx(p)].used >= pools_[idx(p)].cap; }
    std::size_t used(MemPool p) const { return pools_[idx(p)].used; }
    std::size_t cap(MemPool p) const { return pools_[idx(p)].cap; }
    std::size_t peak(MemPool p) const { return pools_[idx(p)].peak; }

private:
    struct Pool {
        std::size_t cap = SIZE_MAX, used = 0, peak = 0;
    };
    static std::size_t idx(MemPool p) { return static_cast<std::size_t>(p); }
    std::array<Pool, kMemPools> pools_{};
};

} // namespace p2p
