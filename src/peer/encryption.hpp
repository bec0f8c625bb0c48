// The --encryption policy (MSE/PE, proto/mse.hpp), shared by every connection of a node.
//   prefer:  outgoing connections offer RC4 and plaintext inside MSE and fall back to a plaintext handshake once
//            when the other side refuses MSE; incoming accept plaintext and MSE (RC4 chosen when offered).
//            Transmission's default.
//   require: RC4 only, both ways; plaintext handshakes are refused.
//   disable: plaintext only; incoming MSE handshakes are refused.
#pragma once

namespace p2p {

enum class Encryption { prefer, require, disable };

inline const char* encryption_name(Encryption e) {
    switch (e) {
    case Encryption::prefer: return "prefer";
    case Encryption::require: return "require";
    case Encryption::disable: return "disable";
    }
    return "?";
}

} // namespace p2p
