#include "tracker/tls_client.hpp"

#include <arpa/inet.h>
#include <malloc.h>
#include <mbedtls/asn1.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "crypto/random.hpp"

namespace p2p {

namespace {

constexpr const char* kDebianBundle = "/etc/ssl/certs/ca-certificates.crt"; // package ca-certificates
// Fed ciphertext not yet consumed. handshake() and read() consume everything up to the last partial record, so
// the buffer holds at most one record (16 KiB of content + 2 KiB of expansion, RFC 5246 6.2.3) and one read
// of the socket (16 KiB); more means the owner stopped draining it.
constexpr std::size_t kMaxBuffered = 64 * 1024;
constexpr std::size_t kReadChunk = 4096;   // plaintext is appended to the caller's string in steps of this
constexpr unsigned char kSanIpAddress = 7; // GeneralName iPAddress [7] (RFC 5280 4.2.1.6)

std::string mbed_text(int ret) {
    char buf[200];
    mbedtls_strerror(ret, buf, sizeof buf);
    return buf;
}

// mbedTLS's random source: the kernel's (crypto/random.hpp), checked by crypto_init() in main and the test main.
int random_for_mbedtls(void*, unsigned char* out, std::size_t n) {
    random_bytes(out, n);
    return 0;
}

} // namespace

class TlsTrust {
public:
    explicit TlsTrust(std::string p) : path(std::move(p)) {
        mbedtls_x509_crt_init(&ca);
        mbedtls_ssl_config_init(&conf);
    }
    ~TlsTrust() {
        mbedtls_ssl_config_free(&conf);
        mbedtls_x509_crt_free(&ca);
#ifdef __GLIBC__
        // A parsed system bundle is ~600 KiB of small blocks (measured: 145 certificates); glibc keeps freed
        // heap pages resident unless asked, so an idle peer would carry them until its next announce.
        malloc_trim(0);
#endif
    }
    TlsTrust(const TlsTrust&) = delete;
    TlsTrust& operator=(const TlsTrust&) = delete;

    std::string path;
    mbedtls_x509_crt ca;     // the chain of CA certificates, in the order of the file
    mbedtls_ssl_config conf; // points at ca; shared read-only by every TLS context made from it
};

bool tls_available() { return true; }

std::string system_ca_file() {
    const char* env = std::getenv("SSL_CERT_FILE");
    return env && *env ? std::string(env) : std::string(kDebianBundle);
}

Result<std::shared_ptr<const TlsTrust>> load_tls_trust(const std::string& ca_file) {
    const std::string path = ca_file.empty() ? system_ca_file() : ca_file;
    // Only the loop's thread asks. Bounded by the distinct paths (--ca-file and the system store); an expired entry
    // is dropped whenever another bundle is parsed.
    static std::map<std::string, std::weak_ptr<const TlsTrust>> cache;
    if (auto it = cache.find(path); it != cache.end())
        if (auto held = it->second.lock()) return held;
    std::erase_if(cache, [](const auto& kv) { return kv.second.expired(); });

    const std::string op = "tls CA file " + path;
    auto t = std::make_shared<TlsTrust>(path);
    errno = 0;
    int ret = mbedtls_x509_crt_parse_file(&t->ca, path.c_str());
    if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR)
        return make_error(op, errno ? std::strerror(errno) : "cannot read it",
                          errno == ENOENT ? Errc::not_found : Errc::io);
    // ret > 0: that many certificates of the bundle could not be parsed (a system bundle may hold some that
    // mbedTLS does not read); the others still count.
    if (ret < 0 || t->ca.version == 0)
        return make_error(op, "no certificate in it" + (ret < 0 ? " (" + mbed_text(ret) + ")" : std::string()),
                          Errc::bad_input);
    ret = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) return make_error(op, mbed_text(ret), Errc::io);
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED); // a client's default too: say it anyway
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, nullptr);
    mbedtls_ssl_conf_rng(&t->conf, random_for_mbedtls, nullptr);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3); // TLS 1.2
    // One request per connection: a session ticket would never be used, only stored.
    mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
    cache[path] = t;
    return std::shared_ptr<const TlsTrust>(std::move(t));
}

struct TlsClient::Impl {
    std::shared_ptr<const TlsTrust> trust; // first: destroyed last, after ssl (which points at trust->conf)
    mbedtls_ssl_context ssl;
    std::string host;
    std::string where; // "host:port", brackets around IPv6 literals
    unsigned char ip[16] = {};
    std::size_t ip_len = 0; // 4 or 16 when host is an IP literal
    std::string in;         // fed, not yet consumed by mbedTLS; bounded by kMaxBuffered
    std::size_t in_pos = 0;
    std::string out; // produced by mbedTLS, not yet taken; one flight of handshake messages or one request
    bool done = false;

    Impl() { mbedtls_ssl_init(&ssl); }
    ~Impl() { mbedtls_ssl_free(&ssl); }
    Error verify_error(std::uint32_t flags) const;
};

namespace {

// mbedTLS's bio callbacks: called from inside mbedtls_ssl_* calls, never from the loop. No exception may cross
// back into mbedTLS's C frames.
int bio_send(void* ctx, const unsigned char* buf, std::size_t len) {
    try {
        static_cast<TlsClient::Impl*>(ctx)->out.append(reinterpret_cast<const char*>(buf), len);
    } catch (...) {
        return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    }
    return static_cast<int>(len);
}

int bio_recv(void* ctx, unsigned char* buf, std::size_t len) {
    auto* s = static_cast<TlsClient::Impl*>(ctx);
    std::size_t n = std::min(len, s->in.size() - s->in_pos);
    if (n == 0) return MBEDTLS_ERR_SSL_WANT_READ; // the owner feeds more once the socket has it
    std::memcpy(buf, s->in.data() + s->in_pos, n);
    s->in_pos += n;
    if (s->in_pos == s->in.size()) {
        s->in.clear();
        s->in_pos = 0;
    }
    return static_cast<int>(n);
}

// For an IP literal: the leaf must name the address in an iPAddress entry of its subjectAltName (RFC 6125 1.7.2;
// mbedTLS 2.28 compares names with dNSName entries only). Runs inside the chain verification, for each
// certificate of the chain; only the leaf (depth 0) is the server's.
int verify_ip(void* ctx, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
    if (depth != 0) return 0;
    const auto* s = static_cast<const TlsClient::Impl*>(ctx);
    bool match = false;
    if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME)
        for (const mbedtls_x509_sequence* cur = &crt->subject_alt_names; cur && !match; cur = cur->next)
            match = (cur->buf.tag & MBEDTLS_ASN1_TAG_CLASS_MASK) == MBEDTLS_ASN1_CONTEXT_SPECIFIC &&
                    (cur->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == kSanIpAddress && cur->buf.len == s->ip_len &&
                    std::memcmp(cur->buf.p, s->ip, s->ip_len) == 0;
    if (!match) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

} // namespace

Error TlsClient::Impl::verify_error(std::uint32_t flags) const {
    std::string what;
    auto add = [&](const std::string& part) { what += (what.empty() ? "" : "; ") + part; };
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        add("certificate not trusted (no CA of " + trust->path + " signed it)");
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) add("certificate name mismatch (it is not for " + host + ")");
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) add("certificate expired");
    if (flags & MBEDTLS_X509_BADCERT_FUTURE) add("certificate not valid yet");
    const std::uint32_t rest =
        flags & ~std::uint32_t{MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_CN_MISMATCH |
                               MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE};
    if (rest || what.empty()) {
        char buf[512];
        if (mbedtls_x509_crt_verify_info(buf, sizeof buf, "", rest) > 0) {
            std::string info = buf; // one reason a line: "The certificate is signed with an unacceptable key ...\n"
            for (std::size_t at = 0, nl; at < info.size(); at = nl + 1) {
                nl = std::min(info.find('\n', at), info.size());
                if (nl > at) add(info.substr(at, nl - at));
            }
        }
        if (what.empty()) add("certificate verification failed");
    }
    return make_error("tls handshake " + where, what, Errc::refused);
}

TlsClient::TlsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsClient::~TlsClient() = default;

Result<std::unique_ptr<TlsClient>> TlsClient::create(std::shared_ptr<const TlsTrust> trust, const std::string& host,
                                                     std::uint16_t port) {
    auto impl = std::make_unique<Impl>();
    impl->trust = std::move(trust);
    impl->host = host;
    impl->where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    const std::string op = "tls handshake " + impl->where;
    int ret = mbedtls_ssl_setup(&impl->ssl, &impl->trust->conf);
    if (ret != 0) return make_error(op, mbed_text(ret), Errc::io);
    if (inet_pton(AF_INET, host.c_str(), impl->ip) == 1)
        impl->ip_len = 4;
    else if (inet_pton(AF_INET6, host.c_str(), impl->ip) == 1)
        impl->ip_len = 16;
    if (impl->ip_len) {
        // No hostname: mbedTLS then checks no name at all, and verify_ip checks the address.
        mbedtls_ssl_set_verify(&impl->ssl, verify_ip, impl.get());
    } else if ((ret = mbedtls_ssl_set_hostname(&impl->ssl, host.c_str())) != 0) { // the name checked, and SNI
        return make_error(op, mbed_text(ret), Errc::bad_input);
    }
    mbedtls_ssl_set_bio(&impl->ssl, impl.get(), bio_send, bio_recv, nullptr);
    return std::unique_ptr<TlsClient>(new TlsClient(std::move(impl)));
}

Status TlsClient::feed(std::string_view ciphertext) {
    Impl& s = *impl_;
    if (s.in_pos > 0) {
        s.in.erase(0, s.in_pos);
        s.in_pos = 0;
    }
    if (s.in.size() + ciphertext.size() > kMaxBuffered)
        return make_error("tls " + s.where, "more than " + std::to_string(kMaxBuffered) + " bytes unprocessed",
                          Errc::io);
    s.in.append(ciphertext);
    return ok_status();
}

Result<bool> TlsClient::handshake() {
    Impl& s = *impl_;
    if (s.done) return true;
    int ret = mbedtls_ssl_handshake(&s.ssl);
    if (ret == 0) {
        s.done = true;
        return true;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) return false;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) return s.verify_error(mbedtls_ssl_get_verify_result(&s.ssl));
    return make_error("tls handshake " + s.where, mbed_text(ret), Errc::io);
}

bool TlsClient::handshake_done() const { return impl_->done; }
const std::string& TlsClient::where() const { return impl_->where; }

Status TlsClient::write(std::string_view plaintext) {
    Impl& s = *impl_;
    if (!s.done) return make_error("tls " + s.where, "write before the handshake is done");
    while (!plaintext.empty()) {
        // bio_send takes every byte, so mbedTLS never answers WANT_WRITE here: anything but progress is an error.
        int ret = mbedtls_ssl_write(&s.ssl, reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size());
        if (ret <= 0) return make_error("tls " + s.where, mbed_text(ret), Errc::io);
        plaintext.remove_prefix(static_cast<std::size_t>(ret));
    }
    return ok_status();
}

Result<bool> TlsClient::read(std::string& out) {
    Impl& s = *impl_;
    if (!s.done) return false;
    for (;;) {
        const std::size_t old = out.size();
        out.resize(old + kReadChunk);
        int ret = mbedtls_ssl_read(&s.ssl, reinterpret_cast<unsigned char*>(out.data() + old), kReadChunk);
        out.resize(old + (ret > 0 ? static_cast<std::size_t>(ret) : 0));
        if (ret > 0) continue;
        if (ret == MBEDTLS_ERR_SSL_WANT_READ) return false;
        // 0: the transport's end, which bio_recv never reports; treated like the close_notify it stands for.
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) return true;
        return make_error("tls " + s.where, mbed_text(ret), Errc::io);
    }
}

std::string TlsClient::take_output() { return std::exchange(impl_->out, std::string()); }

} // namespace p2p
