// hash_piece_async: one uv_work_t per piece, freed in its after-work callback.
#include "session/piece_hasher.hpp"

#include "crypto/sha.hpp"
#include "loop/fence.hpp"

namespace p2p {

namespace {
struct HashWork {
    uv_work_t req;
    std::shared_ptr<const std::string> data;
    std::string expected;
    std::function<void(bool)> done;
    bool ok = false;
};
} // namespace

void hash_piece_async(uv_loop_t* loop, std::shared_ptr<const std::string> data, std::string expected_sha1,
                      std::function<void(bool ok)> done) {
    auto* w = new HashWork{{}, std::move(data), std::move(expected_sha1), std::move(done)};
    w->req.data = w;
    uv_queue_work(
        loop, &w->req,
        [](uv_work_t* r) {
            // Threadpool: touches only the immutable buffer and this work item.
            auto* w = static_cast<HashWork*>(r->data);
            w->ok = sha1(*w->data) == w->expected;
        },
        [](uv_work_t* r, int status) {
            std::unique_ptr<HashWork> w(static_cast<HashWork*>(r->data));
            if (status != 0) return; // cancelled (the loop is closing)
            fence("piece hashed", [&] { w->done(w->ok); });
        });
}

} // namespace p2p
