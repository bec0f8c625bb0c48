// The progress display (node/progress.hpp): the live line's layout at several terminal widths, display widths of
// UTF-8 names, "+N more", and the printer's output around log lines (base/log.hpp's status line hooks).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/utf8.hpp"
#include "node/peer_console.hpp"
#include "node/progress.hpp"

using namespace p2p;

namespace {

// Columns of the bar "[###...]" in line (its inside), or -1 when there is none.
int bar_of(const std::string& line) {
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] != '[') continue;
        std::size_t j = i + 1;
        while (j < line.size() && (line[j] == '#' || line[j] == '.')) ++j;
        if (j < line.size() && line[j] == ']' && j > i + 1) return static_cast<int>(j - i - 1);
    }
    return -1;
}

ProgressInfo info(std::string name, double rate, std::int64_t done = 3 << 20, std::int64_t total = 10 << 20) {
    return ProgressInfo{std::move(name), done, total, rate, rate / 4, 7};
}

// Everything written to stderr while f runs.
template <class F>
std::string capture_stderr(F&& f) {
    std::fflush(stderr);
    char path[] = "/tmp/p2p-test-progress.XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    f();
    std::fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    std::string out;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
    close(fd);
    unlink(path);
    return out;
}

} // namespace

TEST_CASE("progress: display width of UTF-8 text, and cutting it with an ellipsis") {
    CHECK(display_width("abc") == 3);
    CHECK(display_width("\xc3\xa9t\xc3\xa9") == 3);        // été
    CHECK(display_width("e\xcc\x81") == 1);                // e + combining acute
    CHECK(display_width("\xe6\x97\xa5\xe6\x9c\xac") == 4); // 日本: wide
    CHECK(display_width("\xef\xbc\xa1") == 2);             // fullwidth A
    CHECK(display_width("\xf0\x9f\x8e\xac") == 2);         // 🎬
    CHECK(display_width("a\xff") == 2);                    // an invalid byte counts one
    CHECK(fit_width("abcdef", 6) == "abcdef");
    CHECK(fit_width("abcdef", 4) == "abc\xe2\x80\xa6");
    CHECK(display_width(fit_width("abcdef", 4)) == 4);
    // A wide character is never cut in half: 日本語 in 4 columns is 日 + … (3 columns).
    std::string cut = fit_width("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4);
    CHECK(cut == "\xe6\x97\xa5\xe2\x80\xa6");
    CHECK(valid_utf8(cut));
    CHECK(fit_width("abc", 0).empty());
}

TEST_CASE("progress: the live line fits the terminal at 40, 80, 150 and 200 columns; the bar's width is fixed") {
    const std::vector<std::string> names = {
        "a.bin",
        "ubuntu-24.04.1-desktop-amd64-with-a-very-long-name-indeed.iso",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab\xe5\x90\x8d"
        "\xe3\x81\x8c\xe3\x81\xa8\xe3\x81\xa6\xe3\x82\x82\xe9\x95\xb7\xe3\x81\x84.mkv", // 日本語のファイル名がとても長い.mkv
        "caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9"
        "e e\xcc\x81\xf0\x9f\x8e\xac.mp4",
        "",
    };
    const std::vector<double> rates = {0, 1, 900, 1023.9 * 1024, 3.2 * 1024 * 1024, 999.0 * 1024 * 1024 * 1024, -1};
    for (int width : {40, 80, 150, 200}) {
        CAPTURE(width);
        for (bool others : {false, true}) {
            const int bar = live_bar_width(width, others);
            CHECK(bar >= 10);
            CHECK(bar <= 50);
            for (const auto& n : names)
                for (double r : rates) {
                    std::vector<ProgressInfo> v = {info(n, r)};
                    if (others) v.push_back(info("other", -1));
                    const std::string line = format_live_line(v, width);
                    CAPTURE(line);
                    CHECK(display_width(line) <= width - 1);
                    CHECK(valid_utf8(line));
                    CHECK(bar_of(line) == bar);
                    CHECK(line.find('\n') == std::string::npos);
                    CHECK(line.find('\r') == std::string::npos);
                }
        }
    }
    // Done and total at their widest, every field there: still within the width.
    ProgressInfo wide{"x", 1023 * 1024 + 1000, 1023 * 1024 * 1024 + 1000, 1023.9 * 1024, 1023.9 * 1024, 100000};
    for (int width : {40, 80, 150, 200}) {
        std::vector<ProgressInfo> v(1500, wide);
        CHECK(display_width(format_live_line(v, width)) <= width - 1);
        CHECK(bar_of(format_live_line(v, width)) == live_bar_width(width, true));
    }
    // More room, more bar (up to its cap): at 150 it is not squeezed by the fields.
    CHECK(live_bar_width(80, false) >= 14);
    CHECK(live_bar_width(150, false) >= 30);
    CHECK(live_bar_width(150, true) >= 20);
    CHECK(live_bar_width(200, true) == 50);
}

TEST_CASE("progress: one line for all downloads, the most active first, then +N more") {
    std::vector<ProgressInfo> v = {info("slow.bin", 1024), info("fast.bin", 4 << 20), info("idle.bin", 0),
                                   ProgressInfo{"fetching metadata x", 0, 0, -1, -1, 2}};
    for (int width : {80, 150, 200}) {
        const std::string line = format_live_line(v, width);
        CAPTURE(line);
        CHECK(line.rfind("fast.bin ", 0) == 0);
        CHECK(line.find("+3 more") != std::string::npos);
        CHECK(line.find("slow.bin") == std::string::npos);
    }
    const std::string at40 = format_live_line(v, 40);
    CHECK(at40.find("+3 more") != std::string::npos); // kept before the rates on a narrow terminal
    CHECK(format_live_line({info("only.bin", 1)}, 80).find("more") == std::string::npos);
    CHECK(format_live_line({}, 80).empty());
    // Rates at 80 columns: the download rate and the ETA, the fields that matter most.
    const std::string at80 = format_live_line({info("a.bin", 1 << 20)}, 80);
    CHECK(at80.find("1.0 MiB/s down") != std::string::npos);
    CHECK(at80.find("ETA 0:07") != std::string::npos);
    CHECK(at80.find(" 30.0%") != std::string::npos);
    const std::string at150 = format_live_line({info("a.bin", 1 << 20)}, 150);
    CHECK(at150.find("3.0 MiB/10.0 MiB") != std::string::npos);
    CHECK(at150.find("256.0 KiB/s up") != std::string::npos);
    CHECK(at150.find("7 peers") != std::string::npos);
}

TEST_CASE("progress: names are printable: no escape sequence reaches the terminal") {
    const std::string line = format_live_line({info("\x1b[2J\x1b]0;evil\x07name\xc2\x9b"
                                                    "1m\xff.bin",
                                                    5)},
                                              120);
    CAPTURE(line);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.find('\x07') == std::string::npos);
    CHECK(line.find("\xc2\x9b") == std::string::npos);
    CHECK(valid_utf8(line));
}

TEST_CASE("progress: very narrow terminals still get a line that fits") {
    for (int width = 1; width <= 40; ++width) {
        const std::string line = format_live_line({info("some-name.bin", 1 << 20), info("b", 1)}, width);
        CAPTURE(width);
        CAPTURE(line);
        CHECK(display_width(line) <= std::max(0, width - 1));
    }
}

TEST_CASE("progress: terminal width from $COLUMNS when the fd is no terminal, else 80") {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const char* old = std::getenv("COLUMNS");
    std::string saved = old ? old : "";
    setenv("COLUMNS", "132", 1);
    CHECK(terminal_width(fds[0]) == 132);
    setenv("COLUMNS", "junk", 1);
    CHECK(terminal_width(fds[0]) == 80);
    unsetenv("COLUMNS");
    CHECK(terminal_width(fds[0]) == 80);
    if (old) setenv("COLUMNS", saved.c_str(), 1);
    close(fds[0]);
    close(fds[1]);
}

TEST_CASE("progress: log lines are written above the live line, never glued to it") {
    int clears = 0, redraws = 0;
    set_status_line(StatusLineHooks{[&] { ++clears; }, [&] { ++redraws; }, {}});
    std::string err = capture_stderr([] { log_info("test", "a log line"); });
    CHECK(err == "[info] test: a log line\n");
    CHECK(clears == 1);
    CHECK(redraws == 1);
    capture_stderr([] { print_above_status_line(stderr, "an answer\n"); });
    CHECK(clears == 2);
    clear_status_line();
    capture_stderr([] { log_info("test", "no status line"); });
    CHECK(clears == 2);

    // The printer on a "terminal" (stderr is a file here, 80 columns from $COLUMNS or the default).
    const char* old = std::getenv("COLUMNS");
    std::string saved = old ? old : "";
    setenv("COLUMNS", "80", 1);
    err = capture_stderr([] {
        ProgressPrinter pr(true, true);
        pr.update(std::vector<ProgressInfo>{info("a.bin", 1 << 20), info("b.bin", 1)}, 1000);
        log_info("torrent", "something happened");
        pr.update(std::vector<ProgressInfo>{info("a.bin", 2 << 20), info("b.bin", 1)}, 1050); // too soon: not drawn
        pr.finish(ProgressInfo{"b.bin", 10 << 20, 10 << 20});
        log_info("torrent", "b.bin done");
    }); // the destructor erases the live line
    if (old)
        setenv("COLUMNS", saved.c_str(), 1);
    else
        unsetenv("COLUMNS");
    const std::string live = format_live_line({info("a.bin", 1 << 20), info("b.bin", 1)}, 80);
    const std::string alone = format_live_line({info("a.bin", 2 << 20)}, 80);      // the update at 1050
    const std::string want = "\r" + live + "\x1b[K" +                              // drawn
                             "\r\x1b[K" + "[info] torrent: something happened\n" + // cleared, the log line
                             "\r" + live + "\x1b[K" +                              // redrawn (the latest data)
                             "\r" + format_live_line({ProgressInfo{"b.bin", 10 << 20, 10 << 20}}, 80) +
                             "\x1b[K\n" +                     // b's final line, the live line not drawn yet
                             "[info] torrent: b.bin done\n" + // (a result line may follow on stdout)
                             "\r" + alone + "\x1b[K" +        // the others' live line, after the log line
                             "\r\x1b[K";                      // erased at the end
    CHECK(err == want);
}

TEST_CASE("progress: not a terminal: one plain line per download every few seconds, format unchanged") {
    std::string err = capture_stderr([] {
        ProgressPrinter pr(true, false, 5000);
        pr.update(std::vector<ProgressInfo>{info("a.bin", 1 << 20), info("b.bin", 1)}, 1000);
        pr.update(std::vector<ProgressInfo>{info("a.bin", 1 << 20)}, 3000); // too soon
        pr.update(std::vector<ProgressInfo>{info("a.bin", 1 << 20)}, 6000);
        pr.update(std::vector<ProgressInfo>{}, 12000); // nothing to say
        pr.finish(ProgressInfo{"a.bin", 10 << 20, 10 << 20});
    });
    const std::string a = format_progress(info("a.bin", 1 << 20), 0, false);
    CHECK(a == "a.bin   30.0%  3.0 MiB/10.0 MiB  1.0 MiB/s down  256.0 KiB/s up  7 peers  ETA 0:07");
    CHECK(err == a + "\n" + format_progress(info("b.bin", 1), 0, false) + "\n" + a + "\n" +
                     "a.bin  100.0%  10.0 MiB/10.0 MiB\n");
    CHECK(err.find('\r') == std::string::npos);
    CHECK(err.find('\x1b') == std::string::npos);
}

TEST_CASE("console tables: an IPv6 peer's address in brackets, as in a URL") {
    PeerSummary v6, v4;
    v6.address = "::1:6881";
    v4.address = "127.0.0.1:51413";
    const std::string out = format_peers({v6, v4});
    CHECK(out.find("\n[::1]:6881 ") != std::string::npos);
    CHECK(out.find("\n127.0.0.1:51413 ") != std::string::npos);
    v6.address = "[2001:db8::2]:80"; // already bracketed: kept
    CHECK(format_peers({v6}).find("\n[2001:db8::2]:80 ") != std::string::npos);
}
