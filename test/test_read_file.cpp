#include <doctest/doctest.h>

#include <fstream>

#include "base/read_file.hpp"
#include "test_util.hpp"

using namespace p2p;

namespace {
void write(const std::filesystem::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
} // namespace

TEST_CASE("read_file: the whole file, across read chunks and with NUL bytes") {
    test::TempDir dir{"readfile"};
    std::string content = test::pseudo_random(40'000, 7); // more than one 16 KiB read
    content[100] = '\0';
    write(dir.path / "a", content);
    auto r = read_file((dir.path / "a").string(), 1u << 20);
    REQUIRE(r);
    CHECK(*r == content);
    write(dir.path / "empty", "");
    auto e = read_file((dir.path / "empty").string(), 10);
    REQUIRE(e);
    CHECK(e->empty());
}

TEST_CASE("read_file: errors name the path and the reason") {
    test::TempDir dir{"readfile"};
    const std::string missing = (dir.path / "nope").string();
    auto m = read_file(missing, 10);
    REQUIRE_FALSE(m);
    CHECK(m.error().str() == "read " + missing + ": No such file or directory");
    auto d = read_file(dir.path.string(), 10);
    REQUIRE_FALSE(d);
    CHECK(d.error().str() == "read " + dir.path.string() + ": Is a directory");
    write(dir.path / "big", std::string(11, 'x'));
    auto b = read_file((dir.path / "big").string(), 10);
    REQUIRE_FALSE(b);
    CHECK(b.error().str() == "read " + (dir.path / "big").string() + ": larger than 10 bytes");
    auto exact = read_file((dir.path / "big").string(), 11); // the bound itself is allowed
    REQUIRE(exact);
    CHECK(exact->size() == 11);
}
