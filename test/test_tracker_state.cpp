#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "test_util.hpp"
#include "tracker/state_file.hpp"

using namespace p2p;
using namespace p2p::udp;

namespace {

bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}
void write(const std::string& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }
std::string read(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}
Hash20 hash_of(int i) {
    Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[7] = 0xee;
    return h;
}
CompactPeer peer4(std::uint8_t last, std::uint16_t port) {
    CompactPeer p;
    p.ip = {192, 0, 2, last};
    p.port = port;
    return p;
}

struct World {
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    TrackerState refs() { return {store, catalog, counters}; }
};

void populate(World& w, std::uint32_t now) {
    std::string out;
    AnnounceInput in;
    in.info_hash = hash_of(1);
    in.peer = peer4(1, 6881);
    in.event = kEventStarted;
    w.store.announce(in, now - 100, out);
    in.peer = peer4(2, 6882);
    in.seeder = true;
    in.event = kEventCompleted;
    w.store.announce(in, now - 50, out);
    in.info_hash = hash_of(2);
    in.peer = CompactPeer{};
    in.peer.v6 = true;
    in.peer.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    in.peer.port = 51413;
    in.event = kEventNone;
    w.store.announce(in, now - 10, out);
    REQUIRE(w.catalog.publish("first torrent", hash_of(1), 12345, now - 5).ok());
    REQUIRE(w.catalog.publish("ünïcödé", hash_of(2), 1, now - 6).ok());
    w.counters.announces = 3;
    w.counters.connects = 7;
    w.counters.malformed = 2;
}

} // namespace

TEST_CASE("tracker state: save and load round trip") {
    test::TempDir dir("tracker-state");
    std::string file = dir.str() + "/tracker.json";
    std::uint32_t now = 1'700'000'000;
    World a;
    populate(a, now);
    REQUIRE(save_state(file, a.store, a.catalog, a.counters, now).ok());
    CHECK_FALSE(exists(file + ".tmp." + std::to_string(::getpid())));

    World b;
    CHECK(load_state(file, b.refs(), now + 60) == LoadOutcome::loaded);
    CHECK(b.store.swarm_count() == 2);
    CHECK(b.store.peer_count() == 3);
    auto s1 = b.store.find(hash_of(1));
    REQUIRE(s1);
    CHECK(s1->seeders == 1);
    CHECK(s1->leechers == 1);
    CHECK(s1->downloaded == 1);
    REQUIRE(s1->peers.size() == 2);
    CHECK(s1->peers[0].ip[3] == 1);
    CHECK(s1->peers[0].port == 6881);
    CHECK(s1->peers[0].last_seen == now - 100); // wall-clock stamps survive
    CHECK(s1->peers[1].seeder == 1);
    auto s2 = b.store.find(hash_of(2));
    REQUIRE(s2);
    REQUIRE(s2->peers.size() == 1);
    CHECK(s2->peers[0].v6 == 1);
    CHECK(s2->peers[0].ip[15] == 9);
    CHECK(s2->peers[0].port == 51413);
    REQUIRE(b.catalog.size() == 2);
    const CatalogRecord* r = b.catalog.find_name("first torrent");
    REQUIRE(r);
    CHECK(r->info_hash == hash_of(1));
    CHECK(r->total_size == 12345);
    CHECK(r->last_seen == now - 5);
    CHECK(b.catalog.find_name("ünïcödé") != nullptr);
    CHECK(b.counters.announces == 3);
    CHECK(b.counters.connects == 7);
    CHECK(b.counters.malformed == 2);
    // and the loaded state saves to the same document
    CHECK(serialize_state(b.store, b.catalog, b.counters, now) == serialize_state(a.store, a.catalog, a.counters, now));
}

TEST_CASE("tracker state: missing file is a fresh start") {
    test::TempDir dir("tracker-state");
    World w;
    CHECK(load_state(dir.str() + "/nope.json", w.refs(), 1000) == LoadOutcome::fresh);
    CHECK(w.store.swarm_count() == 0);
}

TEST_CASE("tracker state: truncated, empty and garbage files are moved aside and the tracker starts empty") {
    test::TempDir dir("tracker-state");
    std::string file = dir.str() + "/tracker.json";
    std::uint32_t now = 1'700'000'000;
    World a;
    populate(a, now);
    std::string good = serialize_state(a.store, a.catalog, a.counters, now);
    const std::vector<std::string> bad_docs = {
        good.substr(0, good.size() / 2),        // truncated
        "",                                     // empty
        std::string("\x00\xff\x13garbage", 10), // garbage
        "[1,2,3]",                              // wrong top-level type
        R"({"format":"p2pnode-tracker-state","version":1,"counters":{},"swarms":[],"catalog":[]})", // bad counters
        R"({"format":"p2pnode-tracker-state","version":99})",                                       // future version
    };
    for (const auto& doc : bad_docs) {
        CAPTURE(doc.substr(0, 40));
        write(file, doc);
        World w;
        populate(w, now); // anything already there is dropped
        CHECK(load_state(file, w.refs(), now) == LoadOutcome::corrupt);
        CHECK(w.store.swarm_count() == 0);
        CHECK(w.store.peer_count() == 0);
        CHECK(w.catalog.size() == 0);
        CHECK(w.counters.announces == 0);
        CHECK_FALSE(exists(file));
        REQUIRE(exists(file + ".corrupt"));
        CHECK(read(file + ".corrupt") == doc); // kept for a human to look at
    }
    // a peer of the wrong type anywhere: corrupt, nothing half-loaded
    std::string wrong = good;
    auto pos = wrong.find("\"peers\":[[");
    REQUIRE(pos != std::string::npos);
    wrong.replace(pos, 10, "\"peers\":[[7,");
    write(file, wrong);
    World w;
    CHECK(load_state(file, w.refs(), now) == LoadOutcome::corrupt);
    CHECK(w.store.swarm_count() == 0);
}

TEST_CASE("tracker state: atomic write replaces the file") {
    test::TempDir dir("tracker-state");
    std::string file = dir.str() + "/f.json";
    REQUIRE(write_file_atomic(file, "one").ok());
    REQUIRE(write_file_atomic(file, "two").ok());
    CHECK(read(file) == "two");
    CHECK_FALSE(write_file_atomic(dir.str() + "/missing-dir/f.json", "x").ok());
}

TEST_CASE("tracker state: check_state_path refuses, at start, a path that could never be saved") {
    test::TempDir dir("state-check");
    // Fine: a new file in an existing folder (the probe file is gone afterwards), or an existing file.
    CHECK(check_state_path(dir.str() + "/t.json").ok());
    write(dir.str() + "/old.json", "not even JSON"); // its contents are the loader's business, not this check's
    CHECK(check_state_path(dir.str() + "/old.json").ok());
    std::vector<std::string> left;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) left.push_back(e.path().filename());
    CHECK(left == std::vector<std::string>{"old.json"}); // no probe file left behind
    // The folder is missing, is a file, or the path is a folder: the reason alone, for "--state PATH: reason".
    Status st = check_state_path(dir.str() + "/missing/dir/t.json");
    REQUIRE_FALSE(st);
    CHECK(st.error().str() == "folder " + dir.str() + "/missing/dir does not exist");
    st = check_state_path(dir.str() + "/old.json/t.json");
    REQUIRE_FALSE(st);
    CHECK(st.error().str() == dir.str() + "/old.json is not a folder");
    st = check_state_path(dir.str());
    REQUIRE_FALSE(st);
    CHECK(st.error().str() == "is a folder, not a file");
    // A folder that takes no new file (root ignores the mode bits: that case is covered by /proc below).
    if (::geteuid() != 0) {
        ::mkdir((dir.str() + "/ro").c_str(), 0555);
        st = check_state_path(dir.str() + "/ro/t.json");
        REQUIRE_FALSE(st);
        CHECK(st.error().str() == "cannot create a file in " + dir.str() + "/ro: Permission denied");
        ::chmod((dir.str() + "/ro").c_str(), 0755);
    }
    st = check_state_path("/proc/p2pnode-state-check.json"); // procfs takes no new files, not even from root
    REQUIRE_FALSE(st);
    CHECK(st.error().str().rfind("cannot create a file in /proc: ", 0) == 0);
}
