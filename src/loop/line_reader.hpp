// Text lines from a file descriptor (stdin by default) on the loop, for the operator consoles of the tracker
// and the peer.
//
// fd may be a tty or a pipe/socket (read as a libuv stream) or a regular file / character device such as
// /dev/null (read with uv_fs_read on libuv's threadpool). End of input (or a read error) delivers the last
// unterminated line, if any, then on_eof once; the reader is closed then. A closed fd (EBADF) means no reader:
// start() returns false.
//
// Ownership: the uv handle, the read buffer, the partial line and both callbacks live in a heap block that the
// LineReader hands back to libuv on close() and that is freed in the close callback (stream) or in the pending
// read's callback (file). So on_line may call close() or even destroy the LineReader: the block outlives the
// call, and no further line is delivered once the reader is closed.
#pragma once
#include <uv.h>

#include <cstddef>
#include <functional>
#include <string_view>

namespace p2p {

class LineReader {
public:
    // One line without its '\n' (a '\r' before it is kept; callers trim). too_long: the line exceeded
    // kMaxLine bytes and was dropped; `line` is empty then.
    using OnLine = std::function<void(std::string_view line, bool too_long)>;
    using OnEof = std::function<void()>;
    // Bound of the partial line held in memory; longer lines are discarded up to their '\n'.
    static constexpr std::size_t kMaxLine = 4096;

    LineReader(uv_loop_t* loop, OnLine on_line, OnEof on_eof);
    ~LineReader(); // close()
    LineReader(const LineReader&) = delete;
    LineReader& operator=(const LineReader&) = delete;

    // Starts reading fd. false: fd is not readable (closed or of another kind). fd is left open, except a
    // socket's, which libuv owns from here on (a pipe or FIFO is reopened, see line_reader.cpp).
    bool start(int fd = 0);
    // Stops reading; no callback runs after this. Idempotent.
    void close();
    bool active() const { return block_ != nullptr; }

private:
    struct Block;
    Block* block_ = nullptr; // owned until close(); then freed by libuv's callbacks
    uv_loop_t* loop_;
    OnLine on_line_;
    OnEof on_eof_;
};

} // namespace p2p
