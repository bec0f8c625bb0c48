// Fuzz target: the uTP connection state machine (proto/utp_conn.hpp). An initiator A and a responder B (made
// from A's SYN) joined by two queues the input drives, plus arbitrary datagrams (decoded with utp::decode when
// valid, some patched to carry the right connection id and a plausible ack_nr so they get past the first checks)
// and a moving clock. Invariants after every step: no crash; every datagram out decodes and is a packet of that
// connection; a take returns at most max_datagrams_per_take; the send buffer, the unacked packets, the reorder
// buffer and the readable bytes stay within their bounds; the timer is never in the past for a finished side.
//
// Input: byte 0 picks the configuration, then one op per byte (some read operands from the following bytes):
//   op % 8: 0 deliver A's oldest queued datagram to B   1 the same B -> A   2 drop one (queue by bit 3)
//           3 raw datagram to A or B (bit 3): u16 length, then the bytes
//           4 the same, with connection_id and ack_nr patched to fit the receiver
//           5 clock += u16 * 100 us * (1 + op >> 3), tick both      6 write u8 * 16 bytes to A or B (bit 3)
//           7 op >> 3: 0/1 close A/B, 2/3 consume A/B, 4/5 set_receive_buffer(A/B, u16 * 32), 6/7 abort A/B
#include <deque>

#include "fuzz_common.hpp"
#include "proto/utp_conn.hpp"

using namespace p2p;
using namespace p2p::utp;

FUZZ_INIT

namespace {

constexpr std::size_t kQueue = 256; // datagrams kept per direction (oldest dropped)

struct Side {
    std::optional<Connection> c;
    std::deque<std::string> out; // what it sent, not yet delivered
    std::size_t max_capacity = 0;
};

void check(Side& s, std::uint64_t now) {
    Connection& c = *s.c;
    auto out = c.take_datagrams(now);
    FUZZ_CHECK(out.size() <= c.config().max_datagrams_per_take);
    for (auto& d : out) {
        auto p = decode(d);
        FUZZ_CHECK(p.ok());
        if (p->h.type == Type::syn)
            FUZZ_CHECK(p->h.connection_id == c.recv_id());
        else
            FUZZ_CHECK(p->h.connection_id == c.send_id());
        FUZZ_CHECK(p->payload.size() <= c.config().max_payload);
        s.out.push_back(std::move(d));
        if (s.out.size() > kQueue) s.out.pop_front();
    }
    FUZZ_CHECK(c.send_buffered() <= c.config().send_buffer);
    FUZZ_CHECK(c.bytes_in_flight() <= c.send_buffered());
    FUZZ_CHECK(c.packets_unacked() <= kMaxInflightPackets + 1); // + the FIN
    FUZZ_CHECK(c.reorder_packets() <= kMaxReorderPackets);
    FUZZ_CHECK(c.readable().size() <= s.max_capacity + kReceiveSlack);
    FUZZ_CHECK(c.cwnd() >= c.config().max_payload && c.cwnd() <= c.config().max_cwnd);
    if (c.state() == State::reset) FUZZ_CHECK(c.error().has_value() && c.next_timeout_us() == kNever);
}

void deliver(Side& to, std::string_view d, std::uint64_t now) {
    auto p = decode(d);
    if (p) to.c->on_packet(*p, now);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Bytes in{fuzz::as_view(data, size)};
    std::uint8_t conf = in.u8();
    Config cfg;
    cfg.max_payload = 8 + (conf & 0x0f) * 90;
    cfg.max_datagrams_per_take = 1 + ((conf >> 4) & 3) * 8;
    cfg.receive_buffer = (conf & 0x40) ? 4096 : 64 * 1024;
    cfg.send_buffer = (conf & 0x80) ? 8192 : 256 * 1024;

    std::uint64_t now = 1'000'000;
    Side a, b;
    a.c = Connection::connect(now, 0x4000, 0xfff0, cfg);
    a.max_capacity = b.max_capacity = cfg.receive_buffer;
    auto syn_out = a.c->take_datagrams(now);
    FUZZ_CHECK(syn_out.size() == 1);
    auto syn = decode(syn_out[0]);
    FUZZ_CHECK(syn.ok());
    auto acc = Connection::accept(*syn, now, 0x0100, cfg);
    FUZZ_CHECK(acc.ok());
    b.c = std::move(*acc);
    check(b, now);

    const std::string filler(255 * 16, 'x');
    for (int steps = 0; steps < 4000 && !in.in.empty(); ++steps) {
        std::uint8_t op = in.u8();
        bool to_b = (op >> 3) & 1;
        switch (op % 8) {
        case 0:
        case 1: {
            Side& from = op % 8 == 0 ? a : b;
            Side& to = op % 8 == 0 ? b : a;
            if (from.out.empty()) break;
            std::string d = std::move(from.out.front());
            from.out.pop_front();
            deliver(to, d, now);
            break;
        }
        case 2: {
            Side& s = to_b ? b : a;
            if (!s.out.empty()) s.out.pop_front();
            break;
        }
        case 3:
        case 4: {
            std::size_t len = in.u16() % 1600;
            std::string d(in.take(len));
            Side& to = to_b ? b : a;
            if (op % 8 == 4 && d.size() >= kHeaderSize) {
                std::uint16_t id = to.c->recv_id();
                std::uint16_t ack =
                    static_cast<std::uint16_t>(to.c->seq_nr() - 1 - (static_cast<std::uint8_t>(d[19]) % 4));
                d[0] = static_cast<char>((static_cast<std::uint8_t>(d[0]) & 0xf0) % 0x50 | kVersion);
                d[2] = static_cast<char>(id >> 8);
                d[3] = static_cast<char>(id & 0xff);
                d[18] = static_cast<char>(ack >> 8);
                d[19] = static_cast<char>(ack & 0xff);
            }
            deliver(to, d, now);
            break;
        }
        case 5:
            now += std::uint64_t{in.u16()} * 100 * (1 + (op >> 3));
            a.c->tick(now);
            b.c->tick(now);
            FUZZ_CHECK(a.c->next_timeout_us() >= now && b.c->next_timeout_us() >= now);
            break;
        case 6: {
            Side& s = to_b ? b : a;
            std::size_t n = std::size_t{in.u8()} * 16;
            std::size_t took = s.c->write(std::string_view(filler).substr(0, n));
            FUZZ_CHECK(took <= n);
            break;
        }
        default: {
            Side& s = (op >> 3) & 1 ? b : a;
            switch ((op >> 3) & 7) {
            case 0:
            case 1: s.c->close(); break;
            case 2:
            case 3: s.c->consumed(s.c->readable().size()); break;
            case 4:
            case 5: {
                std::size_t cap = std::size_t{in.u16()} * 32;
                s.max_capacity = std::max(s.max_capacity, cap);
                s.c->set_receive_buffer(cap);
                break;
            }
            default: s.c->abort(); break;
            }
        }
        }
        check(a, now);
        check(b, now);
    }
    return 0;
}
