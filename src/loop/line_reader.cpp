#include "loop/line_reader.hpp"
#include "base/log.hpp"
#include "loop/fence.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <string>

namespace p2p {

// Everything libuv may still touch after the LineReader is gone.
struct LineReader::Block {
    LineReader* owner = nullptr; // nulled when the reader closes (by the owner or at end of input)
    uv_loop_t* loop = nullptr;
    int fd = 0;
    uv_handle_type type = UV_UNKNOWN_HANDLE;
    union {
        uv_tty_t tty;
        uv_pipe_t pipe;
    } h;
    uv_fs_t fs;
    bool fs_busy = false; // a uv_fs_read is in flight: its callback frees a closed block
    bool busy = false;    // a callback up the stack is using the block: it frees a closed block afterwards
    bool closed = false;
    bool discarding = false; // inside an overlong line: drop bytes up to the next '\n'
    std::string pending;     // the partial line; at most kMaxLine bytes
    OnLine on_line;
    OnEof on_eof;
    char buf[4096];

    uv_handle_t* handle() {
        return type == UV_TTY ? reinterpret_cast<uv_handle_t*>(&h.tty) : reinterpret_cast<uv_handle_t*>(&h.pipe);
    }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(handle()); }

    // A file-kind block is freed here once nobody holds it; a stream's in its close callback.
    static void maybe_free(Block* b) {
        if (b->closed && b->type == UV_FILE && !b->busy && !b->fs_busy) delete b;
    }
    static void free_cb(uv_handle_t* h) { delete static_cast<Block*>(h->data); }

    static void shut(Block* b) {
        if (b->closed) return;
        b->closed = true;
        if (b->owner) b->owner->block_ = nullptr;
        b->owner = nullptr;
        if (b->type == UV_FILE) return maybe_free(b);
        if (b->type == UV_TTY) uv_tty_reset_mode();
        uv_read_stop(b->stream());
        uv_close(b->handle(), free_cb);
    }

    // Splits data into lines; stops as soon as a callback closed the reader.
    // Both may run inside on_file_read, which holds the block busy across feed(): they free a closed block
    // only when they are the outermost holder (freeing it under on_file_read was a use-after-free).
    static void feed(Block* b, std::string_view data) {
        const bool nested = b->busy;
        b->busy = true;
        for (char c : data) {
            if (b->closed) break;
            if (c != '\n') {
                if (b->discarding) continue;
                if (b->pending.size() >= kMaxLine) {
                    b->discarding = true;
                    b->pending.clear();
                    continue;
                }
                b->pending.push_back(c);
                continue;
            }
            if (b->discarding) {
                b->discarding = false;
                b->on_line({}, true);
                continue;
            }
            std::string line;
            line.swap(b->pending);
            // Typed on a terminal: its echo followed the live progress line (base/log.hpp's status line).
            if (b->type == UV_TTY) status_line_input(b->fd, line);
            b->on_line(line, false);
        }
        b->busy = nested;
        if (!nested) maybe_free(b);
    }

    // End of input or a read error: the last unterminated line, then on_eof; the reader is closed after.
    static void end(Block* b) {
        const bool nested = b->busy;
        b->busy = true;
        if (!b->closed && !b->discarding && !b->pending.empty()) {
            std::string line;
            line.swap(b->pending);
            b->on_line(line, false);
        }
        if (!b->closed) {
            shut(b);
            if (b->on_eof) b->on_eof();
        }
        b->busy = nested;
        if (!nested) maybe_free(b);
    }

    static void read_file(Block* b) {
        b->fs_busy = true;
        uv_buf_t ub = uv_buf_init(b->buf, sizeof b->buf);
        if (uv_fs_read(b->loop, &b->fs, b->fd, &ub, 1, -1, on_file_read) != 0) {
            b->fs_busy = false;
            end(b);
        }
    }
    static void on_file_read(uv_fs_t* req) {
        auto* b = static_cast<Block*>(req->data);
        ssize_t n = req->result;
        uv_fs_req_cleanup(req);
        b->fs_busy = false;
        if (b->closed) return maybe_free(b);
        if (n <= 0) return end(b);
        b->busy = true; // kept across feed() so the block survives to decide on the next read
        feed(b, std::string_view(b->buf, static_cast<std::size_t>(n)));
        b->busy = false;
        if (b->closed) return maybe_free(b);
        read_file(b);
    }
};

LineReader::LineReader(uv_loop_t* loop, OnLine on_line, OnEof on_eof)
    : loop_(loop), on_line_(std::move(on_line)), on_eof_(std::move(on_eof)) {}

LineReader::~LineReader() { close(); }

void LineReader::close() {
    if (block_) Block::shut(block_);
}

bool LineReader::start(int fd) {
    if (block_) return true;
    uv_handle_type t = uv_guess_handle(fd);
    if (t != UV_TTY && t != UV_NAMED_PIPE && t != UV_FILE) return false;
    auto* b = new Block;
    b->owner = this;
    b->loop = loop_;
    b->fd = fd;
    b->type = t;
    b->on_line = on_line_;
    b->on_eof = on_eof_;
    if (t == UV_FILE) { // regular file or character device such as /dev/null
        b->fs.data = b;
        block_ = b;
        Block::read_file(b);
        return true; // a read that failed at once has already reported end of input
    }
    if (t == UV_TTY) {
        if (uv_tty_init(loop_, &b->h.tty, fd, 0) != 0) {
            delete b;
            return false;
        }
    } else {
        // uv_pipe_open makes the fd non-blocking, a flag of the open file description that our parent and
        // siblings share: a shell reading the same pipe would then get EAGAIN. So read the pipe through a
        // description of our own (on Linux /proc/self/fd/N opens the same pipe or FIFO anew; O_NONBLOCK so a
        // FIFO without a writer does not block the open). libuv closes that one with the handle; fd stays
        // open. Sockets cannot be reopened: they are used directly (and closed with the reader).
        int own = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        uv_pipe_init(loop_, &b->h.pipe, 0);
        if (uv_pipe_open(&b->h.pipe, own >= 0 ? own : fd) != 0) {
            if (own >= 0) ::close(own);
            b->h.pipe.data = b;
            b->closed = true;
            uv_close(b->handle(), Block::free_cb);
            return false;
        }
    }
    b->handle()->data = b;
    block_ = b;
    uv_read_start(
        b->stream(),
        [](uv_handle_t* h, std::size_t, uv_buf_t* out) {
            auto* blk = static_cast<Block*>(h->data);
            *out = uv_buf_init(blk->buf, sizeof blk->buf);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* in) {
            auto* blk = static_cast<Block*>(s->data);
            if (blk->closed) return;
            // A line whose handling throws is dropped (logged); the console reads on.
            if (n > 0)
                fence("console input",
                      [&] { Block::feed(blk, std::string_view(in->base, static_cast<std::size_t>(n))); });
            else if (n < 0)
                fence("console end", [&] { Block::end(blk); }); // UV_EOF or a read error: the input is over
        });
    return true;
}

} // namespace p2p
