// In-memory Transport for tests: inject received bytes in any split, record everything sent, simulate the peer
// closing. Follows the real transport's contract (transport.hpp): unconsumed bytes are kept and presented again
// with the next injection, the transport may be destroyed inside any of its callbacks, and on_closed is only
// made for closes the user did not ask for.
//
// Ownership: tests usually hand the FakeTransport to the object under test (unique_ptr) and keep a FakeProbe,
// a shared view that stays valid after the transport is destroyed, to inject bytes and read what was sent.
#pragma once
#include <memory>
#include <string>

#include "net/transport.hpp"

namespace p2p {

class FakeTransport;

// Shared state of a FakeTransport, outliving it. `transport` is null once the FakeTransport was destroyed.
struct FakeProbe {
    FakeTransport* transport = nullptr;
    std::string sent;                // every byte sent, in order (piece payloads copied here for inspection)
    std::string pending;             // received, not yet consumed
    std::size_t simulated_queue = 0; // reported by queued_bytes(): tests set it to exercise back-pressure
    bool closed_by_user = false;     // close() was called (or the transport was destroyed while open)
    bool closed = false;             // no longer open, for any reason
    bool paused = false;
    const char* kind = "tcp"; // what kind() reports (tests of uTP-aware code set "utp")
    bool encrypted = false;   // what encrypted() reports
    int cork = 0;
    std::size_t flushes = 0; // number of times a burst was "written" (uncork at depth 0 or uncorked send)
    std::size_t on_data_calls = 0;

    // Delivers bytes to the user (as one read). Returns false if the transport is closed or gone.
    bool inject(std::string_view bytes);
    // Simulates the peer closing / a socket error: on_closed(why) is called on the user.
    void remote_close(const std::string& why = "connection closed by peer");
    // Simulates the send queue draining: calls on_drained.
    void drain();
    std::string take_sent() {
        std::string s = std::move(sent);
        sent.clear();
        return s;
    }
};

class FakeTransport final : public Transport {
public:
    explicit FakeTransport(std::string remote = "198.51.100.7:6881", std::size_t max_unconsumed = 2u << 20);
    ~FakeTransport() override;
    std::shared_ptr<FakeProbe> probe() const { return probe_; }

    void start(TransportUser* user) override { user_ = user; }
    void send(std::string bytes) override;
    void send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload, std::size_t offset,
                    std::size_t length) override;
    std::size_t queued_bytes() const override { return probe_->simulated_queue; }
    void cork() override { ++probe_->cork; }
    void uncork() override;
    void close() override;
    bool is_open() const override { return !probe_->closed; }
    void pause_reading() override { probe_->paused = true; }
    void resume_reading() override { probe_->paused = false; }
    std::string remote_address() const override { return remote_; }
    const char* kind() const override { return probe_->kind; }
    bool encrypted() const override { return probe_->encrypted; }

private:
    friend struct FakeProbe;
    std::shared_ptr<FakeProbe> probe_;
    TransportUser* user_ = nullptr;
    std::string remote_;
    std::size_t max_unconsumed_;
};

} // namespace p2p
