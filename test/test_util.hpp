// Helpers shared by the doctest files: a temporary folder removed at scope exit, deterministic content.
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

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

} // namespace p2p::test
