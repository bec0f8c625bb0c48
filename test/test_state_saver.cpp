// Tests for src/tracker/state_saver: the tracker's state saved a part per loop turn, crash-safely, while the loop
// keeps turning; one save at a time; a cancelled save leaves nothing behind; errors name the operation and path.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "loop/loop.hpp"
#include "test_util.hpp"
#include "tracker/state_file.hpp"
#include "tracker/state_saver.hpp"

using namespace p2p;
using namespace p2p::udp;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Enough swarms for a document of several parts (kStateChunk each).
void fill(SwarmStore& store, Catalog& catalog, std::uint32_t now, int swarms) {
    std::string out;
    for (int i = 0; i < swarms; ++i) {
        AnnounceInput in;
        in.info_hash.b[0] = static_cast<std::uint8_t>(i);
        in.info_hash.b[1] = static_cast<std::uint8_t>(i >> 8);
        for (std::uint8_t p = 0; p < 20; ++p) {
            in.peer.ip = {10, static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), p};
            in.peer.port = static_cast<std::uint16_t>(7000 + p);
            store.announce(in, now, out);
        }
    }
    REQUIRE(catalog.publish("a name", Hash20{}, 5, now).ok());
}

// Counts loop turns (check phase) while a save runs.
struct TurnCounter {
    uv_check_t h{};
    std::size_t turns = 0;
    explicit TurnCounter(Loop& loop) {
        uv_check_init(loop.get(), &h);
        h.data = this;
        uv_check_start(&h, [](uv_check_t* c) { ++static_cast<TurnCounter*>(c->data)->turns; });
        uv_unref(reinterpret_cast<uv_handle_t*>(&h));
    }
    ~TurnCounter() { uv_close(reinterpret_cast<uv_handle_t*>(&h), nullptr); }
};

// A tracker's state of 3000 swarms (~60k peers, ~2.2 MB of JSON: about 9 parts) and a state file "old".
struct Saved {
    Loop loop;
    test::TempDir dir{"state-saver"};
    const std::string file = dir.str() + "/tracker.json";
    static constexpr std::uint32_t now = 1'700'000'000;
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    Saved() {
        fill(store, catalog, now, 3000);
        std::ofstream(file) << "old";
    }
};

} // namespace

TEST_CASE("state saver: the whole document, over many loop turns, renamed into place; one save at a time") {
    Saved t;
    [[maybe_unused]] auto [loop, dir, file, store, catalog, counters] =
        std::tie(t.loop, t.dir, t.file, t.store, t.catalog, t.counters);
    const std::uint32_t now = Saved::now;
    counters.announces = 42;
    const std::string want = serialize_state(store, catalog, counters, now);
    REQUIRE(want.size() > 4 * kStateChunk);

    StateSaver saver(loop.get(), file);
    TurnCounter turns(loop);
    std::optional<Status> got;
    std::size_t calls = 0;
    REQUIRE(saver.start(std::make_unique<StateWriter>(store, catalog, counters, now), [&](Status st) {
        ++calls;
        got = std::move(st);
    }));
    CHECK(saver.busy());
    CHECK_FALSE(saver.start(std::make_unique<StateWriter>(store, catalog, counters, now), [](Status) {}));
    CHECK(slurp(file) == "old"); // nothing replaced until the new document is complete
    REQUIRE(test::run_until(
        loop, [&] { return got.has_value(); }, 20'000));
    REQUIRE(got->ok());
    CHECK(calls == 1);
    CHECK_FALSE(saver.busy());
    CHECK(slurp(file) == want);
    CHECK_FALSE(fs::exists(saver.temp_path()));
    CHECK(turns.turns > want.size() / kStateChunk); // the loop turned between the parts
    // A second save after the first: allowed, and the loaded state is what was saved.
    got.reset();
    REQUIRE(saver.start(std::make_unique<StateWriter>(store, catalog, counters, now + 1),
                        [&](Status st) { got = std::move(st); }));
    REQUIRE(test::run_until(
        loop, [&] { return got.has_value(); }, 20'000));
    REQUIRE(got->ok());
    SwarmStore store2;
    Catalog catalog2;
    TrackerCounters counters2;
    CHECK(load_state(file, TrackerState{store2, catalog2, counters2}, now + 1) == LoadOutcome::loaded);
    CHECK(store2.peer_count() == store.peer_count());
    CHECK(counters2.announces == 42);
}

TEST_CASE("state saver: cancelled mid-way, nothing is reported and the old file and folder are as they were") {
    Saved t;
    [[maybe_unused]] auto [loop, dir, file, store, catalog, counters] =
        std::tie(t.loop, t.dir, t.file, t.store, t.catalog, t.counters);
    const std::uint32_t now = Saved::now;
    bool called = false;
    {
        auto saver = std::make_unique<StateSaver>(loop.get(), file);
        REQUIRE(
            saver->start(std::make_unique<StateWriter>(store, catalog, counters, now), [&](Status) { called = true; }));
        // Let a few parts go out, then the store changes and the saver is destroyed (as the server does on close).
        REQUIRE(test::run_until(
            loop, [&] { return fs::exists(saver->temp_path()) && fs::file_size(saver->temp_path()) > 0; }, 10'000));
        store.clear();
        saver.reset();
    }
    test::run_until(
        loop, [] { return false; }, 300); // let the close and unlink complete
    CHECK_FALSE(called);
    CHECK(slurp(file) == "old");
    std::size_t entries = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path)) ++entries;
    CHECK(entries == 1); // no temporary file left
}

TEST_CASE("state saver: a folder that is not there gives an error naming the temporary file") {
    Loop loop;
    test::TempDir dir("state-saver");
    const std::string file = dir.str() + "/missing/tracker.json";
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    StateSaver saver(loop.get(), file);
    std::optional<Status> got;
    REQUIRE(saver.start(std::make_unique<StateWriter>(store, catalog, counters, 1),
                        [&](Status st) { got = std::move(st); }));
    REQUIRE(test::run_until(
        loop, [&] { return got.has_value(); }, 10'000));
    REQUIRE_FALSE(got->ok());
    CHECK(got->error().str().find("open " + saver.temp_path()) == 0);
    CHECK(got->error().str().find("No such file or directory") != std::string::npos);
    CHECK_FALSE(saver.busy());
}
