#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "node/share_cache.hpp"
#include "test_util.hpp"

using namespace p2p;
namespace fs = std::filesystem;

namespace {
struct ShareDir {
    test::TempDir dir{"share"};
    fs::path path = dir.path;
    ShareDir() {
        fs::create_directories(path / "album");
        std::ofstream(path / "album" / "a.jpg", std::ios::binary) << std::string(40000, 'a');
        std::ofstream(path / "album" / "b.txt", std::ios::binary) << "bee";
    }
};
std::vector<SourceFile> files_of(const fs::path& item) {
    bool folder = false;
    auto f = list_source_files(item.string(), folder);
    REQUIRE(f.ok());
    return *f;
}
std::string torrent_for(const std::string& name, const std::vector<std::string>& trackers) {
    std::string info =
        build_info_dict(name, 16384, std::string(60, 'h'), {{{"a.jpg"}, 40000}, {{"b.txt"}, 3}}, true, false);
    return build_torrent(info, trackers);
}
} // namespace

TEST_CASE("share cache: unchanged files reuse the torrent; any change or other trackers do not") {
    ShareDir d;
    std::vector<std::string> trackers{"udp://127.0.0.1:6969"};
    CHECK_FALSE(load_cached_share(d.path.string(), "album", trackers).ok()); // nothing cached yet
    REQUIRE(
        save_cached_share(d.path.string(), "album", torrent_for("album", trackers), files_of(d.path / "album")).ok());
    auto hit = load_cached_share(d.path.string(), "album", trackers);
    REQUIRE(hit.ok());
    CHECK(hit->meta.name == "album");
    CHECK(hit->meta.total_length == 40003);
    REQUIRE(hit->files.size() == 2);
    CHECK(hit->files[0].disk_path == (d.path / "album" / "a.jpg").string());
    CHECK(hit->files[1].stamp.size == 3);

    auto other = load_cached_share(d.path.string(), "album", {"udp://127.0.0.1:7000"});
    REQUIRE_FALSE(other.ok());
    CHECK(other.error().what == "trackers changed");

    // Same size, new mtime: the content may differ, so hash again.
    struct timespec times[2] = {{0, UTIME_OMIT}, {12345, 0}};
    REQUIRE(utimensat(AT_FDCWD, (d.path / "album" / "b.txt").c_str(), times, 0) == 0);
    auto changed = load_cached_share(d.path.string(), "album", trackers);
    REQUIRE_FALSE(changed.ok());
    CHECK(changed.error().what == "files changed since they were hashed");

    // A new file in the folder is a change too.
    REQUIRE(
        save_cached_share(d.path.string(), "album", torrent_for("album", trackers), files_of(d.path / "album")).ok());
    CHECK(load_cached_share(d.path.string(), "album", trackers).ok());
    std::ofstream(d.path / "album" / "c.new") << "new";
    CHECK_FALSE(load_cached_share(d.path.string(), "album", trackers).ok());
}

TEST_CASE("share cache: a damaged stamp file means hashing again, not a crash") {
    ShareDir d;
    std::vector<std::string> trackers{"udp://127.0.0.1:6969"};
    REQUIRE(
        save_cached_share(d.path.string(), "album", torrent_for("album", trackers), files_of(d.path / "album")).ok());
    std::ofstream(d.path / ".p2pnode" / "album.stamp", std::ios::trunc) << "{not json";
    auto r = load_cached_share(d.path.string(), "album", trackers);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().what == "stamp file is not JSON");
    std::ofstream(d.path / ".p2pnode" / "album.stamp", std::ios::trunc) << "[]";
    std::ofstream(d.path / ".p2pnode" / "album.torrent", std::ios::trunc) << "garbage";
    CHECK_FALSE(load_cached_share(d.path.string(), "album", trackers).ok());
}

TEST_CASE("share cache: a name that is not UTF-8 is cached under its disk name and shared under a safe one") {
    test::TempDir dir{"share"};
    const std::string disk = std::string("caf\xe9");
    fs::create_directories(dir.path / disk);
    std::ofstream(dir.path / disk / (std::string("menu-\xff.txt")), std::ios::binary) << "soup";
    std::vector<std::string> trackers{"udp://127.0.0.1:6969"};
    auto files = files_of(dir.path / disk);
    REQUIRE(files.size() == 1);
    CHECK(files[0].path == std::vector<std::string>{"menu-_.txt"});
    std::string info =
        build_info_dict(torrent_safe_name(disk), 16384, std::string(20, 'h'), {{{"menu-_.txt"}, 4}}, true, false);
    REQUIRE(save_cached_share(dir.path.string(), disk, build_torrent(info, trackers), files).ok()); // no throw
    auto hit = load_cached_share(dir.path.string(), disk, trackers);
    REQUIRE(hit.ok());
    CHECK(hit->meta.name == "caf_");
    CHECK(hit->files[0].disk_path == (dir.path / disk / "menu-\xff.txt").string());
}
