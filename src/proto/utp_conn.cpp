// uTP connection (utp_conn.hpp), receiving half: creation and the handshake, packet intake (ids, acks, data into
// the reorder buffer and out as readable bytes, FIN, RESET), the timers, the state and what the owner pulls.
#include "proto/utp_conn.hpp"

#include <algorithm>
#include <climits>

namespace p2p::utp {

std::uint32_t timestamp32(std::uint64_t now_us) {
    auto t = static_cast<std::uint32_t>(now_us);
    return t == 0 ? 1 : t; // BEP 29 leaves 0 meaning "no sample" in timestamp_difference; avoid sending it
}

Connection::Connection(Config cfg, std::uint64_t now_us) : cfg_(cfg), now_(now_us) {
    cfg_.max_payload = std::max<std::size_t>(cfg_.max_payload, 1);
    cfg_.max_datagrams_per_take = std::max<std::size_t>(cfg_.max_datagrams_per_take, 1);
    cfg_.max_cwnd = std::max(cfg_.max_cwnd, cfg_.max_payload);
    cwnd_ = static_cast<double>(std::min(cfg_.max_cwnd, 2 * cfg_.max_payload)); // ours: start at two packets
    last_send_ = now_us;
    base_bucket_start_ = now_us;
}

Connection Connection::connect(std::uint64_t now_us, std::uint16_t recv_id, std::uint16_t seq, Config cfg) {
    Connection c(cfg, now_us);
    c.initiator_ = true;
    c.recv_id_ = recv_id;
    c.send_id_ = static_cast<std::uint16_t>(recv_id + 1);
    c.syn_seq_ = seq;
    c.seq_nr_ = static_cast<std::uint16_t>(seq + 1);
    c.state_ = State::syn_sent;
    Out syn;
    syn.seq = seq;
    syn.type = Type::syn;
    syn.resend = true; // "to be sent"
    c.out_.push_back(std::move(syn));
    return c;
}

Result<Connection> Connection::accept(const Packet& syn, std::uint64_t now_us, std::uint16_t seq, Config cfg) {
    if (syn.h.type != Type::syn) return make_error("utp.accept", "not a SYN", Errc::bad_input);
    Connection c(cfg, now_us);
    c.initiator_ = false;
    c.send_id_ = syn.h.connection_id;
    c.recv_id_ = static_cast<std::uint16_t>(syn.h.connection_id + 1);
    c.syn_seq_ = syn.h.seq_nr;
    c.ack_nr_ = syn.h.seq_nr;
    c.seq_nr_ = seq;
    c.state_ = State::connected;
    c.reply_micro_ = timestamp32(now_us) - syn.h.timestamp_us;
    c.ack_now_ = true; // the STATE that completes the handshake
    ++c.stats_.packets_received;
    return c;
}

void Connection::fail(State s, std::string what, Errc code) {
    state_ = s;
    error_ = make_error("utp", std::move(what), code);
    ack_now_ = false;
    rto_deadline_ = kNever;
}

std::size_t Connection::reorder_limit() const {
    return std::min(kMaxReorderPackets, std::max(kMinReorderPackets, cfg_.receive_buffer / kReorderDivisor));
}

std::size_t Connection::receive_window() const {
    return cfg_.receive_buffer > held() ? cfg_.receive_buffer - held() : 0;
}

void Connection::on_packet(const Packet& p, std::uint64_t now_us) {
    now_ = std::max(now_, now_us);
    if (state_ == State::reset) return;
    ++stats_.packets_received;
    const Header& h = p.h;
    if (h.type == Type::reset) {
        if (h.connection_id != send_id_ && h.connection_id != recv_id_) {
            ++stats_.ignored;
            return;
        }
        if (state_ == State::closed) return;
        fail(State::reset, "connection reset by peer", Errc::rejected);
        return;
    }
    if (h.type == Type::syn) {
        // A repeated SYN (its reply was lost) gets a STATE; any other SYN is not ours.
        if (!initiator_ && h.connection_id == send_id_ && h.seq_nr == syn_seq_ && state_ != State::closed) {
            ack_now_ = true;
        } else {
            ++stats_.ignored;
        }
        return;
    }
    if (h.connection_id != recv_id_) {
        ++stats_.ignored;
        return;
    }
    // An ack of something we never sent: not a packet of this connection (or a forged one).
    auto last_sent = static_cast<std::uint16_t>(seq_nr_ - 1);
    if (seq_less(last_sent, h.ack_nr)) {
        ++stats_.ignored;
        return;
    }
    if (state_ == State::closed) {
        if (h.type == Type::fin && got_fin_ && h.seq_nr == eof_pkt_) ack_now_ = true; // keep acking its FIN
        return;
    }
    if (state_ == State::syn_sent) {
        if (h.ack_nr != syn_seq_) { // the reply must ack our SYN
            ++stats_.ignored;
            return;
        }
        ack_nr_ = static_cast<std::uint16_t>(h.seq_nr - 1); // a STATE's seq_nr is the responder's next one
        state_ = State::connected;
        if (close_requested_) state_ = State::fin_sent;
    }
    reply_micro_ = timestamp32(now_) - h.timestamp_us;

    std::uint32_t old_wnd = peer_wnd_;
    peer_wnd_ = h.wnd_size;
    if (peer_wnd_ == 0 && old_wnd != 0) zero_since_ = now_;
    if (peer_wnd_ != 0) probe_ok_ = false;

    process_acks(p);
    if (state_ == State::closed || state_ == State::reset) return;
    if (h.type == Type::data || h.type == Type::fin) receive(p);
    maybe_finish();
}

void Connection::receive(const Packet& p) {
    std::uint16_t seq = p.h.seq_nr;
    std::uint16_t d = seq_distance(ack_nr_, seq);
    if (d == 0 || d >= 0x8000) { // already delivered: the sender missed our ack
        ++stats_.duplicates;
        ack_now_ = true;
        return;
    }
    if ((got_fin_ && seq_less(eof_pkt_, seq)) || d > reorder_limit() || eof_reached_) {
        ++stats_.dropped_beyond_window;
        return;
    }
    if (p.h.type == Type::fin && got_fin_ && seq != eof_pkt_) return; // a second, different FIN: keep the first
    std::size_t idx = d - 1;
    if (idx < reorder_.size() && reorder_[idx].present) {
        ++stats_.duplicates;
        ack_now_ = true;
        return;
    }
    std::size_t len = p.h.type == Type::fin ? 0 : p.payload.size();
    if (held() + len > cfg_.receive_buffer + kReceiveSlack) { // the peer ignores our window: drop, it resends
        ++stats_.dropped_beyond_window;
        ack_now_ = true;
        return;
    }
    if (p.h.type == Type::fin) {
        got_fin_ = true;
        eof_pkt_ = seq;
        // Anything stored beyond the FIN can never be delivered.
        if (reorder_.size() > idx + 1) {
            for (std::size_t i = idx + 1; i < reorder_.size(); ++i) reorder_bytes_ -= reorder_[i].data.size();
            reorder_.resize(idx + 1);
        }
    }
    if (reorder_.size() <= idx) reorder_.resize(idx + 1);
    Slot& s = reorder_[idx];
    s.present = true;
    s.fin = p.h.type == Type::fin;
    s.data.assign(p.payload.data(), len);
    reorder_bytes_ += len;
    if (idx != 0) {
        ack_now_ = true; // out of order: ack at once (with a SACK)
        return;
    }
    deliver_in_order();
}

void Connection::deliver_in_order() {
    bool fin = false;
    while (!reorder_.empty() && reorder_.front().present) {
        Slot& s = reorder_.front();
        if (read_off_ > 0 && read_off_ >= readable_.size() / 2) { // compact before appending
            readable_.erase(0, read_off_);
            read_off_ = 0;
        }
        readable_.append(s.data);
        reorder_bytes_ -= s.data.size();
        fin = s.fin;
        reorder_.pop_front();
        ack_nr_ = static_cast<std::uint16_t>(ack_nr_ + 1);
        note_delivered();
        if (fin) break;
    }
    if (fin) {
        eof_reached_ = true;
        reorder_.clear();
        reorder_bytes_ = 0;
        ack_now_ = true; // ack the FIN at once
    }
    if (!reorder_.empty()) ack_now_ = true; // still a hole: the SACK tells what we have
}

// Every packet delivered is acked in this turn's service pass, where the acks of all the packets read in one
// batch become one (libutp's deferred acks; libtorrent's utp_delayed_ack is 0 by default). Not TCP's delayed
// ack: a peer that holds a small packet until its data in flight is acked (libtorrent's Nagle) would stall for
// the whole delay, which is what a 50 ms timer here did to one MSE handshake in three with libtorrent.
void Connection::note_delivered() { ack_now_ = true; }

void Connection::maybe_finish() {
    if (state_ == State::fin_sent && fin_acked_ && eof_reached_) {
        state_ = State::closed;
        rto_deadline_ = kNever;
    }
}

void Connection::tick(std::uint64_t now_us) {
    now_ = std::max(now_, now_us);
    if (state_ == State::closed || state_ == State::reset) return;
    if (rto_deadline_ != kNever && now_ >= rto_deadline_) {
        rto_deadline_ = kNever;
        on_timeout();
        if (state_ == State::closed || state_ == State::reset) return;
    }
    if (peer_wnd_ == 0 && !probe_ok_ && now_ >= zero_since_ + kZeroWindowProbeUs) probe_ok_ = true;
    if (state_ != State::syn_sent && now_ >= last_send_ + kKeepaliveUs) ack_now_ = true;
}

std::uint64_t Connection::next_timeout_us() const {
    if (state_ == State::reset) return kNever;
    if (state_ == State::closed) return reset_pending_ || (ack_now_ && !error_) ? now_ : kNever;
    if (ack_now_ || more_output_) return now_;
    std::uint64_t t = rto_deadline_;
    bool pending =
        queue_.size() > queue_off_ || std::any_of(out_.begin(), out_.end(), [](const Out& o) { return o.resend; });
    if (peer_wnd_ == 0 && pending) t = std::min(t, probe_ok_ ? now_ : zero_since_ + kZeroWindowProbeUs);
    if (state_ != State::syn_sent) t = std::min(t, last_send_ + kKeepaliveUs);
    return t;
}

std::size_t Connection::write(std::string_view bytes) {
    if (close_requested_ || state_ == State::closed || state_ == State::reset) return 0;
    std::size_t have = send_buffered();
    std::size_t room = cfg_.send_buffer > have ? cfg_.send_buffer - have : 0;
    std::size_t n = std::min(room, bytes.size());
    if (n == 0) return 0;
    if (queue_off_ > 0 && queue_off_ >= (queue_.size() - queue_off_)) {
        queue_.erase(0, queue_off_);
        queue_off_ = 0;
    }
    queue_.append(bytes.substr(0, n));
    return n;
}

void Connection::close() {
    if (close_requested_) return;
    close_requested_ = true;
    if (state_ == State::connected) state_ = State::fin_sent;
}

void Connection::abort() {
    if (state_ == State::closed || state_ == State::reset) return;
    state_ = State::closed;
    reset_pending_ = true;
    ack_now_ = false;
    rto_deadline_ = kNever;
}

void Connection::set_receive_buffer(std::size_t bytes) {
    std::size_t before = receive_window();
    cfg_.receive_buffer = bytes;
    if (before < cfg_.max_payload && receive_window() >= cfg_.max_payload && state_ != State::syn_sent &&
        state_ != State::closed && state_ != State::reset)
        ack_now_ = true; // window update: the peer may be stalled on our zero window
}

void Connection::consumed(std::size_t n) {
    std::size_t before = last_advertised_;
    read_off_ += std::min(n, readable_.size() - read_off_);
    if (read_off_ == readable_.size()) {
        readable_.clear();
        read_off_ = 0;
    }
    if (before < cfg_.max_payload && receive_window() >= cfg_.max_payload && state_ != State::syn_sent &&
        state_ != State::closed && state_ != State::reset)
        ack_now_ = true; // window update
}

std::string Connection::take_received() {
    std::string s(readable());
    consumed(s.size());
    return s;
}

} // namespace p2p::utp
