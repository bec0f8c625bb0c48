// Tests for src/base/assert.hpp: P2P_ASSERT evaluates its condition once, calls the installed handler only when
// it is false, and the default handler logs the broken invariant, then aborts (debug build) or goes on (release).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <string>

#include "assert_spy.hpp"
#include "base/assert.hpp"

using namespace p2p;

TEST_CASE("assert: a holding check calls nothing; a failed one reports its place, condition and meaning") {
    test::AssertSpy spy;
    int evaluated = 0;
    P2P_ASSERT(++evaluated == 1, "first evaluation");
    CHECK(evaluated == 1); // evaluated exactly once
    CHECK(spy.count() == 0);
    const int line = __LINE__ + 1;
    P2P_ASSERT(evaluated == 2, "evaluated is not 2");
    CHECK(spy.count() == 1);
    CHECK(spy.last_what() == "evaluated is not 2");
    CHECK(spy.last_info().line == line);
    CHECK(std::strstr(spy.last_info().file, "test_assert.cpp") != nullptr);
    CHECK(std::string(spy.last_info().cond) == "evaluated == 2");
}

TEST_CASE("assert: set_assert_handler returns the handler it replaces") {
    auto mine = [](const AssertInfo&) {};
    AssertHandler before = set_assert_handler(mine);
    const bool got_mine_back = set_assert_handler(before) == +mine;
    CHECK(got_mine_back);
}

TEST_CASE("assert: the default handler logs, then aborts in a debug build and goes on in a release build") {
    int out[2];
    REQUIRE(pipe(out) == 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) { // never return into doctest in the child
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core); // the debug build's abort is expected: no core file
        std::signal(SIGABRT, SIG_DFL);    // not doctest's crash report: the parent judges the exit
        dup2(out[1], 2);
        AssertHandler none = nullptr;
        set_assert_handler(none);
        P2P_ASSERT(1 + 1 == 3, "arithmetic is broken");
        _exit(0);
    }
    close(out[1]);
    std::string log;
    char buf[512];
    for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) log.append(buf, static_cast<std::size_t>(n));
    close(out[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(log.find("[error] bug: test_assert.cpp:") != std::string::npos);
    CHECK(log.find("invariant broken: arithmetic is broken (1 + 1 == 3)") != std::string::npos);
#ifdef NDEBUG
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
#else
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
#endif
}
