#include "node/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace p2p {

std::string format_bytes(double b) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%.0f %s", b, units[u]);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
    return buf;
}

static std::string format_eta(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0 || seconds > 99 * 3600) return "--:--";
    long s = static_cast<long>(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

std::string format_progress(const ProgressInfo& p, int width, bool with_bar) {
    double frac = p.total > 0 ? double(p.done) / double(p.total) : 0.0;
    if (frac > 1) frac = 1;
    char pct[16];
    std::snprintf(pct, sizeof pct, "%5.1f%%", frac * 100);
    std::string tail =
        std::string("  ") + pct + "  " + format_bytes(double(p.done)) + "/" + format_bytes(double(p.total));
    if (p.down_rate >= 0) tail += "  " + format_bytes(p.down_rate) + "/s down";
    if (p.up_rate >= 0) tail += "  " + format_bytes(p.up_rate) + "/s up";
    if (p.peers >= 0) tail += "  " + std::to_string(p.peers) + (p.peers == 1 ? " peer" : " peers");
    if (p.down_rate > 0 && p.done < p.total) tail += "  ETA " + format_eta(double(p.total - p.done) / p.down_rate);
    std::string name = p.name;
    if (name.size() > 24) name = name.substr(0, 21) + "...";
    std::string line = name;
    if (with_bar) {
        int bar = width - int(name.size()) - int(tail.size()) - 3;
        if (bar > 40) bar = 40;
        if (bar >= 5) {
            int fill = static_cast<int>(frac * bar);
            line += " [" + std::string(fill, '#') + std::string(bar - fill, '.') + "]";
        }
    }
    line += tail;
    if (width > 0 && int(line.size()) > width) line.resize(width);
    return line;
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

ProgressPrinter::ProgressPrinter(bool enabled, bool tty, std::uint64_t plain_every_ms)
    : enabled_(enabled), tty_(tty), plain_every_ms_(plain_every_ms) {}

void ProgressPrinter::update(const ProgressInfo& p, std::uint64_t now_ms) {
    if (!enabled_) return;
    std::uint64_t every = tty_ ? 100 : plain_every_ms_;
    if (drawn_ && now_ms - last_ms_ < every) return;
    last_ms_ = now_ms;
    drawn_ = true;
    if (tty_)
        std::fprintf(stderr, "\r%s\033[K", format_progress(p, 100, true).c_str());
    else
        std::fprintf(stderr, "%s\n", format_progress(p, 0, false).c_str());
    std::fflush(stderr);
}

void ProgressPrinter::finish(const ProgressInfo& p) {
    if (!enabled_) return;
    if (tty_)
        std::fprintf(stderr, "\r%s\033[K\n", format_progress(p, 100, true).c_str());
    else
        std::fprintf(stderr, "%s\n", format_progress(p, 0, false).c_str());
    std::fflush(stderr);
}

} // namespace p2p
