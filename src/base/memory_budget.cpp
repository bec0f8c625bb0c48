#include "base/memory_budget.hpp"

#include <algorithm>

namespace p2p {

std::string format_bytes(std::uint64_t n) {
    if (n == SIZE_MAX) return "unlimited";
    if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
    if (n >= (1u << 20))
        return std::to_string((n * 10 >> 20) / 10) + "." + std::to_string((n * 10 >> 20) % 10) + " MiB";
    if (n >= 1024) return std::to_string(n >> 10) + " KiB";
    return std::to_string(n) + " B";
}

namespace {
// Beyond 1 TiB the shares stop meaning anything for one process; clamping keeps the arithmetic in range. A 32-bit
// process addresses at most 4 GiB (3 GiB on most ARM kernels): there a larger budget would wrap in size_t
// (--max-memory 4G planned 0-byte pools).
constexpr std::uint64_t kMaxBudget = sizeof(std::size_t) < 8 ? std::uint64_t{3} << 30 : std::uint64_t{1} << 40;

Error too_small(std::uint64_t budget) {
    return make_error("--max-memory",
                      format_bytes(budget) + " is below the minimum of " + format_bytes(kMinMemoryBudget) + " (4M)",
                      Errc::bad_input);
}
} // namespace

Result<PeerMemoryPlan> plan_peer_memory(std::uint64_t budget) {
    PeerMemoryPlan p;
    if (budget == 0) return p;
    if (budget < kMinMemoryBudget) return too_small(budget);
    budget = std::min(budget, kMaxBudget);
    const std::size_t b = static_cast<std::size_t>(budget);
    p.budget = budget;
    p.read_cache = b / 4;
    p.write = b / 4;
    p.send = b / 8;
    // A peer's own cap: a fair share of the pool with room for a pipeline of 16 KiB blocks (BEP 3).
    p.send_per_peer = std::clamp<std::size_t>(p.send / 8, 64 * 1024, 4u << 20);
    p.max_connections = std::clamp<std::size_t>(b / 4 / kConnectionCost, 8, 400);
    const std::size_t misc = b - p.read_cache - p.write - p.send - b / 4;
    p.max_candidates = std::clamp<std::size_t>(misc / 8 / kCandidateCost, 50, 500);
    // A metadata fetch: its connections plus the info dict being assembled (typically a few hundred KiB; BEP 9
    // allows up to 10 MiB, see ext::kMaxMetadataSize). At least 2, so a second magnet is not refused outright.
    p.fetch_peers = 4;
    p.max_fetches = std::clamp<std::size_t>(misc / 2 / (p.fetch_peers * kConnectionCost + (256u << 10)), 2, 64);
    // The largest BEP 10 message we need: a BEP 9 metadata piece (16 KiB) and its dict; handshakes and PEX are
    // far smaller.
    // The RPC port: a quarter of the misc share (1 MiB of a 32 MiB budget), split between a few connections that
    // each may hold a request body (torrent-add's base64 .torrent: 256 KiB of a 32 MiB budget, ~190 KB of
    // .torrent). Worst case held: rpc_connections * (kRpcConnectionCost + rpc_max_body) <= that quarter, except
    // that a body may always be 64 KiB (a small .torrent): under a 16 MiB budget the RPC may take ~100 KiB more.
    const std::size_t rpc_share = misc / 4;
    p.rpc_connections = std::clamp<std::size_t>(rpc_share / (kRpcConnectionCost + (256u << 10)), 2, 8);
    const std::size_t per_connection = rpc_share / p.rpc_connections;
    p.rpc_max_body = per_connection > kRpcConnectionCost + (64u << 10)
                         ? std::min<std::size_t>(per_connection - kRpcConnectionCost, 16u << 20)
                         : std::size_t{64} << 10;
    p.max_extended_message = 64 * 1024;
    p.read_chunk = kBudgetReadChunk;
    p.initial_read = 16 * 1024;
    p.pin_factor = 1; // queued slices are copied, so the send pool counts exactly what is held
    return p;
}

std::string PeerMemoryPlan::describe() const {
    std::string s = budget ? "memory budget " + format_bytes(budget) : std::string("no memory budget");
    s += ": read cache " + format_bytes(read_cache) + ", write " + format_bytes(write) + ", send " +
         format_bytes(send) + " (" + format_bytes(send_per_peer) + " per peer), connections " +
         std::to_string(max_connections) + ", candidates " + std::to_string(max_candidates) +
         " per torrent, metadata fetches " + std::to_string(max_fetches) + ", receive chunk " +
         format_bytes(read_chunk) + "; with --rpc-port, RPC connections " + std::to_string(rpc_connections) +
         " of a body up to " + format_bytes(rpc_max_body);
    return s;
}

Result<TrackerMemoryPlan> plan_tracker_memory(std::uint64_t budget) {
    TrackerMemoryPlan p;
    if (budget == 0) return p;
    if (budget < kMinMemoryBudget) return too_small(budget);
    budget = std::min(budget, kMaxBudget);
    p.budget = budget;
    p.max_peers = static_cast<std::size_t>(budget * 45 / 100 / kTrackerPeerCost);
    p.max_swarms = static_cast<std::size_t>(budget * 45 / 100 / kTrackerSwarmCost);
    p.max_catalog = static_cast<std::size_t>(budget / 10 / kTrackerCatalogCost);
    return p;
}

std::string TrackerMemoryPlan::describe() const {
    if (!budget) return "no memory budget";
    return "memory budget " + format_bytes(budget) + ": peers " + std::to_string(max_peers) + ", swarms " +
           std::to_string(max_swarms) + ", catalog " + std::to_string(max_catalog);
}

MemoryBudget::MemoryBudget() = default;

MemoryBudget::MemoryBudget(const PeerMemoryPlan& plan) {
    set_cap(MemPool::read_cache, plan.read_cache);
    set_cap(MemPool::write, plan.write);
    set_cap(MemPool::send, plan.send);
    // Receive buffers are bounded by the connection cap; the pool only counts them.
}

void MemoryBudget::reserve(MemPool p, std::size_t n) {
    Pool& x = pools_[idx(p)];
    x.used += n;
    x.peak = std::max(x.peak, x.used);
}

bool MemoryBudget::try_reserve(MemPool p, std::size_t n) {
    Pool& x = pools_[idx(p)];
    if (n > x.cap || x.used > x.cap - n) return false;
    reserve(p, n);
    return true;
}

void MemoryBudget::release(MemPool p, std::size_t n) {
    Pool& x = pools_[idx(p)];
    x.used -= std::min(n, x.used);
}

} // namespace p2p
