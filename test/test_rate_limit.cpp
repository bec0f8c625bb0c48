// The token bucket behind the upload and download limits (session/rate_limit.hpp), under a fake clock: upload
// takes only what the bucket holds, download spends into debt and waits it off, and the rate over a long run is
// the limit whatever the sizes counted.
#include <doctest/doctest.h>

#include "session/rate_limit.hpp"

using namespace p2p;

TEST_CASE("rate bucket: unlimited takes everything and is never in debt") {
    RateBucket b;
    CHECK_FALSE(b.limited());
    CHECK(b.take(1u << 30, 1000));
    b.spend(1u << 30, 1000);
    CHECK_FALSE(b.in_debt(1000));
    CHECK(b.ms_until_clear(1000) == 0);
}

TEST_CASE("rate bucket: upload takes only what it holds; the burst is a quarter second, at least 16 KiB") {
    RateBucket b;
    b.set_rate(1 << 20); // 1 MiB/s: 256 KiB burst
    CHECK(b.burst() == doctest::Approx(262144));
    std::uint64_t now = 1000;
    int blocks = 0;
    while (b.take(16384, now)) ++blocks;
    CHECK(blocks == 16); // the burst, and not one block more
    CHECK_FALSE(b.in_debt(now));
    now += 16; // 16 ms of 1 MiB/s: one block again
    CHECK(b.take(16384, now));
    CHECK_FALSE(b.take(16384, now));
    now += 10'000; // idle: refills to the burst only
    CHECK(b.tokens(now) == doctest::Approx(262144));
    RateBucket slow;
    slow.set_rate(1000);
    CHECK(slow.burst() == doctest::Approx(16384)); // one block can always go
}

TEST_CASE("rate bucket: download spends into debt; the wait repays it; the long-run rate is the limit") {
    RateBucket b;
    b.set_rate(1 << 20);
    std::uint64_t now = 1000;
    b.spend(1 << 20, now); // a big read: 1 MiB against a 256 KiB burst
    CHECK(b.in_debt(now));
    const std::uint64_t wait = b.ms_until_clear(now);
    CHECK(wait >= 749);
    CHECK(wait <= 751); // 768 KiB of debt at 1 MiB/s
    CHECK(b.in_debt(now + wait - 2));
    CHECK_FALSE(b.in_debt(now + wait));

    // A reader that reads whatever arrives while out of debt, in uneven sizes: the total over 10 s is 10 MiB
    // (plus the first burst and the last read), not more.
    RateBucket r;
    r.set_rate(1 << 20);
    std::uint64_t t = 1000, got = 0;
    const std::uint64_t sizes[] = {16384, 65536, 300000, 16384, 1000000, 4096};
    for (int i = 0; t < 11'000; ++i) {
        if (r.in_debt(t)) {
            t += std::max<std::uint64_t>(1, r.ms_until_clear(t));
            continue;
        }
        const std::uint64_t n = sizes[i % 6];
        r.spend(n, t);
        got += n;
    }
    const double expected = 10.0 * (1 << 20);
    CHECK(double(got) >= expected);
    CHECK(double(got) <= expected + 262144 + 1000000 + 1);
}

TEST_CASE("rate bucket: a new rate starts full; zero lifts the limit") {
    RateBucket b;
    b.set_rate(100'000);
    b.spend(1'000'000, 1000);
    CHECK(b.in_debt(1000));
    b.set_rate(0);
    CHECK_FALSE(b.in_debt(1000));
    CHECK(b.take(1u << 30, 1000));
    b.set_rate(200'000);
    CHECK(b.tokens(1000) == doctest::Approx(50'000));
}
