// Tests for src/storage: file map, path safety, fd and read cache bounds, verify, resume, disk errors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "assert_spy.hpp"
#include "crypto/sha.hpp"
#include "loop/fs_req.hpp"
#include "storage/fd_cache.hpp"
#include "storage/file_map.hpp"
#include "storage/piece_hash.hpp"
#include "storage/read_cache.hpp"
#include "storage/resume.hpp"
#include "storage/storage.hpp"
#include "storage_fixture.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace p2p;
using namespace storage_test;

namespace {

std::size_t count_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

// Files a, (zero-length) z, b, c under folder "t"; 35 bytes in pieces of 16: piece 0 spans a, b and c.
Metainfo three_file_meta(const std::string& content) {
    return make_meta("t", {{{"a"}, 10}, {{"z"}, 0}, {{"sub", "b"}, 5}, {{"c"}, 20}}, 16, content);
}

} // namespace

TEST_CASE("storage file_map: single file") {
    const std::string content = test::pseudo_random(40, 1);
    Metainfo m = make_meta("one.bin", {{{}, 40}}, 16, content, false);
    CHECK(m.piece_count() == 3);
    CHECK(piece_bytes(m, 0) == 16);
    CHECK(piece_bytes(m, 2) == 8); // last piece shorter
    CHECK(piece_bytes(m, 3) == 0);
    auto s = map_range(m, 1, 0, 16);
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{0, 16, 16, 0}});
    s = map_range(m, 2, 2, 6);
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{0, 34, 6, 0}});
    CHECK_FALSE(map_range(m, 2, 0, 9));  // beyond the short last piece
    CHECK_FALSE(map_range(m, 3, 0, 1));  // no such piece
    CHECK_FALSE(map_range(m, 0, -1, 2)); // negative begin
}

TEST_CASE("storage file_map: piece spanning three files with a zero-length file") {
    const std::string content = test::pseudo_random(35, 2);
    Metainfo m = three_file_meta(content);
    REQUIRE(m.piece_count() == 3);
    auto s = map_range(m, 0, 0, 16);
    REQUIRE(s);
    // a[0,10) + b[0,5) + c[0,1); the zero-length file z yields no segment.
    CHECK(*s == std::vector<Segment>{{0, 0, 10, 0}, {2, 0, 5, 10}, {3, 0, 1, 15}});
    s = map_range(m, 1, 0, 16);
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{3, 1, 16, 0}});
    s = map_range(m, 1, 4, 8);
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{3, 5, 8, 0}});
    s = map_range(m, 2, 0, 3); // last piece: 3 bytes
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{3, 17, 3, 0}});
    s = map_range(m, 0, 9, 2); // straddles a|b exactly at the zero-length file
    REQUIRE(s);
    CHECK(*s == std::vector<Segment>{{0, 9, 1, 0}, {2, 0, 1, 1}});
    CHECK(map_range(m, 0, 0, 0)->empty());
    CHECK(pieces_of_file(m, 0).first == 0);
    CHECK(pieces_of_file(m, 0).last == 1);
    CHECK(pieces_of_file(m, 1).first == pieces_of_file(m, 1).last); // zero-length: no pieces
    CHECK(pieces_of_file(m, 3).first == 0);
    CHECK(pieces_of_file(m, 3).last == 3);
}

TEST_CASE("storage write then read back across file boundaries") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(35, 3);
    Metainfo m = three_file_meta(content);
    {
        Storage st(loop.get(), m, dir.str());
        REQUIRE(open_sync(loop, st));
        CHECK(fs::file_size(dir.path / "t" / "a") == 10);
        CHECK(fs::file_size(dir.path / "t" / "z") == 0);
        CHECK(fs::file_size(dir.path / "t" / "sub" / "b") == 5);
        CHECK(fs::file_size(dir.path / "t" / "c") == 20);
        for (std::uint32_t i = 0; i < m.piece_count(); ++i) REQUIRE(write_sync(loop, st, i, piece_of(m, content, i)));
        CHECK_FALSE(st.is_failed());
        // Fresh pieces are served from the cache.
        REQUIRE(st.cached_piece(0));
        CHECK(*st.cached_piece(0) == piece_of(m, content, 0));
    }
    CHECK(slurp(dir.path / "t" / "a") == content.substr(0, 10));
    CHECK(slurp(dir.path / "t" / "sub" / "b") == content.substr(10, 5));
    CHECK(slurp(dir.path / "t" / "c") == content.substr(15, 20));
    // A new Storage has a cold cache: reads come from disk.
    Storage st2(loop.get(), m, dir.str());
    for (std::uint32_t i = 0; i < m.piece_count(); ++i) {
        auto r = read_sync(loop, st2, i);
        REQUIRE(r);
        CHECK(**r == piece_of(m, content, i));
    }
    CHECK_FALSE(read_sync(loop, st2, 99));
    // A piece of the wrong size is refused without touching the disk.
    auto bad = write_sync(loop, st2, 0, "short");
    CHECK_FALSE(bad);
    CHECK(bad.error().str().find("expected 16") != std::string::npos);
}

TEST_CASE("storage write with many segments in flight and a large piece") {
    TestLoop loop;
    test::TempDir dir;
    // 6 files of odd sizes, 64 KiB pieces, all pieces written at once (more requests than the in-flight bound).
    std::vector<FileSpec> files = {{{"f1"}, 100000}, {{"f2"}, 1},      {{"d", "f3"}, 70000},
                                   {{"f4"}, 0},      {{"f5"}, 200003}, {{"f6"}, 65536}};
    std::int64_t total = 0;
    for (auto& f : files) total += f.length;
    const std::string content = test::pseudo_random(std::size_t(total), 4);
    Metainfo m = make_meta("big", files, 65536, content);
    Storage st(loop.get(), m, dir.str(), StorageLimits{4, 1 << 20, 3, 2, nullptr, nullptr, nullptr});
    std::size_t ok = 0, called = 0;
    for (std::uint32_t i = 0; i < m.piece_count(); ++i)
        st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)), [&](Status s) {
            ++called;
            ok += s.ok();
        });
    loop.run();
    CHECK(called == m.piece_count());
    CHECK(ok == m.piece_count());
    CHECK(st.open_fds() <= 4);
    auto v = verify_sync(loop, st);
    CHECK(*v.done);
    CHECK(v.good.size() == m.piece_count());
    CHECK(v.reports == m.piece_count());
}

TEST_CASE("storage: one write at a time per file; written pieces evicted from the cache become spare buffers") {
    TestLoop loop;
    test::TempDir dir;
    // One file of 16 pieces of 64 KiB, all written at once; the cache keeps 4 pieces.
    const std::string content = test::pseudo_random(16 * 65536, 12);
    Metainfo m = make_meta("one", {{{"one"}, std::int64_t(content.size())}}, 65536, content);
    Storage st(loop.get(), m, dir.str(), StorageLimits{4, 4 * 65536, 16, 2, nullptr, nullptr, nullptr});
    REQUIRE(open_sync(loop, st));
    CHECK(st.spare_buffer(65536) == nullptr); // nothing evicted yet
    std::shared_ptr<const std::string> held; // piece 0's buffer, still held here when the cache evicts it
    std::size_t ok = 0;
    for (std::uint32_t i = 0; i < m.piece_count(); ++i) {
        auto piece = std::make_shared<std::string>(piece_of(m, content, i));
        if (i == 0) held = piece;
        st.write_piece(i, std::move(piece), [&](Status s) { ok += s.ok(); });
    }
    // All 16 were handed over before the loop ran: the first runs, the other 15 wait for it in turn.
    loop.run();
    CHECK(ok == m.piece_count());
    CHECK(st.stats().writes_waited == 15);
    // 12 pieces were evicted; those nobody else held are spares (ReadCache::kMinSpares: more would exceed an eighth
    // of this cache of four pieces), never `held`.
    std::vector<std::shared_ptr<std::string>> spares;
    while (auto sp = st.spare_buffer(65536)) spares.push_back(std::move(sp));
    CHECK(spares.size() == ReadCache::kMinSpares);
    for (auto& sp : spares) {
        CHECK(sp->size() == 65536);
        CHECK(sp.get() != held.get());
        sp->assign(65536, 'x'); // ours to overwrite
    }
    CHECK(*held == piece_of(m, content, 0));
    CHECK(st.spare_buffer(1000) == nullptr); // only buffers of the size asked for
    auto v = verify_sync(loop, st);
    CHECK(v.good.size() == m.piece_count());
}

TEST_CASE("storage: a piece written with keep_cached false is not kept; its buffer comes back as a spare") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(4 * 65536, 13);
    Metainfo m = make_meta("one", {{{"one"}, std::int64_t(content.size())}}, 65536, content);
    Storage st(loop.get(), m, dir.str(), StorageLimits{4, 4 * 65536, 16, 2, nullptr, nullptr, nullptr});
    REQUIRE(open_sync(loop, st));
    auto write = [&](std::uint32_t i, std::shared_ptr<std::string> piece, bool keep) {
        std::optional<Status> got;
        st.write_piece(i, std::move(piece), [&](Status s) { got = std::move(s); }, keep);
        loop.run();
        REQUIRE(got.has_value());
        CHECK(got->ok());
    };
    // Not kept, held by no one else: not in the cache, and the next piece of that size reuses its memory.
    auto p0 = std::make_shared<std::string>(piece_of(m, content, 0));
    const std::string* p0_raw = p0.get();
    write(0, std::move(p0), false);
    CHECK(st.cache_bytes() == 0);
    CHECK(st.cached_piece(0) == nullptr);
    auto spare = st.spare_buffer(65536);
    REQUIRE(spare);
    CHECK(spare.get() == p0_raw);
    // Kept (the default): in the cache, no spare.
    write(1, std::make_shared<std::string>(piece_of(m, content, 1)), true);
    CHECK(st.cache_bytes() == 65536);
    CHECK(st.cached_piece(1) != nullptr);
    CHECK(st.spare_buffer(65536) == nullptr);
    // Not kept but still held by the caller: never handed out as a spare (someone may read it).
    auto p2 = std::make_shared<std::string>(piece_of(m, content, 2));
    std::shared_ptr<const std::string> held = p2;
    write(2, std::move(p2), false);
    CHECK(st.spare_buffer(65536) == nullptr);
    CHECK(*held == piece_of(m, content, 2));
    // A copy read into the cache before a write that is not kept does not outlive that write (it could be stale).
    REQUIRE(read_sync(loop, st, 2));
    CHECK(st.cached_piece(2) != nullptr);
    write(2, std::make_shared<std::string>(piece_of(m, content, 2)), false);
    CHECK(st.cached_piece(2) == nullptr);
    // What reached the disk is the same either way.
    write(3, std::make_shared<std::string>(piece_of(m, content, 3)), false);
    auto v = verify_sync(loop, st);
    CHECK(v.good.size() == m.piece_count());
}

TEST_CASE("storage: a download's first open makes each folder's other files in one batch, by the same rules") {
    TestLoop loop;
    test::TempDir dir;
    // Folders a and b of ten 100-byte files each, then folder c of 600 files of 1 byte (made in three jobs, one
    // after the other); pieces of 64.
    std::vector<FileSpec> files;
    for (const char* f : {"a", "b"})
        for (int k = 0; k < 10; ++k) files.push_back({{f, std::to_string(k)}, 100});
    for (int k = 0; k < 600; ++k) files.push_back({{"c", std::to_string(k)}, 1});
    const std::string content = test::pseudo_random(2600, 21);
    Metainfo m = make_meta("t", files, 64, content);
    // Already there: a/3 shorter (extended, its bytes kept), a/5 longer (not shrunk: not ours to cut).
    spit(dir.path / "t" / "a" / "3", std::string(40, 'x'));
    spit(dir.path / "t" / "a" / "5", std::string(250, 'y'));
    {
        Storage st(loop.get(), m, dir.str());
        REQUIRE(open_sync(loop, st));
        CHECK(st.stats().files_batched == 18 + 599); // all but the first file of each folder
        for (int k = 0; k < 600; ++k) REQUIRE(fs::file_size(dir.path / "t" / "c" / std::to_string(k)) == 1u);
        for (const char* f : {"a", "b"})
            for (int k = 0; k < 10; ++k) {
                const fs::path p = dir.path / "t" / f / std::to_string(k);
                CHECK_MESSAGE(fs::file_size(p) == (std::string(f) == "a" && k == 5 ? 250u : 100u), p);
            }
        CHECK(slurp(dir.path / "t" / "a" / "3") == std::string(40, 'x') + std::string(60, '\0'));
        CHECK(slurp(dir.path / "t" / "a" / "5") == std::string(250, 'y'));
        // Downloaded into: every piece lands, and verify finds them all.
        for (std::uint32_t i = 0; i < m.piece_count(); ++i) REQUIRE(write_sync(loop, st, i, piece_of(m, content, i)));
        auto v = verify_sync(loop, st);
        CHECK(v.good.size() == m.piece_count());
    }
    // A link among a folder's later files is refused as the ordinary open refuses it, its target untouched.
    test::TempDir dir2;
    spit(dir2.path / "outside" / "canary", "canary");
    fs::create_directories(dir2.path / "dl" / "t" / "b");
    fs::create_symlink(dir2.path / "outside" / "canary", dir2.path / "dl" / "t" / "b" / "7");
    Storage st2(loop.get(), m, (dir2.path / "dl").string());
    std::optional<Status> o, made;
    st2.open(OpenMode::download, [&](Status s) {
        o = std::move(s);
        st2.when_files_made([&](Status s2) { made = std::move(s2); });
    });
    loop.run();
    // The open returns after each folder's first file (b/0); b/7 is refused behind it and fails the storage.
    REQUIRE(o.has_value());
    CHECK(o->ok());
    REQUIRE(made.has_value());
    REQUIRE_FALSE(made->ok());
    CHECK(made->error().str().find("symlink") != std::string::npos);
    CHECK(st2.is_failed());
    CHECK_FALSE(write_sync(loop, st2, 0, piece_of(m, content, 0)));
    CHECK(slurp(dir2.path / "outside" / "canary") == "canary");
}

TEST_CASE("storage: a download's first open returns before the folders' later files are made; writes go ahead") {
    TestLoop loop;
    test::TempDir dir;
    // Folder a of 10 files of 100 bytes, folder c of 300 files of 1 byte; pieces of 64.
    std::vector<FileSpec> files;
    for (int k = 0; k < 10; ++k) files.push_back({{"a", std::to_string(k)}, 100});
    for (int k = 0; k < 300; ++k) files.push_back({{"c", std::to_string(k)}, 1});
    const std::string content = test::pseudo_random(1300, 33);
    Metainfo m = make_meta("t", files, 64, content);
    const std::uint32_t last = m.piece_count() - 1; // ends in c/299, the last file the jobs make
    Storage st(loop.get(), m, dir.str());
    std::optional<Status> opened, written, made, saved;
    std::uint64_t batched_at_open = 99;
    bool all_there_at_save = false;
    st.open(OpenMode::download, [&](Status s) {
        opened = std::move(s);
        // On this loop turn no job of the folders has come back yet: the open did not wait for them.
        batched_at_open = st.stats().files_batched;
        st.write_piece(last, std::make_shared<std::string>(piece_of(m, content, last)),
                       [&](Status w) { written = std::move(w); });
        st.when_files_made([&](Status s2) { made = std::move(s2); });
        // A complete record seals the files: it waits for every one of them to exist.
        st.save_resume(std::vector<bool>(m.piece_count(), true), [&](Status s3) {
            saved = std::move(s3);
            all_there_at_save = true;
            for (int k = 0; k < 300; ++k)
                all_there_at_save = all_there_at_save && fs::exists(dir.path / "t" / "c" / std::to_string(k));
        });
    });
    loop.run();
    REQUIRE(opened.has_value());
    REQUIRE(opened->ok());
    CHECK(batched_at_open == 0);
    REQUIRE(written.has_value());
    CHECK(written->ok());
    REQUIRE(made.has_value());
    CHECK(made->ok());
    REQUIRE(saved.has_value());
    CHECK(saved->ok());
    CHECK(all_there_at_save);
    CHECK(st.stats().files_batched >= 9 + 298); // c/299 may have been made by the write's own open first
    REQUIRE(st.sealed().size() == m.files.size());
    for (std::size_t i = 0; i < m.files.size(); ++i) CHECK(st.sealed()[i].size == m.files[i].length);
    st.unseal(); // the record above claimed every piece to test the wait; now the real pieces
    // Every other piece lands too, and the written one was not cut or overwritten by its file's job.
    for (std::uint32_t i = 0; i < last; ++i) REQUIRE(write_sync(loop, st, i, piece_of(m, content, i)));
    auto v = verify_sync(loop, st);
    CHECK(v.good.size() == m.piece_count());
    for (int k = 0; k < 300; ++k) REQUIRE(fs::file_size(dir.path / "t" / "c" / std::to_string(k)) == 1u);
}

TEST_CASE("storage verify_existing finds good, bad and missing pieces") {
    TestLoop loop;
    test::TempDir dir;
    // 4 files x 48 bytes, pieces of 32: 6 pieces. file0=[0,48) pieces 0-1, file1=[48,96) pieces 1-2,
    // file2=[96,144) pieces 3-4, file3=[144,192) pieces 4-5.
    const std::string content = test::pseudo_random(192, 5);
    Metainfo m = make_meta("v", {{{"f0"}, 48}, {{"f1"}, 48}, {{"f2"}, 48}, {{"f3"}, 48}}, 32, content);
    lay_out(m, dir.path, content);
    {
        Storage st(loop.get(), m, dir.str());
        auto v = verify_sync(loop, st);
        CHECK(*v.done);
        CHECK(v.good.size() == 6);
        CHECK(v.bad.empty());
    }
    // Flip one byte in f0 at offset 40 (piece 1), truncate f2 to 20 bytes (pieces 3 and 4 short), extend f3
    // (its first 48 bytes are unchanged, so its pieces stay good).
    {
        std::string f0 = slurp(dir.path / "v" / "f0");
        f0[40] ^= 1;
        spit(dir.path / "v" / "f0", f0);
        fs::resize_file(dir.path / "v" / "f2", 20);
        std::ofstream(dir.path / "v" / "f3", std::ios::binary | std::ios::app) << "extra bytes";
    }
    {
        Storage st(loop.get(), m, dir.str());
        auto v = verify_sync(loop, st);
        CHECK(*v.done);
        CHECK(v.good == std::set<std::uint32_t>{0, 2, 5});
        CHECK(v.bad == std::set<std::uint32_t>{1, 3, 4});
        CHECK_FALSE(st.is_failed()); // missing and short files are expected, not failures
    }
    // Missing file f1: pieces 1 and 2 not ok; verify does not create it.
    fs::remove(dir.path / "v" / "f1");
    {
        Storage st(loop.get(), m, dir.str());
        auto v = verify_sync(loop, st);
        CHECK(*v.done);
        CHECK(v.good == std::set<std::uint32_t>{0, 5});
        CHECK(v.bad == std::set<std::uint32_t>{1, 2, 3, 4});
        CHECK_FALSE(fs::exists(dir.path / "v" / "f1"));
    }
    // Nothing on disk at all: every piece is reported not ok.
    {
        test::TempDir empty;
        Storage st(loop.get(), m, empty.str());
        auto v = verify_sync(loop, st);
        CHECK(*v.done);
        CHECK(v.bad.size() == 6);
    }
}

TEST_CASE("storage verify_existing skips the zeros open() just added, with the same verdicts") {
    TestLoop loop;
    test::TempDir dir;
    // 2 files x 48 bytes, pieces of 32: piece 0 = f0[0,32), piece 1 = f0[32,48) + f1[0,16), piece 2 = f1[16,48).
    // Data: pieces 0 and 2 are zeros, piece 1 is not. f0 exists with only its first 20 bytes; f1 is missing.
    std::string content(96, '\0');
    const std::string mid = test::pseudo_random(32, 9);
    content.replace(32, 32, mid);
    Metainfo m = make_meta("z", {{{"f0"}, 48}, {{"f1"}, 48}}, 32, content);
    spit(dir.path / "z" / "f0", content.substr(0, 20));
    Storage st(loop.get(), m, dir.str());
    REQUIRE(open_sync(loop, st));
    auto v = verify_sync(loop, st);
    CHECK(*v.done);
    CHECK(v.good == std::set<std::uint32_t>{0, 2}); // piece 2 is all zeros: still found good, unread
    CHECK(v.bad == std::set<std::uint32_t>{1});
    CHECK(st.stats().pieces_read == 1); // only piece 0 overlaps bytes that were on disk before open()
    // After a write nothing is assumed any more: every piece is read again.
    REQUIRE(write_sync(loop, st, 1, mid));
    auto v2 = verify_sync(loop, st);
    CHECK(v2.good == std::set<std::uint32_t>{0, 1, 2});
    CHECK(st.stats().pieces_read == 4);
}

TEST_CASE("storage refuses path traversal in a hand-built metainfo") {
    TestLoop loop;
    test::TempDir dir;
    fs::create_directories(dir.path / "dl");
    spit(dir.path / "outside" / "canary", "canary");
    const std::string content = test::pseudo_random(32, 6);
    Metainfo m = make_meta("t", {{{"ok"}, 16}, {{"..", "..", "outside", "canary"}, 16}}, 16, content);
    Storage st(loop.get(), m, (dir.path / "dl").string());
    CHECK(st.is_failed()); // refused at construction, before any I/O
    CHECK(st.error().str().find("..") != std::string::npos);
    CHECK(st.file_path(1).empty());
    auto o = open_sync(loop, st);
    CHECK_FALSE(o);
    CHECK_FALSE(write_sync(loop, st, 1, piece_of(m, content, 1)));
    st.clear_error();
    CHECK_FALSE(write_sync(loop, st, 1, piece_of(m, content, 1)));
    CHECK(slurp(dir.path / "outside" / "canary") == "canary");

    // A name of ".." for a single-file torrent is refused the same way.
    Metainfo single = make_meta("..", {{{}, 16}}, 16, content.substr(0, 16), false);
    Storage st2(loop.get(), single, (dir.path / "dl").string());
    CHECK(st2.is_failed());
    CHECK_FALSE(write_sync(loop, st2, 0, content.substr(0, 16)));
    // A separator hidden in a component is refused too.
    Metainfo slash = make_meta("t", {{{"a/../../outside/canary"}, 16}}, 16, content.substr(0, 16));
    Storage st3(loop.get(), slash, (dir.path / "dl").string());
    CHECK(st3.is_failed());
    CHECK(slurp(dir.path / "outside" / "canary") == "canary");
}

TEST_CASE("storage refuses symlinks inside the download folder") {
    TestLoop loop;
    test::TempDir dir;
    fs::create_directories(dir.path / "outside");
    spit(dir.path / "outside" / "canary", "canary");
    fs::create_directories(dir.path / "dl" / "t");
    fs::create_directory_symlink(dir.path / "outside", dir.path / "dl" / "t" / "sub"); // parent link
    fs::create_symlink(dir.path / "outside" / "canary", dir.path / "dl" / "t" / "f");  // file link
    const std::string content = test::pseudo_random(32, 7);
    {
        Metainfo m = make_meta("t", {{{"sub", "x"}, 32}}, 16, content);
        Storage st(loop.get(), m, (dir.path / "dl").string());
        auto o = open_sync(loop, st);
        REQUIRE_FALSE(o);
        CHECK(o.error().str().find("symlink") != std::string::npos);
        CHECK(st.is_failed());
        st.clear_error();
        auto w = write_sync(loop, st, 0, piece_of(m, content, 0));
        CHECK_FALSE(w);
        CHECK(w.error().str().find("symlink") != std::string::npos);
        CHECK_FALSE(fs::exists(dir.path / "outside" / "x"));
    }
    {
        Metainfo m = make_meta("t", {{{"f"}, 32}}, 16, content);
        Storage st(loop.get(), m, (dir.path / "dl").string());
        auto w = write_sync(loop, st, 0, piece_of(m, content, 0));
        REQUIRE_FALSE(w);
        CHECK(w.error().str().find("symlink") != std::string::npos);
        // Verify refuses too (a real error, not "missing").
        st.clear_error();
        auto v = verify_sync(loop, st);
        CHECK_FALSE(*v.done);
    }
    // The torrent folder itself being a link is refused as well.
    fs::create_directory_symlink(dir.path / "outside", dir.path / "dl" / "u");
    {
        Metainfo m = make_meta("u", {{{"y"}, 32}}, 16, content);
        Storage st(loop.get(), m, (dir.path / "dl").string());
        CHECK_FALSE(open_sync(loop, st));
        CHECK_FALSE(fs::exists(dir.path / "outside" / "y"));
    }
    CHECK(slurp(dir.path / "outside" / "canary") == "canary");
}

TEST_CASE("storage fd cache keeps at most max_open_files descriptors") {
    TestLoop loop;
    test::TempDir dir;
    // 200 files of 1000 bytes, pieces of 16 KiB: every piece spans 17 files.
    std::vector<FileSpec> files;
    for (int i = 0; i < 200; ++i) files.push_back({{std::string("f").append(std::to_string(i))}, 1000});
    const std::string content = test::pseudo_random(200000, 8);
    Metainfo m = make_meta("many", files, 16384, content);
    const std::size_t before = count_fds();
    std::size_t peak = 0;
    uv_check_t probe;
    uv_check_init(loop.get(), &probe);
    probe.data = &peak;
    uv_check_start(&probe, [](uv_check_t* h) {
        auto* pk = static_cast<std::size_t*>(h->data);
        *pk = std::max(*pk, count_fds());
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(&probe));
    {
        Storage st(loop.get(), m, dir.str(), StorageLimits{8, 1 << 20, 16, 4, nullptr, nullptr, nullptr});
        REQUIRE(open_sync(loop, st));
        CHECK(st.open_fds() <= 8);
        std::size_t ok = 0;
        for (std::uint32_t i = 0; i < m.piece_count(); ++i)
            st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)),
                           [&](Status s) { ok += s.ok(); });
        loop.run();
        CHECK(ok == m.piece_count());
        CHECK(st.open_fds() <= 8);
        CHECK(count_fds() <= before + 8);
        auto v = verify_sync(loop, st);
        CHECK(v.good.size() == m.piece_count());
    }
    loop.run(); // let the destructor's closes finish
    CHECK(count_fds() == before);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    CHECK(peak > before);      // the probe saw descriptors in use
    CHECK(peak <= before + 8); // and never more than the bound
    for (int i : {0, 77, 199})
        CHECK(slurp(dir.path / "many" / (std::string("f").append(std::to_string(i)))) ==
              content.substr(std::size_t(i) * 1000, 1000));
}

TEST_CASE("storage fd cache: busy descriptors are not evicted and waiters are served in turn") {
    TestLoop loop;
    test::TempDir dir;
    spit(dir.path / "x0", "0");
    spit(dir.path / "x1", "1");
    FdCache cache(loop.get(), 1);
    int opens = 0;
    auto opener = [&](std::size_t key) {
        return [&, key](std::function<void(uv_file, Status)> cb) {
            ++opens;
            const std::string p = (dir.path / (std::string("x").append(std::to_string(key)))).string();
            fsr::call([&](uv_fs_t* r, uv_fs_cb fcb) { return uv_fs_open(loop.get(), r, p.c_str(), O_RDONLY, 0, fcb); },
                      [cb](uv_fs_t* r) { cb(static_cast<uv_file>(r->result), ok_status()); });
        };
    };
    std::vector<std::string> order;
    uv_file first = -1;
    cache.acquire(0, opener(0), [&](uv_file fd, Status st) {
        REQUIRE(st.ok());
        first = fd;
        order.push_back("got0");
    });
    cache.acquire(1, opener(1), [&](uv_file, Status st) {
        REQUIRE(st.ok());
        order.push_back("got1");
        cache.release(1);
    });
    loop.run();
    // Key 0 is held, so key 1 waits (bound 1) instead of closing a descriptor in use.
    CHECK(order == std::vector<std::string>{"got0"});
    CHECK(cache.slots_used() == 1);
    char c = 0;
    CHECK(pread(first, &c, 1, 0) == 1);
    CHECK(c == '0');
    cache.release(0);
    loop.run();
    CHECK(order == std::vector<std::string>{"got0", "got1"});
    CHECK(opens == 2);
    CHECK(cache.slots_used() == 1);
}

TEST_CASE("storage fd cache shared by many torrents: one bound over their files and resume files") {
    TestLoop loop;
    test::TempDir dir;
    // 12 torrents of 4 files each (48 files) on one cache of 4 descriptors, as a session shares them.
    auto fds = std::make_shared<FdCache>(loop.get(), 4);
    StorageLimits lim;
    lim.shared_fds = fds;
    const std::string content = test::pseudo_random(35, 31);
    std::vector<Metainfo> metas;
    std::vector<std::unique_ptr<Storage>> st;
    for (int t = 0; t < 12; ++t) {
        Metainfo m = three_file_meta(content);
        m.name = std::string("t").append(std::to_string(t));
        m.info_hash = sha1(m.name);
        metas.push_back(m);
        st.push_back(std::make_unique<Storage>(loop.get(), m, dir.str(), lim));
    }
    const std::size_t before = count_fds();
    struct Peak {
        std::size_t fds = 0;
        std::size_t slots = 0;
        FdCache* cache = nullptr;
    } peak{0, 0, fds.get()};
    uv_check_t probe;
    uv_check_init(loop.get(), &probe);
    probe.data = &peak;
    uv_check_start(&probe, [](uv_check_t* h) {
        auto* pk = static_cast<Peak*>(h->data);
        pk->fds = std::max(pk->fds, count_fds());
        pk->slots = std::max(pk->slots, pk->cache->slots_used());
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(&probe));
    // All at once: opens, every piece written, then every resume record saved and loaded back.
    std::size_t ok = 0;
    for (auto& s : st) s->open(OpenMode::download, [&](Status r) { ok += r.ok(); });
    loop.run();
    REQUIRE(ok == 12);
    for (std::size_t t = 0; t < st.size(); ++t)
        for (std::uint32_t i = 0; i < metas[t].piece_count(); ++i)
            st[t]->write_piece(i, std::make_shared<std::string>(piece_of(metas[t], content, i)),
                               [&](Status r) { ok += r.ok(); });
    loop.run();
    REQUIRE(ok == 12 + 12 * 3);
    for (auto& s : st) s->save_resume({true, true, true}, [&](Status r) { ok += r.ok(); });
    loop.run();
    REQUIRE(ok == 12 + 12 * 3 + 12);
    std::size_t valid = 0;
    for (auto& s : st) s->load_resume([&](ResumeState r) { valid += r.valid; });
    loop.run();
    CHECK(valid == 12);
    CHECK(peak.fds > before);      // the probe saw descriptors in use
    CHECK(peak.fds <= before + 4); // resume files included: never more than the one bound
    CHECK(peak.slots <= 4);
    CHECK(fds->slots_used() <= 4);
    // A storage that goes closes its idle descriptors in the shared cache; the others keep theirs.
    for (std::size_t t = 0; t < st.size(); ++t) CHECK(st[t]->open_fds() == fds->slots_used());
    st.clear();
    loop.run();
    CHECK(fds->slots_used() == 0);
    CHECK(count_fds() == before);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe), nullptr);
    loop.run();
    for (int t : {0, 11})
        CHECK(slurp(dir.path / std::string("t").append(std::to_string(t)) / "c") == content.substr(15, 20));
}

TEST_CASE("storage: the first open's file-making job counts its descriptor in the shared bound") {
    TestLoop loop;
    test::TempDir dir;
    // A cache of 2 with one slot lent out: the folders' first files (a, sub/b) take the other in turn and leave
    // one idle; the job that makes z and c must close that one before it opens anything, or 3 would be open.
    auto fds = std::make_shared<FdCache>(loop.get(), 2);
    bool lent = false;
    fds->acquire_slot([&] { lent = true; });
    loop.run();
    REQUIRE(lent);
    StorageLimits lim;
    lim.shared_fds = fds;
    const std::string content = test::pseudo_random(35, 32);
    Metainfo m = three_file_meta(content);
    Storage st(loop.get(), m, dir.str(), lim);
    REQUIRE(open_sync(loop, st));
    CHECK(st.stats().files_batched == 2);
    CHECK(fds->slots_used() == 1); // the lent slot only: the idle descriptor went to the job, which gave it back
    fds->release_slot();
    CHECK(fds->slots_used() == 0);
    for (std::uint32_t i = 0; i < m.piece_count(); ++i) REQUIRE(write_sync(loop, st, i, piece_of(m, content, i)));
    CHECK(fds->slots_used() <= 2);
    CHECK(slurp(dir.path / "t" / "c") == content.substr(15, 20));
}

TEST_CASE("storage fd cache: unused descriptors close with age; a lent slot waits for a free one") {
    TestLoop loop;
    test::TempDir dir;
    spit(dir.path / "x0", "0");
    FdCache cache(loop.get(), 1);
    auto opener = [&](std::function<void(uv_file, Status)> cb) {
        const std::string p = (dir.path / "x0").string();
        fsr::call([&](uv_fs_t* r, uv_fs_cb fcb) { return uv_fs_open(loop.get(), r, p.c_str(), O_RDONLY, 0, fcb); },
                  [cb](uv_fs_t* r) { cb(static_cast<uv_file>(r->result), ok_status()); });
    };
    const std::size_t before = count_fds();
    bool got = false;
    cache.acquire(FdCache::key(7, 0), opener, [&](uv_file, Status st) { got = st.ok(); });
    loop.run();
    REQUIRE(got);
    CHECK(count_fds() == before + 1);
    // Held: a slot asked for now waits, and age does not close a descriptor in use.
    bool granted = false;
    cache.acquire_slot([&] { granted = true; });
    cache.close_unused_since(uv_now(loop.get()) + 1000);
    loop.run();
    CHECK_FALSE(granted);
    CHECK(count_fds() == before + 1);
    // Released: the idle descriptor is evicted for the waiting slot.
    cache.release(FdCache::key(7, 0));
    loop.run();
    CHECK(granted);
    CHECK(count_fds() == before);
    CHECK(cache.slots_used() == 1);
    cache.release_slot();
    CHECK(cache.slots_used() == 0);
    // Idle and recently used: kept for a cut-off before its last use, closed for one after it.
    got = false;
    cache.acquire(FdCache::key(7, 0), opener, [&](uv_file, Status st) { got = st.ok(); });
    loop.run();
    REQUIRE(got);
    cache.release(FdCache::key(7, 0));
    const std::uint64_t used_at = uv_now(loop.get());
    cache.close_unused_since(used_at); // last used at used_at, not before it
    loop.run();
    CHECK(cache.slots_used() == 1);
    cache.close_idle_of(8); // another owner's: not ours
    loop.run();
    CHECK(cache.slots_used() == 1);
    cache.close_unused_since(used_at + 1);
    loop.run();
    CHECK(cache.slots_used() == 0);
    CHECK(count_fds() == before);
}

TEST_CASE("storage fd cache: a release of what was never acquired trips the invariant check and changes nothing") {
    TestLoop loop;
    test::TempDir dir;
    spit(dir.path / "x0", "0");
    FdCache cache(loop.get(), 2);
    test::AssertSpy spy;
    cache.release(FdCache::key(1, 0)); // nothing acquired under this key
    CHECK(spy.count() == 1);
    cache.release_slot(); // no slot lent
    CHECK(spy.count() == 2);
    CHECK(cache.slots_used() == 0);
    // Acquired once, released twice: the second release is the bug; the descriptor stays cached and reusable.
    auto opener = [&](std::function<void(uv_file, Status)> cb) {
        const std::string p = (dir.path / "x0").string();
        fsr::call([&](uv_fs_t* r, uv_fs_cb fcb) { return uv_fs_open(loop.get(), r, p.c_str(), O_RDONLY, 0, fcb); },
                  [cb](uv_fs_t* r) { cb(static_cast<uv_file>(r->result), ok_status()); });
    };
    int got = 0;
    cache.acquire(FdCache::key(1, 0), opener, [&](uv_file, Status st) { got += st.ok(); });
    loop.run();
    REQUIRE(got == 1);
    cache.release(FdCache::key(1, 0));
    CHECK(spy.count() == 2);
    cache.release(FdCache::key(1, 0));
    CHECK(spy.count() == 3);
    CHECK(spy.last_what() == std::string("fd cache: release of a descriptor that is not acquired"));
    cache.acquire(FdCache::key(1, 0), opener, [&](uv_file, Status st) { got += st.ok(); });
    CHECK(got == 2); // served from the cache at once
    cache.release(FdCache::key(1, 0));
    CHECK(spy.count() == 3);
    CHECK(cache.slots_used() == 1);
}

TEST_CASE("storage read cache recycles evicted buffers nobody holds, only when allowed") {
    ReadCache rc(100);
    auto a = std::make_shared<std::string>(60, 'a');
    rc.put(1, a, true);
    rc.put(2, std::make_shared<const std::string>(60, 'b')); // evicts 1, but `a` is still held here
    CHECK(rc.take_spare(60) == nullptr);
    a.reset();
    auto c = std::make_shared<std::string>(60, 'c');
    const std::string* c_raw = c.get();
    rc.put(3, std::move(c), true); // evicts 2: not recyclable
    CHECK(rc.take_spare(60) == nullptr);
    rc.put(4, std::make_shared<const std::string>(60, 'd')); // evicts 3: recyclable and unheld
    CHECK(rc.take_spare(59) == nullptr);                     // sizes must match exactly
    auto spare = rc.take_spare(60);
    REQUIRE(spare);
    CHECK(spare.get() == c_raw);
    CHECK(rc.take_spare(60) == nullptr); // handed out once
    CHECK(rc.bytes() == 60);
}

TEST_CASE("storage read cache: drop takes a piece out; its buffer is a spare only if recyclable and unheld") {
    ReadCache rc(200);
    auto a = std::make_shared<std::string>(60, 'a');
    const std::string* a_raw = a.get();
    rc.put(1, std::move(a), true);
    auto b = std::make_shared<std::string>(60, 'b');
    rc.put(2, b, true); // still held here (as a send queue would)
    rc.put(3, std::make_shared<const std::string>(60, 'c')); // not recyclable
    rc.drop(2);
    rc.drop(3);
    rc.drop(9); // not there: nothing happens
    CHECK(rc.entries() == 1);
    CHECK(rc.bytes() == 60);
    CHECK(rc.get(2) == nullptr);
    CHECK(rc.take_spare(60) == nullptr); // neither 2 (held) nor 3 (not ours) became a spare
    CHECK(b.use_count() == 1);           // the cache let go of it
    rc.drop(1);
    CHECK(rc.entries() == 0);
    CHECK(rc.bytes() == 0);
    auto spare = rc.take_spare(60);
    REQUIRE(spare);
    CHECK(spare.get() == a_raw);
}

TEST_CASE("storage read cache is bounded and reads of one piece coalesce") {
    ReadCache rc(100);
    rc.put(1, std::make_shared<const std::string>(40, 'a'));
    rc.put(2, std::make_shared<const std::string>(40, 'b'));
    CHECK(rc.get(1)); // 1 becomes most recent
    rc.put(3, std::make_shared<const std::string>(40, 'c'));
    CHECK(rc.bytes() == 80);
    CHECK(rc.get(2) == nullptr); // least recently used went
    CHECK(rc.get(1));
    rc.put(4, std::make_shared<const std::string>(101, 'd')); // larger than the bound: not kept
    CHECK(rc.get(4) == nullptr);
    CHECK(rc.bytes() <= 100);

    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(16 * 10, 9);
    Metainfo m = make_meta("rc", {{{"a"}, 70}, {{"b"}, 90}}, 16, content);
    lay_out(m, dir.path, content);
    Storage st(loop.get(), m, dir.str(), StorageLimits{4, 48, 8, 4, nullptr, nullptr, nullptr}); // room for 3 pieces
    for (std::uint32_t i = 0; i < m.piece_count(); ++i) {
        auto r = read_sync(loop, st, i);
        REQUIRE(r);
        CHECK(**r == piece_of(m, content, i));
        CHECK(st.cache_bytes() <= 48);
    }
    CHECK(st.cached_piece(9));
    CHECK(st.cached_piece(7));
    CHECK(st.cached_piece(0) == nullptr);
    // Five concurrent requests for one uncached piece share one buffer (one read).
    std::vector<std::shared_ptr<const std::string>> got;
    const auto reads_before = st.stats().pieces_read;
    for (int k = 0; k < 5; ++k)
        st.read_piece(2, [&](Result<std::shared_ptr<const std::string>> r) {
            REQUIRE(r);
            got.push_back(*r);
        });
    loop.run();
    REQUIRE(got.size() == 5);
    CHECK(st.stats().pieces_read == reads_before + 1);
    for (auto& g : got) CHECK(g.get() == got[0].get());
    CHECK(*got[0] == piece_of(m, content, 2));
    // A hit hands out the same buffer again.
    const auto hits_before = st.stats().cache_hits;
    auto again = read_sync(loop, st, 2);
    REQUIRE(again);
    CHECK(again->get() == got[0].get());
    CHECK(st.stats().cache_hits == hits_before + 1);
    CHECK(st.stats().pieces_read == reads_before + 1);
}

TEST_CASE("storage resume encode/decode") {
    ResumeData r;
    r.info_hash = std::string(20, '\xab');
    r.piece_count = 10;
    r.have = {true, false, true, false, false, false, false, false, false, true};
    r.files = {{123, 456789}, {-1, 0}};
    const std::string text = encode_resume(r);
    CHECK(text == R"({"files":[[123,456789],[-1,0]],"have":"a040",)"
                  R"("info_hash":"abababababababababababababababababababab","p2pnode_resume":1,"piece_count":10})");
    auto d = decode_resume(text);
    REQUIRE(d);
    CHECK(d->info_hash == r.info_hash);
    CHECK(d->piece_count == 10);
    CHECK(d->have == r.have);
    CHECK(d->files == r.files);
    CHECK_FALSE(decode_resume("not json"));
    CHECK_FALSE(decode_resume("[]"));
    CHECK_FALSE(decode_resume(R"({"p2pnode_resume":2})"));
    CHECK_FALSE(decode_resume(R"({"p2pnode_resume":1,"info_hash":"ab","piece_count":1,"have":"80","files":[]})"));
    std::string wrong_bits = text;
    wrong_bits.replace(wrong_bits.find("a040"), 4, "a0");
    CHECK_FALSE(decode_resume(wrong_bits));
    CHECK_FALSE(decode_resume(R"({"p2pnode_resume":1,"info_hash":7})"));
}

TEST_CASE("storage resume round trip and invalidation") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(35, 10);
    Metainfo m = three_file_meta(content);
    auto load = [&](Storage& st) {
        std::optional<ResumeState> rs;
        st.load_resume([&](ResumeState s) { rs = std::move(s); });
        loop.run();
        REQUIRE(rs.has_value());
        return *rs;
    };
    std::vector<bool> have = {true, false, true};
    {
        Storage st(loop.get(), m, dir.str());
        auto none = load(st);
        CHECK_FALSE(none.valid);
        CHECK(none.reason == "no resume file");
        REQUIRE(open_sync(loop, st));
        REQUIRE(write_sync(loop, st, 0, piece_of(m, content, 0)));
        REQUIRE(write_sync(loop, st, 2, piece_of(m, content, 2)));
        std::optional<Status> saved;
        st.save_resume(have, [&](Status s) { saved = std::move(s); });
        loop.run();
        REQUIRE(saved.has_value());
        REQUIRE(*saved);
        CHECK(fs::exists(st.resume_path()));
        CHECK_FALSE(fs::exists(st.resume_path() + ".tmp"));
        std::optional<Status> bad;
        st.save_resume({true}, [&](Status s) { bad = std::move(s); });
        loop.run();
        CHECK_FALSE(*bad);
    }
    {
        Storage st(loop.get(), m, dir.str());
        auto rs = load(st);
        CHECK(rs.valid);
        CHECK(rs.have == have);
    }
    // Another torrent's record in the same folder is not trusted.
    {
        Metainfo other = m;
        other.info_hash = sha1("other");
        Storage st(loop.get(), other, dir.str());
        fs::copy_file(Storage(loop.get(), m, dir.str()).resume_path(), st.resume_path());
        auto rs = load(st);
        CHECK_FALSE(rs.valid);
    }
    // mtime change (same size) invalidates.
    const fs::path c = dir.path / "t" / "c";
    auto old_time = fs::last_write_time(c);
    fs::last_write_time(c, old_time + std::chrono::seconds(5));
    {
        Storage st(loop.get(), m, dir.str());
        auto rs = load(st);
        CHECK_FALSE(rs.valid);
        CHECK(rs.reason.find("file 3 changed") != std::string::npos);
    }
    fs::last_write_time(c, old_time);
    {
        Storage st(loop.get(), m, dir.str());
        CHECK(load(st).valid); // restored exactly: trusted again
    }
    // Size change invalidates.
    fs::resize_file(dir.path / "t" / "a", 11);
    {
        Storage st(loop.get(), m, dir.str());
        auto rs = load(st);
        CHECK_FALSE(rs.valid);
        CHECK(rs.reason.find("file 0 changed: size 10 -> 11") != std::string::npos);
    }
    // Garbage in the record is a clean "re-verify", not a crash.
    {
        Storage st(loop.get(), m, dir.str());
        spit(st.resume_path(), "{garbage");
        auto rs = load(st);
        CHECK_FALSE(rs.valid);
        CHECK(rs.reason.find("resume.decode") != std::string::npos);
    }
}

TEST_CASE("storage reports a failing disk (RLIMIT_FSIZE -> EFBIG) and marks itself failed") {
    TestLoop loop;
    test::TempDir dir;
    const std::int64_t plen = 32 * 1024;
    const std::string content = test::pseudo_random(8 * std::size_t(plen), 11);
    Metainfo m = make_meta("full.bin", {{{}, 8 * plen}}, plen, content, false);
    Storage st(loop.get(), m, dir.str());
    REQUIRE(open_sync(loop, st)); // sparse 256 KiB file, created before the limit

    struct rlimit old {};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = rlim_t(2 * plen + 1000); // piece 2 gets a short write, then EFBIG
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::vector<Status> results;
    for (std::uint32_t i = 0; i < 4; ++i) results.push_back(write_sync(loop, st, i, piece_of(m, content, i)));
    // Put everything back before checking so a failed CHECK cannot leak the limit into other tests.
    setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);

    CHECK(results[0]);
    CHECK(results[1]);
    REQUIRE_FALSE(results[2]);
    const std::string path = (dir.path / "full.bin").string();
    CHECK(results[2].error().str() == "write " + path + ": File too large");
    CHECK(st.is_failed());
    CHECK(st.error().str() == "write " + path + ": File too large");
    REQUIRE_FALSE(results[3]); // refused while failed
    CHECK(results[3].error().str() == st.error().str());
    // Reads of good pieces keep working while failed.
    auto r = read_sync(loop, st, 0);
    REQUIRE(r);
    CHECK(**r == piece_of(m, content, 0));
    // After the user fixed the disk the torrent can clear the error and carry on.
    st.clear_error();
    CHECK(write_sync(loop, st, 2, piece_of(m, content, 2)));
    CHECK(slurp(path).substr(2 * std::size_t(plen), std::size_t(plen)) == piece_of(m, content, 2));
}

TEST_CASE("storage destroyed with work in flight drops callbacks and leaks nothing") {
    TestLoop loop;
    test::TempDir dir;
    const std::string content = test::pseudo_random(16 * 64, 12);
    Metainfo m = make_meta("gone", {{{"a"}, 500}, {{"b"}, 524}}, 16, content);
    const std::size_t before = count_fds();
    int callbacks = 0;
    {
        Storage st(loop.get(), m, dir.str(), StorageLimits{4, 1024, 2, 4, nullptr, nullptr, nullptr});
        for (std::uint32_t i = 0; i < m.piece_count(); ++i)
            st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)),
                           [&](Status) { ++callbacks; });
        st.read_piece(0, [&](auto) { ++callbacks; });
        st.verify_existing([&](std::uint32_t, bool) { ++callbacks; }, [&](Status) { ++callbacks; });
    }
    loop.run();
    CHECK(callbacks == 0);
    CHECK(count_fds() == before);
    // The writes still landed.
    CHECK(slurp(dir.path / "gone" / "a") == content.substr(0, 500));
}

namespace {

// Runs in a forked child inside its own mount namespace, so the tmpfs vanishes with the child even if it crashes.
// Exit codes: 0 pass, 77 cannot mount here (not root / no namespaces), other = which check failed.
int enospc_child(const std::string& dir) {
    if (unshare(CLONE_NEWNS) != 0) return 77;
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 77;
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") != 0) return 77;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = 0;
    {
        const std::int64_t plen = 64 * 1024;
        const std::string content = test::pseudo_random(16 * std::size_t(plen), 13); // 1 MiB into 256 KiB
        Metainfo m = make_meta("nospace.bin", {{{}, 16 * plen}}, plen, content, false);
        Storage st(&loop, m, dir);
        std::optional<Status> opened;
        st.open(OpenMode::download, [&](Status s) { opened = std::move(s); });
        uv_run(&loop, UV_RUN_DEFAULT);
        if (!opened || !*opened) rc = 10; // sparse: creating a 1 MiB hole fits
        std::vector<Status> results;
        for (std::uint32_t i = 0; i < 16 && rc == 0; ++i) {
            st.write_piece(i, std::make_shared<std::string>(piece_of(m, content, i)),
                           [&](Status s) { results.push_back(std::move(s)); });
            uv_run(&loop, UV_RUN_DEFAULT);
        }
        const std::string want = "write " + dir + "/nospace.bin: No space left on device";
        std::size_t first_bad = results.size();
        for (std::size_t i = 0; i < results.size(); ++i)
            if (!results[i]) {
                first_bad = i;
                break;
            }
        if (rc == 0 && (first_bad < 2 || first_bad >= 16)) rc = 11; // some pieces fit, not all
        if (rc == 0 && results[first_bad].error().str() != want) {
            std::fprintf(stderr, "got: %s\n", results[first_bad].error().str().c_str());
            rc = 12;
        }
        if (rc == 0 && (!st.is_failed() || st.error().str() != want)) rc = 13;
        for (std::size_t i = first_bad; rc == 0 && i < results.size(); ++i)
            if (results[i]) rc = 14; // everything after the failure is refused
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

// Whether a private tmpfs can be mounted here (root, mount namespaces), tried in a child the same way. Asked once,
// when doctest registers the test cases at start-up, so that the case below is reported as skipped in doctest's
// summary ("1 skipped") where it cannot run, instead of passing without checking anything. `--no-skip` runs it
// anyway (it then fails, saying why).
bool can_mount_private_tmpfs() {
    char dir[] = "/tmp/p2pnode-tmpfs-probe-XXXXXX";
    if (!mkdtemp(dir)) return false;
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
        const bool ok = unshare(CLONE_NEWNS) == 0 && mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                        mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0;
        _exit(ok ? 0 : 77); // the mount vanishes with the child's namespace
    }
    int status = 0;
    const bool ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    rmdir(dir);
    return ok;
}

} // namespace

TEST_CASE("storage reports No space left on device on a full tmpfs" * doctest::skip(!can_mount_private_tmpfs())) {
    test::TempDir dir;
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(enospc_child(dir.str())); // never return into doctest in the child
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) != 77, "cannot mount a private tmpfs here (needs root and mount namespaces)");
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("storage: torrents sharing one read cache (--max-memory) evict each other's pieces, the sum stays bounded") {
    TestLoop loop;
    test::TempDir dir;
    const std::string c1 = test::pseudo_random(16 * 6, 21), c2 = test::pseudo_random(16 * 6, 22);
    Metainfo m1 = make_meta("one", {{{"a"}, 96}}, 16, c1), m2 = make_meta("two", {{{"a"}, 96}}, 16, c2);
    lay_out(m1, dir.path, c1);
    lay_out(m2, dir.path, c2);
    auto shared = std::make_shared<ReadCache>(64); // room for 4 pieces of 16 bytes, over both torrents
    StorageLimits lim;
    lim.shared_cache = shared;
    {
        Storage s1(loop.get(), m1, dir.str(), lim), s2(loop.get(), m2, dir.str(), lim);
        for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(read_sync(loop, s1, i));
        CHECK(s1.cache_bytes() == 64);
        CHECK(s2.cache_bytes() == 0);
        for (std::uint32_t i = 0; i < 3; ++i) {
            auto r = read_sync(loop, s2, i);
            REQUIRE(r);
            CHECK(**r == piece_of(m2, c2, i)); // the same index in another torrent is another piece
        }
        CHECK(shared->bytes() <= 64);
        CHECK(s2.cache_bytes() == 48);
        CHECK(s1.cache_bytes() == 16); // the least recently used pieces of s1 went
        CHECK(s1.cached_piece(3));
        CHECK(s1.cached_piece(0) == nullptr);
    }
    CHECK(shared->bytes() == 0); // each storage drops its pieces when destroyed
}

TEST_CASE("hash_piece_async: each verdict once, on the loop thread, after the work: true for the piece's SHA-1 only") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    auto data = std::make_shared<const std::string>(std::string(1u << 20, 'x'));
    const std::string good = sha1(*data);
    std::string bad = good;
    bad[0] = static_cast<char>(bad[0] ^ 1);
    int good_calls = 0, bad_calls = 0;
    bool good_ok = false, bad_ok = true;
    hash_piece_async(&loop, data, good, [&](bool ok) { good_ok = ok, ++good_calls; });
    hash_piece_async(&loop, data, bad, [&](bool ok) { bad_ok = ok, ++bad_calls; });
    CHECK(good_calls + bad_calls == 0); // never from inside the call
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(good_calls == 1);
    CHECK(bad_calls == 1);
    CHECK(good_ok);
    CHECK_FALSE(bad_ok);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("stat_files: stamps in order across its jobs of 256 paths; missing, folders and links told apart") {
    TestLoop loop;
    test::TempDir dir;
    // 600 paths (three jobs): every third a file of k bytes, then a missing path, then a folder or a link.
    std::vector<std::string> paths;
    for (int k = 0; k < 600; ++k) {
        const fs::path p = dir.path / ("p" + std::to_string(k));
        if (k % 3 == 0) spit(p, std::string(static_cast<std::size_t>(k), 'x'));
        if (k % 3 == 2 && k % 2 == 0) fs::create_directory(p);
        if (k % 3 == 2 && k % 2 == 1) fs::create_symlink(dir.path / "p0", p); // a link to a file is not the file
        paths.push_back(p.string());
    }
    std::optional<std::vector<FileStamp>> got;
    stat_files(loop.get(), paths, [&](std::vector<FileStamp> st) { got = std::move(st); });
    loop.run();
    REQUIRE(got.has_value());
    REQUIRE(got->size() == 600u);
    for (int k = 0; k < 600; ++k) {
        const FileStamp& s = (*got)[static_cast<std::size_t>(k)];
        if (k % 3 == 0) {
            struct stat st {};
            REQUIRE(::lstat(paths[static_cast<std::size_t>(k)].c_str(), &st) == 0);
            CHECK_MESSAGE(s == stamp_of(st), k); // the size and mtime as fstat gives them (the seal compares)
            CHECK(s.size == k);
        } else if (k % 3 == 1) {
            CHECK_MESSAGE(s.size == kStampMissing, k);
        } else {
            CHECK_MESSAGE(s.size == kStampNotRegular, k);
        }
    }
    std::optional<std::vector<FileStamp>> none;
    stat_files(loop.get(), {}, [&](std::vector<FileStamp> st) { none = std::move(st); });
    loop.run();
    REQUIRE(none.has_value());
    CHECK(none->empty());
}
