// DhtHost (src/node/dht_host.*): two hosts on real UDP sockets on 127.0.0.1, one bootstrapping from the other.
// The table is saved only once a node has answered, atomically (no temporary file left), reloaded with the same
// id by the next host; a save that cannot be written is an error value, not a crash or a silent success.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "loop/loop.hpp"
#include "net/utp_socket.hpp"
#include "node/dht_host.hpp"
#include "test_util.hpp"

using namespace p2p;
using p2p::test::run_until;
using p2p::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<UtpSocket> open_socket(Loop& loop) {
    auto s = UtpSocket::open(loop.get(), "127.0.0.1", 0, nullptr);
    REQUIRE(s);
    return std::move(*s);
}

std::size_t files_in(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
    return n;
}

} // namespace

TEST_CASE("DhtHost: the table is saved once a node answered, atomically, and reloaded with our id") {
    TempDir dir("dht-host");
    Loop loop;
    auto sock_a = open_socket(loop), sock_b = open_socket(loop), sock_c = open_socket(loop);
    const std::string path = dir.str() + "/state/dht.json"; // the folder is made by the save
    DhtHost b(loop, *sock_b, {});
    const std::string at_b = "127.0.0.1:" + std::to_string(sock_b->port());
    std::string saved_id;
    {
        DhtHost a(loop, *sock_a, {.state_path = path});
        CHECK_FALSE(a.had_saved_state());
        CHECK(a.save_now());
        CHECK_FALSE(fs::exists(path)); // nobody answered yet: nothing worth keeping, no file
        CHECK(a.bootstrap({at_b, "no-port", "[::1]:99999"}) == 1);
        REQUIRE(run_until(loop, [&] { return a.node().stats(loop.now_ms()).good > 0; }, 5000));
        REQUIRE(a.save_now());
        REQUIRE(fs::exists(path));
        CHECK(files_in(dir.str() + "/state") == 1); // no PATH.tmp.<pid> left beside it
        saved_id = a.id_hex();
        std::ifstream in(path);
        const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(text.find(saved_id) != std::string::npos);
        CHECK(text.find(std::to_string(sock_b->port())) != std::string::npos);
        fs::remove(path);
        a.stop(); // the final save
        CHECK(fs::exists(path));
        a.stop(); // idempotent; the destructor calls it again
    }
    DhtHost again(loop, *sock_a, {.state_path = path});
    CHECK(again.had_saved_state());
    CHECK(again.id_hex() == saved_id);
    // The saved node is pinged, not trusted: it becomes good again when it answers.
    CHECK(run_until(loop, [&] { return again.node().stats(loop.now_ms()).good > 0; }, 5000));

    // A folder that cannot be made (a file is in the way): the save reports it and nothing is written.
    { std::ofstream(dir.str() + "/blocker") << "x"; }
    DhtHost c(loop, *sock_c, {.state_path = dir.str() + "/blocker/dht.json"});
    c.bootstrap({at_b});
    REQUIRE(run_until(loop, [&] { return c.node().stats(loop.now_ms()).good > 0; }, 5000));
    auto st = c.save_now();
    REQUIRE_FALSE(st);
    CHECK(st.error().str().find("blocker") != std::string::npos);
    again.stop();
    c.stop();
    b.stop();
}
