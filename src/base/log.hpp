// Minimal leveled logging to stderr. Kept tiny: embedded users redirect stderr to syslog.
#pragma once
#include <cstdio>
#include <string_view>

namespace p2p {
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };
void set_log_level(LogLevel level);
LogLevel log_level();
void log_line(LogLevel level, std::string_view component, std::string_view message);
inline void log_info(std::string_view c, std::string_view m) { log_line(LogLevel::info, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log_line(LogLevel::warn, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log_line(LogLevel::error, c, m); }
inline void log_debug(std::string_view c, std::string_view m) { log_line(LogLevel::debug, c, m); }
} // namespace p2p
