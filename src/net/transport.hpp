// A byte-stream connection to one peer, abstracted so the peer state machine runs the same over libuv TCP
// (tcp_transport.hpp) and over an in-memory fake in tests (fake_transport.hpp).
//
// Receiving: the transport owns one receive buffer per connection and calls TransportUser::on_data with every
// byte received and not yet consumed. The user parses in place and returns how many bytes it consumed; the rest
// (a partial message) stays at the front of the buffer and is presented again, followed by new bytes, on the
// next call. So nothing is copied between the socket and the parser except that partial tail. The buffer is
// bounded (TransportLimits::max_unconsumed): a user that leaves more than that unconsumed gets the connection
// closed with an error, so the user's own message-size bound is what keeps memory bounded.
//
// Sending and buffer ownership:
//  - send(std::string) moves the bytes into the transport; the transport owns them until the write that carries
//    them completes (or the connection is closed), then frees them.
//  - send_piece(header, payload, off, len) copies the 13-byte header into the transport and keeps a reference
//    (shared_ptr copy) to the payload until the write completes; the payload bytes [off, off+len) are written
//    straight from the caller's buffer. Exception: a slice much smaller than its buffer (a 16 KiB block of a
//    4 MiB piece) is copied, so a peer that stops reading cannot pin whole pieces through the send queue (the
//    memory held stays a small multiple of queued_bytes()). The caller must not mutate *payload afterwards (it
//    is const for that reason).
//  - Small sends are coalesced; while corked (cork()/uncork(), or ScopedCork) nothing is written, so a burst of
//    messages produced while handling one event leaves in a single vectored write.
//  - queued_bytes() counts bytes accepted but not yet written. Callers apply back-pressure by checking it
//    before queuing more payload. Above TransportLimits::max_queued the transport closes itself with an error
//    ("send queue overflow"): that bound is a safety net, not the flow-control mechanism.
//
// Callbacks and lifetime: the transport may be destroyed at any point, including inside its own on_data,
// on_drained or on_closed callbacks; it never touches its user after a callback that destroyed it.
// on_closed reports closes the user did not ask for (peer EOF, socket error, overflow); after close() or
// destruction no callback is made at all.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/memory_budget.hpp"
#include "base/result.hpp"

namespace p2p {

class TransportUser {
public:
    virtual ~TransportUser() = default;
    // All unconsumed received bytes; returns how many were consumed (0..data.size()). data is valid only during
    // the call. If the callee closed or destroyed the transport, the return value is ignored.
    virtual std::size_t on_data(std::string_view data) = 0;
    // The send queue became empty after having held data: a good moment to queue more payload.
    virtual void on_drained() {}
    // The connection ended without close() having been called. Called at most once; no callbacks follow.
    virtual void on_closed(const Error& why) = 0;
};

struct TransportLimits {
    std::size_t max_unconsumed = (1u << 20) + 64 * 1024; // receive buffer bound: max message + slack
    std::size_t max_queued = 64u << 20;                  // send queue hard bound (bytes), see above
    // Receive buffer growth (--max-memory): it starts at initial_read and grows to at most
    // max_read + what is unconsumed; under a budget a buffer grown for one big message shrinks back afterwards.
    std::size_t initial_read = 64 * 1024;
    std::size_t max_read = 1u << 20;
    // A slice smaller than 1/pin_factor of its buffer is copied, not referenced (tcp_transport.cpp); 1 copies
    // every partial slice, so queued_bytes() is what the queue really holds.
    std::size_t pin_factor = 4;
    bool shrink_receive = false;
    // When set, queued send bytes are counted in its send pool and receive buffers in its receive pool.
    std::shared_ptr<MemoryBudget> budget;
};

class Transport {
public:
    virtual ~Transport() = default; // closes the connection if still open; no callbacks after this

    // Sets the user and starts delivering data. Must be called once before anything is received.
    virtual void start(TransportUser* user) = 0;

    virtual void send(std::string bytes) = 0;
    virtual void send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload,
                            std::size_t offset, std::size_t length) = 0;
    virtual std::size_t queued_bytes() const = 0;

    // While corked, sends are only queued; the final uncork() flushes. Calls nest.
    virtual void cork() = 0;
    virtual void uncork() = 0;

    // Closes the connection: queued bytes may be dropped. Idempotent; no callbacks follow.
    virtual void close() = 0;
    virtual bool is_open() const = 0;

    // Flow control for receiving: while paused no on_data calls are made (bytes wait in the kernel).
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;

    // "1.2.3.4:6881" or "[::1]:6881"; for logs and peer identity.
    virtual std::string remote_address() const = 0;
    // The bytes sent so far leave in packets of their own, ahead of what is sent next (uTP; nothing for TCP, a
    // stream). Used once, after our BitTorrent handshake: Transmission 3.00 reads a handshake off a uTP packet
    // and leaves the rest of that packet (our bitfield and extension handshake) unparsed until another packet
    // arrives - which, from a seed waiting to be asked, is Transmission's unchoke tick 10 s later.
    virtual void packet_boundary() {}
    // "tcp" or "utp": what carries the bytes underneath any wrapping (logs, the console, tests).
    virtual const char* kind() const { return "tcp"; }
    // Whether the bytes are RC4-encrypted on the wire (an MseStream that settled on RC4).
    virtual bool encrypted() const { return false; }

    // Replaces the limits given at creation (the Session applies its memory plan to outgoing connections made
    // by others). Transports without limits ignore it.
    virtual void set_limits(const TransportLimits&) {}
};

// Corks a transport for a scope.
class ScopedCork {
public:
    explicit ScopedCork(Transport& t) : t_(&t) { t_->cork(); }
    ~ScopedCork() {
        if (t_) t_->uncork();
    }
    void release() { t_ = nullptr; } // the transport was destroyed inside the scope: do not touch it
    ScopedCork(const ScopedCork&) = delete;
    ScopedCork& operator=(const ScopedCork&) = delete;

private:
    Transport* t_;
};

} // namespace p2p
