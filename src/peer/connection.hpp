// PeerConnection: the state machine of one BitTorrent peer connection (BEP 3 + BEP 6 fast + BEP 10 extended
// messages) over a Transport. It validates everything the peer sends, keeps the per-peer state (choke/interest,
// the peer's pieces, queued requests both ways, byte counters and rates), and reports events to its Owner (the
// torrent/session layer), which decides what to do: what to request, whom to unchoke, what to serve.
//
// States, named for what the connection waits on:
//   AwaitHandshake -> the peer's 68-byte handshake (anything else is a protocol error: disconnect)
//   AwaitBitfield  -> the peer's first message, which alone may be bitfield / have_all / have_none
//   Active         -> everything else
//   Closing        -> closed (by us, the owner or the peer); no more events, sends are ignored
//
// LIFETIME AND RE-ENTRANCY CONTRACT
//  - The Owner owns the PeerConnection (and the PeerConnection owns its Transport). The connection never deletes
//    itself.
//  - Every Owner callback may call close() on the connection, or even destroy it. The connection notices (a
//    LifeToken watch and the Closing state), stops parsing immediately and never touches `this` afterwards.
//    Destroying is allowed but the recommended pattern is close() in the callback and deletion later (e.g.
//    Loop::defer_delete), which keeps the Owner's own iteration over its connections safe too.
//  - on_closed(conn, why) is called exactly once when the connection closes itself: peer hung up, socket error,
//    protocol violation, timeout. It is NOT called when the Owner calls close() (or refuses the handshake): the
//    Owner already knows. After on_closed the connection makes no further callbacks; delete it after it returns.
//  - Events arrive only from start(), tick() and the transport's callbacks; outgoing calls (send_*, choke(),
//    request(), ...) never call back into the Owner synchronously, so they are safe anywhere (a transport error
//    they cause is reported later, from the loop).
//  - Payload string_views passed to the Owner (on_piece, on_extended) are valid only during the call.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "net/transport.hpp"
#include "peer/encryption.hpp"
#include "peer/rate_meter.hpp"
#include "proto/wire.hpp"
#include "swarm/bitfield.hpp" // one Bitfield for the engine: the picker counts availability from it

namespace p2p {

// What the connection needs to know about the torrent to validate indices and offsets.
struct TorrentGeometry {
    std::uint32_t piece_count = 0;
    std::uint32_t piece_length = 0; // nominal; the last piece may be shorter
    std::uint64_t total_length = 0;
    std::uint32_t piece_size(std::uint32_t index) const {
        if (index + 1 < piece_count) return piece_length;
        return static_cast<std::uint32_t>(total_length - std::uint64_t{piece_length} * (piece_count - 1));
    }
    bool valid() const {
        return piece_count > 0 && piece_length > 0 && total_length > std::uint64_t{piece_length} * (piece_count - 1) &&
               total_length <= std::uint64_t{piece_length} * piece_count;
    }
};

struct BlockRequest {
    std::uint32_t index = 0, begin = 0, length = 0;
    bool operator==(const BlockRequest&) const = default;
};

class PeerConnection;

// Events from a connection to its owner. Defaults ignore the event, except the two that need a decision.
class PeerOwner {
public:
    virtual ~PeerOwner() = default;
    // The peer's handshake arrived (for an outgoing connection its info hash already matched ours). Return true to
    // continue. For an incoming connection the owner looks up the torrent by hs.info_hash and must call
    // conn.set_torrent(geometry) before returning true. Do not send here: our handshake is not out yet.
    virtual bool on_handshake(PeerConnection& conn, const wire::Handshake& hs) = 0;
    // Both handshakes are exchanged: send bitfield / have_all / have_none (first!), allowed_fast, extended handshake.
    virtual void on_established(PeerConnection&) {}
    virtual void on_bitfield(PeerConnection&, const swarm::Bitfield&) {}
    virtual void on_have_all(PeerConnection&) {}
    virtual void on_have_none(PeerConnection&) {}
    // Only for a piece the peer did not already have (repeated HAVEs are absorbed).
    virtual void on_have(PeerConnection&, std::uint32_t /*index*/) {}
    // Without the fast extension a choke drops all our outstanding requests (outgoing_requests() is empty now).
    virtual void on_choke(PeerConnection&) {}
    virtual void on_unchoke(PeerConnection&) {}
    virtual void on_interested(PeerConnection&) {}
    virtual void on_not_interested(PeerConnection&) {}
    // A validated request while we unchoke the peer (or for an allowed-fast piece); it is queued in the connection
    // until send_piece() / reject() / the peer's cancel / our choke. Answer with send_piece() when the data is read.
    virtual void on_request(PeerConnection&, const BlockRequest&) {}
    // The peer cancelled a queued request (with the fast extension the connection already sent the reject).
    virtual void on_cancel(PeerConnection&, const BlockRequest&) {}
    // A block in range of the torrent. `requested` is false for a block we had not requested (or had cancelled);
    // with the fast extension that is a protocol error and the connection closes instead (BEP 6).
    virtual void on_piece(PeerConnection&, std::uint32_t /*index*/, std::uint32_t /*begin*/, std::string_view /*block*/,
                          bool /*requested*/) {}
    virtual void on_reject(PeerConnection&, const BlockRequest&) {}
    virtual void on_suggest(PeerConnection&, std::uint32_t /*index*/) {}
    virtual void on_allowed_fast(PeerConnection&, std::uint32_t /*index*/) {}
    virtual void on_port(PeerConnection&, std::uint16_t /*dht_port*/) {}
    virtual void on_extended(PeerConnection&, std::uint8_t /*ext_id*/, std::string_view /*payload*/) {}
    // The transport's send queue emptied: a good moment to send more pieces.
    virtual void on_send_drained(PeerConnection&) {}
    virtual void on_closed(PeerConnection& conn, const Error& why) = 0;
};

struct PeerConfig {
    std::string peer_id;            // ours, 20 bytes
    std::string client = "p2pnode"; // BEP 10 "v": our name and version (the node adds the version)
    // MSE/PE for the session's and the metadata fetches' connections (peer/encryption.hpp); the connection itself
    // runs over whatever transport it is given (peer/mse_stream.hpp).
    Encryption encryption = Encryption::allow;
    // Bits we advertise: BEP 6 fast and BEP 10 extensions (the owner sends the extension handshake).
    wire::Reserved reserved = wire::Reserved{}.set_fast().set_extensions();
    std::size_t max_incoming_requests = 500;     // the peer's queued requests at us; more is a disconnect
    std::size_t max_outgoing_requests = 4096;    // our outstanding requests at the peer; request() refuses more
    std::size_t max_extended_message = 1u << 20; // BEP 10 messages (e.g. BEP 9 metadata pieces) above: disconnect
    std::size_t max_allowed_fast = 64;           // allowed-fast indices we remember granting (BEP 6 suggests 10)
    std::uint64_t handshake_timeout_ms = 20'000;
    std::uint64_t inactivity_timeout_ms = 180'000; // peers send keep-alives every 2 minutes (BEP 3)
    std::uint64_t keepalive_interval_ms = 90'000;  // we send one after this long without sending anything
    std::function<std::uint64_t()> clock;          // milliseconds, e.g. [loop]{ return uv_now(loop); }; required
};

class PeerConnection final : private TransportUser {
public:
    using Owner = PeerOwner;
    enum class State { AwaitHandshake, AwaitBitfield, Active, Closing };
    enum class Direction { outgoing, incoming };

    // We connected to the peer for this torrent: start() sends our handshake at once.
    static std::unique_ptr<PeerConnection> outgoing(Owner& owner, std::unique_ptr<Transport> transport, PeerConfig cfg,
                                                    std::string info_hash, const TorrentGeometry& geometry);
    // We connected to the peer to fetch the torrent's metadata (BEP 9): the info hash is known, the geometry is
    // not. Handshake, choke/unchoke/interested, port and BEP 10 extended messages work as usual. Messages that
    // need the piece count are handled loosely: bitfield / have / have_all / have_none are only checked for
    // their framing (a bitfield at most the size of kMaxPieces bits) and otherwise ignored; the peer's requests
    // are rejected (BEP 6) or dropped (BEP 3); a piece is a protocol error (we never requested one); cancel,
    // reject, suggest and allowed_fast are ignored (each still needs the fast extension where BEP 6 says so).
    // Our own request()/send_have()/send_bitfield() refuse, since no index is valid yet.
    static std::unique_ptr<PeerConnection> outgoing_without_metadata(Owner& owner, std::unique_ptr<Transport> transport,
                                                                     PeerConfig cfg, std::string info_hash);
    // The peer connected to us: the torrent is learned from its handshake (Owner::on_handshake).
    static std::unique_ptr<PeerConnection> incoming(Owner& owner, std::unique_ptr<Transport> transport, PeerConfig cfg);
    ~PeerConnection() override;
    PeerConnection(const PeerConnection&) = delete;
    PeerConnection& operator=(const PeerConnection&) = delete;

    // Starts the transport (and sends our handshake for outgoing connections). Events may follow from the loop.
    void start();
    // Called from Owner::on_handshake for incoming connections. Returns false if the geometry is invalid.
    bool set_torrent(const TorrentGeometry& geometry);
    // Call about once a second: handshake and inactivity timeouts (-> on_closed, re-entrantly), keep-alives.
    // Returns false if the connection is closed.
    bool tick();
    // Owner-initiated close: no on_closed callback. Idempotent.
    void close();

    // ---- outgoing messages (ignored before our handshake is sent or after close) ----
    void send_bitfield(const swarm::Bitfield& ours); // only as the first message after the handshake
    void send_have_all();                            // BEP 6; without the fast extension a full bitfield is sent
    void send_have_none();                           // BEP 6; without the fast extension nothing is sent
    void send_have(std::uint32_t index);
    void choke(); // also answers queued requests: reject (fast) or drop (BEP 3)
    void unchoke();
    void interested();
    void not_interested();
    // Returns false (and sends nothing) for an invalid block, a duplicate, or max_outgoing_requests reached.
    bool request(std::uint32_t index, std::uint32_t begin, std::uint32_t length);
    void cancel(std::uint32_t index, std::uint32_t begin, std::uint32_t length);
    void reject(std::uint32_t index, std::uint32_t begin, std::uint32_t length); // BEP 6 only
    // Sends block [offset, offset+length) of *data as the answer to a queued request of the peer. The payload is
    // referenced, not copied, until written. Returns false (nothing sent) if no such request is queued any more
    // (cancelled, rejected by our choke), so a late disk read is simply dropped.
    bool send_piece(std::uint32_t index, std::uint32_t begin, std::shared_ptr<const std::string> data,
                    std::size_t offset, std::uint32_t length);
    void send_suggest(std::uint32_t index);      // BEP 6 only
    void send_allowed_fast(std::uint32_t index); // BEP 6 only; requests for it are accepted while choked
    void send_extended(std::uint8_t ext_id, std::string_view payload); // BEP 10 only
    void send_port(std::uint16_t dht_port);                            // BEP 5
    void send_keepalive();

    // ---- state ----
    State state() const { return state_; }
    Direction direction() const { return direction_; }
    bool is_closed() const { return state_ == State::Closing; }
    const std::string& info_hash() const { return info_hash_; }
    const std::string& peer_id() const { return peer_id_; }
    const char* transport_kind() const { return transport_->kind(); } // "tcp" or "utp"
    bool encrypted() const { return transport_->encrypted(); }
    const wire::Reserved& peer_reserved() const { return peer_reserved_; }
    const TorrentGeometry& geometry() const { return geometry_; }
    bool am_choking() const { return am_choking_; }
    bool am_interested() const { return am_interested_; }
    bool peer_choking() const { return peer_choking_; }
    bool peer_interested() const { return peer_interested_; }
    const swarm::Bitfield& peer_pieces() const { return peer_pieces_; }
    bool peer_has(std::uint32_t index) const { return index < peer_pieces_.size() && peer_pieces_.get(index); }
    bool supports_fast() const { return fast_; }
    bool supports_extensions() const { return extensions_; }
    bool metadata_only() const { return metadata_only_; } // made by outgoing_without_metadata
    const std::deque<BlockRequest>& incoming_requests() const { return incoming_; }
    const std::deque<BlockRequest>& outgoing_requests() const { return outgoing_; }
    std::uint64_t downloaded() const { return downloaded_; } // payload bytes (piece blocks) received
    std::uint64_t uploaded() const { return uploaded_; }     // payload bytes queued to the peer
    double download_rate() { return down_rate_.rate(now()); }
    double upload_rate() { return up_rate_.rate(now()); }
    std::uint64_t last_received_ms() const { return last_received_; }
    std::size_t queued_send_bytes() const { return transport_->queued_bytes(); }
    std::string remote_address() const { return transport_->remote_address(); }
    Transport& transport() { return *transport_; } // for pause_reading()/resume_reading()

    // ---- handing a metadata-only connection to the torrent its metadata made ----
    // BEP 9 then the download on one connection, as libtorrent does: a client still holding our fetch's
    // connection refuses a second one with our peer id until it has seen the first close.
    // park(): stops reading and detaches from the owner; events until adopt() are dropped (what the peer says of
    // its pieces is still kept, see below; the connection's own state is kept anyway). Only for an established
    // metadata-only connection; false otherwise (nothing changed).
    bool park();
    // The torrent is known: checks what the peer said of its pieces while we had no geometry against `g`, and
    // binds the connection to `owner`. False when it closed meanwhile, or its pieces do not fit (then closed,
    // without on_closed). Never calls back.
    // `accepted`: the transport was one the peer dialled (a metadata fetch takes those too): the connection is
    // incoming from now on.
    bool adopt(Owner& owner, const TorrentGeometry& g, bool accepted = false);
    // After adopt(): reports the peer's pieces to the new owner (on_bitfield or on_have_all, then on_have for
    // the later ones) and resumes reading. Like start(), events come from here. False if the connection closed.
    bool resume_adopted();

    // Opaque pointer for the owner (e.g. its per-peer record).
    void set_context(void* p) { context_ = p; }
    void* context() const { return context_; }

private:
    PeerConnection(Owner& owner, std::unique_ptr<Transport> transport, PeerConfig cfg, Direction dir);

    // TransportUser
    std::size_t on_data(std::string_view data) override;
    void on_drained() override;
    void on_closed(const Error& why) override;

    // Parsing. Each returns false when parsing must stop: the connection closed or was destroyed.
    bool handle_handshake(const wire::Handshake& hs);
    bool dispatch(const wire::Message& m);
    bool dispatch_without_metadata(const wire::Message& m); // the geometry-less mode, see outgoing_without_metadata
    using Handler = bool (PeerConnection::*)(const wire::Message&);
    static const Handler kHandlers[21]; // indexed by message id; ids without a handler are ignored (BEP 3)
    bool on_choke_msg(const wire::Message&);
    bool on_unchoke_msg(const wire::Message&);
    bool on_interested_msg(const wire::Message&);
    bool on_not_interested_msg(const wire::Message&);
    bool on_have_msg(const wire::Message&);
    bool on_bitfield_msg(const wire::Message&);
    bool on_request_msg(const wire::Message&);
    bool on_piece_msg(const wire::Message&);
    bool on_cancel_msg(const wire::Message&);
    bool on_port_msg(const wire::Message&);
    bool on_suggest_msg(const wire::Message&);
    bool on_have_all_msg(const wire::Message&);
    bool on_have_none_msg(const wire::Message&);
    bool on_reject_msg(const wire::Message&);
    bool on_allowed_fast_msg(const wire::Message&);
    bool on_extended_msg(const wire::Message&);

    // Calls fn (an Owner event); returns false if the owner closed or destroyed the connection meanwhile.
    template <class F>
    bool emit(F&& fn) {
        LifeToken::Watch alive = life_.watch();
        fn();
        return alive && state_ != State::Closing; // state_ is read only while we live
    }
    // Self-close: closes the transport and reports on_closed. Returns false (for `return fail(...)`).
    bool fail(std::string what);
    bool fail(Error why);

    bool can_send() const { return handshake_sent_ && state_ != State::Closing; }
    void send_raw(std::string bytes);
    void send_handshake();
    bool valid_block(std::uint32_t index, std::uint32_t begin, std::uint32_t length) const;
    bool granted_fast(std::uint32_t index) const;
    bool count_choked_request(); // false: closed for too many requests while choked
    std::uint64_t now() const { return cfg_.clock(); }
    std::size_t max_message() const;

    Owner* owner_; // never null; changed only by park() and adopt()
    std::unique_ptr<Transport> transport_;
    PeerConfig cfg_;
    Direction direction_;
    State state_ = State::AwaitHandshake;
    void* context_ = nullptr;

    std::string info_hash_;
    std::string peer_id_;
    wire::Reserved peer_reserved_;
    TorrentGeometry geometry_;
    bool has_geometry_ = false;
    bool metadata_only_ = false; // outgoing_without_metadata: no geometry, ever
    bool started_ = false;
    bool handshake_sent_ = false;
    bool sent_message_ = false;  // any message after our handshake (a bitfield may only come first)
    bool first_message_ = false; // the message being dispatched is the peer's first after its handshake
    bool fast_ = false, extensions_ = false;

    bool am_choking_ = true, am_interested_ = false;
    bool peer_choking_ = true, peer_interested_ = false;
    swarm::Bitfield peer_pieces_; // sized piece_count once the torrent is known
    // Bounded by cfg_.max_incoming_requests (the peer is disconnected beyond) and cfg_.max_outgoing_requests.
    std::deque<BlockRequest> incoming_;
    std::deque<BlockRequest> outgoing_;
    // outgoing_ counted by start (index, begin). request() scans outgoing_ for an exact duplicate only when its
    // start is already outstanding (a same-start request of another length is not a duplicate): a scan of every
    // outstanding request (up to max_outgoing_requests) per request was ~12 % of a fast download's loop thread.
    // outgoing_ changes only through out_push, out_erase and out_clear, which keep this in step.
    std::unordered_map<std::uint64_t, std::uint32_t> outgoing_starts_;
    static std::uint64_t start_key(const BlockRequest& r) { return std::uint64_t{r.index} << 32 | r.begin; }
    void out_push(const BlockRequest& r);
    void out_erase(std::deque<BlockRequest>::iterator it);
    void out_clear();
    std::vector<std::uint32_t> allowed_fast_out_; // bounded by cfg_.max_allowed_fast
    std::size_t requests_while_choked_ = 0;       // since our last choke/unchoke; max_incoming_requests

    // Metadata-only mode: what the peer said of its pieces, for adopt(). Bounded: a bitfield by kMaxEarlyBitfield
    // bytes (32 KiB: 262,144 pieces, 16 GiB at 64 KiB pieces), the HAVEs by kMaxEarlyHaves; beyond either the
    // connection cannot be adopted (overflow), and the torrent dials the peer afresh instead.
    static constexpr std::size_t kMaxEarlyHaves = 4096;
    static constexpr std::size_t kMaxEarlyBitfield = 32 * 1024;
    struct EarlyPieces {
        bool have_all = false;
        std::optional<std::string> bitfield; // the first message's
        std::string later_bitfield;          // aria2's later bitfield (a superset): the last one
        std::vector<std::uint32_t> haves;
        bool overflow = false;
    };
    EarlyPieces early_;
    bool parked_ = false;

    std::uint64_t downloaded_ = 0, uploaded_ = 0;
    RateMeter down_rate_, up_rate_;
    std::uint64_t started_at_ = 0, last_received_ = 0, last_sent_ = 0;
    LifeToken life_; // expires when we are destroyed, e.g. by the owner inside one of its callbacks
};

} // namespace p2p
