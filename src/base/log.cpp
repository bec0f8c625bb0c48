#include "base/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace p2p {
namespace {
LogLevel g_level = LogLevel::info;
std::FILE* g_file = nullptr; // null: stderr
std::string g_path;
StatusLineHooks g_status;
bool g_in_status = false; // inside clear/write/redraw: a log line from a hook is written plainly

bool same_terminal(int a, int b) {
    if (isatty(a) != 1 || isatty(b) != 1) return false;
    struct stat sa {
    }, sb{};
    if (fstat(a, &sa) != 0 || fstat(b, &sb) != 0) return false;
    return sa.st_rdev == sb.st_rdev;
}

// Runs write() with the status line (if any) cleared before and redrawn after.
template <class F>
void above_status_line(F&& write) {
    if (!g_status.clear || !g_status.redraw || g_in_status) return write();
    g_in_status = true;
    g_status.clear();
    write();
    g_status.redraw();
    g_in_status = false;
}

const char* level_name(LogLevel l) {
    switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    }
    return "?";
}

Result<std::FILE*> open_append(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "ae"); // O_APPEND|O_CLOEXEC: rotation by rename stays safe
    if (!f) return make_error("log file " + path, std::strerror(errno));
    std::setvbuf(f, nullptr, _IOLBF, 0); // a line reaches the file when it is logged
    return f;
}
} // namespace

void set_log_level(LogLevel level) { g_level = level; }
bool log_enabled(LogLevel level) { return level >= g_level; }

std::optional<LogLevel> parse_log_level(std::string_view n) {
    if (n == "debug") return LogLevel::debug;
    if (n == "info") return LogLevel::info;
    if (n == "warn" || n == "warning") return LogLevel::warn;
    if (n == "error") return LogLevel::error;
    return std::nullopt;
}

void log_line(LogLevel level, std::string_view component, std::string_view message) {
    if (level < g_level) return;
    auto write = [&] {
        std::fprintf(g_file ? g_file : stderr, "[%s] %.*s: %.*s\n", level_name(level),
                     static_cast<int>(component.size()), component.data(), static_cast<int>(message.size()),
                     message.data());
    };
    if (g_file) return write(); // a log file: the terminal's live line is not in the way
    above_status_line(write);
}

void set_status_line(StatusLineHooks hooks) { g_status = std::move(hooks); }
void clear_status_line() { g_status = StatusLineHooks{}; }

void print_above_status_line(std::FILE* f, std::string_view text) {
    auto write = [&] {
        std::fwrite(text.data(), 1, text.size(), f);
        std::fflush(f);
    };
    if (f == stderr || same_terminal(fileno(f), STDERR_FILENO))
        above_status_line(write);
    else
        write();
}

void status_line_input(int fd, std::string_view line) {
    if (!g_status.echoed || g_in_status || !same_terminal(fd, STDERR_FILENO)) return;
    g_in_status = true;
    g_status.echoed(line);
    g_in_status = false;
}

Status set_log_file(const std::string& path) {
    auto f = open_append(path);
    if (!f) return f.error();
    if (g_file) std::fclose(g_file);
    g_file = *f;
    g_path = path;
    return ok_status();
}

Status reopen_log() {
    if (!g_file) return ok_status();
    auto f = open_append(g_path);
    if (!f) {
        log_error("log", "reopening after SIGHUP: " + f.error().str() + " (still writing to the old file)");
        return f.error();
    }
    std::fclose(g_file);
    g_file = *f;
    return ok_status();
}
} // namespace p2p
