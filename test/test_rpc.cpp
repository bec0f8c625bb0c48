// The Transmission RPC (src/node/rpc_server.*, rpc_methods.*): the HTTP checks (Host allow-list, basic auth,
// the X-Transmission-Session-Id handshake) through RpcServer::handle, the JSON methods over a fake node, and one
// round trip over a real socket on 127.0.0.1:0.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "loop/loop.hpp"
#include "node/rpc_server.hpp"
#include "node/web_page.hpp"
#include "test_util.hpp"

using namespace p2p;
using nlohmann::json;

namespace {

// A node with two torrents (one complete two-file torrent seeding, one magnet fetching metadata) that records
// every operation called.
struct FakeNode {
    std::vector<RpcTorrentInfo> rows;
    std::vector<std::string> calls;
    std::uint64_t up = 0, down = 0;
    FakeNode() {
        RpcTorrentInfo a;
        a.hash = std::string(40, 'a');
        a.name = "album";
        a.phase = TorrentPhase::seeding;
        a.total = a.have = 3000;
        a.uploaded = 1500;
        a.up_rate = 100;
        a.peers = 1;
        a.multi_file = true;
        a.download_dir = "/srv/share";
        a.piece_count = 1;
        a.piece_size = 16384;
        rows.push_back(a);
        RpcTorrentInfo m;
        m.hash = std::string(40, 'b');
        m.name = "magnet";
        m.has_metadata = false;
        rows.push_back(m);
    }
    RpcNodeOps ops() {
        RpcNodeOps o;
        o.torrents = [this] { return rows; };
        o.files = [](const std::string&) -> Result<std::vector<FileProgress>> {
            return std::vector<FileProgress>{{0, "a.flac", 1000, 1000}, {1, "b.flac", 2000, 2000}};
        };
        o.peers = [](const std::string&) -> Result<std::vector<Torrent::PeerSummary>> {
            Torrent::PeerSummary p;
            p.address = "10.0.0.2:6881";
            p.peer_id = "-TR3000-abcdefghijkl";
            p.have = 0.5;
            p.up_rate = 100;
            p.am_choking = false;
            p.peer_interested = true;
            return std::vector<Torrent::PeerSummary>{p};
        };
        o.trackers = [](const std::string&) { return std::vector<TrackerStatus>{}; };
        o.add = [this](const RpcAddRequest& r) -> Result<RpcAdded> {
            calls.push_back("add " + r.filename + (r.metainfo.empty() ? "" : " metainfo=" + r.metainfo) +
                            (r.paused ? " paused" : ""));
            if (r.filename == "bad") return make_error("bad", "not a torrent");
            RpcTorrentInfo t;
            t.hash = std::string(40, 'c');
            t.name = "new";
            rows.push_back(t);
            return RpcAdded{std::string(40, 'c'), "new", false};
        };
        o.pause = [this](const std::string& h) -> Result<std::string> { return calls.push_back("pause " + h), h; };
        o.resume = [this](const std::string& h) -> Result<std::string> { return calls.push_back("resume " + h), h; };
        o.reannounce = [this](const std::string& h) -> Result<std::string> { return calls.push_back("reann " + h), h; };
        o.verify = [this](const std::string& h) -> Result<std::string> { return calls.push_back("verify " + h), h; };
        o.remove = [this](const std::string& h, bool del) -> Result<std::string> {
            calls.push_back(std::string("remove ") + h + (del ? " delete" : ""));
            rows.erase(rows.begin());
            return h;
        };
        o.limit = [this](const std::string& h, std::uint64_t u, std::uint64_t d) -> Result<std::string> {
            calls.push_back("limit " + h + " " + std::to_string(u) + " " + std::to_string(d));
            return h;
        };
        o.select = [this](const std::string& h, const std::vector<std::size_t>& f, bool w) -> Result<std::string> {
            std::string line = "select " + h;
            for (std::size_t i : f) line += " " + std::to_string(i);
            calls.push_back(line + (w ? " want" : " skip"));
            return h;
        };
        o.session = [this] {
            RpcSessionInfo s;
            s.version = "p2pnode test";
            s.peer_port = 6881;
            s.download_dir = "/srv/share";
            s.encryption = "tolerated";
            s.up_limit = up;
            s.down_limit = down;
            return s;
        };
        o.set_session_limits = [this](std::uint64_t u, std::uint64_t d) { up = u, down = d; };
        return o;
    }
};

json call(RpcMethods& m, const std::string& body) {
    json j = json::parse(m.handle(body), nullptr, false);
    REQUIRE(j.is_object());
    return j;
}

http::Request rpc_request(const std::string& sid, const std::string& body, const std::string& host = "127.0.0.1:9091") {
    http::Request r;
    r.method = "POST";
    r.target = "/transmission/rpc";
    if (!host.empty()) r.headers.emplace_back("host", host);
    if (!sid.empty()) r.headers.emplace_back("x-transmission-session-id", sid);
    r.body = body;
    return r;
}

const std::string* header(const http::Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
        if (k == name) return &v;
    return nullptr;
}

} // namespace

TEST_CASE("rpc: the session-id handshake answers 409 with the id, then the call goes through") {
    Loop loop;
    FakeNode node;
    RpcServer s(loop.get(), {}, node.ops(), {});
    http::Response r1;
    s.handle(rpc_request("", R"({"method":"session-get","tag":3})"), r1);
    CHECK(r1.status == 409);
    const std::string* sid = header(r1, "X-Transmission-Session-Id");
    REQUIRE(sid);
    CHECK(*sid == s.session_id());
    CHECK(sid->size() == 48);
    http::Response wrong;
    s.handle(rpc_request("not-the-id", R"({"method":"session-get"})"), wrong);
    CHECK(wrong.status == 409);
    http::Response r2;
    s.handle(rpc_request(*sid, R"({"method":"session-get","tag":3})"), r2);
    CHECK(r2.status == 200);
    json j = json::parse(r2.body);
    CHECK(j["result"] == "success");
    CHECK(j["tag"] == 3);
    CHECK(j["arguments"]["rpc-version"] == RpcMethods::kRpcVersion);
    CHECK(j["arguments"]["version"] == "p2pnode test");
    CHECK(j["arguments"]["download-dir"] == "/srv/share");
    http::Response trailing; // transmission-remote posts to /transmission/rpc/
    auto req = rpc_request(*sid, R"({"method":"session-stats"})");
    req.target = "/transmission/rpc/";
    s.handle(req, trailing);
    CHECK(trailing.status == 200);
    CHECK(s.counters().conflicts == 2);
}

TEST_CASE("rpc: the Host allow-list refuses names other than localhost (DNS rebinding)") {
    for (const std::string ok : {"localhost", "LOCALHOST:9091", "127.0.0.1", "[::1]:9091", "[::1]", "192.168.1.5:80"})
        CHECK_MESSAGE(RpcServer::host_allowed(&ok), ok);
    for (const std::string bad : {"evil.example", "evil.example:9091", "localhost.evil.example", "", "[::1", "[zz]:1",
                                  "127.0.0.1.evil.example"})
        CHECK_MESSAGE(!RpcServer::host_allowed(&bad), bad);
    CHECK(!RpcServer::host_allowed(nullptr));

    Loop loop;
    FakeNode node;
    RpcServer s(loop.get(), {}, node.ops(), {});
    http::Response r;
    s.handle(rpc_request(s.session_id(), R"({"method":"session-get"})", "attacker.example:9091"), r);
    CHECK(r.status == 421);
    CHECK(r.body.find("success") == std::string::npos);
    http::Response none;
    s.handle(rpc_request(s.session_id(), R"({"method":"session-get"})", ""), none);
    CHECK(none.status == 421);
    CHECK(s.counters().misdirected == 2);
    CHECK(s.methods().counters().calls == 0);
}

TEST_CASE("rpc: basic auth from --rpc-auth-file: 401 with WWW-Authenticate, then accepted") {
    Loop loop;
    FakeNode node;
    RpcServerConfig cfg;
    cfg.auth = "alice:s3cret";
    RpcServer s(loop.get(), cfg, node.ops(), {});
    http::Response r;
    s.handle(rpc_request(s.session_id(), R"({"method":"session-get"})"), r);
    CHECK(r.status == 401);
    REQUIRE(header(r, "WWW-Authenticate"));
    CHECK(header(r, "WWW-Authenticate")->rfind("Basic realm=", 0) == 0);
    auto with = [&](const std::string& value) {
        auto req = rpc_request(s.session_id(), R"({"method":"session-get"})");
        req.headers.emplace_back("authorization", value);
        http::Response out;
        s.handle(req, out);
        return out.status;
    };
    CHECK(with("Basic YWxpY2U6czNjcmV0") == 200); // alice:s3cret
    CHECK(with("basic YWxpY2U6czNjcmV0") == 200);
    CHECK(with("Basic YWxpY2U6d3Jvbmc=") == 401); // alice:wrong
    CHECK(with("Basic !!!") == 401);
    CHECK(with("Bearer YWxpY2U6czNjcmV0") == 401);
    // /stats is behind the same checks.
    http::Request st;
    st.method = "GET";
    st.target = "/stats";
    st.headers.emplace_back("host", "localhost");
    http::Response sr;
    s.handle(st, sr);
    CHECK(sr.status == 401);

    p2p::test::TempDir dir("rpc_auth");
    const std::string file = dir.str() + "/auth";
    auto write = [&](const char* text) { std::ofstream(file, std::ios::trunc) << text; };
    write("alice:s3cret\n");
    auto a = RpcServer::read_auth_file(file);
    REQUIRE(a.ok());
    CHECK(*a == "alice:s3cret");
    write("no colon here\n");
    CHECK(!RpcServer::read_auth_file(file).ok());
    write("alice:x\nbob:y\n");
    CHECK(!RpcServer::read_auth_file(file).ok());
    CHECK(!RpcServer::read_auth_file(dir.str() + "/missing").ok());
}

TEST_CASE("rpc: bad JSON, a missing method and an unknown method answer Transmission's error shape") {
    FakeNode node;
    RpcMethods m(node.ops(), [] { return std::int64_t{1'700'000'000}; });
    for (const char* body :
         {"{not json", "[1,2]", "", "\"str\"", R"({"method": 7})", R"({"method":"torrent-get","arguments":[1]})"}) {
        json j = call(m, body);
        CHECK_MESSAGE(j["result"] != "success", body);
        CHECK(j["arguments"].is_object());
        CHECK(j["arguments"].empty());
    }
    json u = call(m, R"({"method":"no-such-thing","tag":9})");
    CHECK(u["result"] == "method name not recognized");
    CHECK(u["tag"] == 9);
    // Arguments of the wrong type are errors, never exceptions.
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"downloadLimit":"fast"}})")["result"] != "success");
    CHECK(call(m, R"({"method":"torrent-get","arguments":{"fields":["id"],"ids":{"x":1}}})")["result"] != "success");
    CHECK(call(m, R"({"method":"torrent-add","arguments":{"metainfo":"@@@"}})")["result"] != "success");
    CHECK(call(m, R"({"method":"torrent-verify","arguments":{"ids":"nope"}})")["result"] != "success");
    CHECK(call(m, R"({"method":"port-test"})")["result"].get<std::string>().find("cannot test") != std::string::npos);
    CHECK(m.counters().errors >= 9);
}

TEST_CASE("rpc: torrent-get field shapes, as transmission-remote -l, -i and -f read them") {
    FakeNode node;
    RpcMethods m(node.ops(), [] { return std::int64_t{1'700'000'000}; });
    json j = call(m, R"({"method":"torrent-get","tag":4,"arguments":{"fields":["id","name","hashString","status",
        "percentDone","rateDownload","rateUpload","eta","peersConnected","peersGettingFromUs","peersSendingToUs",
        "totalSize","sizeWhenDone","leftUntilDone","uploadRatio","error","errorString","downloadDir","isFinished",
        "addedDate","uploadedEver","downloadedEver","haveValid","haveUnchecked","files","fileStats","priorities",
        "wanted","peers","trackerStats","downloadLimited","unknownField"]}})");
    REQUIRE(j["result"] == "success");
    const json& ts = j["arguments"]["torrents"];
    REQUIRE(ts.size() == 2);
    const json& a = ts[0];
    CHECK(a["id"] == 1);
    CHECK(a["name"] == "album");
    CHECK(a["hashString"] == std::string(40, 'a'));
    CHECK(a["status"] == 6);
    CHECK(a["percentDone"].is_number_float());
    CHECK(a["percentDone"] == 1.0);
    CHECK(a["uploadRatio"].is_number_float());
    CHECK(a["uploadRatio"] == -2.0); // uploaded, nothing downloaded: infinite
    CHECK(a["eta"] == -1);
    CHECK(a["leftUntilDone"] == 0);
    CHECK(a["sizeWhenDone"] == 3000);
    CHECK(a["rateUpload"] == 100);
    CHECK(a["peersGettingFromUs"] == 1);
    CHECK(a["peersSendingToUs"] == 0);
    CHECK(a["error"] == 0);
    CHECK(a["errorString"] == "");
    CHECK(a["isFinished"] == false);
    CHECK(a["addedDate"] == 1'700'000'000);
    CHECK(a["haveValid"] == 3000);
    CHECK(a["downloadDir"] == "/srv/share");
    REQUIRE(a["files"].size() == 2);
    CHECK(a["files"][0]["name"] == "album/a.flac"); // multi-file: under the torrent's folder, as Transmission
    CHECK(a["files"][1]["length"] == 2000);
    CHECK(a["files"][1]["bytesCompleted"] == 2000);
    CHECK(a["fileStats"][0]["wanted"] == true);
    CHECK(a["priorities"] == json::array({0, 0}));
    CHECK(a["wanted"] == json::array({1, 1}));
    REQUIRE(a["peers"].size() == 1);
    CHECK(a["peers"][0]["address"] == "10.0.0.2");
    CHECK(a["peers"][0]["port"] == 6881);
    CHECK(a["peers"][0]["clientName"] == "TR3000");
    CHECK(a["peers"][0]["progress"].is_number_float());
    CHECK(a["peers"][0]["flagStr"] == "U");
    CHECK(a["trackerStats"].is_array());
    CHECK(a["downloadLimited"] == false);
    CHECK(!a.contains("unknownField"));
    const json& b = ts[1]; // the magnet: downloading, size unknown yet
    CHECK(b["id"] == 2);
    CHECK(b["status"] == 4);
    CHECK(b["sizeWhenDone"] == 0);
    CHECK(b["files"].empty());

    // ids: a number, a hash, a list; unknown ids select nothing.
    auto count = [&](const std::string& ids) {
        json r = call(m, R"({"method":"torrent-get","arguments":{"fields":["id"],"ids":)" + ids + "}}");
        REQUIRE(r["result"] == "success");
        return r["arguments"]["torrents"].size();
    };
    CHECK(count("2") == 1);
    CHECK(count("[1,2]") == 2);
    CHECK(count("\"" + std::string(40, 'A') + "\"") == 1);
    CHECK(count("[99]") == 0);
    CHECK(count("\"recently-active\"") == 2); // uploading, and fetching metadata
}

TEST_CASE("rpc: session-set start-added-torrents (transmission-remote --start-paused) adds paused, unless told") {
    FakeNode node;
    RpcMethods m(node.ops(), [] { return std::int64_t{1'700'000'000}; });
    CHECK(call(m, R"({"method":"session-get"})")["arguments"]["start-added-torrents"] == true);
    call(m, R"({"method":"torrent-add","arguments":{"filename":"a"}})");
    CHECK(node.calls.back() == "add a");
    REQUIRE(call(m, R"({"method":"session-set","arguments":{"start-added-torrents":false}})")["result"] == "success");
    CHECK(call(m, R"({"method":"session-get"})")["arguments"]["start-added-torrents"] == false);
    call(m, R"({"method":"torrent-add","arguments":{"filename":"b"}})");
    CHECK(node.calls.back() == "add b paused");
    call(m, R"({"method":"torrent-add","arguments":{"filename":"c","paused":false}})");
    CHECK(node.calls.back() == "add c");
    CHECK(call(m, R"({"method":"session-set","arguments":{"start-added-torrents":"no"}})")["result"] != "success");
    CHECK(call(m, R"({"method":"session-get"})")["arguments"]["start-added-torrents"] == false);
    REQUIRE(call(m, R"({"method":"session-set","arguments":{"start-added-torrents":true}})")["result"] == "success");
    call(m, R"({"method":"torrent-add","arguments":{"filename":"d"}})");
    CHECK(node.calls.back() == "add d");
}

TEST_CASE("rpc: torrent-add, torrent-set, start/stop/remove call the node's operations") {
    FakeNode node;
    RpcMethods m(node.ops(), [] { return std::int64_t{1'700'000'000}; });
    call(m, R"({"method":"torrent-get","arguments":{"fields":["id"]}})"); // ids 1 and 2
    json add = call(m, R"({"method":"torrent-add","arguments":{"metainfo":"ZDQ6aW5mb2Rl"}})");
    REQUIRE(add["result"] == "success");
    CHECK(add["arguments"]["torrent-added"]["id"] == 3);
    CHECK(add["arguments"]["torrent-added"]["hashString"] == std::string(40, 'c'));
    CHECK(node.calls.back() == "add  metainfo=d4:infode");
    CHECK(call(m, R"({"method":"torrent-add","arguments":{"filename":"bad"}})")["result"] == "bad: not a torrent");
    CHECK(call(m, R"({"method":"torrent-add","arguments":{"filename":"x","download-dir":"/elsewhere"}})")["result"] !=
          "success");

    node.calls.clear();
    CHECK(call(m, R"({"method":"torrent-stop","arguments":{"ids":[1,2]}})")["result"] == "success");
    CHECK(call(m, R"({"method":"torrent-start","arguments":{"ids":1}})")["result"] == "success");
    CHECK(call(m, R"({"method":"torrent-reannounce"})")["result"] == "success");
    CHECK(call(m, R"({"method":"torrent-verify","arguments":{"ids":[1]}})")["result"] == "success");
    const std::string a(40, 'a');
    const std::string b(40, 'b');
    const std::string c(40, 'c');
    // The magnet still fetching its metadata (id 2) is stopped too; it is skipped by reannounce and verify.
    CHECK(node.calls == std::vector<std::string>{"pause " + a, "pause " + b, "resume " + a, "reann " + a,
                                                 "reann " + c, "verify " + a});

    node.calls.clear();
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":[1],"downloadLimit":100,"downloadLimited":true}})")
              ["result"] == "success");
    CHECK(node.calls.back() == "limit " + a + " 0 100000");
    json got =
        call(m, R"({"method":"torrent-get","arguments":{"ids":1,"fields":["downloadLimit","downloadLimited"]}})");
    CHECK(got["arguments"]["torrents"][0]["downloadLimit"] == 100);
    CHECK(got["arguments"]["torrents"][0]["downloadLimited"] == true);
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":1,"downloadLimited":false}})")["result"] == "success");
    CHECK(node.calls.back() == "limit " + a + " 0 0");
    node.calls.clear();
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":1,"files-unwanted":[1],"files-wanted":[0]}})")
              ["result"] == "success");
    CHECK(node.calls == std::vector<std::string>{"select " + a + " 0 want", "select " + a + " 1 skip"});
    node.calls.clear();
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":1,"files-wanted":[]}})")["result"] == "success");
    REQUIRE(node.calls.size() == 1); // an empty list: every file
    CHECK(node.calls[0].rfind("select " + a + " 0", 0) == 0);
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":1,"files-wanted":[-1]}})")["result"] != "success");
    CHECK(call(m, R"({"method":"torrent-set","arguments":{"ids":1,"priority-high":[0]}})")["result"] != "success");

    CHECK(call(m, R"({"method":"session-set","arguments":{"speed-limit-down":50,"speed-limit-down-enabled":true}})")
              ["result"] == "success");
    CHECK(node.down == 50'000);
    json sg = call(m, R"({"method":"session-get"})");
    CHECK(sg["arguments"]["speed-limit-down"] == 50);
    CHECK(sg["arguments"]["speed-limit-down-enabled"] == true);
    CHECK(call(m, R"({"method":"session-set","arguments":{"speed-limit-down-enabled":false}})")["result"] == "success");
    CHECK(node.down == 0);
    CHECK(call(m, R"({"method":"session-set","arguments":{"peer-port":1}})")["result"] != "success");

    CHECK(call(m, R"({"method":"torrent-remove","arguments":{"ids":[1],"delete-local-data":true}})")["result"] ==
          "success");
    CHECK(node.calls.back() == "remove " + a + " delete");
    json after = call(m, R"({"method":"torrent-get","arguments":{"ids":"recently-active","fields":["id"]}})");
    CHECK(after["arguments"]["removed"] == json::array({1}));
    // The magnet keeps its id after the first torrent went.
    CHECK(call(m, R"({"method":"torrent-get","arguments":{"fields":["id"]}})")["arguments"]["torrents"][0]["id"] == 2);
    // It can be removed while fetching (the node cancels the fetch).
    CHECK(call(m, R"({"method":"torrent-remove","arguments":{"ids":[2]}})")["result"] == "success");
    CHECK(node.calls.back() == "remove " + b);
}

TEST_CASE("rpc: a real round trip on 127.0.0.1:0: 409, then JSON; /stats and /metrics") {
    Loop loop;
    FakeNode node;
    PeerCounters pc;
    pc.torrents = 2;
    pc.seeding = 1;
    pc.uploaded = 1500;
    RpcServer s(loop.get(), {}, node.ops(), [&] { return pc; });
    REQUIRE(s.listen().ok());
    CHECK(s.url().rfind("http://127.0.0.1:", 0) == 0);
    CHECK(s.url().find("/transmission/rpc") != std::string::npos);
    const std::uint16_t port = static_cast<std::uint16_t>(std::stoi(s.url().substr(17)));
    auto exchange = [&](const std::string& request) {
        p2p::test::LoopbackClient c(port);
        REQUIRE(c.send(request));
        p2p::test::run_until(
            loop,
            [&] {
                c.pump();
                return c.eof;
            },
            5000);
        return c.got;
    };
    const std::string body = R"({"method":"session-get"})";
    auto post = [&](const std::string& extra) {
        return "POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
    };
    const std::string r1 = exchange(post(""));
    CHECK(r1.rfind("HTTP/1.1 409", 0) == 0);
    CHECK(r1.find("X-Transmission-Session-Id: " + s.session_id()) != std::string::npos);
    const std::string r2 = exchange(post("X-Transmission-Session-Id: " + s.session_id() + "\r\n"));
    CHECK(r2.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(r2.find("\"result\":\"success\"") != std::string::npos);
    const std::string st = exchange("GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    CHECK(st.find("\"uploaded_bytes\":1500") != std::string::npos);
    const std::string me = exchange("GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    CHECK(me.find("p2pnode_peer_torrents{state=\"seeding\"} 1") != std::string::npos);
    CHECK(me.find("# TYPE p2pnode_peer_rpc_calls_total counter") != std::string::npos);
    const std::string nf = exchange("GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    CHECK(nf.rfind("HTTP/1.1 404", 0) == 0);
    s.close();
}

TEST_CASE("rpc: --max-memory's caps: an answer over the body cap becomes an error naming it, with the tag") {
    Loop loop;
    FakeNode node;
    RpcServerConfig cfg;
    cfg.max_body = 300;
    cfg.max_connections = 3;
    RpcServer s(loop.get(), cfg, node.ops(), {});
    auto rpc = [&](const std::string& body) {
        http::Response out;
        s.handle(rpc_request(s.session_id(), body, "127.0.0.1"), out);
        return json::parse(out.body);
    };
    json small = rpc(R"({"method":"torrent-get","arguments":{"fields":["id"]},"tag":7})");
    CHECK(small["result"] == "success");
    json big = rpc(R"({"method":"torrent-get","arguments":{"fields":["id","name","hashString","status","files",
        "percentDone","magnetLink","downloadDir","errorString","totalSize"]},"tag":8})");
    CHECK(big["result"].get<std::string>().find("over the RPC's cap of 300 bytes") != std::string::npos);
    // Stopped while building the list (at the torrent that passed the cap), not after building it whole.
    CHECK(big["result"].get<std::string>().find(" at torrent ") != std::string::npos);
    CHECK(big["tag"] == 8);
}

TEST_CASE("rpc: GET / serves the web page behind the Host check and basic auth, with its security headers") {
    Loop loop;
    FakeNode node;
    RpcServerConfig cfg;
    cfg.auth = "alice:s3cret";
    RpcServer s(loop.get(), cfg, node.ops(), {});
    auto get = [&](const std::string& method, const std::string& target, const std::string& host, bool auth) {
        http::Request r;
        r.method = method;
        r.target = target;
        if (!host.empty()) r.headers.emplace_back("host", host);
        if (auth) r.headers.emplace_back("authorization", "Basic YWxpY2U6czNjcmV0"); // alice:s3cret
        http::Response out;
        s.handle(r, out);
        return out;
    };
    for (const char* target : {"/", "/index.html", "/?x=1"}) {
        const http::Response r = get("GET", target, "127.0.0.1:9091", true);
        CHECK_MESSAGE(r.status == 200, target);
        CHECK(r.content_type == "text/html; charset=utf-8");
        CHECK(r.body == web_page());
        CHECK(r.body.rfind("<!doctype html>", 0) == 0);
        const std::string* csp = header(r, "Content-Security-Policy");
        REQUIRE(csp);
        CHECK(csp->find("default-src 'none'") != std::string::npos);
        CHECK(csp->find("connect-src 'self'") != std::string::npos);
        CHECK(csp->find("frame-ancestors 'none'") != std::string::npos);
        REQUIRE(header(r, "X-Frame-Options"));
        CHECK(*header(r, "X-Frame-Options") == "DENY");
        CHECK(!header(r, "X-Transmission-Session-Id")); // the page gets its id by the 409 dance, like any client
    }
    CHECK(get("HEAD", "/", "localhost", true).status == 200); // the server drops a HEAD's body
    CHECK(get("GET", "/", "localhost", false).status == 401);
    CHECK(get("GET", "/index.html", "localhost", false).status == 401);
    CHECK(get("GET", "/", "attacker.example:9091", true).status == 421);
    CHECK(get("GET", "/", "", true).status == 421);
    CHECK(get("POST", "/", "localhost", true).status == 405);
    CHECK(get("GET", "/index.htm", "localhost", true).status == 404);

    // Self-contained and small: nothing loaded from elsewhere, names inserted as text, under 20 KB.
    const std::string_view page = web_page();
    CHECK(page.size() < 20 * 1024);
    for (const char* banned : {"http://", "https://", "src=", "@import", "url(", "innerHTML", "eval("})
        CHECK_MESSAGE(page.find(banned) == std::string_view::npos, std::string(banned));
    CHECK(page.find("/transmission/rpc") != std::string_view::npos);

    // Every torrent-get field the page asks for is one the RPC produces (for a torrent with metadata).
    const auto from = page.find("const FIELDS = [");
    REQUIRE(from != std::string_view::npos);
    const std::string_view list = page.substr(from, page.find("];", from) - from);
    json fields = json::array({"files", "fileStats", "peers"});
    for (std::size_t q = list.find('\''); q != std::string_view::npos; q = list.find('\'', q + 1)) {
        const std::size_t end = list.find('\'', q + 1);
        REQUIRE(end != std::string_view::npos);
        fields.push_back(std::string(list.substr(q + 1, end - q - 1)));
        q = end;
    }
    CHECK(fields.size() > 10);
    RpcMethods m(node.ops());
    json req = {{"method", "torrent-get"}};
    req["arguments"]["ids"] = json::array({1});
    req["arguments"]["fields"] = fields;
    json got = call(m, req.dump());
    REQUIRE(got["arguments"]["torrents"].size() == 1);
    for (const auto& f : fields) CHECK_MESSAGE(got["arguments"]["torrents"][0].contains(f), f);
    CHECK(got["arguments"]["torrents"][0]["peers"][0].contains("flagStr"));
}
