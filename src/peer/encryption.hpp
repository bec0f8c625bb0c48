// The --encryption policy (MSE/PE, proto/mse.hpp), shared by every connection of a node.
//   allow:   (the default) outgoing connections open with a plaintext handshake and are dialled once more with
//            MSE when the other side closes before answering it (a client that requires encryption); incoming
//            accept plaintext and MSE, and an MSE handshake that offers both selects plaintext for the payload.
//            libtorrent's default (out_enc_policy pe_enabled, prefer_rc4 false: torrent_peer starts with
//            pe_support false), so qBittorrent's and Deluge's: no DH (two 768-bit exponentiations, ~2.4 ms in
//            libtorrent) before the first byte, and no RC4 on the payload of a box's transfers.
//   prefer:  outgoing connections offer RC4 and plaintext inside MSE and fall back to a plaintext handshake once
//            when the other side refuses MSE; incoming accept plaintext and MSE (RC4 chosen when offered).
//            Transmission's default.
//   require: RC4 only, both ways; plaintext handshakes are refused.
//   disable: plaintext only; incoming MSE handshakes are refused.
#pragma once

namespace p2p {

enum class Encryption { allow, prefer, require, disable };

inline const char* encryption_name(Encryption e) {
    switch (e) {
    case Encryption::allow: return "allow";
    case Encryption::prefer: return "prefer";
    case Encryption::require: return "require";
    case Encryption::disable: return "disable";
    }
    return "?";
}

} // namespace p2p
