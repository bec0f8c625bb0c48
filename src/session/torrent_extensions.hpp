// The BEP 10 extensions of one running Torrent: our extension handshake, serving the info dictionary to peers
// (BEP 9 ut_metadata) and peer exchange both ways (BEP 11 ut_pex). Owned by its Torrent; the per-peer state
// lives in PeerLink::ext so it dies with the link. Pure helpers for addresses are at the bottom (tested alone).
//
// It sees its torrent only through ExtensionHost: the connections, dropping one, the addresses known, adding
// candidates, and what our handshake says about us. Nothing else of the torrent (picker, storage, choking) is
// its business.
//
// Re-entrancy: on_extended() runs inside a connection callback. When it must close the peer (a malformed
// handshake) it calls ExtensionHost::drop(), which closes the link and destroys it only after the current
// callback (Loop::defer_delete); nothing here touches the link afterwards.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proto/extension.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

struct PeerLink;

// What TorrentExtensions needs of its torrent (the Torrent implements it).
class ExtensionHost {
public:
    // The metainfo: its name for the log, the info dictionary we serve (BEP 9), the private flag (BEP 27).
    virtual const Metainfo& meta() const = 0;
    // What our extension handshake says about us: our TCP listen port ("p") and client name ("v").
    virtual std::uint16_t listen_port() const = 0;
    virtual const std::string& client_name() const = 0;
    virtual std::uint64_t now_ms() const = 0;
    // Every connection of the torrent; closed ones are still listed with `dead` set (skip them).
    virtual const std::vector<std::unique_ptr<PeerLink>>& links() const = 0;
    // Closes the link: no callback of it follows, and it is destroyed after the current callback.
    virtual void drop(PeerLink& link, const std::string& why) = 0;
    // Addresses ("ip:port") we are connected to or tried: a PEX entry naming one is not new.
    virtual bool knows_address(const std::string& key) const = 0;
    // An incoming peer's listen address: connected already, so never a candidate to dial.
    virtual void add_known_address(const std::string& key) = 0;
    // Addresses learnt by PEX: the torrent deduplicates and bounds them (TorrentConfig::max_candidates).
    // prefers_mse: the keys ("ip:port") among them flagged as preferring encryption (BEP 11 0x01).
    virtual void add_candidates(const std::vector<sockaddr_storage>& addrs,
                                const std::set<std::string>& prefers_mse) = 0;

protected:
    ~ExtensionHost() = default; // not owned through this interface
};

// BEP 11: "peers should not send PEX messages more often than once a minute".
inline constexpr std::uint64_t kPexIntervalMs = 60'000;
// Our first PEX message to a peer waits this long after its handshake, so the first diff is not empty just
// because the connections of a fresh start are still coming up.
inline constexpr std::uint64_t kPexFirstDelayMs = 5'000;
// A peer's PEX message arriving sooner than this after its previous one is ignored (BEP 11 asks for one a
// minute; some slack for timer jitter).
inline constexpr std::uint64_t kPexMinInboundMs = 45'000;
// BEP 11: a message should hold at most 50 added and 50 dropped peers.
inline constexpr std::size_t kPexMaxPerMessage = 50;
// Addresses remembered as told to one peer (PeerLink::ext.pex_told): our own cap on top of max_peers.
inline constexpr std::size_t kMaxPexTold = 500;
// BEP 11 "added.f" flag bits.
inline constexpr std::uint8_t kPexFlagEncryption = 0x01; // BEP 11: prefers encryption (our link to it is RC4)
inline constexpr std::uint8_t kPexFlagSeed = 0x02;      // BEP 11: the peer is a seed (upload only)
inline constexpr std::uint8_t kPexFlagUtp = 0x04;       // BEP 11: supports uTP (our link to it is uTP)
inline constexpr std::uint8_t kPexFlagReachable = 0x10; // BEP 11: we connected to it (it accepts connections)
// Our own addresses as peers report them ("yourip", BEP 10): a PEX entry naming one of them with our listen
// port is ourselves. Bounded.
inline constexpr std::size_t kMaxSelfIps = 8;

class TorrentExtensions {
public:
    explicit TorrentExtensions(ExtensionHost& host);

    // Both BitTorrent handshakes are done and the bitfield is out: send our extension handshake if the peer
    // speaks BEP 10.
    void on_established(PeerLink& link);
    // A BEP 10 message with OUR id `ext_id` (0 = the peer's handshake). May drop the link.
    void on_extended(PeerLink& link, std::uint8_t ext_id, std::string_view payload);
    // Once a second: PEX messages that are due.
    void tick(std::uint64_t now_ms);
    bool pex_enabled() const; // not on private torrents (BEP 27)

private:
    struct PexEntry {
        udp::CompactPeer peer;
        std::uint8_t flags = 0;
    };
    void on_handshake(PeerLink& link, std::string_view payload);
    void on_metadata(PeerLink& link, std::string_view payload);
    void on_pex(PeerLink& link, std::string_view payload);
    // Listen addresses ("ip:port" -> entry) of our connected peers.
    std::map<std::string, PexEntry> connected_peers() const;
    void send_pex(PeerLink& link, const std::map<std::string, PexEntry>& current);
    bool is_self(const udp::CompactPeer& p) const;

    ExtensionHost& host_;
    std::set<std::string> self_ips_; // raw 4/16 bytes from "yourip"; bounded by kMaxSelfIps
};

// ---- address helpers (pure) ----
// "1.2.3.4" / "::1" / "::ffff:1.2.3.4" (mapped addresses become IPv4) and a port -> a compact peer.
std::optional<udp::CompactPeer> compact_peer(const std::string& ip, std::uint16_t port);
// "1.2.3.4:80" / "[::1]:80" -> a compact peer.
std::optional<udp::CompactPeer> compact_peer_of(const std::string& address);
// The textual IP of a compact peer, and its "ip:port" key as format_sockaddr() writes it.
std::string ip_string(const udp::CompactPeer& p);
std::string address_key(const udp::CompactPeer& p);
std::optional<sockaddr_storage> to_sockaddr(const udp::CompactPeer& p);
// The raw 4 or 16 address bytes (BEP 10 "yourip"), empty for an unparsable address.
std::string raw_ip(const std::string& ip);
// False for addresses no peer can listen on: port 0, unspecified, multicast, broadcast / reserved IPv4; and
// loopback unless the peer telling us is itself on loopback (a remote peer must not point us at our own host).
bool pex_address_ok(const udp::CompactPeer& p, bool from_loopback);

} // namespace p2p
