#include "net/fake_transport.hpp"

namespace p2p {

FakeTransport::FakeTransport(std::string remote, std::size_t max_unconsumed)
    : probe_(std::make_shared<FakeProbe>()), remote_(std::move(remote)), max_unconsumed_(max_unconsumed) {
    probe_->transport = this;
}

FakeTransport::~FakeTransport() {
    if (!probe_->closed) probe_->closed_by_user = true;
    probe_->closed = true;
    probe_->transport = nullptr;
}

void FakeTransport::send(std::string bytes) {
    if (probe_->closed) return;
    probe_->sent += bytes;
    if (probe_->cork == 0) ++probe_->flushes;
}

void FakeTransport::send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload,
                               std::size_t offset, std::size_t length) {
    if (probe_->closed) return;
    probe_->sent.append(reinterpret_cast<const char*>(header13), 13);
    if (length > 0) probe_->sent.append(*payload, offset, length);
    if (probe_->cork == 0) ++probe_->flushes;
}

void FakeTransport::uncork() {
    if (probe_->cork > 0 && --probe_->cork == 0) ++probe_->flushes;
}

void FakeTransport::close() {
    if (probe_->closed) return;
    probe_->closed = true;
    probe_->closed_by_user = true;
}

bool FakeProbe::inject(std::string_view bytes) {
    if (!transport || closed || !transport->user_) return false;
    pending.append(bytes);
    if (paused) return true; // delivered on a later inject after resume, like bytes waiting in the kernel
    // Keep the probe alive even if the transport (and whoever owns the probe) goes away inside on_data.
    auto self = transport->probe_;
    ++on_data_calls;
    std::size_t used = transport->user_->on_data(pending);
    if (!self->transport || self->closed) return false;
    pending.erase(0, std::min(used, pending.size()));
    if (pending.size() > transport->max_unconsumed_) {
        remote_close("unconsumed input exceeds limit");
        return false;
    }
    return true;
}

void FakeProbe::remote_close(const std::string& why) {
    if (!transport || closed) return;
    closed = true;
    if (transport->user_) transport->user_->on_closed(make_error("fake", why));
}

void FakeProbe::drain() {
    simulated_queue = 0;
    if (transport && !closed && transport->user_) transport->user_->on_drained();
}

} // namespace p2p
