#include "base/fd_limits.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace p2p {

FdPlan plan_descriptors(std::uint64_t soft_limit, std::size_t want_connections, std::size_t pending_incoming) {
    FdPlan p;
    p.limit = soft_limit;
    const std::uint64_t fixed = kFdReserve + pending_incoming;
    const std::uint64_t left = soft_limit > fixed ? soft_limit - fixed : 0;
    p.files = static_cast<std::size_t>(std::clamp<std::uint64_t>(left / 4, kMinFileFds, kMaxFileFds));
    const std::uint64_t for_connections = left > p.files ? left - p.files : 0;
    p.connections = static_cast<std::size_t>(
        std::min<std::uint64_t>(want_connections, std::max<std::uint64_t>(for_connections, kMinConnections)));
    return p;
}

std::uint64_t raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024; // cannot happen on Linux; the common default
    const rlim_t want = std::min<rlim_t>(rl.rlim_max, 65536);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlimit raised = rl;
        raised.rlim_cur = want;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 65536 : static_cast<std::uint64_t>(rl.rlim_cur);
}

} // namespace p2p
