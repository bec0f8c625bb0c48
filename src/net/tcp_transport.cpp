#include "net/tcp_transport.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

#include "loop/fence.hpp"

namespace p2p {

namespace {
// The receive buffer starts at limits.initial_read and one read is at most limits.max_read (1 MiB by default;
// 32 KiB under --max-memory); the total bound adds max_unconsumed.
constexpr std::size_t kMinReadSpace = 16 * 1024;  // grow when less than this is free for the next read
constexpr std::size_t kCoalesceLimit = 64 * 1024; // small sends are appended to one buffer up to this size
constexpr std::size_t kMaxBufsPerWrite = 256;     // uv_buf_t per uv_write (libuv caps at IOV_MAX itself)
// A referenced slice keeps its whole buffer alive until written. A peer that stops reading while asking for one
// 16 KiB block of each of many pieces would pin up to (send-queue bound / 16 KiB) whole pieces - with 4 MiB pieces
// ~1 GiB per peer, outside the read cache's budget. Slices smaller than 1/kMaxPinFactor of their buffer are
// copied instead, so the memory a queue holds is at most kMaxPinFactor x its queued bytes (or kPinFloor). (Measured with 4 stalled
// peers and 256 KiB pieces: seed RSS +88 MB before, +76 MB after, of which 64 MiB is the read cache.)
// kMaxPinFactor is TransportLimits::pin_factor (4 by default, 1 under --max-memory).
// The bound is on the whole buffers pinned (`pinned`: each buffer counted once per run of consecutive slices of
// it), not per slice: a peer that reads as fast as we send keeps the queue near empty, and a per-slice test then
// copied every block of every piece (9 % of a seed's CPU at 1 MiB pieces). Up to kPinFloor is always allowed, so
// a piece's blocks in a row are referenced; past it the queue must hold 1/pin_factor of what it pins. The floor
// does not raise the worst case: it is far below pin_factor x max_queued.
constexpr std::size_t kPinFloor = 4u << 20;

Error uv_error(const char* op, int code) { return make_error(op, uv_strerror(code)); }
} // namespace

// One queued piece of output: either owned bytes or a referenced slice of a shared buffer.
struct Chunk {
    std::string owned;
    std::shared_ptr<const std::string> shared;
    std::size_t offset = 0, length = 0; // slice of *shared
    bool pins = false; // the last queued slice of its buffer's run: shared->size() leaves `pinned` with it
    const char* data() const { return shared ? shared->data() + offset : owned.data(); }
    std::size_t size() const { return shared ? length : owned.size(); }
};

struct TcpBlock {
    uv_tcp_t tcp{};
    uv_write_t wreq{};
    TcpTransport* owner = nullptr; // null once the TcpTransport is gone: the close callback then frees us
    TransportUser* user = nullptr;
    TransportLimits limits;

    // Send queue: bounded by limits.max_queued bytes. The first in_flight chunks belong to the running uv_write
    // and must not change until its callback; they are freed there.
    std::deque<Chunk> queue;
    std::size_t in_flight = 0;
    std::size_t queued = 0;
    std::size_t pinned = 0; // sizes of the shared buffers the queue references (see kPinFloor)
    bool writing = false;
    int cork = 0;
    std::vector<uv_buf_t> bufs;

    // Receive buffer: bytes [0, rlen) are received and unconsumed. Grows to at most
    // limits.max_unconsumed + limits.max_read; reused for the life of the connection (shrunk back
    // after a big message when limits.shrink_receive).
    std::string rbuf;
    std::size_t rlen = 0;
    bool last_read_filled = false;

    bool started = false, paused = false;
    bool closing = false, handle_closed = false, in_close_cb = false;
    bool report = false; // report `error` to the user from the close callback
    Error error;
    std::string remote;

    // What this block has recorded in limits.budget (send: queued bytes; receive: rbuf's size).
    std::size_t counted_send = 0, counted_recv = 0;

    TcpBlock() = default;
    TcpBlock(const TcpBlock&) = delete;
    TcpBlock& operator=(const TcpBlock&) = delete;
    ~TcpBlock() { uncount(); }

    // Brings the budget's record in line with the queue and buffer after they changed.
    void count() {
        if (!limits.budget) return;
        MemoryBudget& m = *limits.budget;
        if (queued > counted_send)
            m.reserve(MemPool::send, queued - counted_send);
        else
            m.release(MemPool::send, counted_send - queued);
        counted_send = queued;
        if (rbuf.size() > counted_recv)
            m.reserve(MemPool::receive, rbuf.size() - counted_recv);
        else
            m.release(MemPool::receive, counted_recv - rbuf.size());
        counted_recv = rbuf.size();
    }
    void uncount() {
        if (!limits.budget) return;
        limits.budget->release(MemPool::send, counted_send);
        limits.budget->release(MemPool::receive, counted_recv);
        counted_send = counted_recv = 0;
    }

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
    uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&tcp); }
};

namespace {

void on_close(uv_handle_t* h) {
    auto* b = static_cast<TcpBlock*>(h->data);
    b->handle_closed = true;
    if (b->owner && b->user && b->report) {
        b->report = false;
        b->in_close_cb = true;
        fence("tcp close", [&] { b->user->on_closed(b->error); }); // may destroy the TcpTransport
        b->in_close_cb = false;
    }
    if (!b->owner) delete b;
}

void start_close(TcpBlock* b) {
    if (b->closing) return;
    b->closing = true;
    uv_close(b->handle(), on_close);
}

// Closes and reports `why` to the user from the close callback (never re-entrantly).
void fail(TcpBlock* b, Error why) {
    if (b->closing) return;
    b->error = std::move(why);
    b->report = true;
    start_close(b);
}

void flush(TcpBlock* b);

void on_write(uv_write_t* req, int status) {
    auto* b = static_cast<TcpBlock*>(req->data);
    b->writing = false;
    for (std::size_t i = 0; i < b->in_flight; ++i) {
        const Chunk& c = b->queue.front();
        b->queued -= c.size();
        if (c.pins) b->pinned -= c.shared->size();
        b->queue.pop_front();
    }
    b->in_flight = 0;
    b->count();
    if (b->closing) return; // cancelled by close; the close callback follows
    if (status < 0) return fail(b, uv_error("tcp.write", status));
    if (!b->queue.empty()) return flush(b);
    if (!(b->owner && b->user)) return;
    // May destroy the transport; nothing follows. A throw closes this connection only.
    if (!fence("tcp drained", [&] { b->user->on_drained(); }) && b->owner && !b->closing)
        fail(b, make_error("tcp.write", "internal error while sending (see the log)"));
}

void flush(TcpBlock* b) {
    if (b->writing || b->cork > 0 || b->closing || b->queue.empty()) return;
    std::size_t n = std::min(b->queue.size(), kMaxBufsPerWrite);
    b->bufs.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        const Chunk& c = b->queue[i];
        b->bufs[i] = uv_buf_init(const_cast<char*>(c.data()), static_cast<unsigned>(c.size()));
    }
    b->in_flight = n;
    b->writing = true;
    int r = uv_write(&b->wreq, b->stream(), b->bufs.data(), static_cast<unsigned>(n), on_write);
    if (r < 0) {
        b->writing = false;
        b->in_flight = 0;
        fail(b, uv_error("tcp.write", r));
    }
}

void enqueue_bytes(TcpBlock* b, std::string_view bytes, std::string* movable) {
    // Coalesce into the last chunk if it is owned, not part of the write in flight, and still small.
    if (b->queue.size() > b->in_flight && !b->queue.back().shared &&
        b->queue.back().owned.size() + bytes.size() <= kCoalesceLimit) {
        b->queue.back().owned.append(bytes);
    } else {
        Chunk c;
        if (movable)
            c.owned = std::move(*movable);
        else
            c.owned.assign(bytes);
        b->queue.push_back(std::move(c));
    }
    b->queued += bytes.size();
    b->count();
}

// The queued slice that ends the run of slices of `buf`, if a slice of `buf` queued now continues it; else null.
// Called after the slice's header was queued, so the run's last slice is the chunk before the header.
Chunk* run_of(TcpBlock* b, const std::string& buf) {
    const std::size_t n = b->queue.size();
    Chunk* prev = n >= 2 ? &b->queue[n - 2] : nullptr;
    return prev && prev->pins && prev->shared.get() == &buf ? prev : nullptr;
}

// Whether a slice of `buf` may be queued by reference (see kMaxPinFactor and kPinFloor) rather than copied.
bool may_pin(TcpBlock* b, const std::string& buf, std::size_t length) {
    const std::size_t factor = std::max<std::size_t>(b->limits.pin_factor, 1);
    if (buf.size() / factor <= length) return true; // the slice is a large part of its buffer
    if (factor == 1) return false;                   // --max-memory: the queue holds exactly what it counts
    const std::size_t pinned = b->pinned + (run_of(b, buf) ? 0 : buf.size());
    return pinned <= std::max(kPinFloor, factor * (b->queued + length));
}

void check_overflow(TcpBlock* b) {
    if (b->queued > b->limits.max_queued)
        fail(b, make_error("tcp.send", "send queue overflow (" + std::to_string(b->queued) + " bytes)"));
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* b = static_cast<TcpBlock*>(h->data);
    const std::size_t cap = b->limits.max_unconsumed + b->limits.max_read;
    std::size_t size = b->rbuf.size();
    if (size == 0) size = b->limits.initial_read;
    // Grow when the last read filled the buffer (the peer is fast: bigger reads, fewer syscalls) or when a
    // partial message leaves too little room.
    if (b->last_read_filled && size < b->limits.max_read) size *= 2;
    while (size - b->rlen < kMinReadSpace && size < cap) size *= 2;
    size = std::min(size, cap);
    if (size > b->rbuf.size()) {
        b->rbuf.resize(size);
        b->count();
    }
    buf->base = b->rbuf.data() + b->rlen;
    buf->len = b->rbuf.size() - b->rlen;
}

void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* b = static_cast<TcpBlock*>(s->data);
    if (nread < 0) {
        if (nread == UV_EOF) return fail(b, make_error("tcp.read", "connection closed by peer"));
        return fail(b, uv_error("tcp.read", static_cast<int>(nread)));
    }
    if (nread == 0 || b->closing || !b->owner) return;
    b->last_read_filled = static_cast<std::size_t>(nread) == buf->len;
    b->rlen += static_cast<std::size_t>(nread);
    std::size_t used = 0;
    const bool ok = fence("tcp read", [&] { used = b->user->on_data(std::string_view(b->rbuf.data(), b->rlen)); });
    // The user may have closed or destroyed the transport; the block (and rbuf) are still valid here.
    if (b->closing || !b->owner) return;
    if (!ok) return fail(b, make_error("tcp.read", "internal error while handling received data (see the log)"));
    used = std::min(used, b->rlen);
    if (used > 0 && used < b->rlen) std::memmove(b->rbuf.data(), b->rbuf.data() + used, b->rlen - used);
    b->rlen -= used;
    // A buffer grown past max_read for one big message (a bitfield, a metadata piece) goes back to the
    // initial size once that message is consumed, so a budgeted connection does not keep its largest buffer.
    if (b->limits.shrink_receive && b->rbuf.size() > b->limits.max_read && b->rlen <= b->limits.initial_read / 2) {
        std::string fresh(b->limits.initial_read, '\0');
        std::memcpy(fresh.data(), b->rbuf.data(), b->rlen);
        b->rbuf.swap(fresh);
        b->count();
    }
    if (b->rlen > b->limits.max_unconsumed)
        fail(b, make_error("tcp.read", "unconsumed input exceeds " + std::to_string(b->limits.max_unconsumed)));
}

} // namespace

TcpTransport::TcpTransport(TcpBlock* adopted) : b_(adopted) {
    b_->owner = this;
    b_->tcp.data = b_;
    b_->wreq.data = b_;
    uv_tcp_nodelay(&b_->tcp, 1);
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&b_->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
        b_->remote = format_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

TcpTransport::~TcpTransport() {
    b_->owner = nullptr;
    b_->user = nullptr;
    if (!b_->closing)
        start_close(b_);
    else if (b_->handle_closed && !b_->in_close_cb)
        delete b_;
    // else: the close callback (running or pending) frees the block.
}

void TcpTransport::start(TransportUser* user) {
    b_->user = user;
    if (b_->started || b_->closing) return;
    b_->started = true;
    if (!b_->paused) {
        int r = uv_read_start(b_->stream(), on_alloc, on_read);
        if (r < 0) fail(b_, uv_error("tcp.read_start", r));
    }
}

void TcpTransport::send(std::string bytes) {
    if (b_->closing || bytes.empty()) return;
    enqueue_bytes(b_, bytes, &bytes);
    check_overflow(b_);
    flush(b_);
}

void TcpTransport::send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload,
                              std::size_t offset, std::size_t length) {
    if (b_->closing) return;
    enqueue_bytes(b_, std::string_view(reinterpret_cast<const char*>(header13), 13), nullptr);
    if (length > 0 && payload && !may_pin(b_, *payload, length)) {
        enqueue_bytes(b_, std::string_view(payload->data() + offset, length), nullptr); // copy: see kMaxPinFactor
    } else if (length > 0) {
        Chunk c;
        c.shared = std::move(payload);
        c.offset = offset;
        c.length = length;
        c.pins = true;
        // The run of slices of one buffer pins it once, until its last slice is written.
        if (Chunk* prev = run_of(b_, *c.shared))
            prev->pins = false; // a flag only: prev may be in flight, its bytes stay as they are
        else
            b_->pinned += c.shared->size();
        b_->queue.push_back(std::move(c));
        b_->queued += length;
        b_->count();
    }
    check_overflow(b_);
    flush(b_);
}

std::size_t TcpTransport::queued_bytes() const { return b_->queued; }
void TcpTransport::cork() { ++b_->cork; }
void TcpTransport::uncork() {
    if (b_->cork > 0 && --b_->cork == 0) flush(b_);
}
void TcpTransport::close() {
    b_->report = false;
    start_close(b_);
}
bool TcpTransport::is_open() const { return !b_->closing; }

void TcpTransport::pause_reading() {
    b_->paused = true;
    if (b_->started && !b_->closing) uv_read_stop(b_->stream());
}
void TcpTransport::resume_reading() {
    if (!b_->paused) return;
    b_->paused = false;
    if (b_->started && !b_->closing) {
        int r = uv_read_start(b_->stream(), on_alloc, on_read);
        if (r < 0) fail(b_, uv_error("tcp.read_start", r));
    }
}
std::string TcpTransport::remote_address() const { return b_->remote; }

void TcpTransport::set_limits(const TransportLimits& limits) {
    b_->uncount();
    b_->limits = limits;
    b_->count();
}

Result<sockaddr_storage> make_sockaddr(const std::string& ip, std::uint16_t port) {
    sockaddr_storage ss{};
    if (uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0) return ss;
    if (uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) return ss;
    return make_error("address", "not a numeric IP address: " + ip);
}

std::string ip_of(const std::string& address) {
    if (!address.empty() && address[0] == '[') {
        auto end = address.find(']');
        return end == std::string::npos ? address : address.substr(1, end - 1);
    }
    auto colon = address.rfind(':');
    return colon == std::string::npos ? address : address.substr(0, colon);
}

bool is_loopback_ip(const std::string& ip) {
    return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

std::string format_sockaddr(const sockaddr* sa) {
    char name[INET6_ADDRSTRLEN + 1] = {};
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        uv_ip4_name(in, name, sizeof name);
        return std::string(name) + ":" + std::to_string(ntohs(in->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        uv_ip6_name(in6, name, sizeof name);
        return "[" + std::string(name) + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    return "?";
}

// ---- outbound connect ----

// Lives until both the connect request has called back and the timer handle is closed.
struct TcpConnect::Op {
    uv_connect_t req{};
    uv_timer_t timer{};
    TcpBlock* tb = nullptr; // the socket; handed to a TcpTransport on success
    TcpConnect* handle = nullptr;
    Callback cb;
    bool finished = false; // the outcome has been decided (and reported unless cancelled)
    bool connect_pending = false;
    bool timer_closed = false;
    int start_error = 0; // uv_tcp_connect failed synchronously: reported from the timer

    void maybe_free() {
        if (!connect_pending && timer_closed) delete this;
    }
    void close_timer() {
        uv_timer_stop(&timer);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) {
            auto* op = static_cast<Op*>(h->data);
            op->timer_closed = true;
            op->maybe_free();
        });
    }
    // Decides the outcome: detaches from the TcpConnect and calls back (the callback may destroy it).
    void finish(Result<std::unique_ptr<Transport>> r) {
        finished = true;
        close_timer();
        TcpConnect* h = handle;
        handle = nullptr;
        if (h) {
            h->op_ = nullptr;
            Callback fn = std::move(cb);
            fence("tcp connect", [&] { fn(std::move(r)); }); // a transport handed over and dropped closes
        }
    }
};

TcpConnect::~TcpConnect() {
    if (!op_) return;
    op_->handle = nullptr;
    if (!op_->finished) {
        op_->finished = true;
        start_close(op_->tb); // a pending connect calls back with UV_ECANCELED; the close callback frees tb
        op_->close_timer();
    }
}

std::unique_ptr<TcpConnect> tcp_connect(uv_loop_t* loop, const sockaddr* addr, std::uint64_t timeout_ms,
                                        TcpConnect::Callback cb, TransportLimits limits) {
    auto* op = new TcpConnect::Op;
    auto handle = std::make_unique<TcpConnect>(op);
    op->handle = handle.get();
    op->cb = std::move(cb);
    op->tb = new TcpBlock;
    op->tb->limits = limits;
    op->tb->tcp.data = op->tb;
    op->req.data = op;
    op->timer.data = op;
    uv_timer_init(loop, &op->timer);
    uv_tcp_init(loop, &op->tb->tcp); // cannot fail for AF_UNSPEC
    int r = uv_tcp_connect(&op->req, &op->tb->tcp, addr, [](uv_connect_t* req, int status) {
        auto* op = static_cast<TcpConnect::Op*>(req->data);
        op->connect_pending = false;
        if (!op->finished) {
            if (status == 0) {
                op->finish(std::unique_ptr<Transport>(new TcpTransport(op->tb)));
            } else {
                start_close(op->tb);
                op->finish(uv_error("tcp.connect", status));
            }
        }
        op->maybe_free();
    });
    if (r == 0)
        op->connect_pending = true;
    else
        op->start_error = r;

    auto on_timer = [](uv_timer_t* t) {
        auto* op = static_cast<TcpConnect::Op*>(t->data);
        if (op->finished) return;
        if (op->start_error) {
            start_close(op->tb);
            op->finish(uv_error("tcp.connect", op->start_error));
        } else {
            start_close(op->tb); // the connect request now calls back with UV_ECANCELED
            op->finish(make_error("tcp.connect", "timed out"));
        }
    };
    if (op->start_error)
        uv_timer_start(&op->timer, on_timer, 0, 0);
    else if (timeout_ms > 0)
        uv_timer_start(&op->timer, on_timer, timeout_ms, 0);
    return handle;
}

// ---- listener ----

struct TcpListener::Block {
    uv_tcp_t tcp{};
    AcceptCallback cb;
    TransportLimits limits;
    bool alive = true; // false once the TcpListener is destroyed
};

Result<std::unique_ptr<TcpListener>> TcpListener::listen(uv_loop_t* loop, const std::string& ip, std::uint16_t port,
                                                         AcceptCallback cb, TransportLimits limits, int backlog) {
    auto addr = make_sockaddr(ip, port);
    if (!addr) return addr.error();
    auto* b = new Block;
    b->cb = std::move(cb);
    b->limits = limits;
    b->tcp.data = b;
    uv_tcp_init(loop, &b->tcp);
    auto close_block = [](Block* blk) {
        uv_close(reinterpret_cast<uv_handle_t*>(&blk->tcp),
                 [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
    };
    int r = uv_tcp_bind(&b->tcp, reinterpret_cast<const sockaddr*>(&*addr), 0);
    if (r == 0)
        r = uv_listen(reinterpret_cast<uv_stream_t*>(&b->tcp), backlog, [](uv_stream_t* server, int status) {
            auto* blk = static_cast<Block*>(server->data);
            if (status < 0 || !blk->alive) return;
            auto* tb = new TcpBlock;
            tb->limits = blk->limits;
            tb->tcp.data = tb;
            uv_tcp_init(server->loop, &tb->tcp);
            if (uv_accept(server, tb->stream()) != 0) {
                start_close(tb); // owner is null: freed in the close callback
                return;
            }
            std::unique_ptr<Transport> t(new TcpTransport(tb));
            fence("tcp accept", [&] { blk->cb(std::move(t)); }); // may destroy the listener
        });
    if (r < 0) {
        close_block(b);
        return uv_error(("tcp.listen " + ip + ":" + std::to_string(port)).c_str(), r);
    }
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&b->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    std::uint16_t bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    return std::make_unique<TcpListener>(b, bound);
}

TcpListener::~TcpListener() {
    b_->alive = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&b_->tcp), [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

} // namespace p2p
