// The generic HTTP/1.1 server (src/http/server.*) on 127.0.0.1:0, driven by raw non-blocking TCP clients polled
// while the loop runs: keep-alive, pipelining under the output bound, the header/body/count limits, the slow-loris
// cut-off and the connection cap.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http/server.hpp"
#include "loop/loop.hpp"
#include "test_util.hpp"

using namespace p2p;
using p2p::test::run_until;

namespace {

using RawClient = p2p::test::LoopbackClient;

// A server whose handler answers "n=<request number> <target>" and may be told to throw or close.
struct Fixture {
    Loop loop;
    int handled = 0;
    std::unique_ptr<http::Server> server;
    explicit Fixture(http::Limits limits = {}) {
        server = std::make_unique<http::Server>(loop.get(), limits, [this](const http::Request& rq, http::Response& rs) {
            ++handled;
            if (rq.path() == "/throw") throw std::runtime_error("handler bug");
            rs.body = "n=" + std::to_string(handled) + " " + rq.target;
            rs.close = rq.path() == "/close";
        });
        REQUIRE(server->listen({"127.0.0.1"}, 0).ok());
    }
    std::uint16_t port() const { return server->bound().front().port; }
    bool until(const std::function<bool()>& pred, std::uint64_t ms = 5000) { return run_until(loop, pred, ms); }
};

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

} // namespace

TEST_CASE("http server: keep-alive serves two requests on one connection") {
    Fixture f;
    CHECK(f.server->bound().front().url() == "http://127.0.0.1:" + std::to_string(f.port()));
    RawClient c(f.port());
    REQUIRE(c.send(get("/a?x=1")));
    REQUIRE(f.until([&] { c.pump(); return c.count("n=1 /a?x=1") == 1; }));
    CHECK(c.got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(c.got.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(c.got.find("Connection: close") == std::string::npos);
    REQUIRE(c.send(get("/b")));
    REQUIRE(f.until([&] { c.pump(); return c.count("n=2 /b") == 1; }));
    CHECK_FALSE(c.eof);
    CHECK(f.server->stats().accepted == 1);
    CHECK(f.server->stats().requests == 2);
    CHECK(f.server->connections() == 1);
    CHECK(f.server->memory_used() > 0);
}

TEST_CASE("http server: Connection: close and HTTP/1.0 close after the answer; HEAD has no body") {
    Fixture f;
    RawClient a(f.port());
    REQUIRE(a.send(get("/x", "Connection: close\r\n") + get("/never")));
    REQUIRE(f.until([&] { a.pump(); return a.eof; }));
    CHECK(a.count("HTTP/1.1 200") == 1);
    CHECK(a.got.find("Connection: close\r\n") != std::string::npos);
    CHECK(a.count("/never") == 0); // nothing after a closing request is read

    RawClient b(f.port());
    REQUIRE(b.send("GET /old HTTP/1.0\r\n\r\n"));
    REQUIRE(f.until([&] { b.pump(); return b.eof; }));
    CHECK(b.count("n=") == 1);

    RawClient c(f.port());
    REQUIRE(c.send("GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.1\r\n\r\n"));
    REQUIRE(f.until([&] { c.pump(); return c.count("HTTP/1.1 200") == 2; }));
    CHECK(c.got.find("Connection: keep-alive\r\n") != std::string::npos);
    CHECK(c.count("/h") == 0); // HEAD: headers only
    CHECK_FALSE(c.eof);

    RawClient d(f.port());
    REQUIRE(d.send(get("/close")));
    REQUIRE(f.until([&] { d.pump(); return d.eof; }));
    CHECK(d.count("n=") == 1);
}

TEST_CASE("http server: pipelined requests are all answered, in order, under a tiny output bound") {
    http::Limits l;
    l.max_output = 100; // pauses after about every answer
    Fixture f(l);
    RawClient c(f.port());
    std::string burst;
    for (int i = 0; i < 300; ++i) burst += get("/p" + std::to_string(i));
    REQUIRE(c.send(burst));
    f.until([&] { c.pump(); return c.count("HTTP/1.1 200") == 300; });
    INFO("answers: ", c.count("HTTP/1.1 200"), " handled: ", f.handled);
    REQUIRE(c.count("HTTP/1.1 200") == 300);
    for (int i = 0; i < 300; i += 37) CHECK(c.count("n=" + std::to_string(i + 1) + " /p" + std::to_string(i)) == 1);
    CHECK_FALSE(c.eof);
    // A half-close right after a pipelined burst: every request is still answered, then the connection closes.
    RawClient d(f.port());
    std::string more;
    for (int i = 0; i < 50; ++i) more += get("/q");
    REQUIRE(d.send(more));
    ::shutdown(d.fd, SHUT_WR);
    REQUIRE(f.until([&] { d.pump(); return d.eof; }));
    CHECK(d.count("HTTP/1.1 200") == 50);
}

TEST_CASE("http server: oversized headers get 431, too many fields 431, a body 413, garbage 400; each closes") {
    Fixture f;
    auto refused = [&](const std::string& bytes, const char* status) {
        RawClient c(f.port());
        REQUIRE(c.send(bytes));
        REQUIRE(f.until([&] { c.pump(); return c.eof; }));
        CHECK(c.got.rfind(std::string("HTTP/1.1 ") + status, 0) == 0);
        CHECK(c.got.find("Connection: close\r\n") != std::string::npos);
    };
    refused(get("/h", "X-Big: " + std::string(9000, 'a') + "\r\n"), "431");
    refused("GET /" + std::string(9000, 'u') + " HTTP/1.1\r\n\r\n", "431");
    std::string many;
    for (int i = 0; i < 70; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
    refused(get("/h", many), "431");
    refused("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", "413");
    refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "413");
    refused("\x16\x03\x01\x02\x00garbage\r\n\r\n", "400");
    refused("GET / HTTP/1.1\r\nBad Header\r\n\r\n", "400");
    CHECK(f.handled == 0);
    CHECK(f.server->stats().bad_requests == 7);
    // The header limit counts what was sent, not one read: a request just under it passes.
    RawClient ok(f.port());
    REQUIRE(ok.send(get("/h", "X-Big: " + std::string(7000, 'a') + "\r\n")));
    REQUIRE(f.until([&] { ok.pump(); return ok.count("HTTP/1.1 200") == 1; }));
}

TEST_CASE("http server: a handler that throws answers 500 and closes; the server keeps serving") {
    Fixture f;
    RawClient c(f.port());
    REQUIRE(c.send(get("/throw")));
    REQUIRE(f.until([&] { c.pump(); return c.eof; }));
    CHECK(c.got.rfind("HTTP/1.1 500", 0) == 0);
    RawClient d(f.port());
    REQUIRE(d.send(get("/fine")));
    REQUIRE(f.until([&] { d.pump(); return d.count("HTTP/1.1 200") == 1; }));
}

TEST_CASE("http server: a slow-loris client is cut off at the fixed header time however it trickles") {
    http::Limits l;
    l.header_timeout_ms = 400;
    Fixture f(l);
    RawClient c(f.port());
    const std::string req = get("/slow", "X-Pad: " + std::string(200, 'z') + "\r\n");
    std::size_t sent = 0;
    const std::uint64_t t0 = f.loop.now_ms();
    std::uint64_t last = 0;
    REQUIRE(f.until(
        [&] {
            c.pump();
            if (c.eof) return true;
            const std::uint64_t now = f.loop.now_ms();
            if (sent < req.size() && now - last >= 20) { // a byte every 20 ms: ~5 s for the whole request
                last = now;
                if (!c.send(std::string_view(req).substr(sent++, 1))) return true; // reset by the server
            }
            return false;
        },
        5000));
    const std::uint64_t took = f.loop.now_ms() - t0;
    CHECK(sent < req.size());
    CHECK(took >= 350);
    CHECK(took < 1500);
    CHECK(f.handled == 0);
    CHECK(f.server->stats().timed_out == 1);

    // Connected and silent: the same limit. Idle between keep-alive requests: idle_timeout.
    RawClient silent(f.port());
    REQUIRE(f.until([&] { silent.pump(); return silent.eof; }, 3000));
}

// TCP_DEFER_ACCEPT (the tracker's HTTP port): a connection is the server's once its request is in. A silent one
// stays in the kernel, holding no connection slot, until the kernel hands it over anyway (~1 s: one SYN-ACK
// retransmission), and is then cut off at the header time like any other; one that talks is answered at once.
TEST_CASE("http server: with deferred accept a silent connection waits in the kernel, then times out as before") {
    http::Limits l;
    l.defer_accept_s = 1;
    l.header_timeout_ms = 300;
    Fixture f(l);
    RawClient silent(f.port());
    f.until([] { return false; }, 200);
    CHECK(f.server->stats().accepted == 0);
    CHECK(f.server->connections() == 0);
    RawClient talks(f.port());
    REQUIRE(talks.send(get("/t", "Connection: close\r\n")));
    REQUIRE(f.until([&] {
        talks.pump();
        return talks.eof;
    }));
    CHECK(talks.count("HTTP/1.1 200") == 1);
    CHECK(f.server->stats().accepted == 1);
    REQUIRE(f.until(
        [&] {
            silent.pump();
            return silent.eof;
        },
        8000));
    CHECK(silent.got.empty());
    CHECK(f.server->stats().accepted == 2);
    CHECK(f.server->stats().timed_out == 1);
}

TEST_CASE("http server: at the connection cap the longest idle is evicted, else the newcomer is refused") {
    http::Limits l;
    l.max_connections = 2;
    Fixture f(l);
    RawClient a(f.port());
    REQUIRE(a.send(get("/a")));
    REQUIRE(f.until([&] { a.pump(); return a.count("HTTP/1.1 200") == 1; }));
    RawClient b(f.port());
    REQUIRE(b.send(get("/b")));
    REQUIRE(f.until([&] { b.pump(); return b.count("HTTP/1.1 200") == 1; }));
    // Both idle: c evicts a (idle the longest).
    RawClient c(f.port());
    REQUIRE(f.until([&] { a.pump(); return a.eof; }));
    CHECK(f.server->stats().evicted == 1);
    // b and c busy (a request half sent): d finds nobody idle and is refused.
    REQUIRE(b.send("GET /half"));
    REQUIRE(c.send("GET /half"));
    REQUIRE(f.until([&] { return f.server->stats().accepted == 3 && f.server->connections() == 2; }));
    f.until([] { return false; }, 50); // let the server read the halves
    RawClient d(f.port());
    REQUIRE(f.until([&] { d.pump(); return d.eof; }));
    CHECK(d.got.empty());
    CHECK(f.server->stats().refused == 1);
    CHECK(f.server->connections() == 2);
    // b finishes its request and is answered: the cap cost the busy ones nothing.
    REQUIRE(b.send(" HTTP/1.1\r\n\r\n"));
    REQUIRE(f.until([&] { b.pump(); return b.count("HTTP/1.1 200") == 2; }));
}

TEST_CASE("http server: close() with connections open, then destruction, leaves nothing behind") {
    Fixture f;
    RawClient a(f.port()), b(f.port());
    REQUIRE(a.send("GET /partial"));
    REQUIRE(f.until([&] { return f.server->connections() == 2; }));
    f.server->close();
    CHECK(f.server->connections() == 0);
    REQUIRE(f.until([&] { a.pump(); b.pump(); return a.eof && b.eof; }));
    f.server.reset();
}

// A request already in at the accept is answered at once, without a libuv handle for the connection (the
// "Connection: close" announce); one that comes later goes through the uv_tcp_t. Both see the peer's address
// (accept4's, there is no getpeername), and a big answer that the socket does not take whole is finished by libuv.
TEST_CASE("http server: a request in at the accept and one sent later both see the peer; a big answer is whole") {
    Loop loop;
    std::vector<std::uint16_t> ports;
    http::Server server(loop.get(), {}, [&](const http::Request& rq, http::Response& rs) {
        CHECK(rq.peer.ss_family == AF_INET);
        ports.push_back(ntohs(reinterpret_cast<const sockaddr_in*>(&rq.peer)->sin_port));
        rs.body = rq.path() == "/big" ? std::string(4 * 1024 * 1024, 'b') : "ok";
    });
    REQUIRE(server.listen({"127.0.0.1"}, 0).ok());
    auto local_port = [](const RawClient& c) {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        ::getsockname(c.fd, reinterpret_cast<sockaddr*>(&a), &len);
        return ntohs(a.sin_port);
    };
    RawClient early(server.bound().front().port); // the request is sent before the server runs: in at the accept
    REQUIRE(early.send(get("/e", "Connection: close\r\n")));
    REQUIRE(run_until(loop, [&] { early.pump(); return early.eof; }, 5000));
    CHECK(early.count("HTTP/1.1 200") == 1);
    RawClient late(server.bound().front().port); // accepted first, its request after
    REQUIRE(run_until(loop, [&] { return server.connections() == 1; }, 5000));
    REQUIRE(late.send(get("/l", "Connection: close\r\n")));
    REQUIRE(run_until(loop, [&] { late.pump(); return late.eof; }, 5000));
    CHECK(late.count("HTTP/1.1 200") == 1);
    RawClient big(server.bound().front().port); // in at the accept; the answer is far over the socket buffer
    REQUIRE(big.send(get("/big", "Connection: close\r\n")));
    REQUIRE(run_until(loop, [&] { big.pump(); return big.eof; }, 10000));
    CHECK(big.got.size() > 4 * 1024 * 1024);
    CHECK(big.got.find("Content-Length: 4194304\r\n") != std::string::npos);
    CHECK(big.count("b") >= 4 * 1024 * 1024);
    REQUIRE(ports.size() == 3);
    CHECK(ports[0] == local_port(early));
    CHECK(ports[1] == local_port(late));
    CHECK(ports[2] == local_port(big));
    CHECK(server.connections() == 0);
    CHECK(server.stats().accepted == 3);
}
