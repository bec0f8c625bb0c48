// uTP connection (utp_conn.hpp), sending half: acks and SACKs in, loss detection (duplicate acks, SACK, timeout),
// RTT/RTO (RFC 6298 as BEP 29 describes it), LEDBAT congestion control (BEP 29), and take_datagrams, which turns
// resends, queued bytes, the FIN and pending acks into encoded datagrams.
#include <algorithm>
#include <climits>

#include "proto/utp_conn.hpp"

namespace p2p::utp {

void Connection::uncount(Out& o) {
    if (!o.counted) return;
    o.counted = false;
    flight_ -= o.payload.size();
}

void Connection::process_acks(const Packet& p) {
    const Header& h = p.h;
    std::size_t flight_before = flight_;
    std::size_t newly_acked = 0;
    bool advanced = false;
    // Cumulative ack: everything up to h.ack_nr.
    while (!out_.empty() && !seq_less(h.ack_nr, out_.front().seq)) {
        Out& o = out_.front();
        if (o.transmissions == 1 && !o.sacked) rtt_sample(now_ - o.sent_us); // Karn: first transmissions only
        if (!o.sacked) newly_acked += o.payload.size();
        if (o.type == Type::fin) fin_acked_ = true;
        uncount(o);
        unacked_bytes_ -= o.payload.size();
        out_.pop_front();
        advanced = true;
    }
    if (advanced) {
        dup_acks_ = 0;
        timeouts_ = 0;
    } else if (h.type == Type::state && !out_.empty() && !p.sack &&
               h.ack_nr == static_cast<std::uint16_t>(out_.front().seq - 1)) {
        // BEP 29: the same ack again while packets are out (libutp's keep-alive acks ack_nr - 1 too: harmless).
        if (++dup_acks_ == kDupAckThreshold) on_loss(out_.front());
    }
    if (p.sack) process_sack(p, newly_acked);
    if (advanced || newly_acked > 0) {
        bool outstanding = std::any_of(out_.begin(), out_.end(), [](const Out& o) { return o.counted; });
        rto_deadline_ = outstanding ? now_ + rto_ : kNever;
    }
    if (h.timestamp_difference_us != 0 && h.timestamp_difference_us != static_cast<std::uint32_t>(INT_MAX))
        delay_sample(h.timestamp_difference_us);
    if (newly_acked > 0) ledbat(newly_acked, flight_before);
}

void Connection::process_sack(const Packet& p, std::size_t& newly_acked) {
    const std::string& mask = *p.sack;
    int later = 0; // SACKed packets after the one looked at
    for (auto it = out_.rbegin(); it != out_.rend(); ++it) {
        Out& o = *it;
        if (seq_less(p.h.ack_nr, o.seq) && sack_has(mask, p.h.ack_nr, o.seq)) {
            if (!o.sacked && o.transmissions > 0) {
                if (o.transmissions == 1) rtt_sample(now_ - o.sent_us);
                o.sacked = true;
                o.resend = false;
                uncount(o);
                newly_acked += o.payload.size();
            }
            if (o.sacked) ++later;
            continue;
        }
        if (o.sacked) {
            ++later;
            continue;
        }
        // BEP 29: a packet with 3 or more SACKed packets after it is lost.
        if (later >= kDupAckThreshold && o.counted) on_loss(o);
    }
}

// A packet is lost (duplicate acks or SACK): resend it now, and cut cwnd once per RTT.
void Connection::on_loss(Out& o) {
    if (o.fast_resent || o.sacked || o.transmissions == 0) return;
    o.fast_resent = true;
    uncount(o);
    o.resend = true;
    o.urgent = true;
    ++stats_.fast_retransmits;
    if (!loss_fence_set_ || seq_less(loss_fence_, o.seq)) {
        // BEP 29 / libutp: "the max_window is halved" on loss; never below one packet.
        cwnd_ = std::max(cwnd_ / 2, static_cast<double>(cfg_.max_payload));
        loss_fence_ = static_cast<std::uint16_t>(seq_nr_ - 1);
        loss_fence_set_ = true;
    }
}

void Connection::on_timeout() {
    ++stats_.timeouts;
    if (state_ == State::syn_sent) {
        if (syn_sends_ >= kMaxSynSends) {
            fail(State::closed, "connect timed out", Errc::timeout);
            return;
        }
    } else if (++timeouts_ > kMaxTimeouts) {
        fail(State::closed, "timed out", Errc::timeout);
        return;
    }
    rto_ = std::min(rto_ * 2, kMaxRtoUs); // BEP 29: the timeout doubles
    // BEP 29: on a timeout cwnd goes back to one packet (libutp: max_window = packet_size), every unacked packet
    // is sent again as the window allows.
    cwnd_ = static_cast<double>(cfg_.max_payload);
    for (Out& o : out_) {
        if (o.sacked || o.transmissions == 0) continue;
        uncount(o);
        o.resend = true;
        o.urgent = false;
    }
    loss_fence_ = static_cast<std::uint16_t>(seq_nr_ - 1);
    loss_fence_set_ = true;
    dup_acks_ = 0;
}

// RFC 6298 as BEP 29 gives it: delta = rtt - packet_rtt; rtt_var += (|delta| - rtt_var) / 4;
// rtt += (packet_rtt - rtt) / 8; timeout = max(rtt + rtt_var * 4, 500 ms).
void Connection::rtt_sample(std::uint64_t sample_us) {
    if (rtt_ == 0 && rtt_var_ == 0) {
        rtt_ = std::max<std::uint64_t>(sample_us, 1);
        rtt_var_ = sample_us / 2;
    } else {
        auto rtt = static_cast<std::int64_t>(rtt_), var = static_cast<std::int64_t>(rtt_var_);
        auto s = static_cast<std::int64_t>(sample_us);
        std::int64_t delta = rtt - s;
        var += ((delta < 0 ? -delta : delta) - var) / 4;
        rtt += (s - rtt) / 8;
        rtt_ = static_cast<std::uint64_t>(std::max<std::int64_t>(rtt, 1));
        rtt_var_ = static_cast<std::uint64_t>(std::max<std::int64_t>(var, 0));
    }
    rto_ = std::min(std::max(rtt_ + rtt_var_ * 4, kMinRtoUs), kMaxRtoUs);
}

namespace {
// The smaller of two u32 delay samples read on a wrapping clock (libutp's wrapping_compare_less).
std::uint32_t wrap_min(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b) < 0 ? a : b; }
} // namespace

// BEP 29: the base delay is the minimum difference seen over a window (two one-minute buckets); our_delay is how
// far the latest sample is above it (queuing delay on the path towards the peer).
void Connection::delay_sample(std::uint32_t diff_us) {
    if (now_ >= base_bucket_start_ + kDelayBaseBucketUs) {
        base_prev_ = base_cur_;
        base_prev_set_ = base_cur_set_;
        base_cur_set_ = false;
        base_bucket_start_ = now_;
    }
    base_cur_ = base_cur_set_ ? wrap_min(base_cur_, diff_us) : diff_us;
    base_cur_set_ = true;
    std::uint32_t base = base_prev_set_ ? wrap_min(base_cur_, base_prev_) : base_cur_;
    auto d = static_cast<std::int32_t>(diff_us - base);
    our_delay_ = d < 0 ? 0 : d;
    have_delay_ = true;
}

// BEP 29 LEDBAT:
//   off_target   = CCONTROL_TARGET - our_delay
//   delay_factor = off_target / CCONTROL_TARGET                 (clamped to [-1, 1]: ours, bounds a cut too)
//   window_factor = bytes_acked / max_window                    (libutp: min(acked, cwnd) / max(cwnd, acked))
//   scaled_gain  = MAX_CWND_INCREASE_BYTES_PER_RTT * delay_factor * window_factor
//   max_window  += scaled_gain, never below one packet (ours: nor above Config::max_cwnd)
// So over one RTT (bytes_acked summing to cwnd) cwnd moves by at most 3000 bytes either way. cwnd only grows
// while it is what limits sending (libtorrent's "cwnd saturated" check), so an idle link does not inflate it.
void Connection::ledbat(std::size_t bytes_acked, std::size_t flight_before) {
    if (!have_delay_) return;
    double off_target = static_cast<double>(kTargetDelayUs - our_delay_);
    double delay_factor = std::clamp(off_target / static_cast<double>(kTargetDelayUs), -1.0, 1.0);
    double acked = static_cast<double>(bytes_acked);
    double window_factor = std::min(acked, cwnd_) / std::max(cwnd_, acked);
    double gain = kMaxCwndIncreaseBytesPerRtt * delay_factor * window_factor;
    bool saturated = static_cast<double>(flight_before + cfg_.max_payload) >= cwnd_ ||
                     static_cast<double>(flight_before + cfg_.max_payload) >= static_cast<double>(peer_wnd_);
    if (gain > 0 && !saturated) gain = 0;
    cwnd_ = std::clamp(cwnd_ + gain, static_cast<double>(cfg_.max_payload), static_cast<double>(cfg_.max_cwnd));
}

bool Connection::can_send(std::size_t bytes) const {
    if (peer_wnd_ == 0 && !probe_ok_) return false;
    if (flight_ == 0) return true; // one packet always goes (a window below one packet, a probe)
    double window = std::min(cwnd_, static_cast<double>(peer_wnd_));
    return static_cast<double>(flight_ + bytes) <= window;
}

void Connection::emit(Type type, std::uint16_t seq, std::string_view payload, bool with_sack,
                      std::vector<std::string>& out) {
    Header h;
    h.type = type;
    h.connection_id = type == Type::syn ? recv_id_ : send_id_;
    h.timestamp_us = timestamp32(now_);
    h.timestamp_difference_us = reply_micro_;
    std::size_t wnd = receive_window();
    h.wnd_size = static_cast<std::uint32_t>(std::min<std::size_t>(wnd, UINT32_MAX));
    h.seq_nr = seq;
    h.ack_nr = type == Type::syn ? 0 : ack_nr_; // BEP 29: the SYN's ack_nr is 0
    std::optional<std::string> sack;
    if (with_sack && reorder_.size() > 1) {
        std::size_t bytes = std::min(kMaxSackBytes, (reorder_.size() + 31) / 32 * 4);
        std::string m = sack_from(
            ack_nr_,
            [&](std::uint16_t s) {
                std::size_t i = seq_distance(ack_nr_, s) - 1u;
                return i < reorder_.size() && reorder_[i].present;
            },
            bytes);
        if (!m.empty()) sack = std::move(m);
    }
    out.push_back(encode(h, sack, std::nullopt, payload));
    last_advertised_ = wnd;
    last_send_ = now_;
    ++stats_.packets_sent;
    if (type != Type::syn && type != Type::reset) { // every packet carries our ack
        if (reorder_.empty() || with_sack) ack_now_ = false;
    }
}

void Connection::send_out(Out& o, std::vector<std::string>& out) {
    if (o.transmissions > 0) ++stats_.retransmits;
    if (o.type == Type::data) ++stats_.data_sent;
    if (o.type == Type::syn) ++syn_sends_;
    emit(o.type, o.seq, o.payload, false, out);
    o.sent_us = now_;
    ++o.transmissions;
    o.resend = false;
    o.urgent = false;
    if (!o.counted) {
        o.counted = true;
        flight_ += o.payload.size();
    }
    if (peer_wnd_ == 0 && probe_ok_) { // that was the zero-window probe: wait another period
        probe_ok_ = false;
        zero_since_ = now_;
    }
    if (rto_deadline_ == kNever) rto_deadline_ = now_ + rto_;
}

// A STATE carries the next sequence number (BEP 29), so after our FIN it is FIN + 1. libtorrent ignores every
// packet above the FIN's seq_nr once it has the FIN (utp_stream.cpp: it does not advance its own seq_nr after its
// FIN), so it never sees its own FIN acked and keeps the connection ~2.5 s, refusing our next one from the same
// address as a duplicate peer. libutp (Transmission) drops a STATE whose seq_nr is not above its ack_nr, i.e.
// wants FIN + 1. Each ignores the other's form, so after our FIN both go out: one extra 20-byte packet per ack.
void Connection::emit_state(bool with_sack, std::vector<std::string>& out) {
    if (fin_queued_) emit(Type::state, static_cast<std::uint16_t>(seq_nr_ - 1), {}, with_sack, out);
    emit(Type::state, seq_nr_, {}, with_sack, out);
}

std::vector<std::string> Connection::take_datagrams(std::uint64_t now_us) {
    now_ = std::max(now_, now_us);
    std::vector<std::string> out;
    const std::size_t limit = cfg_.max_datagrams_per_take;
    more_output_ = false;
    if (reset_pending_) {
        reset_pending_ = false;
        emit(Type::reset, seq_nr_, {}, false, out);
        return out;
    }
    if (state_ == State::reset) return out;
    if (state_ == State::closed) {
        if (ack_now_ && !error_) emit_state(false, out); // a duplicate FIN's ack
        ack_now_ = false;
        return out;
    }
    if (state_ == State::syn_sent) {
        if (!out_.empty() && out_.front().resend) send_out(out_.front(), out);
        return out;
    }
    // Fast retransmits first (libutp sends them at once, outside the window), then resends, oldest first, as the
    // window allows.
    for (Out& o : out_) {
        if (out.size() >= limit) break;
        if (o.urgent && o.resend) send_out(o, out);
    }
    for (Out& o : out_) {
        if (out.size() >= limit) break;
        if (!o.resend) continue;
        if (!can_send(o.payload.size())) break;
        send_out(o, out);
    }
    // New data, once no resend is waiting for the window.
    bool resends_waiting = std::any_of(out_.begin(), out_.end(), [](const Out& o) { return o.resend; });
    while (!resends_waiting && out.size() < limit && queue_.size() > queue_off_ && out_.size() < kMaxInflightPackets) {
        std::size_t n = std::min(cfg_.max_payload, queue_.size() - queue_off_);
        if (!can_send(n)) break;
        Out o;
        o.seq = seq_nr_;
        seq_nr_ = static_cast<std::uint16_t>(seq_nr_ + 1);
        o.type = Type::data;
        o.payload.assign(queue_, queue_off_, n);
        queue_off_ += n;
        if (queue_off_ == queue_.size()) {
            queue_.clear();
            queue_off_ = 0;
        }
        unacked_bytes_ += n;
        out_.push_back(std::move(o));
        send_out(out_.back(), out);
    }
    // The FIN, after every byte written.
    if (close_requested_ && !fin_queued_ && queue_.size() == queue_off_ && out.size() < limit &&
        out_.size() < kMaxInflightPackets) {
        fin_queued_ = true;
        Out o;
        o.seq = seq_nr_;
        seq_nr_ = static_cast<std::uint16_t>(seq_nr_ + 1);
        o.type = Type::fin;
        o.resend = true;
        out_.push_back(std::move(o));
    }
    if (fin_queued_ && !out_.empty() && out_.back().type == Type::fin && out_.back().resend && out.size() < limit &&
        (out_.size() == 1 || !out_[out_.size() - 2].resend))
        send_out(out_.back(), out);
    // A STATE when an ack is due and no packet above carried it (or a SACK must go out).
    if (ack_now_ && out.size() < limit) emit_state(true, out);
    if (out.size() >= limit) more_output_ = true;
    return out;
}

} // namespace p2p::utp
