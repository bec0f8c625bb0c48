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

// "op path: reason" from a libuv error code, e.g. "write /x/y: No space left on device". On Unix libuv codes are
// negated errno values, so strerror gives the wording users know from other tools.
inline Error uv_error(const std::string& op, const std::string& path, long code) {
    return make_error(op + " " + path, code < 0 && code > -4096 ? std::strerror(static_cast<int>(-code))
                                                                  : uv_strerror(static_cast<int>(code)));
}

} // namespace p2p::fsr

namespace p2p::fsr {

// Internal outcome of a filesystem step: the libuv code (0 = ok) travels with the message so callers can tell a
// missing file (UV_ENOENT) or a short file (kShortRead) from a real I/O failure.
inline constexpr int kShortRead = -100000; // not a libuv code: the file ended before the range did
inline constexpr int kRefused = -100001;   // path safety refusal (symlink, bad component, not a directory)
inline constexpr int kChanged = -100002;   // a sealed file's size or mtime moved (storage.hpp, "Sealed files")
struct IoStatus {
    int code = 0;
    Error err;
    bool ok() const { return code == 0; }
};
inline IoStatus io_ok() { return {}; }
inline IoStatus io_fail(int code, Error e) { return IoStatus{code, std::move(e)}; }

} // namespace p2p::fsr
