#include <doctest/doctest.h>
#include <sys/resource.h>

#include <algorithm>

#include "base/fd_limits.hpp"

using namespace p2p;

TEST_CASE("fd limits: files get a quarter of what is left, connections the rest up to what was asked") {
    // The common default soft limit: 1024 - 48 - 64 = 912 left; files 228, connections 400 as asked.
    FdPlan p = plan_descriptors(1024, 400, 64);
    CHECK(p.limit == 1024);
    CHECK(p.files == 228);
    CHECK(p.connections == 400);
    CHECK(p.files + p.connections + kFdReserve + 64 <= 1024);
    // A small box: 256 - 112 = 144 left; files 36, connections 108 (of 400).
    p = plan_descriptors(256, 400, 64);
    CHECK(p.files == 36);
    CHECK(p.connections == 108);
    CHECK(p.files + p.connections + kFdReserve + 64 == 256);
    // Fewer connections asked than there is room for: as asked.
    p = plan_descriptors(256, 50, 64);
    CHECK(p.connections == 50);
    // Below the minimums: the minimums (EMFILE may follow, reported as errors).
    p = plan_descriptors(64, 400, 64);
    CHECK(p.files == kMinFileFds);
    CHECK(p.connections == kMinConnections);
    p = plan_descriptors(0, 400, 0);
    CHECK(p.files == kMinFileFds);
    CHECK(p.connections == kMinConnections);
    // A huge limit: files capped, connections as asked.
    p = plan_descriptors(1'000'000, 400, 64);
    CHECK(p.files == kMaxFileFds);
    CHECK(p.connections == 400);
}

TEST_CASE("fd limits: raise_fd_limit lifts the soft limit to the hard one, capped, and reports it") {
    rlimit was{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &was) == 0);
    rlimit lowered = was;
    lowered.rlim_cur = 100;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    const std::uint64_t got = raise_fd_limit();
    rlimit now{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &now) == 0);
    CHECK(got == now.rlim_cur);
    const std::uint64_t want = was.rlim_max == RLIM_INFINITY ? 65536 : std::min<std::uint64_t>(was.rlim_max, 65536);
    CHECK(got == want);
    CHECK(now.rlim_max == was.rlim_max); // the hard limit is untouched
    REQUIRE(setrlimit(RLIMIT_NOFILE, &was) == 0);
}
