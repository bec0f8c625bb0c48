// hash_piece_async: one work::queue request per piece. See piece_hash.hpp.
#include "storage/piece_hash.hpp"

#include "crypto/sha.hpp"
#include "loop/work_req.hpp"

namespace p2p {

void hash_piece_async(uv_loop_t* loop, std::shared_ptr<const std::string> data, std::string expected_sha1,
                      std::function<void(bool ok)> done) {
    // Owned by both halves: the buffer and the expected digest are read on the threadpool, the verdict on the
    // loop thread, after the work has ended.
    struct Job {
        std::shared_ptr<const std::string> data;
        std::string expected;
        bool ok = false;
        void check() { ok = sha1(*data) == expected; }
    };
    auto job = std::make_shared<Job>(Job{std::move(data), std::move(expected_sha1)});
    work::queue(
        loop, "piece hash", [job] { job->check(); },
        [job, done = std::move(done)](int status) {
            if (status < 0 && status != UV_ECANCELED) job->check(); // the threadpool refused it: here, now
            done(status == UV_ECANCELED ? false : job->ok);
        });
}

} // namespace p2p
