// Tests for src/storage/checkpoint.cpp: whole files made durable while a download runs, so the final flush has
// only the rest; a flush that comes while a checkpoint runs waits for it and reports its failure.
#include <doctest/doctest.h>

#include <filesystem>

#include "storage/storage.hpp"
#include "storage_fixture.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace p2p;
using namespace storage_test;

namespace {

bool write_one(TestLoop& loop, Storage& st, const Metainfo& m, const std::string& content, std::uint32_t i) {
    return write_sync(loop, st, i, piece_of(m, content, i)).ok();
}

// 40 files of 3000 bytes in pieces of 16 KiB (8 pieces), under photos/d/.
struct Photos {
    std::string content = test::pseudo_random(40 * 3000, 41);
    Metainfo m;
    Photos() {
        std::vector<FileSpec> files;
        for (int i = 0; i < 40; ++i) files.push_back({{"d", "f" + std::to_string(i)}, 3000});
        m = make_meta("photos", files, 16 << 10, content);
    }
    // The storage failed on f0 (moved to `away`): with f0 back, one flush makes every file durable, each whole.
    void recover(TestLoop& loop, Storage& st, const fs::path& root, const fs::path& away) const {
        st.clear_error();
        fs::rename(away, root / "photos" / "d" / "f0");
        CHECK(flush_sync(loop, st));
        for (std::size_t i = 0; i < m.files.size(); ++i)
            CHECK(slurp(root / "photos" / "d" / ("f" + std::to_string(i))) ==
                  content.substr(std::size_t(m.files[i].offset), std::size_t(m.files[i].length)));
    }
};

// A download of Photos into a temporary folder, through a descriptor cache of 4 so that most files are closed.
struct Run {
    TestLoop loop;
    test::TempDir dir;
    Photos p;
    std::shared_ptr<FdCache> fds = std::make_shared<FdCache>(loop.get(), 4);
    StorageLimits limits(std::uint64_t checkpoint_bytes) {
        StorageLimits lim;
        lim.shared_fds = fds;
        lim.checkpoint_bytes = checkpoint_bytes;
        return lim;
    }
    fs::path away() const { return dir.path / "away"; }
    // f0 moved away with no descriptor of it open: a flush that has it to do fails.
    void hide_f0() {
        fds->close_unused_since(UINT64_MAX);
        loop.run();
        fs::rename(dir.path / "photos" / "d" / "f0", away());
    }
};

} // namespace

TEST_CASE("storage checkpoint: whole files are flushed while the download runs and stay out of the last flush") {
    Run r;
    Storage st(r.loop.get(), r.p.m, r.dir.str(), r.limits(30000)); // ten whole files
    REQUIRE(open_sync(r.loop, st));
    for (std::uint32_t i = 0; i < r.p.m.piece_count(); ++i) REQUIRE(write_one(r.loop, st, r.p.m, r.p.content, i));
    CHECK(st.stats().checkpoints >= 3);
    CHECK(st.stats().checkpoint_files >= 30);
    CHECK_FALSE(st.is_failed());

    // f0 was in the first checkpoint: the flush has nothing of it to do, so it does not miss it when it is gone.
    r.hide_f0();
    CHECK(flush_sync(r.loop, st));
    fs::rename(r.away(), r.dir.path / "photos" / "d" / "f0");

    // Written again after its checkpoint: back among the files to flush.
    REQUIRE(write_one(r.loop, st, r.p.m, r.p.content, 0));
    r.hide_f0();
    auto f = flush_sync(r.loop, st);
    REQUIRE_FALSE(f);
    CHECK(f.error().str().find("/photos/d/f0") != std::string::npos);
    r.p.recover(r.loop, st, r.dir.path, r.away());
}

TEST_CASE("storage checkpoint: a flush asked for while one runs waits for it, and fails with it") {
    Run r;
    // Files 0-37 are whole after the first seven pieces (114,000 bytes); the last piece makes 38 and 39 whole, and
    // with 38 the checkpoint starts.
    Storage st(r.loop.get(), r.p.m, r.dir.str(), r.limits(117000));
    REQUIRE(open_sync(r.loop, st));
    const std::uint32_t last = r.p.m.piece_count() - 1;
    for (std::uint32_t i = 0; i < last; ++i) REQUIRE(write_one(r.loop, st, r.p.m, r.p.content, i));
    CHECK(st.stats().checkpoints == 0);

    // f0 is gone when the checkpoint opens it: the checkpoint fails. The flush asked for from the last write's
    // callback, while the checkpoint runs, must fail too, not report the few files it would have had alone as on
    // disk.
    r.hide_f0();
    std::optional<Status> flushed;
    bool wrote = false;
    st.write_piece(last, std::make_shared<std::string>(piece_of(r.p.m, r.p.content, last)), [&](Status s) {
        wrote = s.ok();
        CHECK(st.stats().checkpoints == 1); // running now
        st.flush([&](Status fl) { flushed = std::move(fl); });
    });
    r.loop.run();
    CHECK(wrote);
    REQUIRE(flushed.has_value());
    REQUIRE_FALSE(*flushed);
    CHECK(flushed->error().str().find("/photos/d/f0") != std::string::npos);
    CHECK(st.is_failed());

    // Every file of the failed checkpoint is still to flush.
    r.p.recover(r.loop, st, r.dir.path, r.away());
    CHECK(st.stats().checkpoints == 1);
}

TEST_CASE("storage checkpoint: none when checkpoint_bytes is 0, nor for a torrent of one file before its end") {
    TestLoop loop;
    test::TempDir dir;
    Photos p;
    StorageLimits lim;
    lim.checkpoint_bytes = 0;
    Storage st(loop.get(), p.m, dir.path.string(), lim);
    REQUIRE(open_sync(loop, st));
    for (std::uint32_t i = 0; i < p.m.piece_count(); ++i) REQUIRE(write_one(loop, st, p.m, p.content, i));
    CHECK(st.stats().checkpoints == 0);
    CHECK(flush_sync(loop, st));

    const std::string one = test::pseudo_random(100000, 42);
    Metainfo m1 = make_meta("one.bin", {{{}, 100000}}, 16 << 10, one, false);
    StorageLimits lim1;
    lim1.checkpoint_bytes = 1; // any whole file
    Storage st1(loop.get(), m1, dir.path.string(), lim1);
    REQUIRE(open_sync(loop, st1));
    for (std::uint32_t i = 0; i + 1 < m1.piece_count(); ++i) REQUIRE(write_one(loop, st1, m1, one, i));
    CHECK(st1.stats().checkpoints == 0); // not whole yet
    REQUIRE(write_one(loop, st1, m1, one, m1.piece_count() - 1));
    CHECK(st1.stats().checkpoints == 1);
    CHECK(st1.stats().checkpoint_files == 1);
    CHECK(flush_sync(loop, st1));
    CHECK(slurp(dir.path / "one.bin") == one);
}
