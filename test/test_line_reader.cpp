// LineReader on a regular file (read through libuv's threadpool): lines, the last unterminated line, EOF, and a
// line callback that closes the reader -- the block must outlive that callback and then be freed exactly once
// (AddressSanitizer in `make check-asan` turns a use-after-free here into a failure).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "loop/line_reader.hpp"
#include "test_util.hpp"

using namespace p2p;

namespace {

int open_file_with(const test::TempDir& dir, const std::string& content) {
    const std::string path = dir.str() + "/input.txt";
    std::ofstream(path, std::ios::binary) << content;
    return ::open(path.c_str(), O_RDONLY);
}

} // namespace

TEST_CASE("line reader: a regular file gives its lines, the unterminated last one, then EOF") {
    test::TempDir dir("lines");
    Loop loop;
    std::vector<std::string> lines;
    int eofs = 0;
    LineReader r(
        loop.get(), [&](std::string_view l, bool) { lines.emplace_back(l); }, [&] { ++eofs; });
    const int fd = open_file_with(dir, "status\nlist\npeers x");
    REQUIRE(fd >= 0);
    REQUIRE(r.start(fd));
    CHECK(test::run_until(
        loop, [&] { return eofs > 0; }, 5000));
    CHECK(lines == std::vector<std::string>{"status", "list", "peers x"});
    CHECK(eofs == 1);
    CHECK_FALSE(r.active());
    ::close(fd);
}

TEST_CASE("line reader: a line callback that closes the reader ends the lines there, without EOF") {
    test::TempDir dir("lines");
    Loop loop;
    std::vector<std::string> lines;
    int eofs = 0;
    LineReader* self = nullptr;
    LineReader r(
        loop.get(),
        [&](std::string_view l, bool) {
            lines.emplace_back(l);
            if (l == "quit") self->close(); // as the consoles' quit does
        },
        [&] { ++eofs; });
    self = &r;
    const int fd = open_file_with(dir, "status\nquit\nafter\n");
    REQUIRE(fd >= 0);
    REQUIRE(r.start(fd));
    test::run_until(
        loop, [&] { return !r.active(); }, 5000);
    test::run_until(
        loop, [] { return false; }, 50); // let any pending callback run
    CHECK(lines == std::vector<std::string>{"status", "quit"});
    CHECK(eofs == 0);
    ::close(fd);
}
