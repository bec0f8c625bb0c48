// Tests for src/storage/placement: what a download does with files already at its path (never overwrite or mix
// a file we did not write), and for sealed storages (never serve bytes that no longer match the hashes).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/placement.hpp"
#include "storage/resume.hpp"
#include "storage_fixture.hpp"
#include "test_util.hpp"

using namespace p2p;
using namespace storage_test;

namespace {

Result<PlacementOutcome> prepare_sync(TestLoop& loop, Storage& st, const Metainfo& m, bool overwrite = false) {
    std::optional<Result<PlacementOutcome>> got;
    prepare_download(st, m, overwrite, [&](Result<PlacementOutcome> r) { got = std::move(r); });
    loop.run();
    REQUIRE(got.has_value());
    return std::move(*got);
}

std::size_t count(const std::vector<bool>& v) { return static_cast<std::size_t>(std::count(v.begin(), v.end(), true)); }

// A single-file torrent "readme.txt" of 13 bytes (one piece) and one of 40 KiB in pieces of 16 KiB.
const std::string kSmall = "hello, world\n";
Metainfo small_meta() { return make_meta("readme.txt", {{{}, 13}}, 16384, kSmall, false); }
const std::string kBig = p2p::test::pseudo_random(40 * 1024, 7);
Metainfo big_meta() { return make_meta("big.bin", {{{}, 40 * 1024}}, 16384, kBig, false); }

} // namespace

TEST_CASE("placement: nothing there is a fresh download, recorded as ours at once") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = small_meta();
    Storage st(loop.get(), m, dir.str());
    auto r = prepare_sync(loop, st, m);
    REQUIRE(r);
    CHECK(!r->renamed);
    CHECK(count(r->have) == 0);
    CHECK(fs::file_size(dir.path / "readme.txt") == 13); // created sparse at its length
    CHECK(fs::exists(st.resume_path()));                 // ours before the first piece
}

TEST_CASE("placement: a different file of the same name is never touched; the download goes to a free name") {
    test::TempDir dir("place");
    const std::string mine = "the user's own notes, 68 bytes long, nothing to do with the torrent.\n";
    spit(dir.path / "readme.txt", mine);
    spit(dir.path / "readme.1.txt", "another one of theirs");
    TestLoop loop;
    Metainfo m = small_meta();
    {
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m);
        REQUIRE(r);
        CHECK(r->renamed);
        CHECK(st.save_name() == "readme.2.txt");
        CHECK(r->note.find("is longer than the torrent") != std::string::npos);
        CHECK(count(r->have) == 0);
        REQUIRE(write_sync(loop, st, 0, kSmall));
        std::optional<Status> saved;
        st.save_resume({true}, [&](Status s) { saved = s; });
        loop.run();
        REQUIRE(saved.has_value());
        CHECK(*saved);
    }
    CHECK(slurp(dir.path / "readme.txt") == mine);
    CHECK(slurp(dir.path / "readme.1.txt") == "another one of theirs");
    CHECK(slurp(dir.path / "readme.2.txt") == kSmall);
    // A restart finds its own files again under the free name, complete.
    Storage again(loop.get(), m, dir.str());
    auto r2 = prepare_sync(loop, again, m);
    REQUIRE(r2);
    CHECK(again.save_name() == "readme.2.txt");
    CHECK(count(r2->have) == 1);
    CHECK(slurp(dir.path / "readme.txt") == mine);
}

TEST_CASE("placement: a partial copy of the same content is resumed from; an exact copy is seeded as it is") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = big_meta();
    SUBCASE("partial") {
        spit(dir.path / "big.bin", kBig.substr(0, 20000)); // piece 0 whole, piece 1 cut short
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m);
        REQUIRE(r);
        CHECK(!r->renamed);
        CHECK(r->have == std::vector<bool>{true, false, false});
        CHECK(fs::file_size(dir.path / "big.bin") == kBig.size()); // extended, the verified bytes kept
        CHECK(slurp(dir.path / "big.bin").substr(0, 16384) == kBig.substr(0, 16384));
    }
    SUBCASE("exact copy, read-only: nothing is written") {
        spit(dir.path / "big.bin", kBig);
        ::chmod((dir.path / "big.bin").c_str(), 0444);
        const auto before = fs::last_write_time(dir.path / "big.bin");
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m);
        REQUIRE(r);
        CHECK(count(r->have) == 3);
        CHECK(fs::last_write_time(dir.path / "big.bin") == before);
        CHECK(st.sealed().size() == 1); // seeded from here on: every read checks the file
        auto piece = read_sync(loop, st, 2);
        REQUIRE(piece);
        CHECK(**piece == piece_of(m, kBig, 2));
    }
}

TEST_CASE("placement: a longer file is not this torrent's, however its start matches; --overwrite cuts it") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = big_meta();
    const std::string longer = kBig + "and the user appended this";
    spit(dir.path / "big.bin", longer);
    SUBCASE("kept") {
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m);
        REQUIRE(r);
        CHECK(r->renamed);
        CHECK(st.save_name() == "big.1.bin");
        CHECK(slurp(dir.path / "big.bin") == longer);
    }
    SUBCASE("overwritten") {
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m, true);
        REQUIRE(r);
        CHECK(!r->renamed);
        CHECK(count(r->have) == 3);
        CHECK(fs::file_size(dir.path / "big.bin") == kBig.size());
    }
}

TEST_CASE("placement: --overwrite replaces a foreign file of the right kind, never a folder") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = small_meta();
    SUBCASE("file") {
        spit(dir.path / "readme.txt", "0123456789"); // shorter, different
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m, true);
        REQUIRE(r);
        CHECK(!r->renamed);
        CHECK(st.save_name() == "readme.txt");
        CHECK(r->note.find("overwriting") != std::string::npos);
    }
    SUBCASE("a folder stands there") {
        fs::create_directories(dir.path / "readme.txt" / "inside");
        Storage st(loop.get(), m, dir.str());
        auto r = prepare_sync(loop, st, m, true);
        REQUIRE(r);
        CHECK(r->renamed);
        CHECK(st.save_name() == "readme.1.txt");
        CHECK(fs::is_directory(dir.path / "readme.txt" / "inside"));
    }
}

TEST_CASE("placement: a multi-file torrent whose folder name is taken by a file goes to a free folder name") {
    test::TempDir dir("place");
    TestLoop loop;
    const std::string content = p2p::test::pseudo_random(30000, 3);
    Metainfo m = make_meta("photos", {{{"a.jpg"}, 10000}, {{"b.jpg"}, 20000}}, 16384, content);
    spit(dir.path / "photos", "a file, not a folder");
    Storage st(loop.get(), m, dir.str());
    auto r = prepare_sync(loop, st, m);
    REQUIRE(r);
    CHECK(r->renamed);
    CHECK(st.save_name() == "photos.1");
    CHECK(fs::is_regular_file(dir.path / "photos.1" / "b.jpg"));
    CHECK(slurp(dir.path / "photos") == "a file, not a folder");
}

TEST_CASE("placement: our own stale record keeps the files ours even before a piece verified") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = big_meta();
    {
        Storage st(loop.get(), m, dir.str());
        REQUIRE(prepare_sync(loop, st, m));
    }
    // As if killed after writing garbage into it (a write cut short) and before any resume save: the stamps moved.
    {
        std::string junk(kBig.size(), 'x');
        spit(dir.path / "big.bin", junk);
    }
    Storage st(loop.get(), m, dir.str());
    auto r = prepare_sync(loop, st, m);
    REQUIRE(r);
    CHECK(!r->renamed);
    CHECK(count(r->have) == 0);
}

TEST_CASE("free names: before the last extension, as aria2 does") {
    CHECK(free_name_candidates("readme.txt", false, 1, 2) == std::vector<std::string>{"readme.1.txt", "readme.2.txt"});
    CHECK(free_name_candidates("archive.tar.gz", false, 3, 3) == std::vector<std::string>{"archive.tar.3.gz"});
    CHECK(free_name_candidates("README", false, 1, 1) == std::vector<std::string>{"README.1"});
    CHECK(free_name_candidates(".hidden", false, 1, 1) == std::vector<std::string>{".hidden.1"});
    CHECK(free_name_candidates("photos.v2", true, 1, 1) == std::vector<std::string>{"photos.v2.1"});
}

TEST_CASE("sealed storage: a file edited after sealing is never served, and the storage says it changed") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = big_meta();
    spit(dir.path / "big.bin", kBig);
    Storage st(loop.get(), m, dir.str());
    std::optional<Status> opened;
    st.open(OpenMode::seed, [&](Status s) { opened = s; });
    loop.run();
    REQUIRE(opened.has_value());
    REQUIRE(*opened);
    REQUIRE(read_sync(loop, st, 0)); // cached from now on; the cache holds the bytes that matched
    // Edit in place: same size, other bytes, a later mtime.
    {
        std::string edited = kBig;
        edited[20000] ^= 0x55;
        ::usleep(20'000); // the kernel's coarse mtime clock must move
        spit(dir.path / "big.bin", edited);
    }
    auto r = read_sync(loop, st, 1);
    REQUIRE(!r);
    CHECK(r.error().code == Errc::changed_on_disk);
    CHECK(st.is_failed());
    CHECK(st.error().code == Errc::changed_on_disk);
    CHECK(!st.sealed().empty());
    // A re-verify (a download's, which the torrent then seals anew when complete): the error cleared and the seal
    // gone, the file reads again as it is now (the verify's hashes judge it).
    st.clear_error();
    st.unseal();
    CHECK(st.sealed().empty());
    auto again = read_sync(loop, st, 1);
    REQUIRE(again);
    CHECK(!st.is_failed());
}

TEST_CASE("sealed storage: open(seed) refuses files that moved since they were hashed, or are gone") {
    test::TempDir dir("place");
    TestLoop loop;
    Metainfo m = big_meta();
    spit(dir.path / "big.bin", kBig);
    struct stat sb {};
    REQUIRE(::stat((dir.path / "big.bin").c_str(), &sb) == 0);
    FileStamp hashed{std::int64_t(sb.st_size), std::int64_t(sb.st_mtim.tv_sec) * 1'000'000'000 + sb.st_mtim.tv_nsec};
    SUBCASE("unchanged") {
        Storage st(loop.get(), m, dir.str(), {}, StoragePlacement{{(dir.path / "big.bin").string()}, {hashed}});
        std::optional<Status> opened;
        st.open(OpenMode::seed, [&](Status s) { opened = s; });
        loop.run();
        REQUIRE(opened.has_value());
        CHECK(*opened);
    }
    SUBCASE("moved") {
        hashed.mtime_ns -= 1'000'000'000;
        Storage st(loop.get(), m, dir.str(), {}, StoragePlacement{{(dir.path / "big.bin").string()}, {hashed}});
        std::optional<Status> opened;
        st.open(OpenMode::seed, [&](Status s) { opened = s; });
        loop.run();
        REQUIRE(opened.has_value());
        REQUIRE(!*opened);
        CHECK(opened->error().code == Errc::changed_on_disk);
    }
    SUBCASE("gone") {
        Storage st(loop.get(), m, dir.str(), {}, StoragePlacement{{(dir.path / "nope.bin").string()}, {hashed}});
        std::optional<Status> opened;
        st.open(OpenMode::seed, [&](Status s) { opened = s; });
        loop.run();
        REQUIRE(opened.has_value());
        REQUIRE(!*opened);
        CHECK(opened->error().code == Errc::changed_on_disk);
    }
}
