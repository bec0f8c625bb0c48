// MseStream: the MSE/PE handshake over a Transport, then RC4 or plaintext forwarding (mse_stream.hpp).
#include "peer/mse_stream.hpp"

#include "base/log.hpp"

namespace p2p {

MseStream::MseStream(std::unique_ptr<Transport> inner, std::unique_ptr<mse::Handshake> hs)
    : inner_(std::move(inner)), hs_(std::move(hs)), phase_(hs_ ? Phase::handshaking : Phase::probing),
      address_(inner_->remote_address()) {}

MseStream::~MseStream() = default;

std::unique_ptr<MseStream> MseStream::initiate(std::unique_ptr<Transport> inner, std::string info_hash,
                                               mse::Policy policy, Redial fallback) {
    auto hs = std::make_unique<mse::Handshake>(mse::Handshake::initiator(info_hash, policy));
    std::unique_ptr<MseStream> s(new MseStream(std::move(inner), std::move(hs)));
    s->info_hash_ = std::move(info_hash);
    s->policy_ = policy;
    s->redial_ = std::move(fallback);
    return s;
}

std::unique_ptr<MseStream> MseStream::probe(std::unique_ptr<Transport> inner, std::string info_hash,
                                            mse::Policy policy, Redial retry) {
    std::unique_ptr<MseStream> s(new MseStream(std::move(inner), nullptr));
    s->info_hash_ = std::move(info_hash);
    s->policy_ = policy;
    s->redial_ = std::move(retry);
    return s;
}

std::unique_ptr<MseStream> MseStream::respond(std::unique_ptr<Transport> inner, mse::SkeyLookup lookup,
                                              mse::Policy policy, std::string seen) {
    auto hs = std::make_unique<mse::Handshake>(mse::Handshake::responder(std::move(lookup), policy));
    std::unique_ptr<MseStream> s(new MseStream(std::move(inner), std::move(hs)));
    s->policy_ = policy;
    s->seen_ = std::move(seen);
    return s;
}

void MseStream::start(TransportUser* user) {
    user_ = user;
    if (!inner_) return;
    inner_->start(this);
    if (phase_ != Phase::handshaking) return;
    if (std::string out = hs_->take_output(); !out.empty()) inner_->send(std::move(out)); // A: Ya, PadA
    if (!seen_.empty()) {
        std::string first = std::move(seen_);
        seen_.clear();
        handshake_data(first); // may fail and call the user back: nothing after it
    }
}

// ---- receiving ------------------------------------------------------------------------------------------------

std::size_t MseStream::on_data(std::string_view data) {
    const std::size_t n = data.size();
    switch (phase_) {
    case Phase::probing: // the peer answered in plaintext: from here on a plain pass-through
        phase_ = Phase::established;
        method_ = 0;
        probe_sent_.clear();
        probe_sent_.shrink_to_fit();
        redial_ = nullptr;
        return user_ ? user_->on_data(data) : 0; // may destroy us
    case Phase::handshaking: handshake_data(data); return n; // may destroy us
    case Phase::established:
        if (method_ != mse::kRc4 && plain_.empty()) return user_->on_data(data); // plaintext: no copy; may destroy us
        {
            const std::size_t at = plain_.size();
            plain_.append(data);
            if (method_ == mse::kRc4) dec_.crypt(plain_.data() + at, n);
        }
        deliver();
        return n;
    case Phase::redialling:
    case Phase::closed: return n;
    }
    return n;
}

// The handshake keeps its own input (`hs_in_`): the sniffer's bytes and the inner transport's are one stream,
// and everything after the handshake is payload that is decrypted here, so inner_ may always drop what it gave.
void MseStream::handshake_data(std::string_view data) {
    hs_in_.append(data);
    std::size_t used = 0;
    const mse::Step st = hs_->feed(hs_in_, used);
    if (std::string out = hs_->take_output(); !out.empty() && inner_) inner_->send(std::move(out));
    if (st == mse::Step::failed) {
        failed(hs_->error()); // may destroy us
        return;
    }
    if (st == mse::Step::need_more) {
        hs_in_.erase(0, used);
        return;
    }
    std::string rest = hs_in_.substr(used);
    hs_in_.clear();
    hs_in_.shrink_to_fit();
    established_with(hs_->take_initial_payload(), rest); // may destroy us
}

void MseStream::established_with(std::string initial_plain, std::string_view rest) {
    method_ = hs_->selected();
    if (info_hash_.empty()) info_hash_ = hs_->info_hash();
    if (method_ == mse::kRc4) {
        enc_ = hs_->take_encryptor();
        dec_ = hs_->take_decryptor();
    }
    hs_.reset();
    phase_ = Phase::established;
    log_debug("mse", address_ + ": " + (method_ == mse::kRc4 ? "RC4" : "plaintext") + " stream established");
    plain_ = std::move(initial_plain);
    const std::size_t at = plain_.size();
    plain_.append(rest);
    if (method_ == mse::kRc4) dec_.crypt(plain_.data() + at, rest.size());
    flush_pending();
    if (!plain_.empty()) deliver(); // may destroy us
}

void MseStream::deliver() {
    if (!user_ || paused_ || plain_.empty() || phase_ != Phase::established) return;
    auto alive = life_.watch();
    const std::size_t used = user_->on_data(plain_);
    if (!alive || phase_ != Phase::established) return;
    plain_.erase(0, std::min(used, plain_.size()));
    const std::size_t bound = has_limits_ ? limits_.max_unconsumed : TransportLimits{}.max_unconsumed;
    if (plain_.size() > bound) failed(make_error("mse.read", "unconsumed bytes over the receive bound"));
}

void MseStream::on_drained() {
    if (user_ && (phase_ == Phase::established || phase_ == Phase::probing)) user_->on_drained();
}

void MseStream::on_closed(const Error& why) { failed(why); } // failed() redials first when it may

void MseStream::failed(const Error& why) {
    if (phase_ == Phase::handshaking && redial_) return start_fallback();
    if (phase_ == Phase::probing && redial_) return start_mse_retry();
    if (phase_ == Phase::closed) return;
    phase_ = Phase::closed;
    if (inner_) inner_->close();
    if (user_) user_->on_closed(why); // may destroy us
}

// ---- the plaintext fallback (--encryption prefer) ----------------------------------------------------------------

void MseStream::start_fallback() {
    phase_ = Phase::redialling;
    hs_.reset();
    hs_in_.clear();
    Redial redial = std::move(redial_);
    redial_ = nullptr;
    log_debug("mse", address_ + ": encrypted handshake refused; trying plaintext");
    inner_.reset(); // allowed inside its own callback (transport.hpp)
    redial_op_ = redial(life_.bind([this](Result<std::unique_ptr<Transport>> r) { fallback_connected(std::move(r)); }));
}

// ---- the MSE retry of a plaintext probe (--encryption allow) --------------------------------------------------------

void MseStream::start_mse_retry() {
    phase_ = Phase::redialling;
    retry_mse_ = true;
    pending_out_ = std::move(probe_sent_) + pending_out_; // sent again, through MSE this time
    probe_sent_.clear();
    Redial redial = std::move(redial_);
    redial_ = nullptr;
    log_debug("mse", address_ + ": plaintext handshake refused; trying MSE");
    inner_.reset(); // allowed inside its own callback (transport.hpp)
    redial_op_ = redial(life_.bind([this](Result<std::unique_ptr<Transport>> r) { fallback_connected(std::move(r)); }));
}

void MseStream::fallback_connected(Result<std::unique_ptr<Transport>> r) {
    std::unique_ptr<Connecting> op = std::move(redial_op_); // destroyed after its callback, at scope end
    if (phase_ != Phase::redialling) return;
    if (!r) {
        phase_ = Phase::closed;
        if (user_) user_->on_closed(r.error()); // may destroy us (op is a local: fine)
        return;
    }
    inner_ = std::move(*r);
    if (has_limits_) inner_->set_limits(limits_);
    for (int i = 0; i < cork_; ++i) inner_->cork();
    if (paused_) inner_->pause_reading();
    if (retry_mse_) {
        // No fallback from here: a peer that refuses both is closed.
        hs_ = std::make_unique<mse::Handshake>(mse::Handshake::initiator(info_hash_, policy_));
        phase_ = Phase::handshaking;
        inner_->start(this);
        if (std::string out = hs_->take_output(); !out.empty()) inner_->send(std::move(out)); // A: Ya, PadA
        return;
    }
    inner_->start(this);
    phase_ = Phase::established;
    method_ = 0;
    flush_pending();
}

// ---- sending --------------------------------------------------------------------------------------------------

void MseStream::send_out(std::string bytes) {
    if (!inner_) return;
    if (method_ == mse::kRc4) enc_.crypt(bytes);
    inner_->send(std::move(bytes));
}

void MseStream::flush_pending() {
    if (pending_out_.empty()) return;
    std::string out = std::move(pending_out_);
    pending_out_.clear();
    send_out(std::move(out));
}

void MseStream::send(std::string bytes) {
    switch (phase_) {
    case Phase::probing:
        if (redial_) {
            if (probe_sent_.size() + bytes.size() <= kMaxProbeKept) {
                probe_sent_ += bytes;
            } else {
                redial_ = nullptr; // too much to send again: this stays a plaintext connection
                probe_sent_.clear();
                probe_sent_.shrink_to_fit();
            }
        }
        if (inner_) inner_->send(std::move(bytes));
        return;
    case Phase::established: return send_out(std::move(bytes));
    case Phase::handshaking:
    case Phase::redialling: pending_out_ += bytes; return;
    case Phase::closed: return;
    }
}

void MseStream::send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload,
                           std::size_t offset, std::size_t length) {
    if (phase_ == Phase::established && method_ != mse::kRc4 && inner_)
        return inner_->send_piece(header13, std::move(payload), offset, length);
    std::string msg(reinterpret_cast<const char*>(header13), 13);
    msg.append(*payload, offset, length);
    send(std::move(msg));
}

std::size_t MseStream::queued_bytes() const { return (inner_ ? inner_->queued_bytes() : 0) + pending_out_.size(); }

void MseStream::cork() {
    ++cork_;
    if (inner_) inner_->cork();
}

void MseStream::uncork() {
    if (cork_ > 0) --cork_;
    if (inner_) inner_->uncork();
}

void MseStream::close() {
    phase_ = Phase::closed;
    redial_op_.reset();
    if (inner_) inner_->close();
}

bool MseStream::is_open() const {
    if (phase_ == Phase::closed) return false;
    return phase_ == Phase::redialling || (inner_ && inner_->is_open());
}

void MseStream::pause_reading() {
    paused_ = true;
    if (inner_) inner_->pause_reading();
}

void MseStream::resume_reading() {
    paused_ = false;
    if (inner_) inner_->resume_reading();
}

void MseStream::set_limits(const TransportLimits& l) {
    limits_ = l;
    has_limits_ = true;
    if (inner_) inner_->set_limits(l);
}

// ---- policy -----------------------------------------------------------------------------------------------------

mse::Policy mse_policy(Encryption e) {
    mse::Policy p;
    // disable never runs MSE (the session refuses it and dials plaintext); as a policy it allows plaintext only.
    p.allowed = e == Encryption::require   ? mse::kRc4
                : e == Encryption::disable ? mse::kPlaintext
                                           : mse::kRc4 | mse::kPlaintext;
    p.prefer_rc4 = e != Encryption::allow; // libtorrent's prefer_rc4 false: plaintext payload when offered both
    return p;
}

std::unique_ptr<Transport> encrypt_outgoing(std::unique_ptr<Transport> t, Encryption e, const std::string& info_hash,
                                            MseStream::Redial redial) {
    if (e == Encryption::disable) return t;
    if (e == Encryption::allow) return MseStream::probe(std::move(t), info_hash, mse_policy(e), std::move(redial));
    if (e != Encryption::prefer) redial = nullptr;
    return MseStream::initiate(std::move(t), info_hash, mse_policy(e), std::move(redial));
}

} // namespace p2p
