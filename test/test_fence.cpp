// Tests for src/loop/fence.hpp: no exception crosses a libuv callback; the one event is dropped, the process and
// the loop go on.
#include <doctest/doctest.h>

#include <stdexcept>

#include "loop/fence.hpp"
#include "loop/fs_req.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "test_util.hpp"

using namespace p2p;

TEST_CASE("fence: returns false for a throw, true otherwise") {
    CHECK(fence("test", [] {}));
    CHECK_FALSE(fence("test", [] { throw std::runtime_error("x"); }));
    CHECK_FALSE(fence("test", [] { throw 42; }));
}

TEST_CASE("fence: a throwing timer tick, deferred task or fs callback does not stop the loop") {
    set_log_level(LogLevel::error);
    Loop loop;
    int ticks = 0, deferred = 0, fs_done = 0;
    Timer t(loop.get());
    t.start(1, 1, [&] {
        ++ticks;
        throw std::runtime_error("a bug in a tick");
    });
    loop.defer([] { throw std::logic_error("a bug in a deferred task"); });
    loop.defer([&] { ++deferred; }); // the next task of the same batch still runs
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_stat(loop.get(), r, "/", cb); },
              [&](uv_fs_t*) {
                  ++fs_done;
                  throw std::bad_alloc();
              });
    REQUIRE(test::run_until(
        loop, [&] { return ticks >= 3 && deferred == 1 && fs_done == 1; }, 5000));
    t.stop();
    set_log_level(LogLevel::info);
}

TEST_CASE("loop: an object still waiting in defer_delete when the loop goes is destroyed before the loop closes") {
    struct Handle {
        uv_timer_t* t = new uv_timer_t;
        explicit Handle(uv_loop_t* l) { uv_timer_init(l, t); }
        ~Handle() {
            uv_close(reinterpret_cast<uv_handle_t*>(t),
                     [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
        }
    };
    bool destroyed = false;
    struct Flag {
        bool& f;
        ~Flag() { f = true; }
    };
    {
        Loop loop;
        loop.defer_delete(std::make_unique<Handle>(loop.get())); // needs the loop in its destructor
        loop.defer_delete(std::make_unique<Flag>(Flag{destroyed}));
    } // ~Loop: uv_loop_close would fail (and leak the timer) if the Handle outlived it
    CHECK(destroyed);
}
