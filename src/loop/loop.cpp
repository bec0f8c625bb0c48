#include "loop/loop.hpp"

#include "loop/fence.hpp"

namespace p2p {

namespace {
template <class H>
void close_and_free(H* h) {
    if (!h) return;
    auto* handle = reinterpret_cast<uv_handle_t*>(h);
    handle->data = nullptr; // no callback may reach the Loop any more
    if (!uv_is_closing(handle)) uv_close(handle, [](uv_handle_t* x) { delete reinterpret_cast<H*>(x); });
}
} // namespace

Loop::Loop() : Loop(nullptr) {}

Loop::Loop(uv_loop_t* borrowed) : loop_(borrowed) {
    if (!loop_) {
        own_ = std::make_unique<uv_loop_t>();
        loop_ = own_.get();
        uv_loop_init(loop_);
    }
    check_ = new_handle<uv_check_t>();
    uv_check_init(loop_, check_);
    check_->data = this;
    idle_ = new_handle<uv_idle_t>();
    uv_idle_init(loop_, idle_);
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
    close_and_free(sigint_);
    close_and_free(sigterm_);
    close_and_free(sighup_);
    close_and_free(check_);
    close_and_free(idle_);
    check_ = nullptr; // freed by its close callback: defer() below only queues (dropped at the end)
    idle_ = nullptr;
    if (!own_) return; // the host's loop: it runs the close callbacks; its other handles are not ours
    std::uint64_t deadline = uv_now(loop_) + 10'000;
    while (uv_run(loop_, UV_RUN_ONCE) != 0 && uv_now(loop_) < deadline) {}
    uv_walk(
        loop_,
        [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr); // leaked owner: only after the bound above
        },
        nullptr);
    uv_run(loop_, UV_RUN_DEFAULT);
    // Callbacks run above (a `stopped` announce's timer) may have deferred more; dropped now, after the loop,
    // never inside the callback that queued them (defer_delete of the object whose callback it was).
    for (int round = 0; round < 16 && !deferred_.empty(); ++round) {
        auto batch = std::move(deferred_);
        deferred_.clear();
        batch.clear();
    }
    uv_loop_close(loop_);
}

void Loop::on_terminate(std::function<void(int)> fn) {
    on_terminate_ = std::move(fn);
    if (sigint_) return;
    auto cb = [](uv_signal_t* s, int signum) {
        auto* self = static_cast<Loop*>(s->data);
        if (self && self->on_terminate_) fence("signal", [&] { self->on_terminate_(signum); });
    };
    sigint_ = new_handle<uv_signal_t>();
    sigterm_ = new_handle<uv_signal_t>();
    uv_signal_init(loop_, sigint_);
    uv_signal_init(loop_, sigterm_);
    sigint_->data = sigterm_->data = this;
    uv_signal_start(sigint_, cb, SIGINT);
    uv_signal_start(sigterm_, cb, SIGTERM);
    // Signals alone should not keep the loop alive once all work is done.
    uv_unref(reinterpret_cast<uv_handle_t*>(sigint_));
    uv_unref(reinterpret_cast<uv_handle_t*>(sigterm_));
}

void Loop::on_hangup(std::function<void()> fn) {
    on_hangup_ = std::move(fn);
    if (sighup_) return;
    sighup_ = new_handle<uv_signal_t>();
    uv_signal_init(loop_, sighup_);
    sighup_->data = this;
    uv_signal_start(
        sighup_,
        [](uv_signal_t* s, int) {
            auto* self = static_cast<Loop*>(s->data);
            if (self && self->on_hangup_) fence("SIGHUP", self->on_hangup_);
        },
        SIGHUP);
    uv_unref(reinterpret_cast<uv_handle_t*>(sighup_));
}

void Loop::defer(std::function<void()> fn) {
    if (deferred_.empty() && check_) {
        uv_check_start(check_, on_check);
        uv_idle_start(idle_, [](uv_idle_t*) {});
    }
    deferred_.push_back(std::move(fn));
}

void Loop::on_check(uv_check_t* h) {
    auto* self = static_cast<Loop*>(h->data);
    if (!self) return;
    auto batch = std::move(self->deferred_);
    self->deferred_.clear();
    for (auto& fn : batch) fence("deferred task", fn);
    if (self->deferred_.empty()) {
        uv_check_stop(self->check_);
        uv_idle_stop(self->idle_);
    }
}

} // namespace p2p
