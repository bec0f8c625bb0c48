// Shared helpers for the libFuzzer targets in this folder (built by tools/fuzz, not by meson).
// FUZZ_CHECK aborts with a message, so a broken invariant is reported like any other crash.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/log.hpp"
#include "crypto/random.hpp"

#define FUZZ_CHECK(cond)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__);                       \
            std::abort();                                                                                              \
        }                                                                                                              \
    } while (0)

namespace fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// Quiet logs, libsodium ready (connection ids, random keys). Call from LLVMFuzzerInitialize.
inline void init() {
    p2p::set_log_level(p2p::LogLevel::error);
    if (!p2p::crypto_init()) std::abort();
}

// Reads bytes from the front of the input for choices, as long as there are any (0 afterwards).
struct Bytes {
    std::string_view in;
    std::uint8_t u8() {
        if (in.empty()) return 0;
        auto v = static_cast<std::uint8_t>(in[0]);
        in.remove_prefix(1);
        return v;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
    std::uint32_t u32() { return std::uint32_t{u16()} << 16 | u16(); }
    std::string_view take(std::size_t n) {
        n = n < in.size() ? n : in.size();
        auto s = in.substr(0, n);
        in.remove_prefix(n);
        return s;
    }
};

} // namespace fuzz

#define FUZZ_INIT                                                                                                      \
    extern "C" int LLVMFuzzerInitialize(int*, char***) {                                                               \
        fuzz::init();                                                                                                  \
        return 0;                                                                                                      \
    }
