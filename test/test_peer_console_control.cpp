// The peer console's control commands (limit, pause, resume, remove, files): parsing of their trailing words,
// the files table, and dispatch to a fake command interface, with bad input as one line.
#include <doctest/doctest.h>

#include "loop/loop.hpp"
#include "node/peer_console.hpp"

using namespace p2p;

namespace {
bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
} // namespace

TEST_CASE("peer console control: parsing limit, remove and the others") {
    auto c = parse_peer_command("limit photos 512K 2M");
    REQUIRE(c.cmd == PeerCommand::limit);
    CHECK(c.arg == "photos");
    CHECK(c.up == 512 * 1024);
    CHECK(c.down == 2u << 20);
    c = parse_peer_command("limit \"my photos\" 0 100");
    REQUIRE(c.cmd == PeerCommand::limit);
    CHECK(c.arg == "my photos"); // a name with spaces: the rates are the last two words
    CHECK(c.up == 0);
    CHECK(c.down == 100);
    for (const char* bad : {"limit photos 1M", "limit photos 1M fast", "limit photos -1 0", "limit 1M 2M", "limit"}) {
        c = parse_peer_command(bad);
        CHECK(c.cmd == PeerCommand::invalid);
        CHECK(has(c.error, "usage: limit"));
    }
    c = parse_peer_command("remove photos delete");
    REQUIRE(c.cmd == PeerCommand::remove);
    CHECK(c.arg == "photos");
    CHECK(c.delete_files);
    c = parse_peer_command("remove photos");
    CHECK(c.arg == "photos");
    CHECK_FALSE(c.delete_files);
    c = parse_peer_command("remove delete"); // a torrent named "delete"
    CHECK(c.arg == "delete");
    CHECK_FALSE(c.delete_files);
    CHECK(parse_peer_command("pause photos").cmd == PeerCommand::pause);
    CHECK(parse_peer_command("resume photos").cmd == PeerCommand::resume);
    CHECK(parse_peer_command("verify photos").cmd == PeerCommand::verify);
    CHECK(parse_peer_command("verify").cmd == PeerCommand::invalid);
    CHECK(parse_peer_command("files photos").cmd == PeerCommand::files);
    CHECK(parse_peer_command("pause").cmd == PeerCommand::invalid);
    CHECK(parse_console_rate("1G") == (1ull << 30));
    CHECK_FALSE(parse_console_rate("1T"));
    CHECK_FALSE(parse_console_rate(""));
    CHECK_FALSE(parse_console_rate("99999999999999999999"));
}

TEST_CASE("peer console control: the files table") {
    std::vector<FileProgress> files{{0, "cd1/a.flac", 150, 50}, {1, "b.txt", 30, 30}, {2, "empty", 0, 0}};
    std::string t = format_files(files);
    CHECK(has(t, "PATH"));
    CHECK(has(t, "cd1/a.flac"));
    CHECK(has(t, "33.3%"));
    CHECK(has(t, "100.0%"));
    CHECK(has(t, "3 files"));
}

TEST_CASE("peer console control: commands reach the interface; errors are one line") {
    Loop loop;
    std::vector<std::string> calls;
    std::string out;
    PeerConsoleCommands cmds;
    cmds.limit = [&](const std::string& w, std::uint64_t up, std::uint64_t down) -> Result<std::string> {
        calls.push_back("limit " + w + " " + std::to_string(up) + " " + std::to_string(down));
        return std::string("limits set");
    };
    cmds.pause = [&](const std::string& w) -> Result<std::string> {
        calls.push_back("pause " + w);
        if (w != "photos") return make_error(w, "not one of our torrents (see status)");
        return "paused " + w;
    };
    cmds.resume = [&](const std::string& w) -> Result<std::string> { return "resumed " + w; };
    cmds.verify = [&](const std::string& w) -> Result<std::string> { return "verifying " + w; };
    cmds.remove = [&](const std::string& w, bool del) -> Result<std::string> {
        calls.push_back("remove " + w + (del ? " delete" : ""));
        return "removed " + w;
    };
    cmds.files = [&](const std::string& w) -> Result<std::vector<FileProgress>> {
        calls.push_back("files " + w);
        return std::vector<FileProgress>{{0, "x.bin", 10, 5}};
    };
    PeerConsole console(loop.get(), cmds, [&](std::string_view t) { out += t; });
    console.on_line("limit photos 1K 0");
    console.on_line("pause photos");
    console.on_line("pause nothing");
    console.on_line("resume photos");
    console.on_line("remove photos delete");
    console.on_line("files photos");
    console.on_line("limit photos x y");
    console.on_line("verify photos");
    REQUIRE(calls.size() == 5);
    CHECK(calls[0] == "limit photos 1024 0");
    CHECK(calls[3] == "remove photos delete");
    CHECK(has(out, "paused photos\n"));
    CHECK(has(out, "pause: nothing: not one of our torrents"));
    CHECK(has(out, "resumed photos\n"));
    CHECK(has(out, "verifying photos\n"));
    CHECK(has(out, "50.0%"));
    CHECK(has(out, "usage: limit"));
}
