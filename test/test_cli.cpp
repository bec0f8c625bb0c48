#include <doctest/doctest.h>

#include "cli/args.hpp"
#include "cli/make_torrent_cmd.hpp"
#include "node/progress.hpp"
#include "proto/http_tracker.hpp"
#include "tracker/udp_client.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "test_util.hpp"

using namespace p2p;

static Result<CliOptions> parse(std::vector<std::string> a) { return parse_args(a); }

TEST_CASE("cli: --tracker alone runs a tracker, with a URL names one") {
    auto t = parse({"--tracker", "--port", "0", "--bind", "127.0.0.1", "--state", "s.json"});
    REQUIRE(t.ok());
    CHECK(t->mode == Mode::tracker);
    CHECK(t->port == 0);
    CHECK(t->bind == std::vector<std::string>{"127.0.0.1"});
    CHECK(t->state_file == "s.json");
    auto m =
        parse({"--make-torrent", "dir", "--tracker", "udp://a:1", "--tracker", "udp://b:2", "--piece-size", "256K"});
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
    CHECK(parse({"--list", "--make-torrent", "x"}).error().what ==
          "--make-torrent cannot be combined with another mode");
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
          "--max-memory applies to --tracker and --peer, not --list");
}

// ---- honest messages and flags ----

TEST_CASE("cli: a single-valued flag given twice is refused, repeatable ones stay repeatable") {
    CHECK(parse({"--peer", "--share", "a", "--share", "b"}).error().what == "--share given twice");
    CHECK(parse({"--tracker", "--port", "1", "--port", "2"}).error().what == "--port given twice");
    CHECK(parse({"--make-torrent", "a", "--make-torrent", "b", "--tracker", "udp://x:1"}).error().what ==
          "--make-torrent given twice");
    CHECK(parse({"--make-torrent", "a", "--tracker", "udp://x:1", "-o", "x", "-o", "y"}).error().what ==
          "-o given twice");
    CHECK(parse({"--peer", "--peer", "--share", "d"}).error().what == "--peer given twice");
    CHECK(parse({"--tracker", "--tracker"}).error().what == "--tracker given twice");
    CHECK(parse({"--peer", "--share", "d", "--quiet", "--quiet"}).error().what == "--quiet given twice");
    auto p = parse({"--peer", "--get", "a", "--get", "b", "--tracker", "udp://x:1", "--tracker", "http://y/announce"});
    REQUIRE(p.ok());
    CHECK(p->gets == std::vector<std::string>{"a", "b"});
    CHECK(p->tracker_urls.size() == 2);
    auto t = parse({"--tracker", "--bind", "127.0.0.1", "--bind", "::1"});
    REQUIRE(t.ok());
    CHECK(t->bind.size() == 2);
    CHECK(parse({"--peer", "--share", "d", "--bind", "1.2.3.4", "--bind", "::1"}).error().what ==
          "--peer takes one --bind address");
}

TEST_CASE("cli: a flag given for a mode it does not apply to is refused, naming both") {
    CHECK(parse({"--peer", "--share", "d", "--piece-size", "1M"}).error().what ==
          "--piece-size applies to --make-torrent, not --peer");
    CHECK(parse({"--tracker", "--port", "0", "--get", "foo"}).error().what == "--get applies to --peer, not --tracker");
    CHECK(parse({"--tracker", "--tracker", "udp://x:1"}).error().what ==
          "--tracker URL applies to --make-torrent, --peer, --list and --scrape, not --tracker");
    CHECK(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--port", "5"}).error().what ==
          "--port applies to --tracker and --peer, not --make-torrent");
    CHECK(parse({"--list", "--tracker", "udp://x:1", "--no-console"}).error().what ==
          "--no-console applies to --tracker and --peer, not --list");
    CHECK(parse({"--tracker", "--force"}).error().what == "--force applies to --make-torrent, not --tracker");
    CHECK(parse({"--tracker", "--overwrite"}).error().what == "--overwrite applies to --peer, not --tracker");
    CHECK(parse({"--version", "--quiet"}).error().what ==
          "--quiet applies to --make-torrent, --tracker, --peer, --list and --scrape, not --version");
    CHECK(parse({"--scrape", "x", "--tracker", "udp://x:1", "--state", "s"}).error().what ==
          "--state applies to --tracker, not --scrape");
    // --timeout only means something to a peer that exits when done
    CHECK(parse({"--peer", "--share", "d", "--timeout", "5"}).error().what ==
          "--timeout applies to --peer only with --exit-when-done");
    CHECK(parse({"--peer", "--get", "x", "--exit-when-done", "--timeout", "5"}).ok());
    // --list/--scrape use one tracker: a second one would be ignored
    CHECK(parse({"--list", "--tracker", "udp://a:1", "--tracker", "udp://b:2"}).error().what ==
          "--list asks one tracker: give --tracker URL once");
    // the flags a mode does take still parse
    auto m = parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--private", "-o", "o.torrent", "--force",
                    "--quiet", "--piece-size", "16K", "--log-level", "warn", "--log-file", "l.log"});
    REQUIRE(m.ok());
    CHECK(m->force);
    CHECK(m->is_private);
    CHECK(m->output == "o.torrent");
    CHECK(m->log_file == "l.log");
}

TEST_CASE("cli: every flag of the table belongs to a mode, and each mode flag to its own") {
    for (const auto& f : all_flags()) CHECK_MESSAGE(f.modes != 0, f.name);
    unsigned seen = 0;
    for (const auto& f : all_flags()) seen |= f.modes;
    for (Mode m : {Mode::help, Mode::version, Mode::make_torrent, Mode::tracker, Mode::list, Mode::scrape, Mode::peer})
        CHECK((seen & mode_bit(m)) != 0);
}

TEST_CASE("cli: a bad piece size is a usage error, checked with the maker's rule") {
    CHECK(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "3"}).error().what ==
          "--piece-size 3 is not a power of two in 16K..64M");
    CHECK_FALSE(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "8K"}).ok());
    CHECK_FALSE(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "128M"}).ok());
    CHECK_FALSE(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "48K"}).ok());
    CHECK_FALSE(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "0"}).ok());
    CHECK(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "16K"})->piece_size == 16384);
    CHECK(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--piece-size", "64M"})->piece_size == 64 << 20);
    CHECK(parse({"--make-torrent", "f"}).error().what == "--make-torrent needs at least one --tracker URL");
}

TEST_CASE("cli: tracker URLs are checked when given") {
    for (const char* good : {"udp://tracker.example:6969", "udp://tracker.example:6969/announce", "udp://[::1]:80",
                             "udp://127.0.0.1:1", "http://t.example/announce", "http://t.example:8080/announce?pk=1",
                             "http://t.example", "http://[2001:db8::1]:80/a", "HTTP://T.example/a",
                             "https://t.example/announce", "https://t.example:443/a", "https://[::1]/a"}) {
        CHECK_MESSAGE(check_tracker_url(good).ok(), good);
    }
    auto why = [](const char* url) {
        return check_tracker_url(url).ok() ? std::string("ok") : check_tracker_url(url).error().what;
    };
    CHECK(why("garbage") == "not a udp://HOST:PORT, http:// or https:// URL");
    CHECK(why("ftp://x/a") == "not a udp://HOST:PORT, http:// or https:// URL");
    CHECK(why("udp://host") == "missing port (udp://HOST:PORT)");
    CHECK(why("udp://host/announce") == "missing port (udp://HOST:PORT)");
    CHECK(why("udp://:6969") == "missing host");
    CHECK(why("http:///announce") == "missing host");
    CHECK(why("udp://host:0") == "bad port '0' (1..65535)");
    CHECK(why("udp://host:65536") == "bad port '65536' (1..65535)");
    CHECK(why("http://host:x/a") == "bad port 'x' (1..65535)");
    CHECK(why("https://host:/a") == "bad port '' (1..65535)");
    CHECK(why("udp://::1:80") == "bad host '::1' (put IPv6 addresses in brackets)");
    CHECK(why("udp://[::1:80") == "unclosed '[' around the IPv6 address");
    CHECK(why("udp://[zz]:80") == "bad IPv6 address 'zz'");
    CHECK(why("http://user@host/a") == "user info in a tracker URL is not supported");
    CHECK(why("http://ho st/a") == "space, control or non-ASCII byte in the URL");
    // On the command line, for every mode that takes a URL; the message names the flag, the URL and the reason.
    CHECK(parse({"--make-torrent", "f", "--tracker", "garbage"}).error().what ==
          "--tracker garbage: not a udp://HOST:PORT, http:// or https:// URL");
    CHECK(parse({"--peer", "--share", "d", "--tracker", "garbage"}).error().what ==
          "--tracker garbage: not a udp://HOST:PORT, http:// or https:// URL");
    CHECK_FALSE(parse({"--list", "--tracker", "udp://x"}).ok());
    CHECK(parse({"--make-torrent", "f", "--tracker", "https://t.example/announce"}).ok());
}

TEST_CASE("cli: tracker URLs the CLI accepts are accepted by the clients that use them") {
    for (const char* url : {"udp://tracker.example:6969", "udp://tracker.example:6969/announce", "udp://[::1]:80"})
        CHECK_MESSAGE(parse_udp_tracker_url(url).ok(), url);
    for (const char* url :
         {"http://t.example/announce", "http://t.example:8080/announce?pk=1", "http://[2001:db8::1]:80/a"})
        CHECK_MESSAGE(http_tracker::parse_url(url).ok(), url);
}

TEST_CASE("cli: --list and --scrape give up after 10 s unless --timeout says otherwise") {
    CHECK(parse({"--list", "--tracker", "udp://127.0.0.1:1"})->timeout_s == kDefaultQueryTimeoutS);
    CHECK(kDefaultQueryTimeoutS == 10);
    CHECK(parse({"--scrape", "x", "--tracker", "udp://127.0.0.1:1"})->timeout_s == 10);
    CHECK(parse({"--scrape", "x", "--tracker", "udp://127.0.0.1:1", "--timeout", "2.5"})->timeout_s == 2.5);
    CHECK(parse({"--peer", "--share", "d"})->timeout_s == 0); // a peer without --timeout never gives up
}

TEST_CASE("cli: --log-level, -v, --log-file and --quiet for every mode") {
    for (std::vector<std::string> base : {std::vector<std::string>{"--tracker"},
                                          {"--peer", "--share", "d"},
                                          {"--list", "--tracker", "udp://x:1"},
                                          {"--scrape", "n", "--tracker", "udp://x:1"},
                                          {"--make-torrent", "f", "--tracker", "udp://x:1"}}) {
        auto with = [&](std::vector<std::string> extra) {
            auto a = base;
            a.insert(a.end(), extra.begin(), extra.end());
            return parse(a);
        };
        auto d = with({"--log-level", "debug", "--log-file", "x.log", "--quiet"});
        REQUIRE(d.ok());
        CHECK(d->log_level == LogLevel::debug);
        CHECK(d->log_file == "x.log");
        CHECK(d->quiet);
        CHECK(with({"-v"})->log_level == LogLevel::debug);
        CHECK(with({"--log-level", "error"})->log_level == LogLevel::error);
        CHECK_FALSE(with({})->log_level.has_value());
        CHECK(with({"--log-level", "loud"}).error().what == "--log-level loud: use debug, info, warn or error");
        CHECK(with({"--log-level"}).error().what == "--log-level needs a value");
        CHECK(with({"-v", "--log-level", "info"}).error().what == "--log-level cannot be combined with -v");
        CHECK(with({"--log-level", "info", "-v"}).error().what == "-v cannot be combined with --log-level");
        CHECK(with({"-v", "-v"}).error().what == "-v given twice");
    }
}

TEST_CASE("cli: --overwrite and --force parse for their modes") {
    auto p = parse({"--peer", "--get", "x.torrent", "--overwrite"});
    REQUIRE(p.ok());
    CHECK(p->overwrite);
    CHECK_FALSE(parse({"--peer", "--get", "x.torrent"})->overwrite);
    CHECK_FALSE(parse({"--make-torrent", "f", "--tracker", "udp://x:1"})->force);
    CHECK(parse({"--peer", "--get", "x.torrent", "--force"}).error().what ==
          "--force applies to --make-torrent, not --peer");
    CHECK(parse({"--make-torrent", "f", "--tracker", "udp://x:1", "--overwrite"}).error().what ==
          "--overwrite applies to --peer, not --make-torrent");
}

namespace {
std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
void spit(const std::filesystem::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
CliOptions make_opts(const test::TempDir& d, std::vector<std::string> extra) {
    std::vector<std::string> a = {"--make-torrent", (d.path / "data.bin").string(), "--tracker", "udp://x:1",
                                  "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    auto r = parse_args(a);
    REQUIRE(r.ok());
    return *r;
}
} // namespace

TEST_CASE("cli: --make-torrent never replaces an existing output without --force") {
    test::TempDir d("cli");
    spit(d.path / "data.bin", test::pseudo_random(40000, 1));
    const auto out = d.path / "notes.txt";
    spit(out, "a user's text file\n");
    CHECK(run_make_torrent(make_opts(d, {"-o", out.string()})) == 1);
    CHECK(slurp(out) == "a user's text file\n");
    CHECK_FALSE(std::filesystem::exists(out.string() + ".part"));
    // --force replaces it (through a temporary file renamed over it)
    CHECK(run_make_torrent(make_opts(d, {"-o", out.string(), "--force"})) == 0);
    CHECK(slurp(out).rfind("d8:announce9:udp://x:1", 0) == 0);
    CHECK_FALSE(std::filesystem::exists(out.string() + ".part"));
    // a new file is written without --force
    const auto fresh = d.path / "fresh.torrent";
    CHECK(run_make_torrent(make_opts(d, {"-o", fresh.string()})) == 0);
    CHECK(slurp(fresh) == slurp(out));
    // a folder is never replaced, even with --force
    std::filesystem::create_directory(d.path / "dir.torrent");
    CHECK(run_make_torrent(make_opts(d, {"-o", (d.path / "dir.torrent").string(), "--force"})) == 1);
    CHECK(std::filesystem::is_directory(d.path / "dir.torrent"));
}

TEST_CASE("cli: --make-torrent's default output NAME.torrent is not replaced either") {
    test::TempDir d("cli");
    spit(d.path / "data.bin", test::pseudo_random(40000, 2));
    spit(d.path / "data.bin.torrent", "keep me");
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(d.path);
    int rc = run_make_torrent(make_opts(d, {}));
    int forced = run_make_torrent(make_opts(d, {"--force"}));
    std::filesystem::current_path(cwd);
    CHECK(rc == 1);
    CHECK(forced == 0);
    CHECK(slurp(d.path / "data.bin.torrent").rfind("d8:announce", 0) == 0);
}

TEST_CASE("cli: --make-torrent fails before hashing when the output folder is missing") {
    test::TempDir d("cli");
    spit(d.path / "data.bin", test::pseudo_random(40000, 3));
    CHECK(run_make_torrent(make_opts(d, {"-o", (d.path / "no" / "such" / "x.torrent").string()})) == 1);
    CHECK_FALSE(std::filesystem::exists(d.path / "no"));
    spit(d.path / "file", "x");
    CHECK(run_make_torrent(make_opts(d, {"-o", (d.path / "file" / "x.torrent").string()})) == 1);
}

TEST_CASE("cli: every flag of the table is handled by the parser") {
    for (const auto& f : all_flags()) {
        std::vector<std::string> args{f.name};
        if (f.arg && std::string(f.name) != "--tracker") args.push_back("1");
        auto r = parse_args(args);
        if (!r) CHECK_MESSAGE(r.error().what.find("not handled") == std::string::npos, f.name);
    }
}
