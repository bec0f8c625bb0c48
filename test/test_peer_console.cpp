// The peer console: parsing, formatting, dispatch to a fake command interface, the queue behind tracker
// questions, and end of input on a real pipe (which must not quit the peer).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include "base/bytes.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "node/peer_console.hpp"

using namespace p2p;

namespace {

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

udp::Hash20 hash_of(int i) {
    udp::Hash20 h;
    h.b[0] = static_cast<std::uint8_t>(i);
    h.b[19] = 0xcd;
    return h;
}

// Records every call; asynchronous answers are held until the test releases them.
struct Fake {
    std::vector<std::string> calls;
    std::string out;
    PeerConsoleCommands::Done<std::vector<udp::CatalogEntry>> pending_list;
    PeerConsoleCommands::Done<ConsoleScrape> pending_scrape;
    bool answer_at_once = false;
    int quits = 0;

    PeerConsoleCommands commands() {
        PeerConsoleCommands c;
        c.share = [this](const std::string& p) -> Result<std::string> {
            calls.push_back("share " + p);
            if (p == "/missing") return make_error(p, "No such file or directory");
            return "hashing " + p;
        };
        c.get = [this](const std::string& w) -> Result<std::string> {
            calls.push_back("get " + w);
            return "get: started " + w;
        };
        c.list = [this](PeerConsoleCommands::Done<std::vector<udp::CatalogEntry>> done) {
            calls.push_back("list");
            std::vector<udp::CatalogEntry> v;
            udp::CatalogEntry e;
            e.name = "video.bin";
            e.info_hash = hash_of(7);
            e.total_size = 24000000;
            e.seeders = 1;
            e.leechers = 2;
            v.push_back(e);
            if (answer_at_once)
                done(v);
            else
                pending_list = [done, v](Result<std::vector<udp::CatalogEntry>>) { done(v); };
        };
        c.scrape = [this](const std::string& w, PeerConsoleCommands::Done<ConsoleScrape> done) {
            calls.push_back("scrape " + w);
            if (w == "nothing") return done(make_error("", "no torrent named 'nothing' in the tracker's catalog"));
            ConsoleScrape s{w, std::string(hash_of(3).view()), 4, 5, 6};
            if (answer_at_once)
                done(s);
            else
                pending_scrape = [done, s](Result<ConsoleScrape>) { done(s); };
        };
        c.status = [this] {
            calls.push_back("status");
            ConsoleTorrentRow r;
            r.name = "photos";
            r.info_hash = std::string(hash_of(9).view());
            r.state = "downloading";
            r.have_bytes = 250;
            r.total = 1000;
            r.peers = 3;
            return std::vector<ConsoleTorrentRow>{r};
        };
        c.peers = [this](const std::string& w) -> Result<std::vector<PeerSummary>> {
            calls.push_back("peers " + w);
            if (w != "photos") return make_error(w, "not one of our torrents (see status)");
            PeerSummary p;
            p.address = "127.0.0.1:51413";
            p.peer_id = "-TR3000-abcdefghijkl";
            p.have = 0.5;
            p.am_interested = true;
            p.peer_choking = false;
            p.peer_interested = true;
            p.am_choking = true;
            return std::vector<PeerSummary>{p};
        };
        c.trackers = [this] {
            calls.push_back("trackers");
            ConsoleTrackerRow r;
            r.name = "photos";
            r.url = "http://t.example/announce";
            r.state = "working";
            r.last_s = 5;
            r.next_s = 1795;
            return std::vector<ConsoleTrackerRow>{r};
        };
        c.quit = [this] {
            calls.push_back("quit");
            ++quits;
        };
        return c;
    }
};

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + ";";
    return s;
}

} // namespace

TEST_CASE("peer console: parsing") {
    CHECK(parse_peer_command("").cmd == PeerCommand::none);
    CHECK(parse_peer_command("  \t\r").cmd == PeerCommand::none);
    auto s = parse_peer_command("  share   /tmp/my photos  \r");
    CHECK(s.cmd == PeerCommand::share);
    CHECK(s.arg == "/tmp/my photos");
    CHECK(parse_peer_command("share \"/tmp/a b\"").arg == "/tmp/a b");
    CHECK(parse_peer_command("get magnet:?xt=urn:btih:abc").arg == "magnet:?xt=urn:btih:abc");
    CHECK(parse_peer_command("list").cmd == PeerCommand::list);
    CHECK(parse_peer_command("status").cmd == PeerCommand::status);
    CHECK(parse_peer_command("scrape video.bin").cmd == PeerCommand::scrape);
    CHECK(parse_peer_command("peers video.bin").cmd == PeerCommand::peers);
    CHECK(parse_peer_command("help").cmd == PeerCommand::help);
    CHECK(parse_peer_command("quit").cmd == PeerCommand::quit);
    CHECK(parse_peer_command("exit").cmd == PeerCommand::quit);

    auto bad = parse_peer_command("share");
    CHECK(bad.cmd == PeerCommand::invalid);
    CHECK(bad.error == "usage: share PATH");
    CHECK(parse_peer_command("peers").error == "usage: peers NAME|INFOHASH");
    CHECK(parse_peer_command("status now").error == "status takes no argument");
    CHECK(parse_peer_command("frobnicate x").error == "unknown command: frobnicate (try help)");
    CHECK(parse_peer_command("STATUS").cmd == PeerCommand::invalid); // commands are lower case
}

TEST_CASE("peer console: trackers") {
    CHECK(parse_peer_command("trackers").cmd == PeerCommand::trackers);
    CHECK(parse_peer_command("trackers x").cmd == PeerCommand::invalid);
    ConsoleTrackerRow r;
    r.name = "a.bin";
    r.info_hash = std::string(20, 'a');
    r.url = "udp://127.0.0.1:6969";
    r.tier = 0;
    r.state = "not working";
    r.last_s = -1;
    r.next_s = 12;
    r.error = "no answer for 45 s (still trying)";
    const std::string out = format_trackers({r});
    CHECK(out.find("a.bin") != std::string::npos);
    CHECK(out.find("udp://127.0.0.1:6969") != std::string::npos);
    CHECK(out.find("never") != std::string::npos);
    CHECK(out.find("12 s") != std::string::npos);
    CHECK(out.find("no answer for 45 s") != std::string::npos);
    CHECK(format_trackers({}) == "no trackers\n");
}

TEST_CASE("peer console: formatting") {
    ConsoleTorrentRow r{"video.bin", std::string(hash_of(1).view()), "seeding", 1000, 1000, 0, 2048, 2, 0, 4096};
    std::string st = format_status({r});
    CHECK(has(st, "NAME"));
    CHECK(has(st, "video.bin"));
    CHECK(has(st, "seeding"));
    CHECK(has(st, "100.0%"));
    CHECK(has(st, "2.0 KiB/s"));
    CHECK(has(st, to_hex(hash_of(1).view())));
    CHECK(has(st, "1 torrent\n"));
    CHECK(format_status({}) == "no torrents\n");

    CHECK(client_of("-TR3000-abcdefghijkl") == "Transmission (-TR3000-)");
    CHECK(client_of("-PN0100-abcdefghijkl") == "p2pnode (-PN0100-)");
    CHECK(client_of("A2-1-36-0-xxxxxxxxxx") == "aria2 (A2-1-36-)");
    CHECK(client_of(std::string("\x01\x02XYZ\xff..", 8)) == "..XYZ...");
    CHECK(client_of("") == "?");

    PeerSummary p;
    CHECK(peer_flags(p) == "O");
    p.am_interested = true;
    p.peer_choking = true;
    p.peer_interested = true;
    p.am_choking = false;
    p.snubbed = true;
    p.incoming = true;
    CHECK(peer_flags(p) == "dUSI");
    p.utp = true;
    p.encrypted = true;
    CHECK(peer_flags(p) == "dUSITE");

    udp::CatalogEntry e;
    e.name = "readme.txt";
    e.total_size = 2000;
    e.info_hash = hash_of(2);
    e.seeders = 3;
    std::string cat = format_catalog({e});
    CHECK(has(cat, "readme.txt"));
    CHECK(has(cat, "2.0 KiB")); // the same units as status and peers
    CHECK(has(cat, to_hex(hash_of(2).view())));
    CHECK(has(cat, "1 catalog entries"));

    std::string sc = format_scrape(ConsoleScrape{"x", std::string(hash_of(3).view()), 4, 5, 6});
    CHECK(sc == "name: x\ninfo_hash: " + to_hex(hash_of(3).view()) + "\nseeders: 4\nleechers: 5\ncompleted: 6\n");
}

TEST_CASE("peer console: every command reaches the interface; bad input is one line and the console goes on") {
    Loop loop;
    Fake f;
    f.answer_at_once = true;
    PeerConsole con(loop.get(), f.commands(), [&](std::string_view t) { f.out += t; });

    con.on_line("share /data/photos");
    CHECK(has(f.out, "hashing /data/photos\n"));
    con.on_line("share /missing");
    CHECK(has(f.out, "share: /missing: No such file or directory\n"));
    con.on_line("get video.bin");
    CHECK(has(f.out, "get: started video.bin\n"));
    con.on_line("list");
    CHECK(has(f.out, "video.bin"));
    CHECK(has(f.out, "1 catalog entries\n"));
    con.on_line("scrape video.bin");
    CHECK(has(f.out, "seeders: 4\nleechers: 5\ncompleted: 6\n"));
    con.on_line("scrape nothing");
    CHECK(has(f.out, "scrape: no torrent named 'nothing'"));
    con.on_line("status");
    CHECK(has(f.out, "downloading"));
    CHECK(has(f.out, "25.0%"));
    con.on_line("peers photos");
    CHECK(has(f.out, "127.0.0.1:51413"));
    CHECK(has(f.out, "Transmission (-TR3000-)"));
    CHECK(has(f.out, "50.0%"));
    CHECK(has(f.out, "DuO\n"));
    con.on_line("peers other");
    CHECK(has(f.out, "peers: other: not one of our torrents"));
    con.on_line("trackers");
    CHECK(has(f.out, "http://t.example/announce"));
    CHECK(has(f.out, "1795 s"));
    con.on_line("help");
    CHECK(has(f.out, "share PATH"));

    std::string before = f.out;
    con.on_line("bogus");
    con.on_line("share");
    con.on_line("list everything");
    con.on_line("");
    CHECK(f.out.substr(before.size()) ==
          "unknown command: bogus (try help)\nusage: share PATH\nlist takes no argument\n");
    CHECK(joined(f.calls) ==
          "share /data/photos;share /missing;get video.bin;list;scrape video.bin;scrape nothing;status;"
          "peers photos;peers other;trackers;");
    CHECK(f.quits == 0);

    con.on_line("quit");
    CHECK(f.quits == 1);
    CHECK(has(f.out, "stopping"));
    con.on_line("status"); // after quit nothing runs
    CHECK(f.calls.back() == "quit");
}

TEST_CASE("peer console: lines wait behind a tracker question and come out in order; quit does not wait") {
    Loop loop;
    Fake f;
    PeerConsole con(loop.get(), f.commands(), [&](std::string_view t) { f.out += t; });
    con.on_line("list");
    con.on_line("status");
    con.on_line("scrape video.bin");
    con.on_line("help");
    CHECK(joined(f.calls) == "list;"); // status waits for the catalog
    REQUIRE(f.pending_list);
    auto answer = std::move(f.pending_list);
    answer(std::vector<udp::CatalogEntry>{});
    CHECK(joined(f.calls) == "list;status;scrape video.bin;"); // help waits for the scrape
    auto cat = f.out.find("catalog entries");
    auto st = f.out.find("downloading");
    REQUIRE(cat != std::string::npos);
    REQUIRE(st != std::string::npos);
    CHECK(cat < st);
    CHECK_FALSE(has(f.out, "commands:"));
    REQUIRE(f.pending_scrape);
    auto sc = std::move(f.pending_scrape);
    sc(ConsoleScrape{});
    CHECK(has(f.out, "seeders: 4"));
    CHECK(has(f.out, "commands:"));

    // The queue is bounded.
    con.on_line("list");
    for (std::size_t i = 0; i < PeerConsole::kMaxQueued + 3; ++i) con.on_line("status");
    CHECK(has(f.out, "busy: still waiting for the tracker; line ignored"));
    // quit jumps the queue, and the late answer is ignored.
    con.on_line("quit");
    CHECK(f.quits == 1);
    std::size_t statuses = 0;
    for (const auto& c : f.calls) statuses += c == "status";
    CHECK(statuses == 1);
    auto late = std::move(f.pending_list);
    late(std::vector<udp::CatalogEntry>{});
    CHECK(f.quits == 1);
}

TEST_CASE("peer console: reads lines from a pipe; end of input does not quit") {
    Loop loop;
    Fake f;
    f.answer_at_once = true;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    PeerConsole con(loop.get(), f.commands(), [&](std::string_view t) { f.out += t; });
    REQUIRE(con.start(fds[0]));
    const std::string input = "status\nbogus\nget x.torrent"; // the last line has no '\n'
    REQUIRE(write(fds[1], input.data(), input.size()) == static_cast<ssize_t>(input.size()));
    ::close(fds[1]);
    Timer deadline(loop.get());
    deadline.start(3000, 0, [&] { loop.stop(); });
    Timer poll(loop.get());
    poll.start(10, 10, [&] {
        if (!con.reading()) loop.stop();
    });
    loop.run();
    CHECK_FALSE(con.reading()); // end of input closed the reader...
    CHECK(f.quits == 0);        // ...and did not quit
    CHECK(joined(f.calls) == "status;get x.torrent;");
    CHECK(has(f.out, "unknown command: bogus"));
    // The reader read the pipe through its own description of it: fds[0] is still ours, and still blocking.
    CHECK((fcntl(fds[0], F_GETFL) & O_NONBLOCK) == 0);
    ::close(fds[0]);
}
