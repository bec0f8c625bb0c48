// A token bucket for a byte rate (the session's --max-upload-rate and --max-download-rate, and each torrent's own
// limits). Pure: every call takes the time, so a unit test drives it with a fake clock (test/test_rate_limit.cpp).
//
// Two ways to spend, for the two directions:
//  - take(n): upload. We decide what to send, so a block goes only when the bucket holds it; otherwise the
//    caller waits for tokens (the session's upload timer) and tries again.
//  - spend(n): download. The bytes are already in when they are counted, so the bucket may go into debt; the
//    connection's reading stays paused while it is (Torrent::throttle_reading), and TCP's or uTP's own flow
//    control makes the sender wait. Over time the rate is the limit whatever a read happened to carry.
// The bucket holds at most a quarter second of rate (at least one 16 KiB block): a short burst after idling,
// no more.
#pragma once
#include <algorithm>
#include <cstdint>

namespace p2p {

class RateBucket {
public:
    static constexpr double kMinBurst = 16384.0;

    // 0: unlimited. A new rate starts with a full bucket.
    void set_rate(std::uint64_t bytes_per_s) {
        rate_ = bytes_per_s;
        refilled_ms_ = 0;
        tokens_ = burst();
    }
    std::uint64_t rate() const { return rate_; }
    bool limited() const { return rate_ > 0; }
    double burst() const { return std::max(double(rate_) / 4, kMinBurst); }

    // Whether n bytes may go now (nothing spent). Always true when unlimited.
    bool can_take(std::uint64_t n, std::uint64_t now_ms) {
        if (!rate_) return true;
        refill(now_ms);
        return tokens_ >= double(n);
    }
    // Spends n if the bucket holds them.
    bool take(std::uint64_t n, std::uint64_t now_ms) {
        if (!can_take(n, now_ms)) return false;
        if (rate_) tokens_ -= double(n);
        return true;
    }
    // Spends n whatever the bucket holds (debt allowed).
    void spend(std::uint64_t n, std::uint64_t now_ms) {
        if (!rate_) return;
        refill(now_ms);
        tokens_ -= double(n);
    }
    // Below zero: bytes were counted ahead of the rate.
    bool in_debt(std::uint64_t now_ms) {
        if (!rate_) return false;
        refill(now_ms);
        return tokens_ < 0;
    }
    // Milliseconds until the bucket is out of debt (0: it is).
    std::uint64_t ms_until_clear(std::uint64_t now_ms) {
        if (!in_debt(now_ms)) return 0;
        return std::uint64_t(-tokens_ * 1000.0 / double(rate_)) + 1;
    }
    double tokens(std::uint64_t now_ms) {
        refill(now_ms);
        return tokens_;
    }

private:
    void refill(std::uint64_t now_ms) {
        if (refilled_ms_ != 0 && now_ms > refilled_ms_)
            tokens_ = std::min(burst(), tokens_ + double(rate_) * double(now_ms - refilled_ms_) / 1000.0);
        if (refilled_ms_ == 0 || now_ms > refilled_ms_) refilled_ms_ = std::max<std::uint64_t>(now_ms, 1);
    }

    std::uint64_t rate_ = 0;
    double tokens_ = 0;
    std::uint64_t refilled_ms_ = 0; // 0: not yet (the bucket is full)
};

} // namespace p2p
