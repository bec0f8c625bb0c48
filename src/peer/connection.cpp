// PeerConnection lifecycle, parsing loop and outgoing messages. Incoming message handlers: connection_dispatch.cpp.
#include "peer/connection.hpp"

#include <algorithm>

#include "base/assert.hpp"
#include "proto/metainfo.hpp" // kMaxPieces: the bound on a bitfield before the geometry is known

namespace p2p {

std::unique_ptr<PeerConnection> PeerConnection::outgoing(Owner& owner, std::unique_ptr<Transport> transport,
                                                         PeerConfig cfg, std::string info_hash,
                                                         const TorrentGeometry& geometry) {
    std::unique_ptr<PeerConnection> c(
        new PeerConnection(owner, std::move(transport), std::move(cfg), Direction::outgoing));
    c->info_hash_ = std::move(info_hash);
    c->set_torrent(geometry);
    return c;
}

std::unique_ptr<PeerConnection> PeerConnection::outgoing_without_metadata(Owner& owner,
                                                                          std::unique_ptr<Transport> transport,
                                                                          PeerConfig cfg, std::string info_hash) {
    std::unique_ptr<PeerConnection> c(
        new PeerConnection(owner, std::move(transport), std::move(cfg), Direction::outgoing));
    c->info_hash_ = std::move(info_hash);
    c->metadata_only_ = true;
    return c;
}

std::unique_ptr<PeerConnection> PeerConnection::incoming(Owner& owner, std::unique_ptr<Transport> transport,
                                                         PeerConfig cfg) {
    return std::unique_ptr<PeerConnection>(
        new PeerConnection(owner, std::move(transport), std::move(cfg), Direction::incoming));
}

PeerConnection::PeerConnection(Owner& owner, std::unique_ptr<Transport> transport, PeerConfig cfg, Direction dir)
    : owner_(&owner), transport_(std::move(transport)), cfg_(std::move(cfg)), direction_(dir) {
    if (!cfg_.clock) cfg_.clock = [] { return std::uint64_t{0}; };
}

PeerConnection::~PeerConnection() {
    // transport_ is destroyed with us: it closes the socket and makes no further callbacks.
}

bool PeerConnection::set_torrent(const TorrentGeometry& g) {
    if (!g.valid()) return false;
    geometry_ = g;
    has_geometry_ = true;
    peer_pieces_ = swarm::Bitfield(g.piece_count, false);
    return true;
}

void PeerConnection::start() {
    if (started_) return;
    started_ = true;
    started_at_ = last_received_ = last_sent_ = now();
    transport_->start(this);
    if (direction_ == Direction::outgoing) {
        if ((!has_geometry_ && !metadata_only_) || info_hash_.size() != wire::kHashSize) {
            // Nothing was reported yet; report from here is fine since start() is the owner's own call path.
            fail("outgoing connection without a valid torrent");
            return;
        }
        send_handshake();
    }
}

void PeerConnection::send_handshake() {
    std::string hs;
    hs.reserve(wire::kHandshakeSize);
    wire::encode_handshake(hs, cfg_.reserved, info_hash_, cfg_.peer_id);
    handshake_sent_ = true;
    send_raw(std::move(hs));
    transport_->packet_boundary(); // see transport.hpp
}

void PeerConnection::send_raw(std::string bytes) {
    last_sent_ = now();
    transport_->send(std::move(bytes));
}

std::size_t PeerConnection::max_message() const {
    // The largest legal message: a bitfield, a 16 KiB block, or an extended message.
    std::size_t m = 9 + wire::kBlockSize;
    m = std::max(m, 1 + swarm::Bitfield::wire_size(geometry_.piece_count));
    if (extensions_) m = std::max(m, 2 + cfg_.max_extended_message);
    // Without the piece count any bitfield up to the largest torrent we accept is plausible.
    if (metadata_only_) m = std::max(m, 1 + swarm::Bitfield::wire_size(static_cast<std::uint32_t>(kMaxPieces)));
    return m;
}

bool PeerConnection::fail(std::string what) {
    return fail(make_error("peer " + transport_->remote_address(), std::move(what)));
}

bool PeerConnection::fail(Error why) {
    if (state_ == State::Closing) return false;
    state_ = State::Closing;
    transport_->close();
    owner_->on_closed(*this, why); // may destroy this: touch nothing after
    return false;
}

namespace {
// The owner of a parked connection: it hears nothing (a close is seen by the torrent when it adopts the
// connection, from is_closed()).
class ParkedOwner final : public PeerOwner {
public:
    bool on_handshake(PeerConnection&, const wire::Handshake&) override { return false; }
    void on_closed(PeerConnection&, const Error&) override {}
};
ParkedOwner parked_owner;
} // namespace

bool PeerConnection::park() {
    if (!metadata_only_ || parked_ || state_ == State::AwaitHandshake || state_ == State::Closing) return false;
    parked_ = true;
    owner_ = &parked_owner;
    transport_->pause_reading();
    return true;
}

bool PeerConnection::adopt(Owner& owner, const TorrentGeometry& g, bool accepted) {
    if (!parked_ || state_ == State::Closing) return false;
    auto refuse = [&] {
        close();
        return false;
    };
    if (early_.overflow || !set_torrent(g)) return refuse();
    // Checked here, where the piece count is known at last, exactly as the messages would have been (BEP 3).
    for (const std::string* b : {early_.bitfield ? &*early_.bitfield : nullptr, &early_.later_bitfield})
        if (b && (b != &early_.later_bitfield || !b->empty()) && !swarm::Bitfield::from_wire(*b, g.piece_count))
            return refuse();
    for (std::uint32_t i : early_.haves)
        if (i >= g.piece_count) return refuse();
    owner_ = &owner;
    metadata_only_ = false;
    if (accepted) direction_ = Direction::incoming; // its handshake is behind it: only who dialled matters now
    return true;
}

bool PeerConnection::resume_adopted() {
    if (!parked_ || metadata_only_ || state_ == State::Closing) return false;
    parked_ = false;
    EarlyPieces early = std::move(early_);
    early_ = {};
    if (early.have_all) {
        peer_pieces_.set_all();
        if (!emit([&] { owner_->on_have_all(*this); })) return false;
    } else if (early.bitfield) {
        peer_pieces_ = std::move(swarm::Bitfield::from_wire(*early.bitfield, geometry_.piece_count).value());
        if (!emit([&] { owner_->on_bitfield(*this, peer_pieces_); })) return false;
    }
    // Later news as HAVEs of the pieces it adds, as on_bitfield_msg / on_have_msg report them.
    std::vector<std::uint32_t> added;
    if (!early.later_bitfield.empty())
        swarm::Bitfield::from_wire(early.later_bitfield, geometry_.piece_count)->for_each_set([&](std::uint32_t i) {
            added.push_back(i);
        });
    added.insert(added.end(), early.haves.begin(), early.haves.end());
    for (std::uint32_t i : added) {
        if (peer_pieces_.get(i)) continue;
        peer_pieces_.set(i);
        if (!emit([&] { owner_->on_have(*this, i); })) return false;
    }
    transport_->resume_reading();
    return state_ != State::Closing;
}

void PeerConnection::close() {
    if (state_ == State::Closing) return;
    state_ = State::Closing;
    transport_->close();
}

bool PeerConnection::tick() {
    if (state_ == State::Closing) return false;
    const std::uint64_t t = now();
    if (state_ == State::AwaitHandshake && t - started_at_ >= cfg_.handshake_timeout_ms)
        return fail("handshake timeout");
    if (t - last_received_ >= cfg_.inactivity_timeout_ms) return fail("inactivity timeout");
    if (can_send() && t - last_sent_ >= cfg_.keepalive_interval_ms) send_keepalive();
    return true;
}

// ---- receiving ----

std::size_t PeerConnection::on_data(std::string_view data) {
    if (state_ == State::Closing) return data.size();
    LifeToken::Watch alive = life_.watch();
    last_received_ = now();
    // Everything we answer while handling this read leaves in one write.
    ScopedCork cork(*transport_);
    std::size_t pos = 0;
    while (state_ != State::Closing) {
        std::string_view rest = data.substr(pos);
        if (state_ == State::AwaitHandshake) {
            auto d = wire::decode_handshake(rest);
            if (d.status == Decode::need_more) break;
            if (d.status == Decode::error) {
                fail(d.error);
                break;
            }
            pos += d.consumed;
            if (!handle_handshake(d.handshake)) break;
            continue;
        }
        auto d = wire::decode_message(rest, max_message());
        if (d.status == Decode::need_more) break;
        if (d.status == Decode::error) {
            fail(d.error);
            break;
        }
        pos += d.consumed;
        if (d.msg.keepalive) continue;
        first_message_ = state_ == State::AwaitBitfield;
        // libtorrent and Transmission send the BEP 10 extended handshake (and some a BEP 5 port) right after the
        // handshake, before their bitfield / have_all / have_none: those do not use up the "first message" slot.
        const bool preamble = d.msg.id == static_cast<std::uint8_t>(wire::MsgId::extended) ||
                              d.msg.id == static_cast<std::uint8_t>(wire::MsgId::port);
        if (!preamble) state_ = State::Active;
        if (!dispatch(d.msg)) break;
    }
    if (!alive) cork.release(); // destroyed with us
    return pos;
}

void PeerConnection::on_drained() {
    if (state_ != State::Closing) owner_->on_send_drained(*this);
}

void PeerConnection::on_closed(const Error& why) { fail(why); }

bool PeerConnection::handle_handshake(const wire::Handshake& hs) {
    if (direction_ == Direction::outgoing && hs.info_hash != info_hash_) return fail("handshake for another torrent");
    if (direction_ == Direction::incoming) info_hash_ = hs.info_hash;
    peer_id_ = hs.peer_id;
    peer_reserved_ = hs.reserved;
    fast_ = cfg_.reserved.fast() && hs.reserved.fast();                   // BEP 6: only if both set the bit
    extensions_ = cfg_.reserved.extensions() && hs.reserved.extensions(); // BEP 10: likewise
    state_ = State::AwaitBitfield;
    bool accepted = false;
    if (!emit([&] { accepted = owner_->on_handshake(*this, hs); })) return false;
    if (!accepted) {
        close(); // the owner refused: it knows, so no on_closed
        return false;
    }
    if (!has_geometry_ && !metadata_only_) return fail("owner accepted the handshake without supplying the torrent");
    if (!handshake_sent_) send_handshake();
    return emit([&] { owner_->on_established(*this); });
}

// ---- sending ----

void PeerConnection::send_bitfield(const swarm::Bitfield& ours) {
    if (!can_send() || sent_message_ || !has_geometry_ || ours.size() != geometry_.piece_count) return;
    sent_message_ = true;
    std::string m;
    m.reserve(5 + swarm::Bitfield::wire_size(ours.size()));
    wire::encode_bitfield(m, ours.to_wire());
    send_raw(std::move(m));
}

void PeerConnection::send_have_all() {
    if (!can_send() || sent_message_ || !has_geometry_) return; // without the metadata we have nothing
    if (!fast_) return send_bitfield(swarm::Bitfield(geometry_.piece_count, true));
    sent_message_ = true;
    std::string m;
    wire::encode_simple(m, wire::MsgId::have_all);
    send_raw(std::move(m));
}

void PeerConnection::send_have_none() {
    if (!can_send() || sent_message_) return;
    sent_message_ = true; // BEP 3: a peer with nothing may simply omit the bitfield
    if (!fast_) return;
    std::string m;
    wire::encode_simple(m, wire::MsgId::have_none);
    send_raw(std::move(m));
}

void PeerConnection::send_have(std::uint32_t index) {
    if (!can_send() || index >= geometry_.piece_count) return;
    sent_message_ = true;
    std::string m;
    wire::encode_have(m, index);
    send_raw(std::move(m));
}

void PeerConnection::choke() {
    if (!can_send() || am_choking_) return;
    am_choking_ = true;
    requests_while_choked_ = 0;
    sent_message_ = true;
    std::string m;
    wire::encode_simple(m, wire::MsgId::choke);
    // BEP 6: a choke no longer implicitly rejects requests, so reject each one explicitly (allowed-fast pieces
    // stay queued); BEP 3: the peer knows its requests are dropped.
    std::deque<BlockRequest> keep;
    for (const auto& r : incoming_) {
        if (!fast_) continue;
        if (granted_fast(r.index))
            keep.push_back(r);
        else
            wire::encode_reject(m, r.index, r.begin, r.length);
    }
    incoming_ = std::move(keep);
    send_raw(std::move(m));
}

void PeerConnection::unchoke() {
    if (!can_send() || !am_choking_) return;
    am_choking_ = false;
    requests_while_choked_ = 0;
    sent_message_ = true;
    std::string m;
    wire::encode_simple(m, wire::MsgId::unchoke);
    send_raw(std::move(m));
}

void PeerConnection::interested() {
    if (!can_send() || am_interested_) return;
    am_interested_ = true;
    sent_message_ = true;
    std::string m;
    wire::encode_simple(m, wire::MsgId::interested);
    send_raw(std::move(m));
}

void PeerConnection::not_interested() {
    if (!can_send() || !am_interested_) return;
    am_interested_ = false;
    sent_message_ = true;
    std::string m;
    wire::encode_simple(m, wire::MsgId::not_interested);
    send_raw(std::move(m));
}

bool PeerConnection::request(std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    if (!can_send() || !valid_block(index, begin, length)) return false;
    if (outgoing_.size() >= cfg_.max_outgoing_requests) return false;
    BlockRequest r{index, begin, length};
    if (outgoing_starts_.count(start_key(r)) && std::find(outgoing_.begin(), outgoing_.end(), r) != outgoing_.end())
        return false;
    out_push(r);
    sent_message_ = true;
    std::string m;
    wire::encode_request(m, index, begin, length);
    send_raw(std::move(m));
    return true;
}

void PeerConnection::cancel(std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    if (!can_send()) return;
    auto it = std::find(outgoing_.begin(), outgoing_.end(), BlockRequest{index, begin, length});
    if (it == outgoing_.end()) return;
    // BEP 6: the peer still answers a cancelled request with exactly one piece or reject, so keep it tracked.
    if (!fast_) out_erase(it);
    std::string m;
    wire::encode_cancel(m, index, begin, length);
    send_raw(std::move(m));
}

void PeerConnection::reject(std::uint32_t index, std::uint32_t begin, std::uint32_t length) {
    if (!can_send() || !fast_) return;
    auto it = std::find(incoming_.begin(), incoming_.end(), BlockRequest{index, begin, length});
    if (it != incoming_.end()) incoming_.erase(it);
    std::string m;
    wire::encode_reject(m, index, begin, length);
    send_raw(std::move(m));
}

bool PeerConnection::send_piece(std::uint32_t index, std::uint32_t begin, std::shared_ptr<const std::string> data,
                                std::size_t offset, std::uint32_t length) {
    if (!can_send() || !data || offset > data->size() || data->size() - offset < length) return false;
    auto it = std::find(incoming_.begin(), incoming_.end(), BlockRequest{index, begin, length});
    if (it == incoming_.end()) return false;
    incoming_.erase(it);
    unsigned char hdr[wire::kPieceHeaderSize];
    wire::encode_piece_header(hdr, index, begin, length);
    uploaded_ += length;
    last_sent_ = now();
    up_rate_.add(length, last_sent_);
    transport_->send_piece(hdr, std::move(data), offset, length);
    return true;
}

void PeerConnection::send_suggest(std::uint32_t index) {
    if (!can_send() || !fast_ || index >= geometry_.piece_count) return;
    sent_message_ = true;
    std::string m;
    wire::encode_suggest(m, index);
    send_raw(std::move(m));
}

void PeerConnection::send_allowed_fast(std::uint32_t index) {
    if (!can_send() || !fast_ || index >= geometry_.piece_count) return;
    if (granted_fast(index) || allowed_fast_out_.size() >= cfg_.max_allowed_fast) return;
    allowed_fast_out_.push_back(index);
    sent_message_ = true;
    std::string m;
    wire::encode_allowed_fast(m, index);
    send_raw(std::move(m));
}

void PeerConnection::send_extended(std::uint8_t ext_id, std::string_view payload) {
    if (!can_send() || !extensions_) return;
    sent_message_ = true;
    std::string m;
    m.reserve(6 + payload.size());
    wire::encode_extended(m, ext_id, payload);
    send_raw(std::move(m));
}

void PeerConnection::send_port(std::uint16_t dht_port) {
    if (!can_send()) return;
    sent_message_ = true;
    std::string m;
    wire::encode_port(m, dht_port);
    send_raw(std::move(m));
}

void PeerConnection::send_keepalive() {
    if (!can_send()) return;
    std::string m;
    wire::encode_keepalive(m);
    send_raw(std::move(m));
}

void PeerConnection::out_push(const BlockRequest& r) {
    outgoing_.push_back(r);
    ++outgoing_starts_[start_key(r)];
}

void PeerConnection::out_erase(std::deque<BlockRequest>::iterator it) {
    auto s = outgoing_starts_.find(start_key(*it));
    P2P_ASSERT(s != outgoing_starts_.end(), "peer: an outstanding request that was not counted");
    if (s != outgoing_starts_.end() && --s->second == 0) outgoing_starts_.erase(s);
    outgoing_.erase(it);
}

void PeerConnection::out_clear() {
    outgoing_.clear();
    outgoing_starts_.clear();
}

bool PeerConnection::valid_block(std::uint32_t index, std::uint32_t begin, std::uint32_t length) const {
    if (index >= geometry_.piece_count || length == 0 || length > wire::kBlockSize) return false;
    const std::uint32_t size = geometry_.piece_size(index);
    return begin <= size && length <= size - begin;
}

bool PeerConnection::granted_fast(std::uint32_t index) const {
    return std::find(allowed_fast_out_.begin(), allowed_fast_out_.end(), index) != allowed_fast_out_.end();
}

} // namespace p2p
