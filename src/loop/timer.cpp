#include "loop/timer.hpp"

#include "loop/fence.hpp"

namespace p2p {

Timer::Timer(uv_loop_t* loop) : block_(new Block) {
    uv_timer_init(loop, &block_->handle);
    block_->handle.data = block_;
}

Timer::~Timer() {
    uv_timer_stop(&block_->handle);
    // Closed already only by Loop teardown's last resort; then the block is left to the process's end.
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&block_->handle))) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
             [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

void Timer::start(std::uint64_t timeout_ms, std::uint64_t repeat_ms, std::function<void()> fn) {
    block_->fn = std::move(fn);
    uv_timer_start(
        &block_->handle,
        [](uv_timer_t* t) {
            auto* b = static_cast<Block*>(t->data);
            // Copy: the callback may call start() again and replace b->fn while it runs.
            auto fn = b->fn;
            if (fn) fence("timer", fn); // a throwing tick is logged and dropped; the timer keeps its schedule
        },
        timeout_ms, repeat_ms);
}

void Timer::stop() { uv_timer_stop(&block_->handle); }
bool Timer::active() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&block_->handle)) != 0; }
void Timer::unref() { uv_unref(reinterpret_cast<uv_handle_t*>(&block_->handle)); }

} // namespace p2p
