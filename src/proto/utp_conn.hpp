// uTP (BEP 29) connection: one side's reliable, LEDBAT-paced byte stream as a pure state machine. No uv.h, no
// sockets, no callbacks: the owner feeds decoded packets (on_packet), the clock (tick) and bytes (write, close),
// then pulls what came out (take_datagrams, readable/consumed, state, error, next_timeout_us). Since nothing calls
// back into the owner, a Connection may be destroyed at any point.
//
// Owner loop: after every on_packet / tick / write / close / consumed, call take_datagrams(now) and send what it
// returns (it returns at most Config::max_datagrams_per_take; when it had more, next_timeout_us() is "now"), then
// arm one timer for next_timeout_us() and call tick() when it fires.
//
// Files: utp_conn.cpp (handshake, receiving, acks in, timers, state), utp_conn_send.cpp (packetising, sending,
// retransmission, RTT/RTO, LEDBAT).
//
// Behaviour of libutp (utp_internal.cpp) and libtorrent (utp_stream.cpp) that this follows:
// - ids: the initiator receives on a random recv_id and sends its SYN with connection_id = recv_id, everything
//   else with send_id = recv_id + 1; the responder sends on syn.id and receives on syn.id + 1. A non-SYN packet
//   for another id is ignored; a RESET is taken on either of our ids.
// - the SYN's ack_nr is 0 and its wnd_size is not read (libtorrent sends 0); the reply is a STATE with
//   ack_nr = SYN.seq_nr and the responder's next seq_nr (a STATE takes no number), so the initiator's ack_nr
//   starts at state.seq_nr - 1 (or a first DATA's seq_nr - 1). A repeated SYN gets a STATE; a SYN's payload is
//   ignored.
// - an ack_nr beyond the last packet we sent drops the packet; a DATA beyond ack_nr + reorder_limit() is dropped;
//   a STATE acking ack_nr - 1 (libutp's keep-alive) is only a duplicate ack.
// - our SACK is sent on STATE packets only, and only while ack_nr + 1 is missing; a SACK on any packet is read.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "proto/utp.hpp"

namespace p2p::utp {

// --- Constants (times in microseconds) ---
inline constexpr std::uint64_t kNever = ~std::uint64_t{0};
// BEP 29 "congestion control": CCONTROL_TARGET, the one-way delay LEDBAT aims at (100 ms).
inline constexpr std::int64_t kTargetDelayUs = 100'000;
// BEP 29 / libutp MAX_CWND_INCREASE_BYTES_PER_RTT: the most cwnd may grow (or, ours, shrink by delay) per RTT.
inline constexpr double kMaxCwndIncreaseBytesPerRtt = 3000;
// BEP 29: "timeout = max(rtt + rtt_var * 4, 500)" ms, and "The initial timeout is set to 1000 milliseconds".
inline constexpr std::uint64_t kMinRtoUs = 500'000;
inline constexpr std::uint64_t kInitialRtoUs = 1'000'000;
inline constexpr std::uint64_t kMaxRtoUs = 60'000'000; // ours (libtorrent caps its doubled timeout at 60 s)
// BEP 29: "every time a packet timeout occurs, the timeout is doubled"; ours: give up after this many timeouts
// in a row without an ack (libtorrent: m_num_timeouts > m_sm.num_resends(), default 3..6).
inline constexpr int kMaxTimeouts = 6;
inline constexpr int kMaxSynSends = 4; // ours: SYN at 0, 1, 3, 7 s then fail at 15 s (libutp: 3 SYN resends)
// libutp DUPLICATE_ACKS_BEFORE_RESEND (3): a packet is lost after 3 duplicate acks, or when a SACK shows 3
// packets after it received (libutp selective_ack; BEP 29 describes the same 3-packet rule for SACK).
inline constexpr int kDupAckThreshold = 3;
inline constexpr std::uint64_t kKeepaliveUs = 29'000'000;       // libutp KEEPALIVE_INTERVAL (29 s)
inline constexpr std::uint64_t kZeroWindowProbeUs = 15'000'000; // libutp: a zero window reopens after 15 s
inline constexpr std::uint64_t kDelayBaseBucketUs = 60'000'000; // libutp/libtorrent: base delay = min over two
                                                                // one-minute buckets (2 minutes)
// The peer's window until its first reply (libutp: max_window_user = 255 * PACKET_SIZE, 1435 there; 1400 here).
inline constexpr std::uint32_t kInitialPeerWindow = 255 * 1400;
// Default payload: a 1400-byte datagram (no IP fragmentation on common paths; libutp's PACKET_SIZE is 1435).
inline constexpr std::size_t kDefaultMaxPayload = 1400 - kHeaderSize;
// Reorder buffer: libutp drops a DATA beyond ack_nr + max(16, receive buffer / 1100) (utp_process_incoming,
// "seqnr >= ... max(..., 16)"); ours also caps it at 1024 packets (a 128-byte SACK covers it).
inline constexpr std::size_t kMinReorderPackets = 16;
inline constexpr std::size_t kReorderDivisor = 1100;
inline constexpr std::size_t kMaxReorderPackets = 1024;
// Send side: at most this many packets unacked (libutp OUTGOING_BUFFER_MAX_SIZE, 1024).
inline constexpr std::size_t kMaxInflightPackets = 1024;
// A peer may overshoot our window by one packet (a probe, or a window update it has not seen yet).
inline constexpr std::size_t kReceiveSlack = 65535;

struct Config {
    std::size_t max_payload = kDefaultMaxPayload; // bytes of payload per DATA packet (one MSS), >= 1
    std::size_t send_buffer = 1u << 20;           // bytes write() holds: queued + sent and not yet acked
    std::size_t receive_buffer = 1u << 20;        // capacity: readable + reordered bytes (set_receive_buffer)
    std::size_t max_datagrams_per_take = 64;      // bound of one take_datagrams() call, >= 1
    std::size_t max_cwnd = 4u << 20;              // ours: cwnd's ceiling
};

// Named for what the connection waits on.
enum class State : std::uint8_t {
    syn_sent,  // initiator: the SYN is out, waiting for the reply
    connected, // both ways open (the peer's direction may have ended: eof())
    fin_sent,  // our FIN is queued or sent: waiting for its ack and for the peer's FIN
    closed,    // done: both FINs acked, or closed by abort() or by a timeout (then error() says so)
    reset,     // the peer sent a RESET (error() says so)
};

struct Stats {
    std::uint64_t packets_sent = 0, data_sent = 0, retransmits = 0, fast_retransmits = 0, timeouts = 0;
    std::uint64_t packets_received = 0, ignored = 0, duplicates = 0, dropped_beyond_window = 0;
};

class Connection {
public:
    // Initiator: a SYN goes out with the next take_datagrams. recv_id and seq should be random.
    static Connection connect(std::uint64_t now_us, std::uint16_t recv_id, std::uint16_t seq, Config cfg = {});
    // Responder, from a decoded SYN (Errc::bad_input if `syn` is not one). A STATE answers it. seq: random.
    static Result<Connection> accept(const Packet& syn, std::uint64_t now_us, std::uint16_t seq, Config cfg = {});

    // --- Inputs ---
    void on_packet(const Packet& p, std::uint64_t now_us);
    void tick(std::uint64_t now_us);
    // Bytes taken into the send buffer (0..bytes.size()); 0 once close() or abort() was called or it ended.
    std::size_t write(std::string_view bytes);
    // Sends a FIN after every byte written so far. Idempotent.
    void close();
    // Ends at once: one RESET goes out, state() is closed (no error).
    void abort();
    // The receive buffer's capacity (readable + reordered bytes); the window advertised is what is free of it.
    void set_receive_buffer(std::size_t bytes);
    void consumed(std::size_t n); // drops the first n readable bytes (n <= readable().size())

    // --- Outputs ---
    std::vector<std::string> take_datagrams(std::uint64_t now_us);
    std::string_view readable() const { return std::string_view(readable_).substr(read_off_); }
    std::string take_received();              // readable(), then consumed(all)
    bool eof() const { return eof_reached_; } // the peer's FIN arrived and every byte before it is in readable()
    State state() const { return state_; }
    const std::optional<Error>& error() const { return error_; }
    std::uint64_t next_timeout_us() const; // kNever: no timer needed

    // --- Introspection (tests, stats, the owner's back-pressure) ---
    std::uint16_t send_id() const { return send_id_; }
    std::uint16_t recv_id() const { return recv_id_; }
    std::uint16_t seq_nr() const { return seq_nr_; } // next seq_nr we send
    std::uint16_t ack_nr() const { return ack_nr_; } // last in-order seq_nr received
    std::size_t cwnd() const { return static_cast<std::size_t>(cwnd_); }
    std::uint32_t peer_window() const { return peer_wnd_; }
    std::size_t bytes_in_flight() const { return flight_; }
    std::size_t send_buffered() const { return queue_.size() - queue_off_ + unacked_bytes_; }
    std::size_t packets_unacked() const { return out_.size(); }
    std::size_t reorder_packets() const { return reorder_.size(); }
    std::size_t reorder_limit() const;
    std::size_t receive_window() const; // bytes we advertise
    std::uint64_t rtt_us() const { return rtt_; }
    std::uint64_t rto_us() const { return rto_; }
    std::int64_t our_delay_us() const { return our_delay_; } // last LEDBAT sample minus the base delay
    const Stats& stats() const { return stats_; }
    const Config& config() const { return cfg_; }

private:
    struct Out { // a packet we sent (or will resend) and the peer has not acked cumulatively
        std::uint16_t seq = 0;
        Type type = Type::data;
        std::string payload;
        std::uint64_t sent_us = 0;
        int transmissions = 0;
        bool counted = false; // in flight_ (sent, not SACKed, not marked for resend)
        bool resend = false;  // to be (re)sent by the next take_datagrams
        bool sacked = false;
        bool fast_resent = false; // fast retransmit is done once per packet; later losses wait for the RTO
        bool urgent = false;      // fast retransmit: goes out with the next take, whatever the window
    };
    struct Slot { // reorder buffer entry for seq ack_nr_ + 1 + index
        bool present = false;
        bool fin = false;
        std::string data;
    };

    Connection(Config cfg, std::uint64_t now_us);

    // utp_conn.cpp
    void receive(const Packet& p);
    void deliver_in_order();
    void note_delivered();
    void fail(State s, std::string what, Errc code);
    void maybe_finish();
    std::size_t held() const { return readable_.size() - read_off_ + reorder_bytes_; }
    // utp_conn_send.cpp
    void process_acks(const Packet& p);
    void process_sack(const Packet& p, std::size_t& newly_acked);
    void on_loss(Out& o);
    void on_timeout();
    void rtt_sample(std::uint64_t sample_us);
    void delay_sample(std::uint32_t diff_us);
    void ledbat(std::size_t bytes_acked, std::size_t flight_before);
    bool can_send(std::size_t bytes) const;
    void emit(Type type, std::uint16_t seq, std::string_view payload, bool with_sack, std::vector<std::string>& out);
    void emit_state(bool with_sack, std::vector<std::string>& out); // an ack (two after our FIN: see the .cpp)
    void send_out(Out& o, std::vector<std::string>& out);
    void uncount(Out& o);

    Config cfg_;
    State state_ = State::syn_sent;
    std::optional<Error> error_;
    bool initiator_ = false;
    std::uint16_t send_id_ = 0, recv_id_ = 0;
    std::uint16_t seq_nr_ = 0;  // next seq_nr to use
    std::uint16_t syn_seq_ = 0; // the SYN's seq_nr (ours as initiator, the peer's as responder)
    std::uint16_t ack_nr_ = 0;
    std::uint64_t now_ = 0;

    // send side
    std::string queue_; // written, not yet packetised: queue_[queue_off_..]
    std::size_t queue_off_ = 0;
    std::deque<Out> out_;           // unacked packets, consecutive seq_nr, oldest first (<= kMaxInflightPackets)
    std::size_t unacked_bytes_ = 0; // payload bytes in out_
    std::size_t flight_ = 0;        // payload bytes of counted packets
    bool close_requested_ = false, fin_queued_ = false, fin_acked_ = false, reset_pending_ = false;
    std::uint32_t peer_wnd_ = kInitialPeerWindow;
    std::uint64_t zero_since_ = 0; // when the peer's window was first seen at 0
    bool probe_ok_ = false;
    int dup_acks_ = 0;
    int timeouts_ = 0;
    int syn_sends_ = 0;
    std::uint64_t rto_deadline_ = kNever;
    std::uint64_t last_send_ = 0;
    bool more_output_ = false; // the last take stopped at its bound

    // RTT (RFC 6298 as BEP 29 describes) and LEDBAT
    std::uint64_t rtt_ = 0, rtt_var_ = 0, rto_ = kInitialRtoUs;
    double cwnd_ = 0;
    std::uint16_t loss_fence_ = 0; // cwnd is cut once per RTT: again only for a packet sent after the last cut
    bool loss_fence_set_ = false;
    std::uint32_t base_cur_ = 0, base_prev_ = 0;
    bool base_cur_set_ = false, base_prev_set_ = false;
    std::uint64_t base_bucket_start_ = 0;
    std::int64_t our_delay_ = 0;
    bool have_delay_ = false;

    // receive side
    std::string readable_;
    std::size_t read_off_ = 0;
    std::deque<Slot> reorder_;
    std::size_t reorder_bytes_ = 0;
    bool got_fin_ = false, eof_reached_ = false;
    std::uint16_t eof_pkt_ = 0;
    std::uint32_t reply_micro_ = 0; // timestamp_difference_us we send: their clock to ours, last packet
    bool ack_now_ = false; // an ack is owed: sent in the next pull, on data if there is some, else as a STATE
    std::size_t last_advertised_ = 0;

    Stats stats_;
};

// Low 32 bits of a microsecond clock as BEP 29 timestamps are, never 0 (0 reads as "no timestamp").
std::uint32_t timestamp32(std::uint64_t now_us);

} // namespace p2p::utp
