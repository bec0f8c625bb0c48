#include <doctest/doctest.h>

#include "cli/args.hpp"
#include "cli/progress.hpp"

#include <set>

using namespace p2p;

static Result<CliOptions> parse(std::vector<std::string> a) { return parse_args(a); }

TEST_CASE("cli: --tracker alone runs a tracker, with a URL names one") {
    auto t = parse({"--tracker", "--port", "0", "--bind", "127.0.0.1", "--state", "s.json"});
    REQUIRE(t.ok());
    CHECK(t->mode == Mode::tracker);
    CHECK(t->port == 0);
    CHECK(t->bind == std::vector<std::string>{"127.0.0.1"});
    CHECK(t->state_file == "s.json");
    auto m = parse({"--make-torrent", "dir", "--tracker", "udp://a:1", "--tracker", "udp://b:2", "--piece-size", "256K"});
    REQUIRE(m.ok());
    CHECK(m->mode == Mode::make_torrent);
    CHECK(m->tracker_urls == std::vector<std::string>{"udp://a:1", "udp://b:2"});
    CHECK(m->piece_size == 262144);
    auto last = parse({"--port", "7000", "--tracker"});
    REQUIRE(last.ok());
    CHECK(last->mode == Mode::tracker);
}

TEST_CASE("cli: usage errors are one clear line") {
    CHECK(parse({"--bogus"}).error().what == "unknown flag --bogus (see p2pnode --help)");
    CHECK(parse({"--tracker", "--port"}).error().what == "--port needs a value");
    CHECK(parse({"--tracker", "--port", "70000"}).error().what == "--port needs an integer in 0..65535, got '70000'");
    CHECK(parse({"--list"}).error().what == "--list needs --tracker URL");
    CHECK(parse({"--list", "--make-torrent", "x"}).error().what == "--make-torrent cannot be combined with another mode");
    CHECK(parse({"--scrape", "abc", "--tracker", "udp://x:1", "--timeout", "soon"}).error().what ==
          "--timeout needs a number of seconds, got 'soon'");
    CHECK(parse({}).error().what.find("nothing to do") == 0);
}

TEST_CASE("cli: sizes") {
    CHECK(*parse_size("16M") == 16 << 20);
    CHECK(*parse_size("1g") == 1LL << 30);
    CHECK(*parse_size("4096") == 4096);
    CHECK_FALSE(parse_size("12Q").ok());
    CHECK_FALSE(parse_size("").ok());
    CHECK_FALSE(parse_size("99999999999999G").ok());
}

TEST_CASE("cli: every flag in the table has help text and a unique name") {
    std::set<std::string> names;
    for (const auto& f : all_flags()) {
        CHECK(std::string(f.help).size() > 10);
        CHECK(names.insert(f.name).second);
        CHECK(usage_text().find(f.name) != std::string::npos);
    }
}

TEST_CASE("cli: progress line") {
    ProgressInfo p{"file.bin", 512 * 1024, 1024 * 1024, 1024 * 1024, 2048, 3};
    std::string line = format_progress(p, 120, true);
    CHECK(line.find("file.bin [") == 0);
    CHECK(line.find(" 50.0%") != std::string::npos);
    CHECK(line.find("1.0 MiB/s down") != std::string::npos);
    CHECK(line.find("2.0 KiB/s up") != std::string::npos);
    CHECK(line.find("3 peers") != std::string::npos);
    CHECK(line.find("ETA 0:01") != std::string::npos);
    CHECK(format_progress(p, 40, true).size() <= 40);
    CHECK(format_bytes(812) == "812 B");
    CHECK(format_bytes(1536) == "1.5 KiB");
}

TEST_CASE("cli: --max-memory for --peer and --tracker, refused below 4M with the minimum named") {
    auto p = parse({"--peer", "--share", "d", "--max-memory", "16M"});
    REQUIRE(p.ok());
    CHECK(p->max_memory == 16 << 20);
    auto t = parse({"--tracker", "--max-memory", "1G"});
    REQUIRE(t.ok());
    CHECK(t->mode == Mode::tracker);
    CHECK(t->max_memory == 1LL << 30);
    CHECK(parse({"--peer", "--share", "d", "--max-memory", "3M"}).error().what ==
          "--max-memory 3M is below the minimum of 4M");
    CHECK(parse({"--peer", "--share", "d", "--max-memory", "lots"}).error().what ==
          "--max-memory needs a size such as 16M, got 'lots'");
    CHECK(parse({"--list", "--tracker", "udp://x:1", "--max-memory", "8M"}).error().what ==
          "--max-memory applies to --peer and --tracker");
}
