// Tests for src/tracker/tls_client (TLS over byte buffers) and https:// in HttpGet / HttpTrackerClient.
//
// Certificates are made at test time by mbedTLS's writer (ECDSA P-256, valid 2000-2100 unless said otherwise): nothing
// checked in can expire. The server is an mbedTLS server context: over strings for TlsClient, on a socket for HttpGet.
#include <arpa/inet.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "crypto/random.hpp"
#include "test_util.hpp"
#include "tracker/http_client.hpp"
#include "tracker/http_get.hpp"
#include "tracker/tls_client.hpp"

using namespace p2p;
using p2p::test::run_until_flag;
using p2p::test::TempDir;

namespace {

int rng(void*, unsigned char* out, std::size_t n) {
    random_bytes(out, n);
    return 0;
}

struct Key {
    mbedtls_pk_context pk;
    Key() {
        mbedtls_pk_init(&pk);
        REQUIRE(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) == 0);
        REQUIRE(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), rng, nullptr) == 0);
    }
    ~Key() { mbedtls_pk_free(&pk); }
};

// subjectAltName (RFC 5280 4.2.1.6): dNSName [2] and iPAddress [7] entries, short DER lengths only.
std::string san_der(const std::string& dns, const std::string& ip) {
    std::string names;
    if (!dns.empty()) names += std::string{'\x82', static_cast<char>(dns.size())} + dns;
    if (!ip.empty()) {
        unsigned char a[16];
        std::size_t n = inet_pton(AF_INET, ip.c_str(), a) == 1 ? 4 : 16;
        if (n == 16) REQUIRE(inet_pton(AF_INET6, ip.c_str(), a) == 1);
        names += std::string{'\x87', static_cast<char>(n)} + std::string(reinterpret_cast<char*>(a), n);
    }
    return std::string{'\x30', static_cast<char>(names.size())} + names;
}

struct CertSpec {
    std::string subject; // "CN=...,O=..."
    std::string dns, ip; // subjectAltName entries (none: no extension)
    bool ca = false;
    const char* not_before = "20000101000000";
    const char* not_after = "21000101000000";
};

// A PEM certificate for key, signed by issuer_key under issuer_name (self-signed: the same key and name).
std::string issue(const CertSpec& s, Key& key, Key& issuer_key, const std::string& issuer_name) {
    static int serial_no = 1;
    mbedtls_x509write_cert c;
    mbedtls_x509write_crt_init(&c);
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    REQUIRE(mbedtls_mpi_lset(&serial, serial_no++) == 0);
    mbedtls_x509write_crt_set_subject_key(&c, &key.pk);
    mbedtls_x509write_crt_set_issuer_key(&c, &issuer_key.pk);
    REQUIRE(mbedtls_x509write_crt_set_subject_name(&c, s.subject.c_str()) == 0);
    REQUIRE(mbedtls_x509write_crt_set_issuer_name(&c, issuer_name.c_str()) == 0);
    mbedtls_x509write_crt_set_version(&c, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&c, MBEDTLS_MD_SHA256);
    REQUIRE(mbedtls_x509write_crt_set_serial(&c, &serial) == 0);
    REQUIRE(mbedtls_x509write_crt_set_validity(&c, s.not_before, s.not_after) == 0);
    REQUIRE(mbedtls_x509write_crt_set_basic_constraints(&c, s.ca ? 1 : 0, -1) == 0);
    if (!s.dns.empty() || !s.ip.empty()) {
        std::string der = san_der(s.dns, s.ip);
        REQUIRE(mbedtls_x509write_crt_set_extension(
                    &c, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                    reinterpret_cast<const unsigned char*>(der.data()), der.size()) == 0);
    }
    unsigned char buf[4096];
    int ret = mbedtls_x509write_crt_pem(&c, buf, sizeof buf, rng, nullptr);
    mbedtls_x509write_crt_free(&c);
    mbedtls_mpi_free(&serial);
    REQUIRE(ret == 0);
    return reinterpret_cast<char*>(buf);
}

// A CA, a CA nobody trusts, and server certificates; the CAs' PEM files in a temporary folder.
struct Pki {
    TempDir dir{"tls"};
    Key ca_key, other_key, leaf_key;
    std::string ca_name = "CN=p2pnode test CA,O=p2pnode", other_name = "CN=someone else,O=elsewhere";
    std::string ca_file = dir.str() + "/ca.pem", other_file = dir.str() + "/other.pem";
    Pki() {
        CertSpec ca{ca_name, "", "", true};
        write(ca_file, issue(ca, ca_key, ca_key, ca_name));
        CertSpec other{other_name, "", "", true};
        write(other_file, issue(other, other_key, other_key, other_name));
    }
    static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
    std::string leaf(CertSpec s) { return issue(s, leaf_key, ca_key, ca_name); }
};

// An mbedTLS server configuration presenting one certificate; records the SNI names it is offered.
struct ServerConf {
    mbedtls_x509_crt crt;
    mbedtls_ssl_config conf;
    std::vector<std::string> sni;
    ServerConf(const std::string& pem, Key& key) {
        mbedtls_x509_crt_init(&crt);
        mbedtls_ssl_config_init(&conf);
        REQUIRE(mbedtls_x509_crt_parse(&crt, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1) == 0);
        REQUIRE(mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                            MBEDTLS_SSL_PRESET_DEFAULT) == 0);
        mbedtls_ssl_conf_rng(&conf, rng, nullptr);
        REQUIRE(mbedtls_ssl_conf_own_cert(&conf, &crt, &key.pk) == 0);
        mbedtls_ssl_conf_sni(
            &conf,
            [](void* self, mbedtls_ssl_context*, const unsigned char* name, std::size_t len) {
                static_cast<ServerConf*>(self)->sni.emplace_back(reinterpret_cast<const char*>(name), len);
                return 0;
            },
            this);
    }
    ~ServerConf() {
        mbedtls_ssl_config_free(&conf);
        mbedtls_x509_crt_free(&crt);
    }
};

// The server's byte pipes: in is what the client sent, out what the server produced.
struct Bio {
    std::string in, out;
    static int send(void* p, const unsigned char* b, std::size_t n) {
        static_cast<Bio*>(p)->out.append(reinterpret_cast<const char*>(b), n);
        return static_cast<int>(n);
    }
    static int recv(void* p, unsigned char* b, std::size_t n) {
        auto* bio = static_cast<Bio*>(p);
        n = std::min(n, bio->in.size());
        if (n == 0) return MBEDTLS_ERR_SSL_WANT_READ;
        std::memcpy(b, bio->in.data(), n);
        bio->in.erase(0, n);
        return static_cast<int>(n);
    }
};

struct MemServer {
    mbedtls_ssl_context ssl;
    Bio bio;
    explicit MemServer(ServerConf& sc) {
        mbedtls_ssl_init(&ssl);
        REQUIRE(mbedtls_ssl_setup(&ssl, &sc.conf) == 0);
        mbedtls_ssl_set_bio(&ssl, &bio, Bio::send, Bio::recv, nullptr);
    }
    ~MemServer() { mbedtls_ssl_free(&ssl); }
};

// Moves bytes between the two until the client's handshake is done (true), needs more than 20 rounds (false)
// or fails (its error).
Result<bool> handshake(TlsClient& c, MemServer& s) {
    for (int round = 0; round < 20; ++round) {
        auto hs = c.handshake();
        if (!hs || *hs) return hs;
        s.bio.in += c.take_output();
        mbedtls_ssl_handshake(&s.ssl);
        if (auto st = c.feed(std::exchange(s.bio.out, std::string())); !st) return st.error();
    }
    return false;
}

Result<std::unique_ptr<TlsClient>> client_for(const std::string& ca_file, const std::string& host) {
    auto trust = load_tls_trust(ca_file);
    if (!trust) return trust.error();
    return TlsClient::create(std::move(*trust), host, 443);
}

} // namespace

TEST_CASE("tls client: handshake, request and answer, close_notify, SNI") {
    Pki pki;
    ServerConf sc(pki.leaf({"CN=tracker.test", "tracker.test", ""}), pki.leaf_key);
    MemServer srv(sc);
    auto c = client_for(pki.ca_file, "tracker.test");
    REQUIRE(c.ok());
    TlsClient& tls = **c;
    CHECK_FALSE(tls.write("too early").ok());
    auto hs = handshake(tls, srv);
    REQUIRE_MESSAGE(hs.ok(), (hs.ok() ? "" : hs.error().str()));
    REQUIRE(*hs);
    CHECK(tls.handshake_done());
    CHECK(sc.sni == std::vector<std::string>{"tracker.test"});
    CHECK(tls.where() == "tracker.test:443");

    REQUIRE(tls.write("GET / HTTP/1.1\r\n\r\n").ok());
    srv.bio.in += tls.take_output();
    unsigned char buf[256];
    int n = mbedtls_ssl_read(&srv.ssl, buf, sizeof buf);
    REQUIRE(n > 0);
    CHECK(std::string(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n)) == "GET / HTTP/1.1\r\n\r\n");

    const std::string answer = "HTTP/1.1 200 OK\r\n\r\n" + std::string(40'000, 'x'); // three records
    for (std::size_t at = 0; at < answer.size();) {
        int w =
            mbedtls_ssl_write(&srv.ssl, reinterpret_cast<const unsigned char*>(answer.data() + at), answer.size() - at);
        REQUIRE(w > 0);
        at += static_cast<std::size_t>(w);
    }
    REQUIRE(mbedtls_ssl_close_notify(&srv.ssl) == 0);
    // Fed in pieces of 1000 bytes, records split anywhere: the plaintext comes out whole, then the end.
    std::string wire = std::exchange(srv.bio.out, std::string()), plain;
    bool closed = false;
    for (std::size_t at = 0; at < wire.size() && !closed; at += 1000) {
        REQUIRE(tls.feed(std::string_view(wire).substr(at, 1000)).ok());
        auto r = tls.read(plain);
        REQUIRE(r.ok());
        closed = *r;
    }
    CHECK(closed);
    CHECK(plain == answer);
}

TEST_CASE("tls client: verification failures are refusals that say why") {
    Pki pki;
    auto fails = [&](const std::string& leaf_pem, const std::string& ca_file, const std::string& host) {
        ServerConf sc(leaf_pem, pki.leaf_key);
        MemServer srv(sc);
        auto c = client_for(ca_file, host);
        REQUIRE(c.ok());
        auto hs = handshake(**c, srv);
        REQUIRE_FALSE(hs.ok());
        CHECK(hs.error().code == Errc::refused);
        CHECK(hs.error().op == "tls handshake " + (*c)->where());
        return hs.error().what;
    };
    std::string good = pki.leaf({"CN=tracker.test", "tracker.test", ""});
    CHECK(fails(good, pki.ca_file, "other.test") == "certificate name mismatch (it is not for other.test)");
    CHECK(fails(good, pki.other_file, "tracker.test") ==
          "certificate not trusted (no CA of " + pki.other_file + " signed it)");
    CertSpec old{"CN=tracker.test", "tracker.test", ""};
    old.not_before = "20000101000000";
    old.not_after = "20010101000000";
    CHECK(fails(pki.leaf(old), pki.ca_file, "tracker.test") == "certificate expired");
    // A certificate without subjectAltName is matched on its CN (mbedTLS; RFC 6125 allows it for DNS names).
    CHECK(fails(pki.leaf({"CN=tracker.test", "", ""}), pki.ca_file, "x.test").find("name mismatch") !=
          std::string::npos);
    // Both at once: each reason is named.
    std::string both = fails(good, pki.other_file, "other.test");
    CHECK(both.find("not trusted") != std::string::npos);
    CHECK(both.find("name mismatch") != std::string::npos);
}

TEST_CASE("tls client: an IP literal is checked against iPAddress entries, and sends no SNI") {
    Pki pki;
    auto try_host = [&](const std::string& leaf_pem, const std::string& host, std::vector<std::string>* sni = nullptr) {
        ServerConf sc(leaf_pem, pki.leaf_key);
        MemServer srv(sc);
        auto c = client_for(pki.ca_file, host);
        REQUIRE(c.ok());
        auto hs = handshake(**c, srv);
        if (sni) *sni = sc.sni;
        return hs.ok() ? std::string("ok") : hs.error().what;
    };
    std::string v4 = pki.leaf({"CN=local", "localhost", "127.0.0.1"});
    std::vector<std::string> sni{"unset"};
    CHECK(try_host(v4, "127.0.0.1", &sni) == "ok");
    CHECK(sni.empty()); // RFC 6066 3: no literal addresses in SNI
    CHECK(try_host(v4, "localhost", &sni) == "ok");
    CHECK(sni == std::vector<std::string>{"localhost"});
    CHECK(try_host(v4, "127.0.0.2").find("name mismatch") != std::string::npos);
    CHECK(try_host(pki.leaf({"CN=::1", "", "::1"}), "::1") == "ok");
    CHECK(try_host(pki.leaf({"CN=::1", "", "::2"}), "::1").find("name mismatch") != std::string::npos);
    // The address as a dNSName or a CN is not an address entry (RFC 6125 1.7.2).
    CHECK(try_host(pki.leaf({"CN=127.0.0.1", "127.0.0.1", ""}), "127.0.0.1").find("name mismatch") !=
          std::string::npos);
    CHECK(try_host(pki.leaf({"CN=127.0.0.1", "", ""}), "127.0.0.1").find("name mismatch") != std::string::npos);
}

TEST_CASE("tls client: CA bundles - errors, SSL_CERT_FILE, shared while held and freed after") {
    Pki pki;
    auto missing = load_tls_trust(pki.dir.str() + "/none.pem");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().op == "tls CA file " + pki.dir.str() + "/none.pem");
    CHECK(missing.error().code == Errc::not_found);
    Pki::write(pki.dir.str() + "/junk.pem", "not a certificate\n");
    auto junk = load_tls_trust(pki.dir.str() + "/junk.pem");
    REQUIRE_FALSE(junk.ok());
    CHECK(junk.error().what.find("no certificate") != std::string::npos);

    const char* saved = std::getenv("SSL_CERT_FILE");
    std::string before = saved ? saved : "";
    setenv("SSL_CERT_FILE", pki.other_file.c_str(), 1);
    CHECK(system_ca_file() == pki.other_file);
    setenv("SSL_CERT_FILE", "", 1);
    CHECK(system_ca_file() == "/etc/ssl/certs/ca-certificates.crt");
    if (saved)
        setenv("SSL_CERT_FILE", before.c_str(), 1);
    else
        unsetenv("SSL_CERT_FILE");

    std::weak_ptr<const TlsTrust> gone;
    {
        auto a = load_tls_trust(pki.ca_file);
        auto b = load_tls_trust(pki.ca_file);
        REQUIRE(a.ok());
        REQUIRE(b.ok());
        CHECK(a->get() == b->get()); // one parse for the requests in flight
        gone = *a;
        auto c = TlsClient::create(*a, "tracker.test", 443);
        REQUIRE(c.ok());
        a->reset();
        b->reset();
        CHECK_FALSE(gone.expired()); // the client holds it
    }
    CHECK(gone.expired()); // nobody holds it: freed
}

TEST_CASE("tls client: unconsumed input is bounded") {
    Pki pki;
    auto c = client_for(pki.ca_file, "tracker.test");
    REQUIRE(c.ok());
    REQUIRE((*c)->handshake().ok());
    REQUIRE((*c)->feed(std::string(40'000, '\x16')).ok());
    CHECK_FALSE((*c)->feed(std::string(40'000, '\x16')).ok());
}

// ---------------------------------------------------------------- https:// through HttpGet, on the loop

namespace {

// An HTTP server on 127.0.0.1 (TLS when given a ServerConf) that answers one request per connection with
// respond(request) and closes; stall: TLS connections never get past the ClientHello.
struct LoopServer {
    struct Conn {
        uv_tcp_t tcp;
        LoopServer* srv = nullptr;
        mbedtls_ssl_context ssl;
        Bio bio;
        std::string plain;
        bool answered = false;
        Conn() { mbedtls_ssl_init(&ssl); }
        ~Conn() { mbedtls_ssl_free(&ssl); }
    };
    struct Write {
        uv_write_t req;
        std::string bytes;
        Conn* conn;
        bool close_after;
    };
    uv_loop_t* loop;
    ServerConf* sc;
    uv_tcp_t* listener = new uv_tcp_t;
    std::uint16_t port = 0;
    std::function<std::string(const std::string&)> respond;
    std::vector<std::string> requests;
    std::set<Conn*> conns;
    bool stall = false;
    int accepted = 0;

    LoopServer(uv_loop_t* l, ServerConf* conf) : loop(l), sc(conf) {
        uv_tcp_init(loop, listener);
        listener->data = this;
        sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        REQUIRE(uv_tcp_bind(listener, reinterpret_cast<sockaddr*>(&a), 0) == 0);
        REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(listener), 16, [](uv_stream_t* s, int st) {
                    if (st == 0) static_cast<LoopServer*>(s->data)->accept();
                }) == 0);
        sockaddr_in name;
        int len = sizeof name;
        uv_tcp_getsockname(listener, reinterpret_cast<sockaddr*>(&name), &len);
        port = ntohs(name.sin_port);
    }
    ~LoopServer() {
        uv_close(reinterpret_cast<uv_handle_t*>(listener),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        for (Conn* c : std::set<Conn*>(conns)) close(c);
    }
    std::string url(const std::string& path) const {
        return std::string(sc ? "https" : "http") + "://127.0.0.1:" + std::to_string(port) + path;
    }
    void close(Conn* c) {
        if (!conns.erase(c)) return;
        c->srv = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    }
    void accept() {
        auto* c = new Conn;
        c->srv = this;
        ++accepted;
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        conns.insert(c);
        if (uv_accept(reinterpret_cast<uv_stream_t*>(listener), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0)
            return close(c);
        if (sc) {
            REQUIRE(mbedtls_ssl_setup(&c->ssl, &sc->conf) == 0);
            mbedtls_ssl_set_bio(&c->ssl, &c->bio, Bio::send, Bio::recv, nullptr);
        }
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&c->tcp),
            [](uv_handle_t*, std::size_t, uv_buf_t* b) {
                static char buf[16384];
                *b = uv_buf_init(buf, sizeof buf);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                auto* cc = static_cast<Conn*>(s->data);
                if (!cc->srv || n == 0) return;
                if (n < 0) return cc->srv->close(cc);
                cc->srv->on_data(cc, std::string_view(b->base, static_cast<std::size_t>(n)));
            });
    }
    void send(Conn* c, std::string bytes, bool close_after) {
        auto* w = new Write{{}, std::move(bytes), c, close_after};
        w->req.data = w;
        uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
        uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, [](uv_write_t* req, int) {
            std::unique_ptr<Write> done(static_cast<Write*>(req->data));
            if (done->close_after && done->conn->srv) done->conn->srv->close(done->conn);
        });
    }
    void on_data(Conn* c, std::string_view data) {
        if (!sc) {
            c->plain.append(data);
        } else {
            if (stall) return;
            c->bio.in.append(data);
            unsigned char buf[4096];
            int n;
            while ((n = mbedtls_ssl_read(&c->ssl, buf, sizeof buf)) > 0)
                c->plain.append(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
            if (!c->bio.out.empty()) send(c, std::exchange(c->bio.out, std::string()), false);
            if (n != MBEDTLS_ERR_SSL_WANT_READ) return close(c); // the client's alert (a refused certificate)
        }
        if (c->answered || c->plain.find("\r\n\r\n") == std::string::npos) return;
        c->answered = true;
        requests.push_back(c->plain);
        std::string answer = respond(c->plain);
        if (sc) {
            for (std::size_t at = 0; at < answer.size();) {
                int w = mbedtls_ssl_write(&c->ssl, reinterpret_cast<const unsigned char*>(answer.data() + at),
                                          answer.size() - at);
                REQUIRE(w > 0);
                at += static_cast<std::size_t>(w);
            }
            mbedtls_ssl_close_notify(&c->ssl);
            answer = std::exchange(c->bio.out, std::string());
        }
        send(c, std::move(answer), true);
    }
};

std::string http_ok(const std::string& body) {
    return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}
std::string redirect(const std::string& to) {
    return "HTTP/1.1 302 Found\r\nLocation: " + to + "\r\nContent-Length: 0\r\n\r\n";
}

Result<HttpResponse> get_once(Loop& loop, const std::string& url, HttpGetOptions opt) {
    std::optional<Result<HttpResponse>> out;
    bool done = false;
    HttpGet g(loop.get(), url, std::move(opt), [&](Result<HttpResponse> r) {
        out = std::move(r);
        done = true;
    });
    REQUIRE(run_until_flag(loop, done));
    return std::move(*out);
}

} // namespace

TEST_CASE("http get over https: verified GET, redirects both ways, refusals before any request") {
    Loop loop;
    Pki pki;
    ServerConf sc(pki.leaf({"CN=local", "localhost", "127.0.0.1"}), pki.leaf_key);
    LoopServer tls(loop.get(), &sc), plain(loop.get(), nullptr);
    tls.respond = [&](const std::string& req) {
        if (req.rfind("GET /moved ", 0) == 0) return redirect("/announce?x=1");
        if (req.rfind("GET /to-plain ", 0) == 0) return redirect(plain.url("/plain"));
        return http_ok("secure " + req.substr(0, req.find(" HTTP/1.1")));
    };
    plain.respond = [&](const std::string& req) {
        if (req.rfind("GET /to-tls ", 0) == 0) return redirect(tls.url("/announce"));
        return http_ok("plain");
    };
    HttpGetOptions opt;
    opt.ca_file = pki.ca_file;
    SUBCASE("a GET over TLS") {
        auto r = get_once(loop, tls.url("/announce?a=b"), opt);
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->status == 200);
        CHECK(r->body == "secure GET /announce?a=b");
        REQUIRE(tls.requests.size() == 1);
        CHECK(tls.requests[0].find("\r\nHost: 127.0.0.1:" + std::to_string(tls.port) + "\r\n") != std::string::npos);
        // by name: resolved, and checked against the dNSName entry
        auto n = get_once(loop, "https://localhost:" + std::to_string(tls.port) + "/n", opt);
        REQUIRE_MESSAGE(n.ok(), (n.ok() ? "" : n.error().str()));
        CHECK(n->body == "secure GET /n");
        CHECK(sc.sni == std::vector<std::string>{"localhost"});
    }
    SUBCASE("redirects: http to https, within https, https to http") {
        auto a = get_once(loop, plain.url("/to-tls"), opt);
        REQUIRE_MESSAGE(a.ok(), (a.ok() ? "" : a.error().str()));
        CHECK(a->body == "secure GET /announce");
        auto b = get_once(loop, tls.url("/moved"), opt);
        REQUIRE(b.ok());
        CHECK(b->body == "secure GET /announce?x=1");
        auto c = get_once(loop, tls.url("/to-plain"), opt);
        REQUIRE(c.ok());
        CHECK(c->body == "plain");
    }
    SUBCASE("an untrusted certificate: one error naming the server and the reason, and no request sent") {
        opt.ca_file = pki.other_file;
        auto r = get_once(loop, tls.url("/announce"), opt);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == Errc::refused);
        CHECK(r.error().str() == "tls handshake 127.0.0.1:" + std::to_string(tls.port) +
                                     ": certificate not trusted (no CA of " + pki.other_file + " signed it)");
        CHECK(tls.requests.empty());
        // The tracker client keeps the reason, under its own name for the tracker.
        HttpTrackerClient client(loop.get(), tls.url("/announce"), opt);
        AnnounceParams p;
        p.info_hash = udp::Hash20::from(std::string(20, 'h'));
        p.peer_id = udp::Hash20::from(std::string(20, 'p'));
        bool done = false;
        client.announce(p, [&](Result<AnnounceResult> res) {
            REQUIRE_FALSE(res.ok());
            CHECK(res.error().op == "http tracker " + tls.url("/announce"));
            CHECK(res.error().what.find("certificate not trusted") != std::string::npos);
            done = true;
        });
        REQUIRE(run_until_flag(loop, done));
        CHECK(tls.requests.empty());
    }
    SUBCASE("the system store: SSL_CERT_FILE, when no ca_file is given") {
        const char* saved = std::getenv("SSL_CERT_FILE");
        std::string before = saved ? saved : "";
        setenv("SSL_CERT_FILE", pki.ca_file.c_str(), 1);
        auto ok = get_once(loop, tls.url("/s"), HttpGetOptions{});
        setenv("SSL_CERT_FILE", pki.other_file.c_str(), 1);
        auto refused = get_once(loop, tls.url("/s"), HttpGetOptions{});
        if (saved)
            setenv("SSL_CERT_FILE", before.c_str(), 1);
        else
            unsetenv("SSL_CERT_FILE");
        CHECK(ok.ok());
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().what.find(pki.other_file) != std::string::npos);
    }
    SUBCASE("a TLS tracker's announce: peers") {
        tls.respond = [](const std::string&) {
            return http_ok(std::string("d8:intervali900e5:peers6:") + std::string("\x0a\x00\x00\x01\x1a\xe1", 6) + "e");
        };
        HttpTrackerClient client(loop.get(), tls.url("/announce"), opt);
        AnnounceParams p;
        p.info_hash = udp::Hash20::from(std::string(20, 'h'));
        p.peer_id = udp::Hash20::from(std::string(20, 'p'));
        bool done = false;
        client.announce(p, [&](Result<AnnounceResult> res) {
            REQUIRE_MESSAGE(res.ok(), (res.ok() ? "" : res.error().str()));
            REQUIRE(res->peers.size() == 1);
            CHECK(res->peers[0].ip == "10.0.0.1");
            CHECK(res->peers[0].port == 6881);
            done = true;
        });
        REQUIRE(run_until_flag(loop, done));
    }
    SUBCASE("a server that never finishes the handshake: the timeout; destroyed mid-handshake: no callback") {
        tls.stall = true;
        opt.timeout_ms = 300;
        auto r = get_once(loop, tls.url("/announce"), opt);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == Errc::timeout);
        bool called = false;
        auto g = std::make_unique<HttpGet>(loop.get(), tls.url("/announce"), opt,
                                           [&](Result<HttpResponse>) { called = true; });
        const int before = tls.accepted;
        REQUIRE(p2p::test::run_until(
            loop, [&] { return tls.accepted > before; }, 5000));
        g.reset();
        bool later = false;
        Timer t(loop.get());
        t.start(100, 0, [&] { later = true; });
        REQUIRE(run_until_flag(loop, later));
        CHECK_FALSE(called);
    }
}
