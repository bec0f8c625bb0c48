// No exception crosses a C callback: libuv calls back through C frames, and an exception unwinding through them
// is undefined behaviour (in practice std::terminate: the whole peer or tracker gone, exit 134, no state saved).
// Every trampoline that libuv calls runs its C++ body through fence(): an exception that escapes the body (a
// bug, std::bad_alloc, a throwing library call we missed) is logged once with where it happened, and the
// trampoline then closes the one object it serves (a connection, a request) or drops the one event (a
// datagram, a timer tick), so the process keeps running. Code is still expected not to throw: this is the
// last line, not error handling.
#pragma once
#include <exception>
#include <string>

#include "base/log.hpp"

namespace p2p {

// Runs body(); true if it returned, false if it threw (the exception is logged as "[error] bug: WHERE: ...").
template <class F>
bool fence(const char* where, F&& body) noexcept {
    try {
        body();
        return true;
    } catch (const std::exception& e) {
        try {
            log_error("bug", std::string(where) + ": unexpected exception: " + e.what());
        } catch (...) {}
    } catch (...) {
        try {
            log_error("bug", std::string(where) + ": unexpected exception");
        } catch (...) {}
    }
    return false;
}

} // namespace p2p
