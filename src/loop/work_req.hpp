// A heap-held uv_work_t with std::function halves, for blocking calls libuv has no uv_fs_ request for
// (sync_file_range, syncfs): `work` runs on libuv's threadpool, `after` on the loop thread.
//
// Ownership: the request owns both functions and frees itself before `after` runs; whatever `work` produces for
// `after` lives in their captures (a shared_ptr both hold). `work` runs on another thread: it must touch only
// what it captured, and must not throw (nothing would catch it there). `after` runs through fence() and gets
// libuv's status: 0, UV_ECANCELED, or, when uv_queue_work refuses (a closing loop), its error, at once.
#pragma once
#include <uv.h>

#include <functional>
#include <utility>

#include "loop/fence.hpp"

namespace p2p::work {

struct Req {
    uv_work_t req{};
    std::function<void()> work;
    std::function<void(int status)> after;
    const char* what; // for fence's log line
};

inline void finish(Req* r, int status) {
    auto after = std::move(r->after);
    const char* what = r->what;
    delete r;
    fence(what, [&] { after(status); });
}

inline void queue(uv_loop_t* loop, const char* what, std::function<void()> work, std::function<void(int)> after) {
    auto* r = new Req{{}, std::move(work), std::move(after), what};
    r->req.data = r;
    const int rc = uv_queue_work(
        loop, &r->req, [](uv_work_t* w) { static_cast<Req*>(w->data)->work(); },
        [](uv_work_t* w, int status) { finish(static_cast<Req*>(w->data), status); });
    if (rc < 0) finish(r, rc);
}

} // namespace p2p::work
