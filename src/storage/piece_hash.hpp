// Checks a piece's SHA-1 on libuv's threadpool (uv_queue_work), so hashing a 4 MiB piece overlaps with network
// I/O on the loop thread instead of stalling every connection. Used for the pieces a download assembles
// (session/torrent_pieces.cpp) and for those a verification reads back from disk (storage_verify.cpp).
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

namespace p2p {

// Calls done(ok) once, on the loop thread: whether the SHA-1 of `data` is `expected_sha1` (false if libuv
// cancelled the work). `data` is shared and must not change while the work runs. If the threadpool refuses the
// work (a closing loop), the piece is hashed here and done called at once, rather than the piece being lost.
// The caller may be gone by then: it binds done to its life (LifeToken::bind) so that done does nothing after it.
void hash_piece_async(uv_loop_t* loop, std::shared_ptr<const std::string> data, std::string expected_sha1,
                      std::function<void(bool ok)> done);

} // namespace p2p
