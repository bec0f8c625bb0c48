// MseStream: a Transport that runs the MSE/PE handshake (proto/mse.hpp) over an inner transport and then carries
// the peer wire protocol through it, RC4-encrypted or plaintext as the two sides chose. PeerConnection, the
// picker and the choker do not know it is there.
//
// Outgoing (initiate): the handshake starts at once. The user's sends before the handshake is done (its
// BitTorrent handshake, bitfield, extension handshake) wait in `pending_out_` and leave, encrypted, when it is.
// With a fallback (the --encryption prefer policy), a handshake the other side refuses (it closes, or answers
// with something that is not MSE: a plaintext-only client) is retried once as a plaintext connection to the same
// address: the user sees one connection that took longer, never the failed attempt.
// Plaintext first (probe, the --encryption allow policy): sends go straight through, and a copy of them is kept
// until the first byte comes back. A peer that closes before answering (a client that requires encryption
// refuses a plaintext handshake that way) is dialled once more and the kept bytes go through an MSE handshake
// instead, as libtorrent's pe_enabled does; after the first byte the stream forwards unchanged.
// Incoming (respond): the Session's sniffer saw a first byte that is not a plaintext handshake's and hands over
// the connection with the bytes it read; the torrent is found by the handshake's HASH('req2', SKEY) through the
// lookup. The decrypted initial payload (the initiator's BitTorrent handshake) is the user's first data.
//
// Buffers: received bytes are decrypted into `plain_` (owned here; the user's unconsumed tail stays there, bounded
// by TransportLimits::max_unconsumed like the TCP transport's buffer). An RC4 stream cannot encrypt in place
// bytes the caller still owns, so send_piece() copies the block once into an encrypted string; a plaintext
// stream after the handshake forwards sends and piece references unchanged.
//
// Lifetime: like every Transport it may be destroyed inside any of its callbacks; a LifeToken watch guards the
// code after each user callback. No callbacks follow close() or destruction.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "loop/life_token.hpp"
#include "net/connecting.hpp"
#include "net/transport.hpp"
#include "peer/encryption.hpp"
#include "proto/mse.hpp"

namespace p2p {

class MseStream final : public Transport, private TransportUser {
public:
    // Starts a plaintext connection to the same address (the dialler that made the first one), for the fallback.
    using Redial = std::function<std::unique_ptr<Connecting>(ConnectCallback)>;

    static std::unique_ptr<MseStream> initiate(std::unique_ptr<Transport> inner, std::string info_hash,
                                               mse::Policy policy, Redial fallback = {});
    // Plaintext first, MSE through `retry` if the peer closes before its first byte (see above).
    static std::unique_ptr<MseStream> probe(std::unique_ptr<Transport> inner, std::string info_hash,
                                            mse::Policy policy, Redial retry);
    // `seen`: the bytes the sniffer already read from `inner` (it consumed them); they are fed first by start().
    static std::unique_ptr<MseStream> respond(std::unique_ptr<Transport> inner, mse::SkeyLookup lookup,
                                              mse::Policy policy, std::string seen);
    ~MseStream() override;
    MseStream(const MseStream&) = delete;
    MseStream& operator=(const MseStream&) = delete;

    bool established() const { return phase_ == Phase::established; }
    // After established: the torrent (SKEY) and the method (mse::kRc4 or mse::kPlaintext; 0 for a plaintext
    // handshake: after prefer's fallback, or an allow probe the peer answered).
    const std::string& info_hash() const { return info_hash_; }
    std::uint32_t method() const { return method_; }

    // Transport
    void start(TransportUser* user) override;
    void send(std::string bytes) override;
    void send_piece(const unsigned char* header13, std::shared_ptr<const std::string> payload, std::size_t offset,
                    std::size_t length) override;
    std::size_t queued_bytes() const override;
    void cork() override;
    void uncork() override;
    void close() override;
    bool is_open() const override;
    void pause_reading() override;
    void resume_reading() override;
    std::string remote_address() const override { return address_; }
    const char* kind() const override { return inner_ ? inner_->kind() : "tcp"; }
    bool encrypted() const override { return phase_ == Phase::established && method_ == mse::kRc4; }
    void packet_boundary() override {
        if ((phase_ == Phase::established || phase_ == Phase::probing) && inner_) inner_->packet_boundary();
    }
    void set_limits(const TransportLimits& l) override;

private:
    // probing: plaintext sent, nothing received yet (probe()); redialling: the second dial (to plaintext after a
    // refused MSE, or to MSE after a refused plaintext handshake: retry_mse_) is in flight.
    enum class Phase { probing, handshaking, redialling, established, closed };
    MseStream(std::unique_ptr<Transport> inner, std::unique_ptr<mse::Handshake> hs);

    // TransportUser (of inner_)
    std::size_t on_data(std::string_view data) override;
    void on_drained() override;
    void on_closed(const Error& why) override;

    void handshake_data(std::string_view data); // inner_ may always drop what it gave: see the .cpp
    void established_with(std::string initial_plain, std::string_view rest);
    void flush_pending();
    void deliver(); // hands plain_ to the user
    void failed(const Error& why);
    void start_fallback();
    void start_mse_retry();
    void fallback_connected(Result<std::unique_ptr<Transport>> r);
    void send_out(std::string bytes);

    std::unique_ptr<Transport> inner_;
    TransportUser* user_ = nullptr;
    std::unique_ptr<mse::Handshake> hs_;
    Phase phase_ = Phase::handshaking;
    std::string address_;
    std::string info_hash_;
    std::uint32_t method_ = 0;
    Rc4 enc_, dec_;
    std::string pending_out_; // the user's sends before the handshake is done (plaintext)
    std::string plain_;       // received and decrypted, not yet consumed by the user
    std::string seen_;        // respond(): bytes read by the sniffer, fed by start()
    std::string hs_in_;       // received during the handshake, not yet used by it
    // probing: a copy of what was sent, to go again through MSE; dropped at the first byte received, or when it
    // outgrows kMaxProbeKept (then there is no retry: a handshake, extension handshake and bitfield fit).
    std::string probe_sent_;
    static constexpr std::size_t kMaxProbeKept = 64 * 1024;
    mse::Policy policy_;
    bool retry_mse_ = false;
    Redial redial_;
    std::unique_ptr<Connecting> redial_op_;
    TransportLimits limits_;
    bool has_limits_ = false;
    int cork_ = 0;
    bool paused_ = false;
    LifeToken life_;
};

// What each policy lets MSE negotiate.
mse::Policy mse_policy(Encryption e);

// An outgoing connection as the policy wants it: `t` itself (disable), an MseStream probing in plaintext with an
// MSE retry through `redial` (allow), or an MseStream initiating for `info_hash` (require; prefer with a plaintext
// fallback through `redial`). `redial` dials the same address again.
std::unique_ptr<Transport> encrypt_outgoing(std::unique_ptr<Transport> t, Encryption e, const std::string& info_hash,
                                            MseStream::Redial redial);

} // namespace p2p
