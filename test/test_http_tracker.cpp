// HTTP trackers as a client: the pure codec (src/proto/http_tracker), the async GET and the tracker client
// (src/tracker/http_get, http_client) against a tiny libuv HTTP server on 127.0.0.1:0, and the Announcer's use of
// http:// URLs (src/session/announcer).
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "proto/bencode.hpp"
#include "proto/http_tracker.hpp"
#include "session/announcer.hpp"
#include "test_util.hpp"
#include "tracker/http_client.hpp"
#include "tracker/http_get.hpp"
#include "tracker/tls_client.hpp"

using namespace p2p;
namespace ht = p2p::http_tracker;
using p2p::test::run_until_flag;

namespace {

// The classic example of the BitTorrent protocol wiki: 12 34 56 78 9a bc de f1 23 45 67 89 ab cd ef 12 34 56 78 9a
// encodes as %124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A.
std::string wiki_hash() {
    std::string h;
    REQUIRE(from_hex("123456789abcdef123456789abcdef123456789a", h));
    return h;
}
constexpr const char* kWikiHashEncoded = "%124Vx%9A%BC%DE%F1%23Eg%89%AB%CD%EF%124Vx%9A";

ht::AnnounceRequest sample_request() {
    ht::AnnounceRequest r;
    r.info_hash = udp::Hash20::from(wiki_hash());
    r.peer_id = udp::Hash20::from("-PN0010-ab~cd.ef_g h"); // '~' '.' '_' stay, ' ' is encoded
    r.port = 6881;
    r.uploaded = 1;
    r.downloaded = 22;
    r.left = 333;
    r.event = udp::kEventStarted;
    r.numwant = 50;
    r.key = 0xDEADBEEF;
    return r;
}

std::string compact4(const char* a, int b, int c, int d, std::uint16_t port) {
    std::string s{static_cast<char>(std::stoi(a)), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
    put_be16(s, port);
    return s;
}

std::string bstr(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

// ---- a tiny HTTP/1.1 server on 127.0.0.1:0, for the client tests ----
// For each connection it reads up to the end of the request headers, records the request, and answers with
// respond(request) (written in pieces of `piece` bytes, to exercise the client's incremental parse), then
// closes. An empty answer means: never answer (keep the connection open).
struct TestServer {
    struct Conn {
        uv_tcp_t tcp;
        TestServer* srv = nullptr;
        std::string in, out;
        bool answered = false;
        std::vector<std::unique_ptr<uv_write_t>> writes;
    };
    uv_loop_t* loop;
    uv_tcp_t* listener = new uv_tcp_t;
    std::uint16_t port = 0;
    std::function<std::string(const std::string&)> respond;
    std::size_t piece = 1u << 30;
    std::vector<std::string> requests;
    std::set<Conn*> conns;

    explicit TestServer(uv_loop_t* l) : loop(l) {
        uv_tcp_init(loop, listener);
        listener->data = this;
        sockaddr_in a;
        uv_ip4_addr("127.0.0.1", 0, &a);
        REQUIRE(uv_tcp_bind(listener, reinterpret_cast<sockaddr*>(&a), 0) == 0);
        REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(listener), 16, [](uv_stream_t* s, int st) {
                    if (st == 0) static_cast<TestServer*>(s->data)->accept();
                }) == 0);
        sockaddr_in name;
        int len = sizeof name;
        uv_tcp_getsockname(listener, reinterpret_cast<sockaddr*>(&name), &len);
        port = ntohs(name.sin_port);
    }
    ~TestServer() {
        uv_close(reinterpret_cast<uv_handle_t*>(listener),
                 [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        for (Conn* c : conns) close(c, false);
    }
    std::string url(const std::string& path = "/announce") const {
        return "http://127.0.0.1:" + std::to_string(port) + path;
    }
    static void close(Conn* c, bool erase = true) {
        if (erase) c->srv->conns.erase(c);
        c->srv = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    }
    void accept() {
        auto* c = new Conn;
        c->srv = this;
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        if (uv_accept(reinterpret_cast<uv_stream_t*>(listener), reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
                     [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
            return;
        }
        conns.insert(c);
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&c->tcp),
            [](uv_handle_t*, std::size_t, uv_buf_t* b) {
                static char buf[4096];
                *b = uv_buf_init(buf, sizeof buf);
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                auto* cc = static_cast<Conn*>(s->data);
                if (!cc->srv) return;
                if (n < 0) return close(cc);
                cc->in.append(b->base, static_cast<std::size_t>(n));
                if (!cc->answered && cc->in.find("\r\n\r\n") != std::string::npos) cc->srv->answer(cc);
            });
    }
    std::vector<Conn*> held; // requests respond() left unanswered, for release_held
    void answer(Conn* c) {
        c->answered = true;
        requests.push_back(c->in);
        c->out = respond ? respond(c->in) : std::string();
        if (c->out.empty()) return held.push_back(c); // never answer (unless released)
        write_out(c);
    }
    // Answers the requests held so far (those still connected) with `reply`.
    void release_held(const std::string& reply) {
        auto list = std::move(held);
        held.clear();
        for (Conn* c : list)
            if (conns.count(c)) {
                c->out = reply;
                write_out(c);
            }
    }
    void write_out(Conn* c) {
        for (std::size_t at = 0; at < c->out.size(); at += piece) {
            auto w = std::make_unique<uv_write_t>();
            w->data = c;
            uv_buf_t b = uv_buf_init(c->out.data() + at, static_cast<unsigned>(std::min(piece, c->out.size() - at)));
            bool last = at + piece >= c->out.size();
            uv_write_cb close_after = [](uv_write_t* req, int) {
                auto* cc = static_cast<Conn*>(req->data);
                if (cc->srv) close(cc);
            };
            uv_write_cb nothing = [](uv_write_t*, int) {};
            uv_write(w.get(), reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1, last ? close_after : nothing);
            c->writes.push_back(std::move(w));
        }
    }
};

std::string http_ok(const std::string& body, const std::string& extra = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
           extra + "\r\n" + body;
}

// Runs the loop for ms milliseconds (for "nothing happens" checks).
void run_for(Loop& loop, std::uint64_t ms) {
    bool done = false;
    Timer t(loop.get());
    t.start(ms, 0, [&] { done = true; });
    while (!done) uv_run(loop.get(), UV_RUN_ONCE);
}

Result<HttpResponse> get_once(Loop& loop, const std::string& url, HttpGetOptions opt = {}) {
    std::optional<Result<HttpResponse>> out;
    bool done = false;
    HttpGet g(loop.get(), url, opt, [&](Result<HttpResponse> r) {
        out = std::move(r);
        done = true;
    });
    REQUIRE(run_until_flag(loop, done));
    return std::move(*out);
}

AnnounceParams announce_params() {
    AnnounceParams p;
    p.info_hash = udp::Hash20::from(wiki_hash());
    p.peer_id = udp::Hash20::from(std::string(20, 'p'));
    p.left = 1000;
    p.event = udp::kEventStarted;
    p.numwant = 50;
    p.port = 6881;
    p.key = 7;
    return p;
}

// An announcer's configuration with srv as its only tracker.
AnnouncerConfig one_tracker(const TestServer& srv) {
    AnnouncerConfig cfg;
    cfg.info_hash = wiki_hash();
    cfg.peer_id = std::string(20, 'q');
    cfg.port = 7000;
    cfg.tiers = {{srv.url()}};
    return cfg;
}

const std::string kTwoPeers = "d8:completei3e10:incompletei4e8:intervali900e5:peers" +
                              bstr(compact4("10", 0, 0, 1, 6881) + compact4("10", 0, 0, 2, 51413)) + "e";

} // namespace

// ---------------------------------------------------------------- pure codec

TEST_CASE("http tracker: URL parsing") {
    auto a = ht::parse_url("http://tracker.example.org/announce");
    REQUIRE(a.ok());
    CHECK(a->host == "tracker.example.org");
    CHECK(a->port == 80);
    CHECK(a->path == "/announce");
    CHECK(a->query.empty());
    CHECK(a->host_header() == "tracker.example.org");

    auto b = ht::parse_url("http://t.example:8080/a/announce.php?passkey=abc&x=1#frag");
    REQUIRE(b.ok());
    CHECK(b->host == "t.example");
    CHECK(b->port == 8080);
    CHECK(b->path == "/a/announce.php");
    CHECK(b->query == "passkey=abc&x=1");
    CHECK(b->host_header() == "t.example:8080");

    auto c = ht::parse_url("http://[::1]:6969/announce");
    REQUIRE(c.ok());
    CHECK(c->host == "::1");
    CHECK(c->v6_literal);
    CHECK(c->port == 6969);
    CHECK(c->origin() == "http://[::1]:6969");

    auto d = ht::parse_url("HTTP://bare.example");
    REQUIRE(d.ok());
    CHECK(d->path == "/");
    auto e = ht::parse_url("http://q.example?x=1");
    REQUIRE(e.ok());
    CHECK(e->path == "/");
    CHECK(e->query == "x=1");

    auto s = ht::parse_url("HTTPS://secure.example/announce");
    REQUIRE(s.ok());
    CHECK(s->tls);
    CHECK(s->port == 443);
    CHECK(s->host_header() == "secure.example");
    CHECK(s->origin() == "https://secure.example");
    auto s2 = ht::parse_url("https://[::1]:80/announce"); // 80 is not https's default: it stays in the Host header
    REQUIRE(s2.ok());
    CHECK(s2->port == 80);
    CHECK(s2->origin() == "https://[::1]:80");
    auto s3 = ht::parse_url("http://h.example:443/a");
    REQUIRE(s3.ok());
    CHECK_FALSE(s3->tls);
    CHECK(s3->host_header() == "h.example:443");
    for (const char* bad : {"udp://x:1", "https://", "https://user@h/a", "ftp://h/a", "http://", "http://:80/a",
                            "http://h:0/a", "http://h:65536/a", "http://h:/a", "http://h:8x/a", "http://user:pw@h/a",
                            "http://h/a b", "http://h/a\r\nX: y", "http://[::1/a", "http://[::1]x/a", "http://h/\x80"})
        CHECK_MESSAGE(!ht::parse_url(bad).ok(), bad);
}

TEST_CASE("http tracker: percent-encoding is byte by byte, unreserved characters stay") {
    CHECK(ht::percent_encode(wiki_hash()) == kWikiHashEncoded);
    CHECK(ht::percent_encode(std::string("\0\x1f /?&=%+", 9)) == "%00%1F%20%2F%3F%26%3D%25%2B");
    CHECK(ht::percent_encode("AZaz09-._~") == "AZaz09-._~");
    CHECK(ht::percent_encode("\xff\x80") == "%FF%80");
}

TEST_CASE("http tracker: announce request target (golden)") {
    auto u = ht::parse_url("http://t.example/announce");
    REQUIRE(u.ok());
    CHECK(ht::announce_target(*u, sample_request()) ==
          std::string("/announce?info_hash=") + kWikiHashEncoded +
              "&peer_id=-PN0010-ab~cd.ef_g%20h&port=6881&uploaded=1&downloaded=22&left=333&compact=1&no_peer_id=1"
              "&event=started&numwant=50&key=DEADBEEF");

    // An existing query (a passkey) comes first; regular announces carry no event; numwant -1 is left out.
    auto q = ht::parse_url("http://t.example:81/priv/announce?passkey=s3cr3t");
    REQUIRE(q.ok());
    auto r = sample_request();
    r.event = udp::kEventNone;
    r.numwant = -1;
    r.key = 0x1a;
    CHECK(ht::announce_target(*q, r) ==
          std::string("/priv/announce?passkey=s3cr3t&info_hash=") + kWikiHashEncoded +
              "&peer_id=-PN0010-ab~cd.ef_g%20h&port=6881&uploaded=1&downloaded=22&left=333&compact=1&no_peer_id=1"
              "&key=0000001A");
    r.event = udp::kEventCompleted;
    CHECK(ht::announce_target(*q, r).find("&event=completed&") != std::string::npos);
    r.event = udp::kEventStopped;
    CHECK(ht::announce_target(*q, r).find("&event=stopped&") != std::string::npos);
}

TEST_CASE("http tracker: scrape URL (BEP 48 examples)") {
    auto ok = [](const char* in, const char* want) {
        auto s = ht::scrape_url(in);
        REQUIRE_MESSAGE(s.ok(), in);
        CHECK(*s == want);
    };
    ok("http://example.com/announce", "http://example.com/scrape");
    ok("http://example.com/x/announce", "http://example.com/x/scrape");
    ok("http://example.com/announce.php", "http://example.com/scrape.php");
    ok("http://example.com/announce?x2%0644", "http://example.com/scrape?x2%0644");
    ok("http://example.com/announce?x=2/4", "http://example.com/scrape?x=2/4");
    ok("http://example.com:8080/a/announce?pk=1", "http://example.com:8080/a/scrape?pk=1");
    ok("https://example.com/announce", "https://example.com/scrape");
    for (const char* none : {"http://example.com/a", "http://example.com/x%064announce",
                             "http://example.com/announce/x", "http://example.com", "https://example.com/a"})
        CHECK_MESSAGE(!ht::scrape_url(none).ok(), none);
}

TEST_CASE("http tracker: scrape request target (golden) and response (BEP 48)") {
    auto u = ht::parse_url("http://example.com:8080/a/scrape?pk=1");
    REQUIRE(u.ok());
    udp::Hash20 a = udp::Hash20::from(wiki_hash()), b = udp::Hash20::from(std::string(20, 'b'));
    CHECK(ht::scrape_target(*u, {a}) == std::string("/a/scrape?pk=1&info_hash=") + kWikiHashEncoded);
    CHECK(ht::scrape_target(*u, {a, b}) ==
          std::string("/a/scrape?pk=1&info_hash=") + kWikiHashEncoded + "&info_hash=bbbbbbbbbbbbbbbbbbbb");
    auto plain = ht::parse_url("http://example.com/scrape");
    REQUIRE(plain.ok());
    CHECK(ht::scrape_target(*plain, {b}) == "/scrape?info_hash=bbbbbbbbbbbbbbbbbbbb");
    auto amp = ht::parse_url("http://example.com/scrape?pk=1&");
    REQUIRE(amp.ok());
    CHECK(ht::scrape_target(*amp, {b}) == "/scrape?pk=1&info_hash=bbbbbbbbbbbbbbbbbbbb");

    // BEP 48's example answer, plus a name, an entry with counts missing, and junk that is skipped
    std::string body = "d5:filesd" + bstr(wiki_hash()) + "d8:completei5e10:downloadedi50e10:incompletei10e4:name3:abce" +
                       bstr(std::string(20, 'b')) + "d8:completei1ee" + "3:bad" + "d8:completei9ee" +
                       bstr(std::string(20, 'c')) + "i7e" + "ee\n";
    auto r = ht::decode_scrape_response(body);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
    REQUIRE(r->files.size() == 2);
    CHECK(r->dropped == 2);
    CHECK(r->files[0].info_hash == a);
    CHECK(r->files[0].complete == 5);
    CHECK(r->files[0].downloaded == 50);
    CHECK(r->files[0].incomplete == 10);
    CHECK(r->files[0].name == std::optional<std::string>("abc"));
    CHECK(r->files[1].info_hash == b);
    CHECK(r->files[1].complete == 1);
    CHECK(r->files[1].downloaded == 0);
    CHECK_FALSE(r->files[1].name);
    // negative and huge counts clamp
    auto clamp = ht::decode_scrape_response("d5:filesd" + bstr(wiki_hash()) +
                                            "d8:completei-4e10:downloadedi99999999999eeee");
    REQUIRE(clamp.ok());
    CHECK(clamp->files[0].complete == 0);
    CHECK(clamp->files[0].downloaded == 0xffffffffu);

    auto fail = ht::decode_scrape_response("d14:failure reason6:no waye");
    REQUIRE_FALSE(fail.ok());
    CHECK(fail.error().op == "tracker");
    CHECK(fail.error().what == "failure reason: no way");
    for (const char* bad : {"", "le", "d5:filesi1ee", "de", "d5:filesd", "<html>"})
        CHECK_MESSAGE(!ht::decode_scrape_response(bad).ok(), bad);
    CHECK(ht::decode_scrape_response("d5:filesdee")->files.empty());
}

TEST_CASE("http tracker: compact response (BEP 23), counts, intervals, warning") {
    std::string body =
        "d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e5:peers" +
        bstr(compact4("10", 0, 0, 1, 6881) + compact4("192", 168, 1, 2, 0) + compact4("127", 0, 0, 1, 51413)) +
        "15:warning message4:slowe\r\n"; // trailing newline: tolerated
    auto r = ht::decode_announce_response(body);
    REQUIRE(r.ok());
    CHECK(r->interval == 1800);
    REQUIRE(r->min_interval);
    CHECK(*r->min_interval == 60);
    CHECK(r->complete == 5);
    CHECK(r->incomplete == 7);
    REQUIRE(r->warning);
    CHECK(*r->warning == "slow");
    REQUIRE(r->peers.size() == 2); // the port-0 one is dropped
    CHECK(r->dropped == 1);
    CHECK_FALSE(r->peers[0].v6);
    CHECK(r->peers[0].ip[0] == 10);
    CHECK(r->peers[0].ip[3] == 1);
    CHECK(r->peers[0].port == 6881);
    CHECK(r->peers[1].ip[0] == 127);
    CHECK(r->peers[1].port == 51413);
    auto eps = to_endpoints(r->peers);
    REQUIRE(eps.size() == 2);
    CHECK(eps[0].ip == "10.0.0.1");
    CHECK(eps[1].ip == "127.0.0.1");
    CHECK(eps[1].port == 51413);
    CHECK(eps[1].addr.ss_family == AF_INET);
}

TEST_CASE("http tracker: dict-list peers (BEP 3) and peers6 (BEP 7)") {
    std::string six(16, '\0');
    six[0] = static_cast<char>(0xfe);
    six[1] = static_cast<char>(0x80);
    six[15] = 1;
    put_be16(six, 7000);
    std::string body = "d8:intervali60e5:peersl"
                       "d2:ip8:10.0.0.94:porti6881ee"
                       "d2:ip11:2001:db8::74:porti6882e7:peer id20:aaaaaaaaaaaaaaaaaaaae"
                       "d2:ip16:host.example.org4:porti1ee" // a name: dropped
                       "d2:ip7:1.2.3.44:porti0ee"           // port 0: dropped
                       "d2:ip7:1.2.3.44:porti70000ee"       // port out of range: dropped
                       "d4:porti5ee"                        // no ip: dropped
                       "i5e"                                // not a dict: dropped
                       "e6:peers6" +
                       bstr(six) + "e";
    auto r = ht::decode_announce_response(body);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
    CHECK(r->interval == 60);
    REQUIRE(r->peers.size() == 3);
    CHECK(r->dropped == 5);
    auto eps = to_endpoints(r->peers);
    CHECK(eps[0].ip == "10.0.0.9");
    CHECK(eps[0].port == 6881);
    CHECK(eps[1].ip == "2001:db8::7");
    CHECK(eps[1].port == 6882);
    CHECK(eps[1].addr.ss_family == AF_INET6);
    CHECK(eps[2].ip == "fe80::1");
    CHECK(eps[2].port == 7000);
}

TEST_CASE("http tracker: failure reason, bad bodies, defaults") {
    auto f = ht::decode_announce_response("d14:failure reason17:torrent not founde");
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().op == "tracker");
    CHECK(f.error().what == "failure reason: torrent not found");

    for (const char* bad :
         {"", "d8:intervali60e5:peers6:abc", "d8:intervali60e", "<html>not found</html>", "i5e", "le", "d5:peersi5ee",
          "d5:peers5:abcdee", "d6:peers67:abcdefghijklmnopqe", "d6:peers6i1ee", "d8:intervali60ee trailing"}) {
        auto r = ht::decode_announce_response(bad);
        CHECK_MESSAGE(!r.ok(), bad);
        if (!r.ok()) CHECK(r.error().op == "http_tracker.decode");
    }
    auto d = ht::decode_announce_response("de");
    REQUIRE(d.ok());
    CHECK(d->interval == ht::kDefaultInterval);
    CHECK(d->peers.empty());
    auto n = ht::decode_announce_response("d8:completei-5e8:intervali99999999999ee");
    REQUIRE(n.ok());
    CHECK(n->complete == 0);
    CHECK(n->interval == 0xffffffffu);
}

TEST_CASE("http tracker: oversize peer lists are capped") {
    std::string compact;
    for (int i = 0; i < 1500; ++i) compact += compact4("10", 1, i / 256, i % 256, 1000);
    auto r = ht::decode_announce_response("d8:intervali60e5:peers" + bstr(compact) + "e");
    REQUIRE(r.ok());
    CHECK(r->peers.size() == ht::kMaxPeers);
    CHECK(r->dropped == 500);

    std::string list = "l";
    for (int i = 0; i < 1200; ++i) list += "d2:ip8:10.0.0.14:porti" + std::to_string(1000 + i) + "ee";
    list += "e";
    auto l = ht::decode_announce_response("d8:intervali60e5:peers" + list + "e");
    REQUIRE(l.ok());
    CHECK(l->peers.size() == ht::kMaxPeers);
    CHECK(l->dropped == 200);

    // v4 and v6 together share the cap
    std::string six;
    for (int i = 0; i < 300; ++i) {
        six += std::string(15, '\x20') + static_cast<char>(i);
        put_be16(six, 2000);
    }
    auto both = ht::decode_announce_response("d8:intervali60e5:peers" + bstr(compact.substr(0, 6 * 900)) + "6:peers6" +
                                             bstr(six) + "e");
    REQUIRE(both.ok());
    CHECK(both->peers.size() == ht::kMaxPeers);
    CHECK(both->dropped == 200);
}

// ---------------------------------------------------------------- async GET and tracker client

TEST_CASE("http get: Content-Length, chunked and read-until-close bodies, split into small pieces") {
    Loop loop;
    TestServer srv(loop.get());
    srv.piece = 7;
    SUBCASE("content-length") {
        srv.respond = [](const std::string&) { return http_ok("hello world"); };
        auto r = get_once(loop, srv.url("/x?y=1"));
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->status == 200);
        CHECK(r->body == "hello world");
        REQUIRE(srv.requests.size() == 1);
        const std::string& req = srv.requests[0];
        CHECK(req.rfind("GET /x?y=1 HTTP/1.1\r\n", 0) == 0);
        CHECK(req.find("\r\nHost: 127.0.0.1:" + std::to_string(srv.port) + "\r\n") != std::string::npos);
        CHECK(req.find("\r\nUser-Agent: p2pnode/") != std::string::npos);
        CHECK(req.find("\r\nAccept-Encoding: identity\r\n") != std::string::npos);
        CHECK(req.find("\r\nConnection: close\r\n") != std::string::npos);
    }
    SUBCASE("chunked") {
        srv.respond = [](const std::string&) {
            return std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n1;ext=1\r\n \r\nb\r\nchunked wor\r\n2\r\nld\r\n0\r\n\r\n");
        };
        auto r = get_once(loop, srv.url());
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->body == "hello chunked world");
    }
    SUBCASE("read until close") {
        srv.respond = [](const std::string&) { return std::string("HTTP/1.0 200 OK\r\n\r\nuntil the end"); };
        auto r = get_once(loop, srv.url());
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->body == "until the end");
    }
    SUBCASE("a 404 is a response; its body is kept") {
        srv.respond = [](const std::string&) {
            return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
        };
        auto r = get_once(loop, srv.url());
        REQUIRE(r.ok());
        CHECK(r->status == 404);
        CHECK(r->body == "nope");
    }
}

TEST_CASE("http get: errors - body over the cap, timeout, refused, malformed, truncated, redirects") {
    Loop loop;
    TestServer srv(loop.get());
    SUBCASE("body over the cap, Content-Length and chunked") {
        HttpGetOptions opt;
        opt.max_body = 1000;
        srv.respond = [](const std::string&) { return http_ok(std::string(5000, 'x')); };
        auto r = get_once(loop, srv.url(), opt);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what.find("over 1000 bytes") != std::string::npos);
        srv.respond = [](const std::string&) {
            return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + std::string(1000, 'y') +
                   "\r\n1\r\nz\r\n0\r\n\r\n";
        };
        auto c = get_once(loop, srv.url(), opt);
        REQUIRE_FALSE(c.ok());
        CHECK(c.error().what.find("over 1000 bytes") != std::string::npos);
    }
    SUBCASE("a server that never answers: the whole-request timeout") {
        HttpGetOptions opt;
        opt.timeout_ms = 300;
        srv.respond = nullptr;
        auto t0 = uv_now(loop.get());
        auto r = get_once(loop, srv.url(), opt);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().what.find("timeout") != std::string::npos);
        CHECK(uv_now(loop.get()) - t0 >= 250);
        CHECK(srv.requests.size() == 1);
    }
    SUBCASE("connection refused") {
        std::uint16_t dead;
        {
            TestServer gone(loop.get());
            dead = gone.port;
        }
        run_for(loop, 10);
        auto r = get_once(loop, "http://127.0.0.1:" + std::to_string(dead) + "/announce");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().op.find("connect") != std::string::npos);
    }
    SUBCASE("malformed and truncated responses") {
        srv.respond = [](const std::string&) { return std::string("SMTP ready\r\n\r\n"); };
        auto m = get_once(loop, srv.url());
        REQUIRE_FALSE(m.ok());
        CHECK(m.error().what.find("malformed HTTP response") != std::string::npos);
        srv.respond = [](const std::string&) {
            return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
        };
        auto t = get_once(loop, srv.url());
        REQUIRE_FALSE(t.ok());
        CHECK(t.error().what.find("closed before") != std::string::npos);
    }
    SUBCASE("redirects: followed up to the limit") {
        srv.respond = [&](const std::string& req) {
            if (req.rfind("GET /old", 0) == 0)
                return std::string("HTTP/1.1 302 Found\r\nLocation: /new?a=1\r\nContent-Length: 0\r\n\r\n");
            if (req.rfind("GET /loop", 0) == 0)
                return "HTTP/1.1 301 Moved\r\nLocation: " + srv.url("/loop") + "\r\nContent-Length: 0\r\n\r\n";
            if (req.rfind("GET /ftp", 0) == 0)
                return std::string("HTTP/1.1 301 Moved\r\nLocation: ftp://x.example/\r\nContent-Length: 0\r\n\r\n");
            return http_ok("moved here");
        };
        auto r = get_once(loop, srv.url("/old"));
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->body == "moved here");
        REQUIRE(srv.requests.size() == 2);
        CHECK(srv.requests[1].rfind("GET /new?a=1 HTTP/1.1\r\n", 0) == 0);
        auto l = get_once(loop, srv.url("/loop"));
        REQUIRE_FALSE(l.ok());
        CHECK(l.error().what.find("more than 3 redirects") != std::string::npos);
        CHECK(srv.requests.size() == 2 + 4);
        auto s = get_once(loop, srv.url("/ftp"));
        REQUIRE_FALSE(s.ok());
        CHECK(s.error().what.find("not an http:// or https:// URL") != std::string::npos);
    }
    SUBCASE("unresolvable host and bad URL fail from the loop, not inside the constructor") {
        bool called = false;
        HttpGet g(loop.get(), "ftp://x.example/", {}, [&](Result<HttpResponse> r) {
            CHECK_FALSE(r.ok());
            called = true;
        });
        CHECK_FALSE(called);
        REQUIRE(run_until_flag(loop, called));
        auto n = get_once(loop, "http://no-such-host.invalid/announce");
        REQUIRE_FALSE(n.ok());
        CHECK(n.error().op.find("resolve") != std::string::npos);
    }
    SUBCASE("https:// without TLS (-Dtls=false) fails before any connect, naming the option") {
        auto t = get_once(loop, "https://127.0.0.1:1/announce"); // nothing listens on port 1
        REQUIRE_FALSE(t.ok());
        if (tls_available()) {
            CHECK(t.error().op.find("connect") != std::string::npos);
        } else {
            CHECK(t.error().what == kNoTlsWhy);
            CHECK(t.error().code == Errc::unsupported);
        }
    }
}

TEST_CASE("http get: destroying the request while in flight never calls back and frees everything") {
    Loop loop;
    TestServer srv(loop.get());
    srv.respond = nullptr; // never answers
    bool called = false;
    auto g = std::make_unique<HttpGet>(loop.get(), srv.url(), HttpGetOptions{},
                                       [&](Result<HttpResponse>) { called = true; });
    // wait until the server has the request: the GET is connected and reading
    Timer guard(loop.get());
    guard.start(5000, 0, [] {});
    while (srv.requests.empty() && guard.active()) uv_run(loop.get(), UV_RUN_ONCE);
    REQUIRE(srv.requests.size() == 1);
    g.reset();
    // and one destroyed during its lookup
    auto g2 = std::make_unique<HttpGet>(loop.get(), "http://localhost:1/", HttpGetOptions{},
                                        [&](Result<HttpResponse>) { called = true; });
    g2.reset();
    run_for(loop, 100);
    CHECK_FALSE(called);
}

TEST_CASE("http tracker client: announce, errors, and a callback that destroys the client") {
    Loop loop;
    TestServer srv(loop.get());
    srv.respond = [](const std::string& req) {
        if (req.find("/fail?") != std::string::npos) return http_ok("d14:failure reason12:unregisterede");
        if (req.find("/missing?") != std::string::npos)
            return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        if (req.find("/refuse?") != std::string::npos) {
            std::string b = "d14:failure reason6:bannede";
            return "HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
        }
        return http_ok(kTwoPeers);
    };
    auto client = std::make_unique<HttpTrackerClient>(loop.get(), srv.url("/announce?passkey=k"));
    bool done = false;
    client->announce(announce_params(), [&](Result<AnnounceResult> r) {
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        CHECK(r->interval == 900);
        CHECK(r->seeders == 3);
        CHECK(r->leechers == 4);
        REQUIRE(r->peers.size() == 2);
        CHECK(r->peers[0].ip == "10.0.0.1");
        CHECK(r->peers[1].port == 51413);
        done = true;
    });
    CHECK(client->pending() == 1);
    REQUIRE(run_until_flag(loop, done));
    CHECK(client->pending() == 0);
    REQUIRE(srv.requests.size() == 1);
    CHECK(
        srv.requests[0].rfind(std::string("GET /announce?passkey=k&info_hash=") + kWikiHashEncoded +
                                  "&peer_id=pppppppppppppppppppp&port=6881&uploaded=0&downloaded=0&left=1000&compact=1"
                                  "&no_peer_id=1&event=started&numwant=50&key=00000007 HTTP/1.1\r\n",
                              0) == 0);

    auto expect_error = [&](const std::string& path, const std::string& what) {
        HttpTrackerClient c(loop.get(), srv.url(path));
        bool d = false;
        c.announce(announce_params(), [&](Result<AnnounceResult> r) {
            REQUIRE_FALSE(r.ok());
            CHECK_MESSAGE(r.error().str().find(what) != std::string::npos, r.error().str());
            d = true;
        });
        REQUIRE(run_until_flag(loop, d));
    };
    expect_error("/fail", "failure reason: unregistered");
    expect_error("/missing", "HTTP status 404 Not Found");
    expect_error("/refuse", "HTTP status 403 Forbidden (failure reason: banned)");
    // the passkey stays out of error texts
    {
        HttpTrackerClient c(loop.get(), "http://127.0.0.1:1/announce?passkey=secret");
        bool d = false;
        c.announce(announce_params(), [&](Result<AnnounceResult> r) {
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().str().find("secret") == std::string::npos);
            d = true;
        });
        REQUIRE(run_until_flag(loop, d));
    }
    {
        HttpTrackerClient c(loop.get(), "wss://secure.example/announce");
        bool d = false;
        c.announce(announce_params(), [&](Result<AnnounceResult> r) {
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().str().find("not an http:// or https:// URL") != std::string::npos);
            d = true;
        });
        CHECK_FALSE(d); // never inside announce()
        REQUIRE(run_until_flag(loop, d));
    }

    // The callback destroys the client while another announce is still in flight.
    bool first = false, second = false;
    client->announce(announce_params(), [&](Result<AnnounceResult> r) {
        CHECK(r.ok());
        first = true;
        client.reset();
    });
    client->announce(announce_params(), [&](Result<AnnounceResult>) { second = true; });
    REQUIRE(run_until_flag(loop, first));
    run_for(loop, 100);
    CHECK(first);
    CHECK(client == nullptr);
}

TEST_CASE("http tracker client: scrape (BEP 48) asks the scrape URL and answers per hash, in order") {
    Loop loop;
    TestServer srv(loop.get());
    udp::Hash20 a = udp::Hash20::from(wiki_hash()), b = udp::Hash20::from(std::string(20, 'b'));
    srv.respond = [&](const std::string& req) {
        if (req.find("/x/scrape.php?") == std::string::npos) return std::string("HTTP/1.1 404 Not Found\r\n\r\n");
        // only b is known to this tracker; a is absent from "files"
        return http_ok("d5:filesd" + bstr(b.str()) + "d8:completei2e10:downloadedi3e10:incompletei4eeee");
    };
    HttpTrackerClient c(loop.get(), srv.url("/x/announce.php?pk=7"));
    bool done = false;
    c.scrape({a, b}, [&](Result<std::vector<udp::ScrapeEntry>> r) {
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().str()));
        REQUIRE(r->size() == 2);
        CHECK((*r)[0].seeders == 0);
        CHECK((*r)[0].completed == 0);
        CHECK((*r)[1].seeders == 2);
        CHECK((*r)[1].completed == 3);
        CHECK((*r)[1].leechers == 4);
        done = true;
    });
    CHECK_FALSE(done); // never inside scrape()
    REQUIRE(run_until_flag(loop, done));
    REQUIRE(srv.requests.size() == 1);
    CHECK(srv.requests[0].rfind(std::string("GET /x/scrape.php?pk=7&info_hash=") + kWikiHashEncoded +
                                    "&info_hash=bbbbbbbbbbbbbbbbbbbb HTTP/1.1\r\n",
                                0) == 0);

    auto expect_error = [&](const std::string& url, std::vector<udp::Hash20> hashes, const std::string& what) {
        HttpTrackerClient e(loop.get(), url);
        bool d = false;
        e.scrape(hashes, [&](Result<std::vector<udp::ScrapeEntry>> r) {
            REQUIRE_FALSE(r.ok());
            CHECK_MESSAGE(r.error().str().find(what) != std::string::npos, r.error().str());
            d = true;
        });
        CHECK_FALSE(d);
        REQUIRE(run_until_flag(loop, d));
    };
    expect_error(srv.url("/tracker"), {a}, "no scrape URL (BEP 48");
    expect_error(srv.url("/announce"), {}, "1 to 64 info hashes, not 0");
    expect_error(srv.url("/y/announce"), {a}, "HTTP status 404");
    CHECK(srv.requests.size() == 2); // the two refused before sending asked nothing
}

TEST_CASE("http tracker client: pending announces are bounded") {
    Loop loop;
    TestServer srv(loop.get());
    srv.respond = nullptr; // never answers: every announce stays pending
    HttpGetOptions opt;
    opt.timeout_ms = 200;
    HttpTrackerClient c(loop.get(), srv.url(), opt);
    int errors = 0, refused = 0;
    for (std::size_t i = 0; i < HttpTrackerClient::kMaxPending + 3; ++i)
        c.announce(announce_params(), [&](Result<AnnounceResult> r) {
            REQUIRE_FALSE(r.ok());
            ++errors;
            if (r.error().what.find("too many pending") != std::string::npos) ++refused;
        });
    bool done = false;
    Timer t(loop.get());
    t.start(50, 50, [&] { done = errors == static_cast<int>(HttpTrackerClient::kMaxPending + 3); });
    REQUIRE(run_until_flag(loop, done));
    CHECK(refused == 3);
}

TEST_CASE("announcer: http:// trackers in BEP 12 tiers, fallback, stopped on shutdown, no catalog") {
    Loop loop;
    TestServer srv(loop.get());
    srv.respond = [](const std::string&) { return http_ok(kTwoPeers); };
    std::uint16_t dead;
    {
        TestServer gone(loop.get());
        dead = gone.port;
    }
    TrackerClients clients(loop.get());
    CHECK(clients.get(srv.url()).http != nullptr);
    CHECK(clients.get(srv.url()).http == clients.get(srv.url()).http); // one client per URL
    CHECK(clients.get("udp://127.0.0.1:9/announce").udp != nullptr);
    if (tls_available()) {
        CHECK(clients.get("https://x.example/announce").http != nullptr); // no lookup until it announces
    } else { // -Dtls=false: skipped with the reason, not tried at every announce
        CHECK_FALSE(clients.get("https://x.example/announce"));
        CHECK(TrackerClients::unsupported_reason("https://x.example/announce") == kNoTlsWhy);
    }
    CHECK_FALSE(clients.get("wss://x.example/announce"));
    CHECK(TrackerClients::unsupported_reason("wss://x.example/announce").find("https://") != std::string::npos);
    CHECK(TrackerClients::unsupported_reason("https://u@x.example/a").find("user info") != std::string::npos);

    AnnouncerConfig cfg;
    cfg.info_hash = wiki_hash();
    cfg.peer_id = std::string(20, 'q');
    cfg.port = 7000;
    cfg.tiers = {{"http://127.0.0.1:" + std::to_string(dead) + "/announce", srv.url()}, {"wss://skipped.example/a"}};
    cfg.publish_name = "name"; // must not be attempted on an http tracker
    cfg.retry_after_fail_ms = 20;
    std::vector<PeerEndpoint> got;
    Announcer a(
        loop.get(), clients, cfg,
        [] {
            return AnnounceStats{0, 0, 1234};
        },
        [&](const std::vector<PeerEndpoint>& p) { got.insert(got.end(), p.begin(), p.end()); });
    a.start();
    bool have = false;
    Timer poll(loop.get());
    poll.start(10, 10, [&] { have = !got.empty(); });
    REQUIRE(run_until_flag(loop, have));
    CHECK(a.last_result() == "ok");
    REQUIRE(got.size() == 2);
    CHECK(got[0].ip == "10.0.0.1");
    REQUIRE(srv.requests.size() == 1);
    CHECK(srv.requests[0].find("&event=started&") != std::string::npos);
    CHECK(srv.requests[0].find("&left=1234&") != std::string::npos);

    bool stopped = false;
    a.stop(2000, [&] { stopped = true; });
    REQUIRE(run_until_flag(loop, stopped));
    REQUIRE(srv.requests.size() == 2);
    CHECK(srv.requests[1].find("&event=stopped&") != std::string::npos);
}

TEST_CASE("announcer: stop sends stopped after an unanswered completed is answered, or at half its timeout") {
    Loop loop;
    TestServer srv(loop.get());
    srv.respond = [](const std::string& req) { // `completed` is held until released
        return req.find("&event=completed&") != std::string::npos ? std::string() : http_ok(kTwoPeers);
    };
    TrackerClients clients(loop.get());
    AnnouncerConfig cfg = one_tracker(srv);
    auto started = [&](Announcer& a) {
        a.start();
        REQUIRE(p2p::test::run_until(
            loop, [&] { return a.last_result() == "ok"; }, 5000));
        a.completed();
        REQUIRE(p2p::test::run_until(
            loop, [&] { return srv.requests.size() == 2; }, 5000));
        CHECK(srv.requests[1].find("&event=completed&") != std::string::npos);
    };

    SUBCASE("answered: stopped follows the answer") {
        Announcer a(
            loop.get(), clients, cfg, [] { return AnnounceStats{0, 0, 0}; }, [](const std::vector<PeerEndpoint>&) {});
        started(a);
        bool stopped = false;
        a.stop(4000, [&] { stopped = true; });
        run_for(loop, 300);
        CHECK(srv.requests.size() == 2); // held back: the tracker would see stopped before completed
        CHECK_FALSE(stopped);
        srv.release_held(http_ok(kTwoPeers));
        REQUIRE(run_until_flag(loop, stopped));
        REQUIRE(srv.requests.size() == 3);
        CHECK(srv.requests[2].find("&event=stopped&") != std::string::npos);
    }
    SUBCASE("never answered: stopped goes at half the timeout, done at the timeout") {
        Announcer a(
            loop.get(), clients, cfg, [] { return AnnounceStats{0, 0, 0}; }, [](const std::vector<PeerEndpoint>&) {});
        started(a);
        srv.respond = [](const std::string& req) { // the stopped is held too: done comes from the timeout
            return req.find("&event=stopped&") != std::string::npos || req.find("&event=completed&") != std::string::npos
                       ? std::string()
                       : http_ok(kTwoPeers);
        };
        bool stopped = false;
        const std::uint64_t t0 = loop.now_ms();
        a.stop(600, [&] { stopped = true; });
        REQUIRE(p2p::test::run_until(
            loop, [&] { return srv.requests.size() == 3; }, 5000));
        const std::uint64_t sent = loop.now_ms() - t0;
        CHECK(sent >= 300);
        CHECK(sent < 550);
        CHECK(srv.requests[2].find("&event=stopped&") != std::string::npos);
        REQUIRE(run_until_flag(loop, stopped));
        CHECK(loop.now_ms() - t0 >= 600);
    }
}

TEST_CASE("announcer: an http tracker's \"min interval\" floors the quick re-announces of a download without peers") {
    Loop loop;
    TestServer srv(loop.get());
    // interval 2 s, min interval 1 s, no peers
    srv.respond = [](const std::string&) { return http_ok("d8:intervali2e12:min intervali1e5:peers0:e"); };
    TrackerClients clients(loop.get());
    AnnouncerConfig cfg = one_tracker(srv);
    cfg.wants_peers = [] { return true; };
    cfg.wanting_first_ms = 50; // would be 50 ms without the tracker's floor
    cfg.recheck_ms = 20;
    cfg.shortest_interval_ms = 0;
    std::vector<std::uint64_t> at;
    Announcer a(
        loop.get(), clients, cfg,
        [&] {
            at.push_back(loop.now_ms());
            return AnnounceStats{0, 0, 1234};
        },
        [](const std::vector<PeerEndpoint>&) {});
    a.start();
    REQUIRE(test::run_until(
        loop, [&] { return at.size() >= 2 && srv.requests.size() >= 2; }, 3000));
    CHECK(clients.get(srv.url()).http->min_interval_s() == 1);
    CHECK_MESSAGE(at[1] - at[0] >= 1000, "gap " << at[1] - at[0]);
    CHECK_MESSAGE(at[1] - at[0] < 1500, "gap " << at[1] - at[0]);
    REQUIRE(srv.requests.size() >= 2);
    CHECK(srv.requests[0].find("&event=started&") != std::string::npos);
    CHECK(srv.requests[1].find("&event=") == std::string::npos); // a regular announce
    bool stopped = false;
    a.stop(2000, [&] { stopped = true; });
    REQUIRE(run_until_flag(loop, stopped));
}
