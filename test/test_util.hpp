// Helpers shared by the doctest files: a temporary folder removed at scope exit, deterministic content.
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "loop/loop.hpp"
#include "loop/timer.hpp"

namespace p2p::test {

struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const char* tag = "test") {
        std::string tmpl = std::string("/tmp/p2pnode-") + tag + "-XXXXXX";
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string str() const { return path.string(); }
};

// xorshift bytes: the same (n, seed) always gives the same content.
inline std::string pseudo_random(std::size_t n, std::uint32_t seed) {
    std::string s(n, '\0');
    std::uint32_t x = seed * 2654435761u + 1;
    for (auto& c : s) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = static_cast<char>(x);
    }
    return s;
}

// Runs the loop until pred() holds (true) or timeout_ms passes (false); pred is polled every 5 ms.
inline bool run_until(Loop& loop, const std::function<bool()>& pred, std::uint64_t timeout_ms) {
    bool ok = false;
    const std::uint64_t deadline = loop.now_ms() + timeout_ms;
    Timer poll(loop.get());
    poll.start(0, 5, [&] {
        if (pred()) ok = true;
        if (ok || loop.now_ms() >= deadline) loop.stop();
    });
    loop.run();
    poll.stop();
    return ok;
}

// Runs the loop until flag is set (true) or timeout_ms passes (false). Use as REQUIRE(run_until_flag(loop, done)).
// (Not an overload of run_until: a captureless lambda converts to bool, which would make calls ambiguous.)
inline bool run_until_flag(Loop& loop, const bool& flag, std::uint64_t timeout_ms = 10'000) {
    return run_until(
        loop, [&] { return flag; }, timeout_ms);
}

} // namespace p2p::test
