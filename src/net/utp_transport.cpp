// The Transport of one uTP flow, and the outgoing connect attempt. Everything here only queues and marks the flow;
// the socket's service pass (utp_socket.cpp) moves bytes and makes the callbacks, never inside these calls.
//
// Buffers: send() and send_piece() copy into the flow's `pending` string (a uTP packet is built from copied bytes
// anyway, so a referenced piece buys nothing); the connection takes from it what its send buffer holds. The
// receive side is the connection's own buffer: on_data gets readable(), and what the user consumed is dropped.
#include <algorithm>

#include "loop/fence.hpp"
#include "net/utp_flow.hpp"

namespace p2p {

UtpTransport::UtpTransport(std::shared_ptr<UtpFlow> f) : f_(std::move(f)) { f_->owner = this; }

UtpTransport::~UtpTransport() {
    if (f_->owner != this) return;
    if (f_->core)
        f_->core->release(f_.get());
    else
        f_->owner = nullptr;
}

void UtpTransport::start(TransportUser* user) {
    f_->user = user;
    if (f_->started) return;
    f_->started = true;
    if (f_->core) {
        f_->conn.set_receive_buffer(std::min(f_->core->cfg.conn.receive_buffer, f_->limits.max_unconsumed));
        f_->core->mark(f_);
    }
}

void UtpTransport::append(std::string_view bytes) {
    if (f_->pending_off > 0 && f_->pending_off == f_->pending.size()) {
        f_->pending.clear();
        f_->pending_off = 0;
        f_->boundaries.clear();
    }
    f_->pending.append(bytes);
    f_->had_queue = true;
}

void UtpTransport::send(std::string bytes) {
    if (!is_open() || bytes.empty()) return;
    if (f_->pending.empty() && f_->boundaries.empty()) { // nothing queued: take the string itself, no copy
        f_->pending = std::move(bytes);
        f_->had_queue = true;
    } else {
        append(bytes);
    }
    queued();
}

void UtpTransport::queued() {
    if (f_->pending_size() > f_->limits.max_queued) {
        // The safety net of transport.hpp: the user ignored queued_bytes(). Reported from the service pass.
        f_->conn.abort();
    }
    f_->core->mark(f_);
}

void UtpTransport::send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload,
                              std::size_t offset, std::size_t length) {
    if (!is_open()) return;
    append(std::string_view(reinterpret_cast<const char*>(header13), 13));
    if (length > 0 && payload) append(std::string_view(*payload).substr(offset, length));
    queued();
}

void UtpTransport::packet_boundary() {
    constexpr std::size_t kMaxBoundaries = 4; // ours: only the handshake uses it
    if (is_open() && f_->pending_size() > 0 && f_->boundaries.size() < kMaxBoundaries &&
        (f_->boundaries.empty() || f_->boundaries.back() < f_->pending.size()))
        f_->boundaries.push_back(f_->pending.size());
}

std::size_t UtpTransport::queued_bytes() const { return f_->pending_size(); }

void UtpTransport::cork() { ++f_->cork; }
void UtpTransport::uncork() {
    if (f_->cork > 0 && --f_->cork == 0 && f_->core) f_->core->mark(f_);
}

void UtpTransport::close() {
    if (f_->owner != this) return;
    if (f_->core)
        f_->core->release(f_.get());
    else
        f_->owner = nullptr;
}

bool UtpTransport::is_open() const {
    if (!f_->core || f_->owner != this || f_->ended) return false;
    const utp::State s = f_->conn.state();
    return s == utp::State::syn_sent || s == utp::State::connected;
}

void UtpTransport::pause_reading() { f_->paused = true; }
void UtpTransport::resume_reading() {
    if (!f_->paused) return;
    f_->paused = false;
    if (f_->core) f_->core->mark(f_);
}

void UtpTransport::set_limits(const TransportLimits& limits) {
    if (f_->core) f_->core->uncount_memory(f_.get());
    f_->limits = limits;
    if (f_->core) {
        f_->conn.set_receive_buffer(std::min(f_->core->cfg.conn.receive_buffer, f_->limits.max_unconsumed));
        f_->core->count_memory(f_.get());
    }
}

// ---------------------------------------------------------------- connect

UtpConnectOp::~UtpConnectOp() {
    if (!flow || flow->connecting != this) return;
    flow->connecting = nullptr;
    if (UtpCore* c = flow->core) {
        flow->conn.abort(); // the RESET leaves with the next pass; then the flow, owner-less and closed, goes
        c->mark(flow);
    }
}

void UtpConnectOp::finish(Result<std::unique_ptr<Transport>> r) {
    flow.reset();
    ConnectCallback fn = std::move(cb);
    cb = nullptr;
    if (fn) fence("utp connect", [&] { fn(std::move(r)); }); // may destroy this op; a dropped transport closes
}

} // namespace p2p
