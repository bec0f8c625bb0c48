// tls_client.hpp in a build configured with -Dtls=false (meson_options.txt): no TLS and no X.509 code is linked,
// only mbedTLS's crypto library for MSE's bignum (crypto/dh.cpp). Every https:// connection fails at its start
// with one sentence naming the option (Errc::unsupported), and the announcer does not even try: it skips an
// https:// tracker with that sentence (session/announcer.cpp). Nothing else of p2pnode changes.
#include "tracker/tls_client.hpp"

namespace p2p {

namespace {
Error no_tls(std::string op) { return make_error(std::move(op), kNoTlsWhy, Errc::unsupported); }
} // namespace

bool tls_available() { return false; }

// Kept for the interface; nothing reads a CA bundle in this build.
std::string system_ca_file() { return {}; }

class TlsTrust {};

Result<std::shared_ptr<const TlsTrust>> load_tls_trust(const std::string& ca_file) {
    return no_tls("tls CA file " + ca_file);
}

struct TlsClient::Impl {
    std::string where;
};

Result<std::unique_ptr<TlsClient>> TlsClient::create(std::shared_ptr<const TlsTrust>, const std::string& host,
                                                     std::uint16_t port) {
    return no_tls("tls handshake " + host + ":" + std::to_string(port));
}

// Unreachable: create() never makes a client. Defined because http_get.cpp names them.
TlsClient::TlsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsClient::~TlsClient() = default;
Status TlsClient::feed(std::string_view) { return no_tls("tls " + impl_->where); }
Result<bool> TlsClient::handshake() { return no_tls("tls " + impl_->where); }
bool TlsClient::handshake_done() const { return false; }
const std::string& TlsClient::where() const { return impl_->where; }
Status TlsClient::write(std::string_view) { return no_tls("tls " + impl_->where); }
Result<bool> TlsClient::read(std::string&) { return no_tls("tls " + impl_->where); }
std::string TlsClient::take_output() { return {}; }

} // namespace p2p
