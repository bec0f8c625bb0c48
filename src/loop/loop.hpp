// The one owner of uv_loop_t. The composition root (src/node) creates a Loop, builds every module with
// loop.get(), runs it, and destroys modules before the Loop. Modules never create their own loop.
//
// Borrowed: an embedder's uv_loop_t (the public p2p::Node on the host's loop). Then the Loop neither runs nor
// closes it: its own handles (check, idle, signals) live on the heap and are freed by their close callbacks,
// which run when the host's loop next turns, as do the close callbacks of every module's handles (each module
// frees its handle memory in its close callback, never in its destructor). The host must keep running its loop
// until those are done (uv_run until it returns 0, as before any uv_loop_close).
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace p2p {

class Loop {
public:
    Loop();
    explicit Loop(uv_loop_t* borrowed); // not owned: never run, stopped or closed here (null: own one)
    ~Loop(); // closes every remaining handle and drains their close callbacks before uv_loop_close
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    uv_loop_t* get() { return loop_; }
    bool borrowed() const { return !own_; }
    int run() { return uv_run(loop_, UV_RUN_DEFAULT); }
    void stop() { uv_stop(loop_); }
    std::uint64_t now_ms() { return uv_now(loop_); }

    // Run fn on SIGINT/SIGTERM (the handler is installed on the loop; no async-signal-safety issues).
    void on_terminate(std::function<void(int signum)> fn);
    // Run fn on SIGHUP instead of dying of it (its default action): the tracker saves its state and reopens its
    // log, the peer rescans its share folder. Like the others, the handler does not keep the loop alive.
    void on_hangup(std::function<void()> fn);

    // Queue fn to run after the current callback returns (on the next check phase). Used to act on events
    // that would otherwise destroy the object whose callback is running.
    void defer(std::function<void()> fn);
    // Destroys `obj` after the current callback returns: the one way to let go of an object from inside one of
    // its own callbacks (a tracker client answering, a fetch reporting its result).
    template <class T>
    void defer_delete(std::unique_ptr<T> obj) {
        if (!obj) return;
        std::shared_ptr<T> keep(std::move(obj));
        defer([keep] {}); // freed with the deferred batch, after it ran
    }

private:
    static void on_check(uv_check_t* h);
    template <class H>
    static H* new_handle() { return new H{}; }
    std::unique_ptr<uv_loop_t> own_; // null when borrowed
    uv_loop_t* loop_;
    // Heap handles, freed by their close callbacks (they may outlive a Loop on a borrowed uv_loop_t).
    uv_signal_t *sigint_ = nullptr, *sigterm_ = nullptr, *sighup_ = nullptr;
    uv_check_t* check_;
    uv_idle_t* idle_; // keeps the loop from blocking while deferred work is queued
    std::vector<std::function<void()>> deferred_;
    std::function<void(int)> on_terminate_;
    std::function<void()> on_hangup_;
};

} // namespace p2p
