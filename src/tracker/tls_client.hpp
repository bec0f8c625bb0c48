// The client side of TLS (mbedTLS 2.28: TLS 1.2) over byte buffers, for https:// trackers. No sockets and no
// uv.h here: HttpGet (tracker/http_get.hpp) feeds what it reads from the socket in with feed() and writes what
// take_output() returns; mbedTLS's bio callbacks only move bytes between those two buffers and its record layer
// (the receive callback answers MBEDTLS_ERR_SSL_WANT_READ when the buffer is empty), so every call here returns
// at once, as the libuv loop wants.
//
// Trust: the server's chain must end at a CA of the bundle (PEM) given as ca_file, or of the system store
// (system_ca_file(): $SSL_CERT_FILE, else Debian's /etc/ssl/certs/ca-certificates.crt), and the leaf must be
// for the host: a DNS name is checked by mbedTLS against the subjectAltName dNSName entries (or the CN when
// there are none) and sent as SNI; an IP literal is checked here against the iPAddress entries (mbedTLS 2.28
// does not) and sends no SNI (RFC 6066 section 3). Verification is never optional.
//
// Errors are values: op "tls handshake HOST:PORT" (or "tls HOST:PORT" after the handshake), what a sentence:
// "certificate not trusted (...)", "certificate name mismatch (...)", "certificate expired", or mbedTLS's own
// text (mbedtls_strerror). A failed verification has code Errc::refused, anything else Errc::io.
//
// Randomness: p2p::random_bytes (crypto/random.hpp: getrandom), so there is no second entropy source to seed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p {

// False in a build configured with -Dtls=false (meson_options.txt): tls_client_none.cpp stands in for this file's
// implementation, every https:// connection fails with kNoTlsWhy, and the announcer skips https:// trackers.
bool tls_available();
inline constexpr const char* kNoTlsWhy = "https:// needs TLS, which this p2pnode was built without (meson -Dtls=false)";

// $SSL_CERT_FILE when it is set and not empty, else /etc/ssl/certs/ca-certificates.crt (Debian's bundle).
std::string system_ca_file();

// One parsed CA bundle and the mbedTLS client configuration that trusts it (opaque: mbedTLS stays out of headers).
class TlsTrust;

// The parsed bundle of ca_file ("" = system_ca_file()). Parsing Debian's ~140 certificates takes some hundred KB
// of heap and a few ms, so the requests in flight share one parse (a cache of weak references keyed by the path)
// and the last of them frees it: nothing of it stays resident between announces, and an updated bundle is read
// at the next announce. Error op "tls CA file PATH" (unreadable, or not one certificate in it).
Result<std::shared_ptr<const TlsTrust>> load_tls_trust(const std::string& ca_file);

class TlsClient {
public:
    // host: a DNS name or an IP literal (IPv6 without brackets); port: only for the error texts.
    static Result<std::unique_ptr<TlsClient>> create(std::shared_ptr<const TlsTrust> trust, const std::string& host,
                                                     std::uint16_t port);
    ~TlsClient();
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    // Bytes read from the socket. They stay buffered until handshake() or read() consumes them; both consume all
    // they can, so the buffer never holds more than one partial record and the last feed; an error when it would
    // (the caller stopped calling them).
    Status feed(std::string_view ciphertext);
    // Runs the handshake as far as the fed bytes allow: false while it needs more bytes, true once it is done
    // (then write() and read() may be used). The first call produces the ClientHello.
    Result<bool> handshake();
    bool handshake_done() const;
    const std::string& where() const; // "host:port" (brackets around an IPv6 literal), as in the error ops
    // Encrypts plaintext into the output (after the handshake).
    Status write(std::string_view plaintext);
    // Appends the plaintext of every complete record fed so far to out; true once the server has sent its
    // close_notify (the end of the stream: nothing follows).
    Result<bool> read(std::string& out);
    // The ciphertext produced so far (handshake messages, records, alerts), to be written to the socket; the
    // buffer is empty afterwards.
    std::string take_output();

    struct Impl; // public so the C callbacks in the .cpp can name it

private:
    explicit TlsClient(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_; // on the heap: mbedTLS keeps pointers into it (bio context, verify callback)
};

} // namespace p2p
