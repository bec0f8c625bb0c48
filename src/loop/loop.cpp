#include "loop/loop.hpp"

#include "loop/fence.hpp"

namespace p2p {

Loop::Loop() {
    uv_loop_init(&loop_);
    uv_check_init(&loop_, &check_);
    check_.data = this;
    uv_idle_init(&loop_, &idle_);
}

Loop::~Loop() {
    // Tasks still deferred are dropped, not run (their owners are gone), but dropped now, while the loop lives:
    // an object handed to defer_delete is destroyed here and may close handles, which the run below drains.
    // Destroying one may defer more.
    for (int round = 0; round < 16 && !deferred_.empty(); ++round) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        batch.clear();
    }
    // By now the modules are gone, but objects kept alive by in-flight requests (a Storage whose last writes are
    // still on the threadpool) may still own handles; they close them in their own destructors once those
    // requests complete. So: close our own handles, let the loop run out by itself (bounded), and only then
    // close whatever is left.
    auto close_own = [](uv_handle_t* h) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
    };
    if (signals_installed_) {
        close_own(reinterpret_cast<uv_handle_t*>(&sigint_));
        close_own(reinterpret_cast<uv_handle_t*>(&sigterm_));
    }
    if (hangup_installed_) close_own(reinterpret_cast<uv_handle_t*>(&sighup_));
    close_own(reinterpret_cast<uv_handle_t*>(&check_));
    close_own(reinterpret_cast<uv_handle_t*>(&idle_));
    std::uint64_t deadline = uv_now(&loop_) + 10'000;
    while (uv_run(&loop_, UV_RUN_ONCE) != 0 && uv_now(&loop_) < deadline) {}
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr); // leaked owner: only after the bound above
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
}

void Loop::on_terminate(std::function<void(int)> fn) {
    on_terminate_ = std::move(fn);
    if (signals_installed_) return;
    signals_installed_ = true;
    auto cb = [](uv_signal_t* s, int signum) {
        auto* self = static_cast<Loop*>(s->data);
        if (self->on_terminate_) fence("signal", [&] { self->on_terminate_(signum); });
    };
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    sigint_.data = sigterm_.data = this;
    uv_signal_start(&sigint_, cb, SIGINT);
    uv_signal_start(&sigterm_, cb, SIGTERM);
    // Signals alone should not keep the loop alive once all work is done.
    uv_unref(reinterpret_cast<uv_handle_t*>(&sigint_));
    uv_unref(reinterpret_cast<uv_handle_t*>(&sigterm_));
}

void Loop::on_hangup(std::function<void()> fn) {
    on_hangup_ = std::move(fn);
    if (hangup_installed_) return;
    hangup_installed_ = true;
    uv_signal_init(&loop_, &sighup_);
    sighup_.data = this;
    uv_signal_start(
        &sighup_,
        [](uv_signal_t* s, int) {
            auto* self = static_cast<Loop*>(s->data);
            if (self->on_hangup_) fence("SIGHUP", self->on_hangup_);
        },
        SIGHUP);
    uv_unref(reinterpret_cast<uv_handle_t*>(&sighup_));
}

void Loop::defer(std::function<void()> fn) {
    if (deferred_.empty()) {
        uv_check_start(&check_, on_check);
        uv_idle_start(&idle_, [](uv_idle_t*) {});
    }
    deferred_.push_back(std::move(fn));
}

void Loop::on_check(uv_check_t* h) {
    auto* self = static_cast<Loop*>(h->data);
    auto batch = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& fn : batch) fence("deferred task", fn);
    if (self->deferred_.empty()) {
        uv_check_stop(&self->check_);
        uv_idle_stop(&self->idle_);
    }
}

} // namespace p2p
