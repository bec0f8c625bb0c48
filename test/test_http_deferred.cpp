// http::Server's deferred answers (Response::defer, Deferred; src/http/server_deferred.cpp), on 127.0.0.1:0 with
// raw non-blocking clients: an answer given later, pipelined requests held behind it and answered in order, an
// answer given from inside the handler, a client that resets or half-closes first, the timeout (504), the cap (503),
// and a Deferred that outlives its server.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "http/metrics.hpp"
#include "http/server.hpp"
#include "loop/loop.hpp"
#include "test_util.hpp"

using namespace p2p;
using p2p::test::run_until;

namespace {

using Client = p2p::test::LoopbackClient;

// /later: deferred, kept in `waiting`; /inline: deferred and answered at once from the handler; else "now <target>".
struct Fixture {
    Loop loop;
    std::vector<http::Deferred> waiting;
    int refused = 0;
    std::unique_ptr<http::Server> server;
    explicit Fixture(http::Limits limits = {}) {
        server =
            std::make_unique<http::Server>(loop.get(), limits, [this](const http::Request& rq, http::Response& rs) {
                if (rq.path() == "/later") {
                    http::Deferred d = rs.defer();
                    if (d)
                        waiting.push_back(d);
                    else
                        ++refused;
                } else if (rq.path() == "/inline") {
                    http::Deferred d = rs.defer();
                    REQUIRE(d);
                    http::Response r;
                    r.body = "inline";
                    d.answer(r);
                    CHECK_FALSE(d.pending());
                } else {
                    rs.body = "now " + rq.target;
                }
            });
        REQUIRE(server->listen({"127.0.0.1"}, 0).ok());
    }
    std::uint16_t port() const { return server->bound().front().port; }
    bool until(const std::function<bool()>& pred, std::uint64_t ms = 5000) { return run_until(loop, pred, ms); }
    void idle(std::uint64_t ms) {
        run_until(
            loop, [] { return false; }, ms);
    }
    static http::Response text(std::string body) {
        http::Response r;
        r.body = std::move(body);
        return r;
    }
};

std::string get(const std::string& target, const std::string& extra = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

} // namespace

TEST_CASE("http deferred: answered later on a keep-alive connection, which then serves the next request") {
    Fixture f;
    Client c(f.port()); // the request is in at the accept: the fast path must attach the connection to wait
    REQUIRE(c.send(get("/later")));
    REQUIRE(f.until([&] { return f.waiting.size() == 1; }));
    f.idle(100);
    c.pump();
    CHECK(c.got.empty());
    CHECK(f.server->deferred_pending() == 1);
    CHECK(f.server->connections() == 1);
    CHECK(f.waiting[0].pending());
    f.waiting[0].answer(Fixture::text("done later"));
    CHECK_FALSE(f.waiting[0].pending());
    f.waiting[0].answer(Fixture::text("twice")); // a second answer does nothing
    REQUIRE(f.until([&] {
        c.pump();
        return c.count("done later") == 1;
    }));
    CHECK(c.got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(c.count("twice") == 0);
    CHECK(f.server->deferred_pending() == 0);
    REQUIRE(c.send(get("/after")));
    REQUIRE(f.until([&] {
        c.pump();
        return c.count("now /after") == 1;
    }));
    CHECK_FALSE(c.eof);
    CHECK(f.server->stats().deferred == 1);
}

TEST_CASE("http deferred: pipelined requests behind a deferred one wait and are answered after it, in order") {
    Fixture f;
    Client c(f.port());
    REQUIRE(c.send(get("/a") + get("/later") + get("/b") + get("/c")));
    REQUIRE(f.until([&] {
        c.pump();
        return f.waiting.size() == 1 && c.count("now /a") == 1;
    }));
    f.idle(100);
    c.pump();
    CHECK(c.count("HTTP/1.1 200") == 1); // /b and /c are not even parsed yet
    REQUIRE(c.send(get("/d")));          // more while waiting: read into the stash, answered later too
    f.idle(50);
    c.pump();
    CHECK(c.count("HTTP/1.1 200") == 1);
    f.waiting[0].answer(Fixture::text("L"));
    REQUIRE(f.until([&] {
        c.pump();
        return c.count("HTTP/1.1 200") == 5;
    }));
    const auto at = [&](const char* s) { return c.got.find(s); };
    CHECK(at("now /a") < at("\r\n\r\nL"));
    CHECK(at("\r\n\r\nL") < at("now /b"));
    CHECK(at("now /b") < at("now /c"));
    CHECK(at("now /c") < at("now /d"));
    CHECK_FALSE(c.eof);
}

TEST_CASE("http deferred: an answer given from inside the handler is an ordinary answer; HEAD and close framing") {
    Fixture f;
    Client c(f.port());
    REQUIRE(c.send(get("/inline") + get("/x")));
    REQUIRE(f.until([&] {
        c.pump();
        return c.count("HTTP/1.1 200") == 2;
    }));
    CHECK(c.got.find("inline") < c.got.find("now /x"));
    CHECK(f.server->deferred_pending() == 0);
    CHECK(f.server->stats().deferred == 0); // answered inside the handler: not counted as deferred

    Client h(f.port()); // HEAD: the deferred answer has no body; Connection: close closes after it
    REQUIRE(h.send("HEAD /later HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get("/never")));
    REQUIRE(f.until([&] { return f.waiting.size() == 1; }));
    f.waiting[0].answer(Fixture::text("body-not-sent"));
    REQUIRE(f.until([&] {
        h.pump();
        return h.eof;
    }));
    CHECK(h.count("HTTP/1.1 200") == 1);
    CHECK(h.got.find("Content-Length: 13\r\n") != std::string::npos);
    CHECK(h.got.find("Connection: close\r\n") != std::string::npos);
    CHECK(h.count("body-not-sent") == 0);
    CHECK(h.count("/never") == 0);
}

TEST_CASE("http deferred: a client that resets first makes the answer a no-op; one that half-closes gets it") {
    Fixture f;
    {
        Client c(f.port());
        REQUIRE(c.send(get("/later")));
        REQUIRE(f.until([&] { return f.waiting.size() == 1; }));
        c.reset();
    }
    REQUIRE(f.until([&] { return !f.waiting[0].pending(); })); // read on while waiting: the reset is seen
    CHECK(f.server->connections() == 0);
    CHECK(f.server->deferred_pending() == 0);
    f.waiting[0].answer(Fixture::text("nobody")); // nothing happens (ASan: no use of the freed connection)
    f.idle(50);

    Client h(f.port()); // a half-close (FIN) after the request: still answered, then closed
    REQUIRE(h.send(get("/later") + get("/then")));
    REQUIRE(f.until([&] { return f.waiting.size() == 2; }));
    ::shutdown(h.fd, SHUT_WR);
    f.idle(100);
    CHECK(f.waiting[1].pending());
    f.waiting[1].answer(Fixture::text("half"));
    REQUIRE(f.until([&] {
        h.pump();
        return h.eof;
    }));
    CHECK(h.count("half") == 1);
    CHECK(h.count("now /then") == 1);
    REQUIRE(f.until([&] { return f.server->connections() == 0; }));
}

TEST_CASE("http deferred: no answer within deferred_timeout_ms is a 504 and a close; the late answer is a no-op") {
    http::Limits l;
    l.deferred_timeout_ms = 200;
    Fixture f(l);
    Client c(f.port());
    const std::uint64_t t0 = f.loop.now_ms();
    REQUIRE(c.send(get("/later") + get("/never")));
    REQUIRE(f.until([&] {
        c.pump();
        return c.eof;
    }));
    const std::uint64_t took = f.loop.now_ms() - t0;
    CHECK(took >= 190);
    CHECK(took < 2000);
    CHECK(c.got.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
    CHECK(c.got.find("Connection: close\r\n") != std::string::npos);
    CHECK(c.count("/never") == 0);
    REQUIRE(f.waiting.size() == 1);
    CHECK_FALSE(f.waiting[0].pending());
    f.waiting[0].answer(Fixture::text("too late"));
    CHECK(f.server->stats().deferred_late == 1);
    CHECK(f.server->deferred_pending() == 0);
    REQUIRE(f.until([&] { return f.server->connections() == 0; }));
}

TEST_CASE("http deferred: over max_deferred the handler's Response is answered 503 at once; later ones defer again") {
    http::Limits l;
    l.max_deferred = 2;
    Fixture f(l);
    Client a(f.port()), b(f.port()), c(f.port());
    REQUIRE(a.send(get("/later")));
    REQUIRE(b.send(get("/later")));
    REQUIRE(f.until([&] { return f.waiting.size() == 2; }));
    REQUIRE(c.send(get("/later")));
    REQUIRE(f.until([&] {
        c.pump();
        return c.count("HTTP/1.1 503") == 1;
    }));
    CHECK(c.got.find("Retry-After: 1\r\n") != std::string::npos);
    CHECK(f.refused == 1);
    CHECK(f.server->stats().deferred_refused == 1);
    CHECK(f.server->deferred_pending() == 2);
    {   // and so say /metrics and /stats
        http::MetricsText m;
        m.server("x_http", "Open connections.", *f.server);
        const std::string text = m.take();
        CHECK(text.find("x_http_deferred_answers_total{outcome=\"deferred\"} 2\n") != std::string::npos);
        CHECK(text.find("x_http_deferred_answers_total{outcome=\"refused\"} 1\n") != std::string::npos);
        CHECK(text.find("x_http_deferred_answers_total{outcome=\"timed_out\"} 0\n") != std::string::npos);
        nlohmann::json j;
        http::add_server_stats(j, *f.server);
        CHECK(j["deferred_refused"] == 1);
    }
    // Once one is answered the cap has room again.
    f.waiting[0].answer(Fixture::text("A"));
    REQUIRE(f.until([&] {
        a.pump();
        return a.count("HTTP/1.1 200") == 1;
    }));
    REQUIRE(c.send(get("/later")));
    REQUIRE(f.until([&] { return f.waiting.size() == 3; }));
    f.waiting[1].answer(Fixture::text("B"));
    f.waiting[2].answer(Fixture::text("C"));
    REQUIRE(f.until([&] {
        b.pump();
        c.pump();
        return b.count("200 OK") == 1 && c.count("200 OK") == 1;
    }));
    CHECK(f.server->deferred_pending() == 0);
}

TEST_CASE("http deferred: a Deferred that outlives its connection's server does nothing") {
    Fixture f;
    Client c(f.port());
    REQUIRE(c.send(get("/later")));
    REQUIRE(f.until([&] { return f.waiting.size() == 1; }));
    f.server->close();
    CHECK_FALSE(f.waiting[0].pending());
    f.waiting[0].answer(Fixture::text("closed"));
    REQUIRE(f.until([&] {
        c.pump();
        return c.eof;
    }));
    CHECK(c.got.empty());

    Fixture g;
    Client d(g.port());
    REQUIRE(d.send(get("/later")));
    REQUIRE(g.until([&] { return g.waiting.size() == 1; }));
    g.server.reset(); // destroyed with the answer pending
    g.waiting[0].answer(Fixture::text("gone"));
    REQUIRE(g.until([&] {
        d.pump();
        return d.eof;
    }));
    CHECK(d.got.empty());
    http::Response plain; // a Response no server handed over cannot be deferred
    CHECK_FALSE(plain.defer());
}
