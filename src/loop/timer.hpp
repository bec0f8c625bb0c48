// RAII timer over uv_timer_t.
//
// Ownership: the uv handle and the callback live in a heap block owned by the Timer until the Timer is destroyed;
// then the block is handed to uv_close and freed in the close callback. So a Timer may be destroyed from inside
// its own callback (or from any other callback): the running std::function stays alive until the loop has
// finished with the handle.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>

namespace p2p {

class Timer {
public:
    explicit Timer(uv_loop_t* loop);
    ~Timer();
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Calls fn after timeout_ms, then every repeat_ms if repeat_ms > 0. Replaces any earlier callback.
    void start(std::uint64_t timeout_ms, std::uint64_t repeat_ms, std::function<void()> fn);
    void stop();
    bool active() const;
    // Keep the loop from waiting on this timer alone (for housekeeping timers).
    void unref();

private:
    struct Block {
        uv_timer_t handle;
        std::function<void()> fn;
    };
    Block* block_;
};

} // namespace p2p
