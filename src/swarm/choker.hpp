// Choker: which peers we upload to. Pure logic: no uv.h, no I/O, no clock — the caller passes `now`.
//
// BEP 3 tit-for-tat, as the mainline client did it:
//  - the caller calls rechoke() every 10 s (BEP 3: "once every ten seconds", to avoid fibrillation);
//  - `upload_slots - 1` regular slots go to the peers ranked best by rate (below), skipping snubbed peers
//    (anti-snubbing: a snubbed peer only gets upload through the optimistic slot). BEP 3: peers ranked above
//    the last regular interested peer that are not interested are unchoked too, so when they become interested
//    they can request at once; they do not use up a slot. Nor do unchoked peers that request nothing (`idle`), at
//    most `upload_slots` of them: a slot is a share of our upload, and theirs would sit unused;
//  - 1 optimistic slot rotates every `optimistic_every` rounds (3 × 10 s = 30 s, BEP 3) to a random interested
//    peer outside the regular set; newly connected peers (connected less than one rotation period ago) are
//    `new_peer_weight` (3) times as likely to be chosen, since they have nothing to offer yet (mainline's 3×).
//    The optimistic peer is replaced at once if it left, lost interest or earned a regular slot.
// Ranking: while downloading (leeching) by download rate *from* the peer (tit for tat: reward who gives us
// most). While seeding by upload rate *to* the peer ("fastest upload", libtorrent's fastest_upload seed mode):
// the swarm gains most from the peers that can absorb our upload fastest, and the optimistic slot still cycles
// every interested peer in. Ties (e.g. everyone at 0 at start) go to a peer that is already unchoked (no
// needless choke/unchoke churn), then to the longest connected one, then the lower token (deterministic).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace p2p::swarm {

using PeerToken = std::uint64_t; // same alias in picker.hpp

struct ChokePeer {
    PeerToken token = 0;
    bool interested = false;  // the peer told us it is interested (wants our pieces)
    bool choked = true;       // we choke it right now
    double download_rate = 0; // bytes/s it sends us
    double upload_rate = 0;   // bytes/s we send it
    bool snubbed = false;     // it sent us nothing for a long time although we have requests out
    // Unchoked and interested, but it has requested nothing for seconds (everything it wants from us is on its way
    // from other peers): like an uninterested peer it stays unchoked when ranked, but uses no slot, so our upload
    // goes to someone who will take it.
    bool idle = false;
    std::int64_t connected_at_ms = 0; // same clock as rechoke()'s now_ms
};

struct ChokerOptions {
    // Unchoked interested peers including the optimistic one (BEP 3: four). 1 = one regular slot and no
    // optimistic; 0 = choke everyone (upload disabled).
    std::uint32_t upload_slots = 4;
    std::uint32_t optimistic_every = 3; // rechoke rounds per optimistic rotation: 3 × 10 s = 30 s (BEP 3)
    std::int64_t new_peer_ms = 30'000;  // "newly connected" = within one rotation period
    std::uint32_t new_peer_weight = 3;  // mainline: new peers 3× as likely to be the optimistic unchoke
    std::uint64_t seed = 1;             // random source of the optimistic draw; p2p::random_u32() in production
};

struct ChokeDecision {
    std::vector<PeerToken> unchoke; // unchoke exactly these; choke every other peer
    PeerToken optimistic = 0;       // valid when has_optimistic
    bool has_optimistic = false;
};

class Choker {
public:
    explicit Choker(ChokerOptions options = {});

    // One rechoke round. `seeding`: we have every piece (rank by upload rate). O(n log n) in the peer count.
    ChokeDecision rechoke(std::span<const ChokePeer> peers, bool seeding, std::int64_t now_ms);

    bool has_optimistic() const { return has_optimistic_; }
    PeerToken optimistic() const { return optimistic_; }
    // Forget the optimistic peer (e.g. it disconnected and the caller wants a new one before the next round).
    void forget_optimistic() { has_optimistic_ = false; }

private:
    std::uint64_t next_random();
    std::vector<bool> choose_regular(std::span<const ChokePeer> peers, bool seeding, std::uint32_t regular_slots,
                                     ChokeDecision& out);
    void draw_optimistic(std::span<const ChokePeer> peers, const std::vector<bool>& regular, std::int64_t now_ms);

    ChokerOptions opt_;
    std::uint64_t rounds_ = 0;           // rechoke() calls so far
    std::uint64_t optimistic_since_ = 0; // round the optimistic peer was chosen
    PeerToken optimistic_ = 0;
    bool has_optimistic_ = false;
    std::uint64_t rng_state_;
    std::vector<std::uint32_t> order_; // scratch, reused
};

// Outstanding 16 KiB requests to keep in flight to one peer (request pipelining).
// To keep a link busy we need its bandwidth-delay product in flight, plus slack because the rate estimate lags:
//     depth = ceil(download_rate * max(1 s, 2 * rtt) / 16 KiB), clamped to [4, min(250, peer_reqq)].
// 4 is the floor so a new or slow peer still gets going; 250 (≈4 MiB in flight) caps what a peer must buffer
// and matches common clients' reqq (BEP 10 "reqq": the peer's own queue limit; pass it when known, min 1).
// At 100 MB/s this gives 250; at 1 MB/s with 50 ms RTT, 62; at 20 KB/s, 4.
// Why 1 s and not more: every request out commits a block to one peer. With 2 s, a leecher in a swarm of peers
// at the same progress had ~8 s of its download promised to its current senders, so pieces it could have had
// from an idle peer were already on order elsewhere; tools/swarm n20 went from 0.89 to 0.91 with 1 s (0.5 s: 0.89).
std::uint32_t pipeline_depth(double download_rate_bytes_per_s, double rtt_seconds, std::uint32_t peer_reqq = 250);

} // namespace p2p::swarm
