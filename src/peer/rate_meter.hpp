// Transfer rate over a sliding window of one-second buckets (last kBuckets seconds, the current partial second
// weighted by its elapsed share). Cheap enough to update on every block.
#pragma once
#include <array>
#include <cstdint>

namespace p2p {

class RateMeter {
public:
    static constexpr std::uint64_t kBucketMs = 1000;
    static constexpr std::size_t kBuckets = 5;

    void add(std::uint64_t bytes, std::uint64_t now_ms) {
        advance(now_ms);
        buckets_[(now_ms / kBucketMs) % kBuckets] += bytes;
    }
    // Bytes per second.
    double rate(std::uint64_t now_ms) {
        advance(now_ms);
        std::uint64_t sum = 0;
        for (auto b : buckets_) sum += b;
        const double span_ms = double((kBuckets - 1) * kBucketMs + now_ms % kBucketMs + 1);
        return double(sum) * 1000.0 / span_ms;
    }

private:
    // Zeroes the buckets of the seconds that passed since the last update.
    void advance(std::uint64_t now_ms) {
        const std::uint64_t sec = now_ms / kBucketMs;
        if (sec <= last_sec_ && started_) return;
        if (!started_ || sec - last_sec_ >= kBuckets) {
            buckets_.fill(0);
        } else {
            for (std::uint64_t s = last_sec_ + 1; s <= sec; ++s) buckets_[s % kBuckets] = 0;
        }
        started_ = true;
        last_sec_ = sec;
    }
    std::array<std::uint64_t, kBuckets> buckets_{};
    std::uint64_t last_sec_ = 0;
    bool started_ = false;
};

} // namespace p2p
