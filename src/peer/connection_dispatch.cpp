// PeerConnection: handlers for each incoming message, selected by a table indexed by message id. Each handler
// validates every field before use and returns false when parsing must stop (connection closed or destroyed).
#include <algorithm>

#include "peer/connection.hpp"

namespace p2p {

using wire::Message;
using wire::MsgId;

const PeerConnection::Handler PeerConnection::kHandlers[21] = {
    &PeerConnection::on_choke_msg,          // 0 choke
    &PeerConnection::on_unchoke_msg,        // 1 unchoke
    &PeerConnection::on_interested_msg,     // 2 interested
    &PeerConnection::on_not_interested_msg, // 3 not interested
    &PeerConnection::on_have_msg,           // 4 have
    &PeerConnection::on_bitfield_msg,       // 5 bitfield
    &PeerConnection::on_request_msg,        // 6 request
    &PeerConnection::on_piece_msg,          // 7 piece
    &PeerConnection::on_cancel_msg,         // 8 cancel
    &PeerConnection::on_port_msg,           // 9 port (BEP 5)
    nullptr,                                // 10..12 unassigned
    nullptr,
    nullptr,
    &PeerConnection::on_suggest_msg,      // 0x0D suggest (BEP 6)
    &PeerConnection::on_have_all_msg,     // 0x0E have all (BEP 6)
    &PeerConnection::on_have_none_msg,    // 0x0F have none (BEP 6)
    &PeerConnection::on_reject_msg,       // 0x10 reject request (BEP 6)
    &PeerConnection::on_allowed_fast_msg, // 0x11 allowed fast (BEP 6)
    nullptr,                              // 0x12, 0x13 unassigned
    nullptr,
    &PeerConnection::on_extended_msg, // 20 extended (BEP 10)
};

bool PeerConnection::dispatch(const Message& m) {
    if (m.id >= std::size(kHandlers) || !kHandlers[m.id]) return true; // BEP 3: ignore unknown messages
    if (metadata_only_) return dispatch_without_metadata(m);
    return (this->*kHandlers[m.id])(m);
}

// Before the metadata is known no piece index can be checked, and nothing the peer says about pieces is of use
// (the connection only exists to fetch the info dictionary). The frame length was already checked by the decoder
// against max_message(); the ordering and fast-extension rules are kept, so a misbehaving peer still is one.
bool PeerConnection::dispatch_without_metadata(const Message& m) {
    switch (static_cast<MsgId>(m.id)) {
    case MsgId::have: // kept for adopt(), which checks the index against the torrent
        if (early_.haves.size() < kMaxEarlyHaves)
            early_.haves.push_back(m.index);
        else
            early_.overflow = true;
        return true;
    case MsgId::cancel: // nothing of ours can be queued: we never unchoke or accept requests here
        return true;
    case MsgId::bitfield: // a later bitfield is allowed too (aria2): see on_bitfield_msg
        if (m.payload.size() > kMaxEarlyBitfield)
            early_.overflow = true;
        else if (first_message_)
            early_.bitfield = std::string(m.payload);
        else
            early_.later_bitfield = std::string(m.payload);
        return true;
    case MsgId::have_all:
    case MsgId::have_none:
        if (!fast_) return fail("have_all/have_none without the fast extension");
        if (!first_message_) return fail("have_all/have_none not sent as the first message");
        early_.have_all = m.id == static_cast<std::uint8_t>(MsgId::have_all);
        return true;
    case MsgId::request:
        // We choke the peer for the whole connection. BEP 6: every request gets exactly one answer.
        if (!count_choked_request()) return false;
        if (fast_) {
            std::string out;
            wire::encode_reject(out, m.index, m.begin, m.length);
            send_raw(std::move(out));
        }
        return true;
    case MsgId::piece: return fail("piece before the metadata is known"); // we never requested one
    case MsgId::reject:
    case MsgId::suggest:
    case MsgId::allowed_fast:
        if (!fast_) return fail("fast-extension message without the fast extension");
        return true;
    default: // choke, unchoke, interested, not interested, port, extended: no piece index involved
        return (this->*kHandlers[m.id])(m);
    }
}

bool PeerConnection::on_choke_msg(const Message&) {
    peer_choking_ = true;
    if (!fast_) out_clear(); // BEP 3: a choke discards every pending request
    return emit([&] { owner_->on_choke(*this); });
}

bool PeerConnection::on_unchoke_msg(const Message&) {
    peer_choking_ = false;
    return emit([&] { owner_->on_unchoke(*this); });
}

bool PeerConnection::on_interested_msg(const Message&) {
    peer_interested_ = true;
    return emit([&] { owner_->on_interested(*this); });
}

bool PeerConnection::on_not_interested_msg(const Message&) {
    peer_interested_ = false;
    return emit([&] { owner_->on_not_interested(*this); });
}

bool PeerConnection::on_have_msg(const Message& m) {
    if (m.index >= geometry_.piece_count) return fail("have index " + std::to_string(m.index) + " out of range");
    // A repeated HAVE changes nothing; reporting it again would make the owner count the piece twice.
    if (peer_pieces_.get(m.index)) return true;
    peer_pieces_.set(m.index);
    return emit([&] { owner_->on_have(*this, m.index); });
}

bool PeerConnection::on_bitfield_msg(const Message& m) {
    auto bits = swarm::Bitfield::from_wire(m.payload, geometry_.piece_count);
    if (!bits) return fail(bits.error().what);
    if (first_message_) {
        peer_pieces_ = std::move(bits.value());
        return emit([&] { owner_->on_bitfield(*this, peer_pieces_); });
    }
    // BEP 3 allows a bitfield only first, but aria2 sends one later instead of a run of HAVEs when that is
    // shorter. Disconnecting it would stall every download from aria2, so a later bitfield counts as the HAVEs
    // of the pieces it adds (a peer cannot lose pieces, so cleared bits are ignored).
    std::vector<std::uint32_t> added;
    bits->for_each_set([&](std::uint32_t i) {
        if (!peer_pieces_.get(i)) added.push_back(i);
    });
    for (std::uint32_t i : added) {
        peer_pieces_.set(i);
        if (!emit([&] { owner_->on_have(*this, i); })) return false;
    }
    return true;
}

bool PeerConnection::on_have_all_msg(const Message&) {
    if (!fast_) return fail("have_all without the fast extension");
    if (!first_message_) return fail("have_all not sent as the first message");
    peer_pieces_.set_all();
    return emit([&] { owner_->on_have_all(*this); });
}

bool PeerConnection::on_have_none_msg(const Message&) {
    if (!fast_) return fail("have_none without the fast extension");
    if (!first_message_) return fail("have_none not sent as the first message");
    peer_pieces_.reset_all();
    return emit([&] { owner_->on_have_none(*this); });
}

bool PeerConnection::on_request_msg(const Message& m) {
    if (!valid_block(m.index, m.begin, m.length))
        return fail("invalid request " + std::to_string(m.index) + ":" + std::to_string(m.begin) + "+" +
                    std::to_string(m.length));
    const BlockRequest r{m.index, m.begin, m.length};
    if (am_choking_ && !granted_fast(m.index)) {
        // BEP 3: requests while choked are dropped; BEP 6: every request gets exactly one answer, so reject it.
        if (!count_choked_request()) return false;
        if (fast_) {
            std::string out;
            wire::encode_reject(out, r.index, r.begin, r.length);
            send_raw(std::move(out));
        }
        return true;
    }
    if (std::find(incoming_.begin(), incoming_.end(), r) != incoming_.end()) return true; // duplicate
    if (incoming_.size() >= cfg_.max_incoming_requests)
        return fail("more than " + std::to_string(cfg_.max_incoming_requests) + " queued requests");
    incoming_.push_back(r);
    return emit([&] { owner_->on_request(*this, r); });
}

// Requests that cross our choke on the wire are normal (up to the peer's pipeline); a peer that goes on
// requesting while choked only makes us write rejects it will never stop asking for, and a peer that does not
// read its socket would grow our send queue with them. More than max_incoming_requests since our last
// choke/unchoke is a disconnect, like a full request queue.
bool PeerConnection::count_choked_request() {
    if (++requests_while_choked_ <= cfg_.max_incoming_requests) return true;
    return fail("more than " + std::to_string(cfg_.max_incoming_requests) + " requests while choked");
}

bool PeerConnection::on_cancel_msg(const Message& m) {
    if (!valid_block(m.index, m.begin, m.length)) return fail("invalid cancel");
    const BlockRequest r{m.index, m.begin, m.length};
    auto it = std::find(incoming_.begin(), incoming_.end(), r);
    if (it == incoming_.end()) return true; // already served or dropped
    incoming_.erase(it);
    if (fast_) { // BEP 6: answer the cancelled request with a reject (send_piece for it is now a no-op)
        std::string out;
        wire::encode_reject(out, r.index, r.begin, r.length);
        send_raw(std::move(out));
    }
    return emit([&] { owner_->on_cancel(*this, r); });
}

bool PeerConnection::on_piece_msg(const Message& m) {
    if (!valid_block(m.index, m.begin, m.length))
        return fail("invalid piece " + std::to_string(m.index) + ":" + std::to_string(m.begin) + "+" +
                    std::to_string(m.length));
    const BlockRequest r{m.index, m.begin, m.length};
    auto it = std::find(outgoing_.begin(), outgoing_.end(), r);
    const bool requested = it != outgoing_.end();
    if (requested)
        out_erase(it);
    else if (fast_)
        return fail("piece that was not requested"); // BEP 6: MUST close
    downloaded_ += m.length;
    down_rate_.add(m.length, last_received_);
    return emit([&] { owner_->on_piece(*this, m.index, m.begin, m.payload, requested); });
}

bool PeerConnection::on_reject_msg(const Message& m) {
    if (!fast_) return fail("reject without the fast extension");
    if (!valid_block(m.index, m.begin, m.length)) return fail("invalid reject");
    const BlockRequest r{m.index, m.begin, m.length};
    auto it = std::find(outgoing_.begin(), outgoing_.end(), r);
    if (it == outgoing_.end()) return true; // a reject for nothing outstanding: ignore
    out_erase(it);
    return emit([&] { owner_->on_reject(*this, r); });
}

bool PeerConnection::on_suggest_msg(const Message& m) {
    if (!fast_) return fail("suggest without the fast extension");
    if (m.index >= geometry_.piece_count) return fail("suggest index out of range");
    return emit([&] { owner_->on_suggest(*this, m.index); });
}

bool PeerConnection::on_allowed_fast_msg(const Message& m) {
    if (!fast_) return fail("allowed_fast without the fast extension");
    if (m.index >= geometry_.piece_count) return fail("allowed_fast index out of range");
    return emit([&] { owner_->on_allowed_fast(*this, m.index); });
}

bool PeerConnection::on_port_msg(const Message& m) {
    return emit([&] { owner_->on_port(*this, m.port); });
}

bool PeerConnection::on_extended_msg(const Message& m) {
    if (!extensions_) return fail("extended message without the extension protocol");
    return emit([&] { owner_->on_extended(*this, m.ext_id, m.payload); });
}

} // namespace p2p
