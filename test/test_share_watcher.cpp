// The live share folder: an entry is reported only once it stops changing; a removed entry is reported; hidden
// names are ignored; a folder settles as a whole; a failed entry comes back only when its content changes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "node/share_watcher.hpp"
#include "test_util.hpp"

using namespace p2p;
namespace fs = std::filesystem;

namespace {

void append(const fs::path& p, const std::string& data) {
    std::ofstream f(p, std::ios::binary | std::ios::app);
    f << data;
}

// Fast settings: checks 100 ms apart, two unchanged checks; the fallback rescan is far away so removals must
// come from fs events.
ShareWatcherOptions fast() {
    ShareWatcherOptions o;
    o.check_ms = 100;
    o.stable_checks = 2;
    o.debounce_ms = 20;
    o.rescan_ms = 60'000;
    return o;
}

// Runs the loop until pred() holds or ms pass; returns pred().
bool run_until(Loop& loop, std::uint64_t ms, const std::function<bool()>& pred) {
    Timer deadline(loop.get()), poll(loop.get());
    deadline.start(ms, 0, [&] { loop.stop(); });
    poll.start(5, 5, [&] {
        if (pred()) loop.stop();
    });
    loop.run();
    return pred();
}

struct Events {
    std::vector<std::string> ready, removed;
    std::vector<std::uint64_t> ready_size; // the file's size when it was reported
    std::vector<std::uint64_t> ready_at;
};

} // namespace

TEST_CASE("share watcher: a file written in two steps is shared only after it stops growing; removal is reported") {
    test::TempDir dir("watch");
    Loop loop;
    Events ev;
    const fs::path file = dir.path / "movie.bin";
    ShareWatcher w(
        loop.get(), dir.str(), fast(),
        [&](const std::string& n) {
            ev.ready.push_back(n);
            std::error_code ec;
            ev.ready_size.push_back(fs::file_size(dir.path / n, ec));
            ev.ready_at.push_back(loop.now_ms());
        },
        [&](const std::string& n) { ev.removed.push_back(n); });
    REQUIRE(w.start({}).ok());

    // First half now, second half 150 ms later (after one stable check): not reported in between.
    const std::uint64_t t0 = loop.now_ms();
    append(file, test::pseudo_random(100'000, 1));
    Timer second(loop.get());
    std::uint64_t appended_at = 0;
    second.start(150, 0, [&] {
        append(file, test::pseudo_random(50'000, 2));
        appended_at = loop.now_ms();
    });
    // Hidden names never show up.
    append(dir.path / ".partial", "x");
    REQUIRE(run_until(loop, 5000, [&] { return !ev.ready.empty(); }));
    REQUIRE(ev.ready.size() == 1);
    CHECK(ev.ready[0] == "movie.bin");
    CHECK(ev.ready_size[0] == 150'000); // never the half-written file
    CHECK(appended_at > 0);
    CHECK(ev.ready_at[0] >= appended_at + 2 * 100 - 10); // two full checks after the last change
    CHECK(ev.ready_at[0] - t0 < 3000);

    // Nothing more is reported while it stays the same.
    run_until(loop, 400, [] { return false; });
    CHECK(ev.ready.size() == 1);
    CHECK(ev.removed.empty());

    fs::remove(file);
    REQUIRE(run_until(loop, 2000, [&] { return !ev.removed.empty(); }));
    CHECK(ev.removed == std::vector<std::string>{"movie.bin"});
    CHECK(ev.ready.size() == 1);
    CHECK(w.pending() == 0);
}

TEST_CASE(
    "share watcher: a folder settles as a whole; known entries are not reported; failed entries wait for a change") {
    test::TempDir dir("watch");
    Loop loop;
    Events ev;
    append(dir.path / "old.txt", "already shared");
    ShareWatcher w(
        loop.get(), dir.str(), fast(), [&](const std::string& n) { ev.ready.push_back(n); },
        [&](const std::string& n) { ev.removed.push_back(n); });
    REQUIRE(w.start({"old.txt"}).ok());

    // A folder whose content keeps changing for a while (a file every 60 ms, 5 times).
    fs::create_directories(dir.path / "album" / "disc1");
    int written = 0;
    Timer writer(loop.get());
    writer.start(0, 60, [&] {
        if (written == 5) return writer.stop();
        std::string name = "track";
        name += std::to_string(written); // not "a" + to_string(): GCC 12 warns (-Wrestrict, a false positive)
        append(dir.path / "album" / "disc1" / name, test::pseudo_random(10'000, static_cast<std::uint32_t>(written)));
        ++written;
    });
    REQUIRE(run_until(loop, 5000, [&] { return !ev.ready.empty(); }));
    CHECK(ev.ready == std::vector<std::string>{"album"});
    CHECK(written == 5); // not before the last file
    auto sig = entry_signature((dir.path / "album").string());
    REQUIRE(sig.ok());
    CHECK(sig->files == 5);
    CHECK(sig->size == 50'000);

    // An empty folder is "ready" (it does not change), the owner fails to share it; it comes back only after
    // something is copied into it.
    fs::create_directories(dir.path / "empty");
    REQUIRE(run_until(loop, 3000, [&] { return ev.ready.size() == 2; }));
    CHECK(ev.ready[1] == "empty");
    w.failed("empty");
    run_until(loop, 500, [] { return false; });
    CHECK(ev.ready.size() == 2);
    append(dir.path / "empty" / "now-a-file", "data");
    REQUIRE(run_until(loop, 3000, [&] { return ev.ready.size() == 3; }));
    CHECK(ev.ready[2] == "empty");

    // A known entry that disappears is reported, like a reported one.
    fs::remove(dir.path / "old.txt");
    fs::remove_all(dir.path / "album");
    REQUIRE(run_until(loop, 2000, [&] { return ev.removed.size() == 2; }));
    std::sort(ev.removed.begin(), ev.removed.end());
    CHECK(ev.removed == std::vector<std::string>{"album", "old.txt"});
}

TEST_CASE("share watcher: bursts of events are bounded by max_pending") {
    test::TempDir dir("watch");
    Loop loop;
    Events ev;
    ShareWatcherOptions o = fast();
    o.max_pending = 3;
    ShareWatcher w(
        loop.get(), dir.str(), o, [&](const std::string& n) { ev.ready.push_back(n); }, [&](const std::string&) {});
    REQUIRE(w.start({}).ok());
    for (int i = 0; i < 10; ++i) {
        std::string name = "f";
        name += std::to_string(i);
        append(dir.path / name, "x");
    }
    run_until(loop, 60, [] { return false; });
    CHECK(w.pending() <= 3);
    // All of them are shared in the end, three at a time.
    REQUIRE(run_until(loop, 5000, [&] { return ev.ready.size() == 10; }));
}
