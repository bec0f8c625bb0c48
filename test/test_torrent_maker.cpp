#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "base/bytes.hpp"
#include "crypto/sha.hpp"
#include "loop/loop.hpp"
#include "maker/torrent_maker.hpp"
#include "test_util.hpp"

using namespace p2p;
namespace fs = std::filesystem;

namespace {
void write_file(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
}
std::string pattern(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
    return s;
}
Result<MadeTorrent> make(const MakeTorrentOptions& o, int* progress_calls = nullptr) {
    Loop loop;
    Result<MadeTorrent> out = make_error("test", "not finished");
    auto job = TorrentMaker::start(
        loop.get(), o,
        [&](std::int64_t, std::int64_t) {
            if (progress_calls) ++*progress_calls;
        },
        [&](Result<MadeTorrent> r) { out = std::move(r); });
    loop.run();
    return out;
}
} // namespace

TEST_CASE("torrent maker: single file hashes match an independent SHA-1 per piece") {
    test::TempDir d;
    std::string data = pattern(100000, 1);
    write_file(d.path / "f.bin", data);
    int calls = 0;
    auto r = make({(d.path / "f.bin").string(), {"udp://t:1"}, 16384, false}, &calls);
    REQUIRE(r.ok());
    const Metainfo& m = r->metainfo;
    CHECK(m.name == "f.bin");
    CHECK_FALSE(m.multi_file);
    CHECK(m.total_length == 100000);
    REQUIRE(m.piece_count() == 7);
    for (std::uint32_t i = 0; i < 7; ++i)
        CHECK(m.piece_hash(i) == sha1(std::string_view(data).substr(i * 16384, 16384)));
    CHECK(calls >= 1);
}

TEST_CASE("torrent maker: folder pieces span files in sorted order") {
    test::TempDir d;
    std::string a = pattern(20000, 2), b = pattern(30000, 3), c = pattern(5, 4);
    write_file(d.path / "root" / "b" / "x.bin", b);
    write_file(d.path / "root" / "a.bin", a);
    write_file(d.path / "root" / "c.txt", c);
    write_file(d.path / "root" / "empty", "");
    write_file(d.path / "root" / ".p2pnode" / "resume", "not shared");
    auto r = make({(d.path / "root").string(), {"udp://t:1"}, 16384, true});
    REQUIRE(r.ok());
    const Metainfo& m = r->metainfo;
    CHECK(m.multi_file);
    CHECK(m.is_private);
    REQUIRE(m.files.size() == 4);
    CHECK(m.relative_path(0) == "root/a.bin");
    CHECK(m.relative_path(1) == "root/b/x.bin");
    CHECK(m.relative_path(2) == "root/c.txt");
    CHECK(m.relative_path(3) == "root/empty");
    std::string all = a + b + c;
    REQUIRE(m.piece_count() == 4);
    for (std::uint32_t i = 0; i < m.piece_count(); ++i)
        CHECK(m.piece_hash(i) == sha1(std::string_view(all).substr(i * 16384, 16384)));
    // deterministic
    auto again = make({(d.path / "root").string(), {"udp://t:1"}, 16384, true});
    REQUIRE(again.ok());
    CHECK(again->torrent == r->torrent);
}

// The read buffers are sized to the biggest file, at most one read chunk (1 MiB), to save memory: a file bigger
// than a chunk, one of exactly a chunk and a tiny one must still hash as one byte stream.
TEST_CASE("torrent maker: files larger than, equal to and smaller than a read chunk") {
    test::TempDir d;
    std::string a = pattern(7, 5), b = pattern((5u << 19) + 3, 6), c = pattern(1u << 20, 7);
    write_file(d.path / "root" / "a.bin", a);
    write_file(d.path / "root" / "b.bin", b);
    write_file(d.path / "root" / "c.bin", c);
    auto r = make({(d.path / "root").string(), {"udp://t:1"}, 65536, false});
    REQUIRE(r.ok());
    const Metainfo& m = r->metainfo;
    std::string all = a + b + c;
    CHECK(m.total_length == static_cast<std::int64_t>(all.size()));
    REQUIRE(m.piece_count() == (all.size() + 65535) / 65536);
    for (std::uint32_t i = 0; i < m.piece_count(); ++i)
        CHECK(m.piece_hash(i) == sha1(std::string_view(all).substr(std::size_t{i} * 65536, 65536)));
}

TEST_CASE("torrent maker: errors are values") {
    test::TempDir d;
    auto missing = make({(d.path / "nope").string(), {}, 0, false});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().op.find("stat ") == 0);
    fs::create_directories(d.path / "empty");
    auto empty = make({(d.path / "empty").string(), {}, 0, false});
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().what == "folder has no files");
    write_file(d.path / "z.bin", "zz");
    auto bad_piece = make({(d.path / "z.bin").string(), {}, 12345, false});
    REQUIRE_FALSE(bad_piece.ok());
    CHECK(bad_piece.error().what == "piece size must be a power of two in 16 KiB..64 MiB");
}

TEST_CASE("torrent maker: destroying the job mid-way stops it without callbacks") {
    test::TempDir d;
    write_file(d.path / "big.bin", pattern(20u << 20, 5));
    Loop loop;
    bool done_called = false;
    std::unique_ptr<TorrentMaker> job;
    job = TorrentMaker::start(
        loop.get(), {(d.path / "big.bin").string(), {}, 0, false},
        [&](std::int64_t, std::int64_t) { job.reset(); }, // cancel from inside its own progress callback
        [&](Result<MadeTorrent>) { done_called = true; });
    loop.run();
    CHECK_FALSE(done_called);
    CHECK(job == nullptr);
}
