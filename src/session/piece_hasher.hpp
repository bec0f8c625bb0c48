// Checks an assembled piece's SHA-1 on libuv's threadpool (uv_queue_work), so hashing overlaps with network I/O
// on the loop thread. The piece buffer is shared and immutable while the work runs.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace p2p {

// Calls done(ok) on the loop thread once the hash is known. The caller may be gone by then: it binds done to its
// life (LifeToken::bind) so that done does nothing after it.
void hash_piece_async(uv_loop_t* loop, std::shared_ptr<const std::string> data, std::string expected_sha1,
                      std::function<void(bool ok)> done);

} // namespace p2p
