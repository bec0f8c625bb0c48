// The RPC's answers that come later (torrent-add of a URL or a catalog name): RpcMethods' asynchronous handle()
// over a fake node whose add_async keeps its callbacks (tag echoed, errors, at-once answers, an RpcMethods gone
// first), and RpcServer over a real socket, whose HTTP answer is deferred until the fake node answers (or the
// RPC closes and the node's adds are cancelled).
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "node/rpc_server.hpp"
#include "test_util.hpp"

using namespace p2p;
using nlohmann::json;

namespace {

// add_async keeps each request's callback; "now" is answered inside the call. cancel_adds answers "stopping".
struct AsyncNode {
    std::vector<RpcAddRequest> asked;
    std::vector<RpcNodeOps::AddDone> waiting;
    int cancels = 0;
    RpcNodeOps ops() {
        RpcNodeOps o;
        o.torrents = [] { return std::vector<RpcTorrentInfo>{}; };
        o.session = [] {
            RpcSessionInfo s;
            s.download_dir = "/dl";
            return s;
        };
        o.add = [](const RpcAddRequest& r) -> Result<RpcAdded> { return make_error(r.filename, "sync add used"); };
        o.add_async = [this](const RpcAddRequest& r, RpcNodeOps::AddDone done) {
            asked.push_back(r);
            if (r.filename == "now") return done(RpcAdded{std::string(40, 'e'), "now", false});
            waiting.push_back(std::move(done));
        };
        o.cancel_adds = [this] {
            ++cancels;
            auto all = std::move(waiting);
            waiting.clear();
            for (auto& d : all) d(make_error("x", "stopping"));
        };
        return o;
    }
};

json parse(const std::string& s) {
    json j = json::parse(s, nullptr, false);
    REQUIRE(j.is_object());
    return j;
}

} // namespace

TEST_CASE("rpc async: torrent-add of a URL or a name is answered when the node has it, with the tag") {
    AsyncNode node;
    RpcMethods m(node.ops(), [] { return std::int64_t{1'700'000'000}; });
    std::vector<std::string> answers;
    auto collect = [&](std::string s) { answers.push_back(std::move(s)); };

    m.handle(
        R"({"method":"torrent-add","tag":7,"arguments":{"filename":"http://127.0.0.1:1/a.torrent","paused":true}})",
        collect);
    m.handle(R"({"method":"torrent-add","tag":8,"arguments":{"filename":"album"}})", collect);
    CHECK(answers.empty());
    REQUIRE(node.asked.size() == 2);
    CHECK(node.asked[0].filename == "http://127.0.0.1:1/a.torrent");
    CHECK(node.asked[0].paused);
    CHECK(node.asked[1].filename == "album");

    // Other methods answer at once, through the same callback, while the adds wait.
    m.handle(R"({"method":"session-get","tag":9})", collect);
    REQUIRE(answers.size() == 1);
    CHECK(parse(answers[0])["tag"] == 9);

    // The name fails first: its own tag, the node's reason as the result.
    node.waiting[1](make_error("album", "not in the catalog of udp://127.0.0.1:1"));
    REQUIRE(answers.size() == 2);
    json err = parse(answers[1]);
    CHECK(err["tag"] == 8);
    CHECK(err["result"] == "album: not in the catalog of udp://127.0.0.1:1");
    CHECK(err["arguments"] == json::object());

    node.waiting[0](RpcAdded{std::string(40, 'f'), "a.bin", false});
    REQUIRE(answers.size() == 3);
    json ok = parse(answers[2]);
    CHECK(ok["tag"] == 7);
    CHECK(ok["result"] == "success");
    CHECK(ok["arguments"]["torrent-added"]["hashString"] == std::string(40, 'f'));
    CHECK(ok["arguments"]["torrent-added"]["name"] == "a.bin");
    CHECK(ok["arguments"]["torrent-added"]["id"] == 1);
    node.waiting[0](RpcAdded{std::string(40, 'f'), "again", false}); // a second call: ignored
    CHECK(answers.size() == 3);
    CHECK(m.counters().calls == 3);
    CHECK(m.counters().errors == 1);

    // A duplicate, answered inside the call: torrent-duplicate, same id.
    node.asked.clear();
    m.handle(R"({"method":"torrent-add","arguments":{"filename":"now"}})", collect);
    REQUIRE(answers.size() == 4);
    CHECK(parse(answers[3])["arguments"]["torrent-added"]["name"] == "now");
    CHECK_FALSE(parse(answers[3]).contains("tag"));

    // Bad arguments never reach the node.
    m.handle(R"({"method":"torrent-add","arguments":{"filename":"x","download-dir":"/elsewhere"}})", collect);
    m.handle(R"({"method":"torrent-add","arguments":{}})", collect);
    CHECK(node.asked.size() == 1);
    REQUIRE(answers.size() == 6);
    CHECK(parse(answers[4])["result"] != "success");
    CHECK(parse(answers[5])["result"] == "torrent-add needs \"filename\" or \"metainfo\"");

    // The synchronous handle() keeps using ops.add.
    CHECK(parse(m.handle(R"({"method":"torrent-add","arguments":{"filename":"y"}})"))["result"] == "y: sync add used");
}

TEST_CASE("rpc async: an add answered after its RpcMethods is gone calls nothing") {
    AsyncNode node;
    int answered = 0;
    {
        RpcMethods m(node.ops());
        m.handle(R"({"method":"torrent-add","arguments":{"filename":"album"}})", [&](std::string) { ++answered; });
    }
    REQUIRE(node.waiting.size() == 1);
    node.waiting[0](RpcAdded{std::string(40, 'a'), "album", false}); // ASan: nothing of m is touched
    CHECK(answered == 0);
}

namespace {

using Sock = p2p::test::LoopbackClient;

std::string post(const std::string& sid, const std::string& body) {
    return "POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Transmission-Session-Id: " + sid +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

} // namespace

TEST_CASE("rpc async: over a real socket the HTTP answer waits for the node; a later request on it waits behind") {
    Loop loop;
    AsyncNode node;
    RpcServer s(loop.get(), {}, node.ops(), {});
    REQUIRE(s.listen().ok());
    const std::uint16_t port = static_cast<std::uint16_t>(std::stoi(s.url().substr(17)));
    auto until = [&](const std::function<bool()>& pred) { return p2p::test::run_until(loop, pred, 5000); };

    Sock c(port);
    REQUIRE(c.send(post(s.session_id(), R"({"method":"torrent-add","tag":3,"arguments":{"filename":"http://h/x.torrent"}})") +
           post(s.session_id(), R"({"method":"session-stats","tag":4})")));
    REQUIRE(until([&] { return node.waiting.size() == 1; }));
    p2p::test::run_until(
        loop, [] { return false; }, 100);
    c.pump();
    CHECK(c.got.empty()); // neither the add nor the stats behind it
    node.waiting[0](RpcAdded{std::string(40, 'd'), "x", false});
    REQUIRE(until([&] {
        c.pump();
        return c.got.find("\"tag\":4") != std::string::npos;
    }));
    CHECK(c.got.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(c.got.find("X-Transmission-Session-Id: " + s.session_id()) != std::string::npos);
    CHECK(c.got.find("application/json") != std::string::npos);
    CHECK(c.got.find("\"tag\":3") < c.got.find("\"tag\":4"));
    CHECK(c.got.find("\"hashString\":\"" + std::string(40, 'd') + "\"") != std::string::npos);
    CHECK_FALSE(c.eof);

    // The RPC closes (quit) with an add in flight: the node's adds are cancelled, the answer goes out first.
    node.waiting.clear();
    Sock d(port);
    REQUIRE(d.send(post(s.session_id(), R"({"method":"torrent-add","arguments":{"filename":"album"}})")));
    REQUIRE(until([&] { return node.waiting.size() == 1; }));
    s.close();
    CHECK(node.cancels == 1);
    REQUIRE(until([&] {
        d.pump();
        return d.eof;
    }));
    CHECK(d.got.find("\"result\":\"x: stopping\"") != std::string::npos);
}
