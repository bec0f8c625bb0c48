// Tests for src/storage's disk-speed paths: writeback started while pieces are written (writeback.cpp), and the
// parent folders of a many-file torrent checked once rather than at every reopen (storage.cpp open_file).
#include <doctest/doctest.h>

#include <filesystem>

#include "storage/storage.hpp"
#include "storage_fixture.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace p2p;
using namespace storage_test;

namespace {

// Writes pieces [from, to) all at once (as a fast download has many writes in flight) and runs the loop.
std::size_t write_all(TestLoop& loop, Storage& st, const Metainfo& m, const std::string& content, std::uint32_t from,
                      std::uint32_t to) {
    std::size_t ok = 0, done = 0;
    for (std::uint32_t i = from; i < to; ++i)
        st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)), [&](Status s) {
            ++done;
            if (s) ++ok;
        });
    loop.run();
    CHECK(done == to - from);
    return ok;
}

} // namespace

TEST_CASE("storage starts the kernel's writeback while a download is written, not only at the flush") {
    TestLoop loop;
    test::TempDir dir;
    // 20 MiB in pieces of 1 MiB: a kick per MiB written (kKickBytes), all before any flush, or, when the one kick
    // allowed at a time still runs, the bytes left for the next.
    const std::int64_t size = 20 << 20;
    const std::string content = test::pseudo_random(std::size_t(size), 31);
    Metainfo m = make_meta("big.bin", {{{}, size}}, 1 << 20, content, false);
    {
        Storage st(loop.get(), m, dir.path.string());
        REQUIRE(open_sync(loop, st));
        CHECK(write_all(loop, st, m, content, 0, m.piece_count()) == m.piece_count());
#ifdef __linux__
        CHECK(st.stats().writeback_kicks >= 1);
        CHECK(st.stats().writeback_kicks + st.stats().writeback_kicks_left == 20);
        CHECK(st.stats().writeback_kicks_most == 1);
#endif
        CHECK(st.stats().pieces_written == m.piece_count());
        CHECK(flush_sync(loop, st));
        CHECK(!st.is_failed());
    }
    loop.run(); // descriptors close after the storage goes
    CHECK(slurp(dir.path / "big.bin") == content);
}

TEST_CASE("storage writeback: a storage destroyed while a kick runs finishes cleanly") {
    TestLoop loop;
    test::TempDir dir;
    const std::int64_t size = 9 << 20;
    const std::string content = test::pseudo_random(std::size_t(size), 32);
    Metainfo m = make_meta("k.bin", {{{}, size}}, 1 << 20, content, false);
    std::size_t callbacks = 0;
    {
        Storage st(loop.get(), m, dir.path.string());
        REQUIRE(open_sync(loop, st));
        for (std::uint32_t i = 0; i < m.piece_count(); ++i)
            st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)),
                           [&](Status) { ++callbacks; });
        // Run until the writes have returned and a kick is under way, then destroy the storage.
        for (int turns = 0; turns < 10000 && st.stats().pieces_written < m.piece_count(); ++turns)
            uv_run(loop.get(), UV_RUN_ONCE);
    }
    const std::size_t before = callbacks;
    loop.run();                 // writes, the kick and the closes finish; TestLoop checks nothing is left open
    CHECK(callbacks == before); // none delivered after the storage was destroyed
    CHECK(slurp(dir.path / "k.bin") == content);
}

TEST_CASE("storage checks a many-file torrent's folders once, and makes a removed folder again") {
    TestLoop loop;
    test::TempDir dir;
    // 300 files of 3000 bytes in 3 folders, pieces of 16 KiB (each spans 6 files), 8 descriptors: every file is
    // opened several times (open, writes, flush), as 2,000 photos are through a cache of 128.
    std::vector<FileSpec> files;
    for (int i = 0; i < 300; ++i) {
        std::string folder = "d", name = "f"; // appended, not "d" + ...: GCC 12 warns falsely (-Wrestrict) on that
        folder += std::to_string(i % 3);
        name += std::to_string(i);
        name += ".jpg";
        files.push_back({{folder, name}, 3000});
    }
    const std::string content = test::pseudo_random(300 * 3000, 33);
    Metainfo m = make_meta("photos", files, 16 << 10, content);
    auto fds = std::make_shared<FdCache>(loop.get(), 8);
    StorageLimits lim;
    lim.shared_fds = fds;
    Storage st(loop.get(), m, (dir.path / "dl").string(), lim);
    REQUIRE(open_sync(loop, st));
    // One walk per folder the first time (a few more when several files of a folder open at once), not per open.
    const std::uint64_t after_open = st.stats().parent_walks;
    CHECK(after_open >= 3);
    CHECK(after_open <= 3 * 16); // at most max_inflight_ops opens race per folder
    const std::uint32_t half = m.piece_count() / 2;
    CHECK(write_all(loop, st, m, content, 0, half) == half);
    CHECK(st.stats().parent_walks == after_open); // the reopens for writing walked nothing
    CHECK(st.open_fds() <= 8);

    // The user removes a folder mid-download: its files are written again into a folder made again (the first
    // open of each file there finds it gone, forgets the check and walks), not failed with "No such file".
    // (Idle descriptors closed first: a write through one still open would land in the removed file, as it does
    // in any program.)
    fds->close_unused_since(UINT64_MAX);
    loop.run();
    fs::remove_all(dir.path / "dl" / "photos" / "d2");
    CHECK(write_all(loop, st, m, content, half, m.piece_count()) == m.piece_count() - half);
    CHECK(!st.is_failed());
    CHECK(fs::is_directory(dir.path / "dl" / "photos" / "d2"));
    CHECK(st.stats().parent_walks > after_open);
    // The files of d2 written before the removal are gone with it: the flush says so rather than pass.
    auto f = flush_sync(loop, st);
    REQUIRE_FALSE(f);
    CHECK(f.error().str().find("/photos/d2/") != std::string::npos);
    // Every file whose bytes were all written after the removal is whole.
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        const auto& f = m.files[i];
        if (f.offset < std::int64_t(half) * m.piece_length) continue;
        CHECK(slurp(dir.path / "dl" / "photos" / f.path[0] / f.path[1]) ==
              content.substr(std::size_t(f.offset), std::size_t(f.length)));
    }
}

TEST_CASE("storage still refuses a folder that became a symlink before its first check") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(2 * 3000, 34);
    Metainfo m = make_meta("t", {{{"a", "x"}, 3000}, {{"b", "y"}, 3000}}, 16 << 10, content);
    fs::create_directories(dir.path / "outside");
    fs::create_directories(dir.path / "dl" / "t" / "a");
    fs::create_directory_symlink(dir.path / "outside", dir.path / "dl" / "t" / "b");
    Storage st(loop.get(), m, (dir.path / "dl").string());
    auto o = open_sync(loop, st); // a/ is checked and cached; b/ is a link
    REQUIRE_FALSE(o);
    CHECK(o.error().str().find("symlink") != std::string::npos);
    st.clear_error();
    auto w = write_sync(loop, st, 0, piece_of(m, content, 0)); // spans both files
    CHECK_FALSE(w);
    CHECK(w.error().str().find("symlink") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.path / "outside" / "y"));
}

TEST_CASE("storage writeback: every file is kicked when it becomes whole, in whatever order its pieces come") {
    TestLoop loop;
    test::TempDir dir;
    // 40 files of 3000 bytes (120 KB, far below one kick's worth of bytes), pieces of 16 KiB written last to
    // first: the write that ends a file comes before the ones that make it whole.
    std::vector<FileSpec> files;
    for (int i = 0; i < 40; ++i) files.push_back({{"f" + std::to_string(i)}, 3000});
    const std::string content = test::pseudo_random(40 * 3000, 36);
    Metainfo m = make_meta("photos", files, 16 << 10, content);
    Storage st(loop.get(), m, dir.path.string());
    REQUIRE(open_sync(loop, st));
    for (std::uint32_t i = m.piece_count(); i-- > 0;) CHECK(write_all(loop, st, m, content, i, i + 1) == 1);
#ifdef __linux__
    // One per file, when its last missing bytes were written; a piece ends several files at once, and the files
    // whose kick found another running are left to the kernel and the flush (one kick at a time).
    CHECK(st.stats().writeback_kicks >= 1);
    CHECK(st.stats().writeback_kicks + st.stats().writeback_kicks_left == 40);
    CHECK(st.stats().writeback_kicks_most == 1);
#endif
    CHECK(flush_sync(loop, st));
    for (std::size_t i = 0; i < m.files.size(); ++i)
        CHECK(slurp(dir.path / "photos" / m.files[i].path[0]) ==
              content.substr(std::size_t(m.files[i].offset), std::size_t(m.files[i].length)));
}

TEST_CASE("storage flush: many files take one syncfs per filesystem; on a failure every file stays to flush") {
    TestLoop loop;
    test::TempDir dir;
    std::vector<FileSpec> files;
    for (int i = 0; i < 40; ++i) files.push_back({{"d", "f" + std::to_string(i)}, 3000});
    const std::string content = test::pseudo_random(40 * 3000, 37);
    Metainfo m = make_meta("photos", files, 16 << 10, content);
    auto fds = std::make_shared<FdCache>(loop.get(), 8);
    StorageLimits lim;
    lim.shared_fds = fds;
    Storage st(loop.get(), m, dir.path.string(), lim);
    REQUIRE(open_sync(loop, st));
    const std::uint32_t half = m.piece_count() / 2;
    CHECK(write_all(loop, st, m, content, 0, half) == half);
    CHECK(flush_sync(loop, st));
    // On a filesystem whose syncfs is not trusted (FUSE, NFS, overlay, ...) every file is fsynced instead.
    const bool grouped = Storage::groups_flushes(dir.str());
#ifdef __linux__
    if (fs::is_directory("/dev/shm")) CHECK(Storage::groups_flushes("/dev/shm")); // tmpfs
    CHECK_FALSE(Storage::groups_flushes("/proc"));
#endif
    CHECK(st.stats().group_flushes == (grouped ? 1u : 0u));
    CHECK(st.stats().filesystem_syncs == (grouped ? 1u : 0u)); // all 20-odd files are on one filesystem
    CHECK(flush_sync(loop, st)); // nothing written since: nothing to do
    CHECK(st.stats().group_flushes == (grouped ? 1u : 0u));

    // A file of the second half cannot be opened at the flush (moved away while no descriptor was open): the
    // flush fails naming it, and every file of the batch stays dirty, not only that one.
    CHECK(write_all(loop, st, m, content, half, m.piece_count()) == m.piece_count() - half);
    fds->close_unused_since(UINT64_MAX);
    loop.run();
    const fs::path last = dir.path / "photos" / "d" / "f39";
    fs::rename(last, dir.path / "away");
    auto f = flush_sync(loop, st);
    REQUIRE_FALSE(f);
    CHECK(f.error().str().find("/photos/d/f39") != std::string::npos);
    CHECK(st.is_failed());
    st.clear_error();
    fs::rename(dir.path / "away", last);
    CHECK(flush_sync(loop, st));
    CHECK(st.stats().group_flushes == (grouped ? 2u : 0u)); // >= kGroupFlushMin files again, not only f39
    for (std::size_t i = 0; i < m.files.size(); ++i)
        CHECK(slurp(dir.path / "photos" / "d" / m.files[i].path[1]) ==
              content.substr(std::size_t(m.files[i].offset), std::size_t(m.files[i].length)));

    // Few files: an fsync each, no filesystem sync.
    Metainfo small = make_meta("small", {{{"a"}, 3000}, {{"b"}, 3000}}, 16 << 10, content.substr(0, 6000));
    Storage st2(loop.get(), small, dir.path.string(), lim);
    REQUIRE(open_sync(loop, st2));
    CHECK(write_all(loop, st2, small, content.substr(0, 6000), 0, 1) == 1);
    CHECK(flush_sync(loop, st2));
    CHECK(st2.stats().group_flushes == 0);
}
