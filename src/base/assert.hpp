// Invariant checks: P2P_ASSERT(cond, "what") states a fact about our own bookkeeping that no input (a peer, a
// tracker, a file on disk) can make false, only a bug: a counter about to go negative, a piece marked have twice, a
// descriptor released that was never acquired. Put one where going on in a wrong state would corrupt data, and
// leave the code after it safe when it fails (it clamps, skips or returns rather than doing worse).
//
// Always compiled and evaluated, so conditions must be cheap (O(1)) and free of side effects. A failure calls the
// assert handler with the place, the condition's text and `what`. The default handler:
//   - debug builds (NDEBUG not defined: meson --buildtype=debug, which `make check-asan` uses, and the fuzz build):
//     logs "[error] bug: FILE:LINE: invariant broken: WHAT (COND)" and aborts, so the sanitizer run, the scripts and
//     the fuzzers stop at the first wrong state with a stack;
//   - release builds: logs the same line and goes on. A bookkeeping slip should not take a seeding peer or a busy
//     tracker down with it; the code after the check keeps the damage local. At most kMaxLoggedAsserts lines are
//     logged per process (a check in a hot loop must not fill the disk with one message).
// Tests install their own handler (set_assert_handler) to see that a check fires, without dying.
#pragma once

namespace p2p {

struct AssertInfo {
    const char* file;
    int line;
    const char* cond; // the condition as written
    const char* what; // what it means when it is false
};
using AssertHandler = void (*)(const AssertInfo&);

inline constexpr unsigned kMaxLoggedAsserts = 100;

// Installs `h` (nullptr: the default handler above) and returns the one it replaces (nullptr when that was the
// default). Loop thread only, like everything that checks invariants.
AssertHandler set_assert_handler(AssertHandler h);

// Called by P2P_ASSERT on a failure; runs the handler.
[[gnu::cold, gnu::noinline]] void assert_failed(const char* file, int line, const char* cond, const char* what);

} // namespace p2p

#define P2P_ASSERT(cond, what)                                                                                         \
    (static_cast<bool>(cond) ? static_cast<void>(0) : ::p2p::assert_failed(__FILE__, __LINE__, #cond, what))
