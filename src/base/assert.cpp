#include "base/assert.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

#include "base/log.hpp"

namespace p2p {

namespace {

AssertHandler g_handler = nullptr; // nullptr: default_handler
unsigned g_logged = 0;

void default_handler(const AssertInfo& a) {
    if (g_logged < kMaxLoggedAsserts) {
        ++g_logged;
        const char* slash = std::strrchr(a.file, '/');
        log_error("bug", std::string(slash ? slash + 1 : a.file) + ":" + std::to_string(a.line) +
                             ": invariant broken: " + a.what + " (" + a.cond + ")");
    }
#ifndef NDEBUG
    std::abort();
#endif
}

} // namespace

AssertHandler set_assert_handler(AssertHandler h) {
    AssertHandler old = g_handler;
    g_handler = h;
    return old;
}

void assert_failed(const char* file, int line, const char* cond, const char* what) {
    const AssertInfo info{file, line, cond, what};
    if (g_handler)
        g_handler(info);
    else
        default_handler(info);
}

} // namespace p2p
