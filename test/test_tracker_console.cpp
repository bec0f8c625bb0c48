#include <doctest/doctest.h>

#include "base/bytes.hpp"
#include "tracker/console.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {
Hash20 hash_of(int i) {
    Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[19] = 0xab;
    return h;
}
struct World {
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    ConsoleView view() { return {store, catalog, counters}; }
};
void add_peer(World& w, const Hash20& h, std::uint8_t last, bool seeder, std::uint32_t now) {
    std::string out;
    AnnounceInput in;
    in.info_hash = h;
    in.peer.ip = {10, 0, 0, last};
    in.peer.port = 6881;
    in.seeder = seeder;
    w.store.announce(in, now, out);
}
bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
} // namespace

TEST_CASE("tracker console: list, fileinfo, peerinfo, stats, help, quit") {
    World w;
    const std::uint32_t now = 1'000'000;
    add_peer(w, hash_of(1), 1, true, now - 30);
    add_peer(w, hash_of(1), 2, false, now - 5);
    add_peer(w, hash_of(2), 3, false, now);
    REQUIRE(w.catalog.publish("big file.iso", hash_of(1), 4096, now).ok());
    w.counters.announces = 42;

    auto list = console_command("list", w.view(), now);
    CHECK_FALSE(list.quit);
    CHECK(has(list.text, "big file.iso"));
    CHECK(has(list.text, "4096"));
    CHECK(has(list.text, to_hex(hash_of(1).view())));
    CHECK(has(list.text, "1 catalog entries, 2 swarms tracked"));

    auto fi = console_command("fileinfo big file.iso", w.view(), now);
    CHECK(has(fi.text, "seeders:   1"));
    CHECK(has(fi.text, "leechers:  1"));
    CHECK(has(fi.text, "10.0.0.1:6881"));
    CHECK(has(fi.text, "seeder   last seen 30s ago"));
    CHECK(has(fi.text, "10.0.0.2:6881"));
    CHECK(has(fi.text, "last seen 5s ago"));
    auto by_hash = console_command("  fileinfo " + to_hex(hash_of(2).view()) + "  ", w.view(), now);
    CHECK(has(by_hash.text, "10.0.0.3:6881"));
    CHECK(has(by_hash.text, "leechers:  1"));
    CHECK_FALSE(has(by_hash.text, "name:"));
    CHECK(has(console_command("fileinfo nothing", w.view(), now).text, "unknown"));
    CHECK(has(console_command("fileinfo", w.view(), now).text, "usage"));

    auto pi = console_command("peerinfo", w.view(), now);
    CHECK(has(pi.text, "10.0.0.1:6881"));
    CHECK(has(pi.text, "10.0.0.3:6881"));
    CHECK(has(pi.text, "3 peers in 2 swarms"));

    auto st = console_command("stats", w.view(), now);
    CHECK(has(st.text, "announces       42"));
    CHECK(has(st.text, "peers           3"));
    CHECK(has(st.text, "swarms          2"));

    CHECK(has(console_command("help", w.view(), now).text, "fileinfo NAME|INFOHASH"));
    CHECK(has(console_command("frobnicate", w.view(), now).text, "unknown command: frobnicate"));
    CHECK(console_command("", w.view(), now).text.empty());
    auto q = console_command("quit\r", w.view(), now);
    CHECK(q.quit);
}
