// The tracker's operator console: one command per line on stdin, answers on stdout.
//
// console_command() is the whole command language as a pure function (line in, text out) so it is tested
// without a terminal. TrackerConsole feeds it lines read from fd 0 through libuv: a tty, a pipe, or a regular
// file / character device (e.g. /dev/null) read with uv_fs_read. End of input stops the console only, never
// the tracker (a daemon started with </dev/null keeps serving). If fd 0 is closed there is no console.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "loop/line_reader.hpp"
#include "tracker/catalog.hpp"
#include "tracker/swarm_store.hpp"

namespace p2p {

struct ConsoleView {
    const SwarmStore& store;
    const Catalog& catalog;
    const TrackerCounters& counters;
};

struct ConsoleReply {
    std::string text; // ends with '\n' unless empty
    bool quit = false;
};

// Commands: list | fileinfo NAME|INFOHASH | peerinfo | stats | help | quit. `now` is wall-clock seconds.
// peerinfo prints at most kMaxPeerLines peers (then a count of the rest).
inline constexpr std::size_t kMaxPeerLines = 10'000;
ConsoleReply console_command(std::string_view line, const ConsoleView& view, std::uint32_t now);

class TrackerConsole {
public:
    using Source = std::function<ConsoleView()>;
    // on_quit runs (from the loop) after `quit` was printed; the owner saves and shuts down.
    TrackerConsole(uv_loop_t* loop, ConsoleView view, std::function<std::uint32_t()> wall,
                   std::function<void()> on_quit);
    TrackerConsole(const TrackerConsole&) = delete;
    TrackerConsole& operator=(const TrackerConsole&) = delete;

    bool start(); // false: fd 0 is not readable (closed); the tracker runs without a console
    void close() { reader_.close(); }

private:
    void on_line(std::string_view line, bool too_long);

    ConsoleView view_;
    std::function<std::uint32_t()> wall_;
    std::function<void()> on_quit_;
    LineReader reader_; // stdin; lines bounded by LineReader::kMaxLine
};

} // namespace p2p
