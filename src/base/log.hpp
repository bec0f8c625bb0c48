// Minimal leveled logging: one line per event, "[level] component: message", to stderr or to a log file.
// Kept tiny: embedded users redirect stderr to syslog, or give --log-file and rotate it (SIGHUP reopens it).
#pragma once
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p {
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
void set_log_level(LogLevel level);
// "debug", "info", "warn"/"warning", "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view component, std::string_view message);
inline void log_info(std::string_view c, std::string_view m) { log_line(LogLevel::info, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log_line(LogLevel::warn, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log_line(LogLevel::error, c, m); }
inline void log_debug(std::string_view c, std::string_view m) { log_line(LogLevel::debug, c, m); }

// Log lines go to `path` (appended; created 0644) instead of stderr. Fails with the reason if it cannot be
// opened; the previous destination is kept then.
Status set_log_file(const std::string& path);
// After a log rotation (SIGHUP): closes the log file and opens the same path again. A failure keeps writing
// to the old descriptor and is reported in it. No-op when logging to stderr.
Status reopen_log();

// A live status line on the terminal (node/'s progress display; base knows nothing of it). While one is set,
// every log line written to stderr clears it first and redraws it after, so text is printed above the live
// line, never glued to it. One at a time: setting another replaces it; clear_status_line() removes it.
//   clear():  erase the line (a no-op when nothing is drawn); the cursor is left at column 0
//   redraw(): draw it again
//   echoed(line): a line typed on that terminal was just echoed after the live line (the console read it);
//                 may be empty
struct StatusLineHooks {
    std::function<void()> clear, redraw;
    std::function<void(std::string_view line)> echoed;
};
void set_status_line(StatusLineHooks hooks);
void clear_status_line();
// Writes `text` to `f` and flushes it. When `f` is on the same terminal as stderr and a status line is set,
// the line is cleared before and redrawn after (console answers and result lines go through this).
void print_above_status_line(std::FILE* f, std::string_view text);
// The console read `line` from fd, which is a terminal: tells the status line (see echoed above).
void status_line_input(int fd, std::string_view line);
} // namespace p2p
