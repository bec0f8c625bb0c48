// A heap-held uv_fs_t with a std::function completion, for chaining libuv filesystem calls (they run on libuv's
// threadpool; the completion runs on the loop thread).
//
// Ownership: fs_call allocates the request; it is cleaned up and freed right after `done` returns. Buffers handed
// to uv_fs_read/uv_fs_write must be kept alive by `done`'s captures until it runs.
// If libuv refuses the call synchronously (negative return) `done` runs at once with req->result set to the error,
// so callers see a single path for errors. Internal use only: user callbacks are never run synchronously.
#pragma once
#include <uv.h>

#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "base/result.hpp"
#include "loop/fence.hpp"

namespace p2p::fsr {

using Done = std::function<void(uv_fs_t* req)>;

struct Req {
    uv_fs_t req{};
    Done done;
};

inline void on_done(uv_fs_t* r) {
    auto* self = static_cast<Req*>(r->data);
    Done d = std::move(self->done);
    fence("fs request", [&] { d(r); }); // the request is freed either way
    uv_fs_req_cleanup(r);
    delete self;
}

// start(req, cb) must call one uv_fs_* function with the given request and callback and return its result.
template <class Start>
void call(Start&& start, Done done) {
    auto* r = new Req{};
    r->req.data = r;
    r->done = std::move(done);
    const int rc = start(&r->req, &on_done);
    if (rc < 0) {
        r->req.result = rc;
        on_done(&r->req);
    }
}

// The Errc of a libuv filesystem result: a missing path is not_found (callers treat a missing file while checking
// a partial download as "not there yet", not as a failing disk); anything else is io.
inline Errc uv_errc(long code) { return code == UV_ENOENT ? Errc::not_found : Errc::io; }

// "op path: reason" from a libuv error code, e.g. "write /x/y: No space left on device", with its Errc (uv_errc).
// On Unix libuv codes are negated errno values, so strerror gives the wording users know from other tools.
inline Error uv_error(const std::string& op, const std::string& path, long code) {
    const int c = static_cast<int>(code);
    return make_error(op + " " + path, code < 0 && code > -4096 ? std::strerror(-c) : uv_strerror(c), uv_errc(code));
}

} // namespace p2p::fsr
