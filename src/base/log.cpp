#include "base/log.hpp"

namespace p2p {
namespace {
LogLevel g_level = LogLevel::info;
const char* level_name(LogLevel l) {
    switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    }
    return "?";
}
} // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_line(LogLevel level, std::string_view component, std::string_view message) {
    if (level < g_level) return;
    std::fprintf(stderr, "[%s] %.*s: %.*s\n", level_name(level), static_cast<int>(component.size()), component.data(),
                 static_cast<int>(message.size()), message.data());
}
} // namespace p2p
