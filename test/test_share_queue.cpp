// Tests for src/node/share_queue: items made into torrents one at a time, from the share cache when unchanged,
// within the session's descriptor bound.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "node/share_queue.hpp"
#include "test_util.hpp"

using namespace p2p;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

struct Run {
    std::vector<std::string> ready, failed; // names, in order
    std::vector<ShareSource> sources;
};

struct Queue {
    Run run;
    std::unique_ptr<ShareQueue> q;
    Queue(Loop& loop, std::shared_ptr<FdCache> fds = nullptr, ShareQueue::Skip skip = nullptr) {
        q = std::make_unique<ShareQueue>(
            loop, std::vector<std::string>{"udp://127.0.0.1:6969"},
            [this](const ShareJob& j, ShareSource s) {
                run.ready.push_back(j.name);
                run.sources.push_back(std::move(s));
            },
            [this](const ShareJob& j, const Error&) { run.failed.push_back(j.name); }, std::move(skip), std::move(fds));
    }
};

} // namespace

TEST_CASE("share queue: items are made in order, each with its files' disk paths and stamps; a bad one fails alone") {
    test::TempDir dir("shareq");
    write(dir.path / "a.txt", "alpha");
    write(dir.path / "b" / "x.bin", std::string(70000, 'x'));
    fs::create_directories(dir.path / "empty");
    write(dir.path / std::string("caf\xe9.txt"), "coffee");
    Loop loop;
    Queue qu(loop);
    for (const char* n : {"a.txt", "b", "empty", "caf\xe9.txt"}) CHECK(qu.q->push(ShareJob{dir.str(), n}));
    CHECK(qu.run.ready.empty()); // never inside push()
    REQUIRE(test::run_until(
        loop, [&] { return qu.run.ready.size() + qu.run.failed.size() == 4; }, 10'000));
    CHECK(qu.run.ready == std::vector<std::string>{"a.txt", "b", std::string("caf\xe9.txt")});
    CHECK(qu.run.failed == std::vector<std::string>{"empty"});
    REQUIRE(qu.run.sources.size() == 3);
    const ShareSource& b = qu.run.sources[1];
    CHECK(b.meta.name == "b");
    REQUIRE(b.files.size() == 1);
    CHECK(b.files[0].disk_path == (dir.path / "b" / "x.bin").string());
    CHECK(b.files[0].stamp.size == 70000);
    CHECK(qu.run.sources[2].meta.name == "caf_.txt"); // UTF-8-safe name, read from the real path
    CHECK(qu.run.sources[2].files[0].disk_path == (dir.path / std::string("caf\xe9.txt")).string());
    CHECK_FALSE(qu.q->busy());
}

TEST_CASE("share queue: an unchanged item comes from the share cache; a skipped one is dropped") {
    test::TempDir dir("shareq");
    write(dir.path / "a.txt", "alpha");
    Loop loop;
    std::string first_hash;
    {
        Queue qu(loop);
        qu.q->push(ShareJob{dir.str(), "a.txt"});
        REQUIRE(test::run_until(
            loop, [&] { return qu.run.ready.size() == 1; }, 10'000));
        first_hash = qu.run.sources[0].meta.info_hash;
    }
    // Same size and mtime, other bytes: only a cache hit can still give the first hash.
    struct stat st {};
    REQUIRE(::stat((dir.path / "a.txt").c_str(), &st) == 0);
    write(dir.path / "a.txt", "ALPHA");
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, (dir.path / "a.txt").c_str(), times, 0) == 0);
    Queue cached(loop, nullptr, [](const ShareJob& j) { return j.name == "skip.me"; });
    cached.q->push(ShareJob{dir.str(), "skip.me"});
    cached.q->push(ShareJob{dir.str(), "a.txt"});
    REQUIRE(test::run_until(
        loop, [&] { return cached.run.ready.size() == 1; }, 10'000));
    CHECK(cached.run.ready == std::vector<std::string>{"a.txt"});
    CHECK(cached.run.sources[0].meta.info_hash == first_hash);
}

TEST_CASE("share queue: hashing waits for a descriptor slot of the session's bound; clear() stops it cleanly") {
    test::TempDir dir("shareq");
    write(dir.path / "a.txt", "alpha");
    Loop loop;
    auto fds = std::make_shared<FdCache>(loop.get(), 1);
    bool held = false;
    fds->acquire_slot([&] { held = true; }); // the only slot is taken
    REQUIRE(held);
    {
        Queue qu(loop, fds);
        qu.q->push(ShareJob{dir.str(), "a.txt"});
        test::run_until(
            loop, [] { return false; }, 200);
        CHECK(qu.run.ready.empty()); // waiting for the slot
        CHECK(qu.q->busy());
        fds->release_slot();
        REQUIRE(test::run_until(
            loop, [&] { return qu.run.ready.size() == 1; }, 10'000));
        CHECK(fds->slots_used() <= 1);
    }
    test::run_until(
        loop, [] { return false; }, 50);
    CHECK(fds->slots_used() == 0); // the maker's slot was given back
    {
        Queue qu(loop, fds);
        write(dir.path / "big.bin", std::string(8 << 20, 'b'));
        qu.q->push(ShareJob{dir.str(), "big.bin"});
        test::run_until(
            loop, [&] { return qu.q->busy(); }, 1000);
        qu.q->clear(); // mid-hash
        test::run_until(
            loop, [] { return false; }, 300);
        CHECK(qu.run.ready.empty());
        CHECK(qu.run.failed.empty());
    }
    test::run_until(
        loop, [] { return false; }, 50);
    CHECK(fds->slots_used() == 0);
}
