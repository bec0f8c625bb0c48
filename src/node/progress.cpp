#include "node/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/log.hpp"
#include "base/utf8.hpp"

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

// ---- display width

namespace {

// The code point of the valid sequence of `len` bytes at s[i].
char32_t decode(std::string_view s, std::size_t i, std::size_t len) {
    auto b = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k])); };
    switch (len) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1f) << 6) | (b(1) & 0x3f);
    case 3: return ((b(0) & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6) | (b(3) & 0x3f);
    }
}

struct Range {
    char32_t lo, hi;
};
// Zero width: combining marks, zero-width spaces and joiners, variation selectors.
constexpr Range kZero[] = {{0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a},  {0x064b, 0x065f},
                           {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x1ab0, 0x1aff}, {0x1dc0, 0x1dff},  {0x200b, 0x200f},
                           {0x20d0, 0x20ff}, {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f}, {0xe0100, 0xe01ef}};
// East Asian Wide and Fullwidth (the common blocks), and the emoji blocks terminals draw two columns wide.
constexpr Range kWide[] = {
    {0x1100, 0x115f}, {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},   {0x4e00, 0x9fff},  {0xa000, 0xa4cf},
    {0xa960, 0xa97f}, {0xac00, 0xd7a3},   {0xf900, 0xfaff},   {0xfe10, 0xfe19},   {0xfe30, 0xfe6f},  {0xff00, 0xff60},
    {0xffe0, 0xffe6}, {0x1f300, 0x1f64f}, {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd}};

bool in(const Range* r, std::size_t n, char32_t c) {
    for (std::size_t k = 0; k < n; ++k)
        if (c >= r[k].lo && c <= r[k].hi) return true;
    return false;
}

int cp_width(char32_t c) {
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) return 0; // control characters (never printed: see printable())
    if (in(kZero, std::size(kZero), c)) return 0;
    if (in(kWide, std::size(kWide), c)) return 2;
    return 1;
}

// Visits each code point (or invalid byte) of s: f(offset, length, columns); stops when f returns false.
template <class F>
void each_char(std::string_view s, F&& f) {
    for (std::size_t i = 0; i < s.size();) {
        std::size_t len = utf8_sequence_length(s, i);
        int w = len ? cp_width(decode(s, i, len)) : 1;
        if (!len) len = 1;
        if (!f(i, len, w)) return;
        i += len;
    }
}

// A name as it may be shown on a terminal: invalid UTF-8 and control characters (C0, DEL and the C1 range,
// which some terminals obey as escape sequences) become '_'.
std::string printable(std::string_view s) {
    std::string clean = utf8_sanitize(s, '_');
    std::string out;
    out.reserve(clean.size());
    for (std::size_t i = 0; i < clean.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(clean[i]);
        if (c == 0xc2 && i + 1 < clean.size() && static_cast<unsigned char>(clean[i + 1]) < 0xa0) {
            out += '_'; // U+0080..U+009F
            ++i;
            continue;
        }
        out += clean[i];
    }
    return out;
}

std::string spaces(int n) { return std::string(static_cast<std::size_t>(std::max(0, n)), ' '); }

// text right-aligned in `w` columns (cut if longer, which the fields below never are).
std::string slot(const std::string& text, int w) {
    int dw = display_width(text);
    if (dw > w) return fit_width(text, w);
    return spaces(w - dw) + text;
}

} // namespace

int display_width(std::string_view s) {
    int w = 0;
    each_char(s, [&](std::size_t, std::size_t, int cw) {
        w += cw;
        return true;
    });
    return w;
}

std::string fit_width(std::string_view s, int cols) {
    if (display_width(s) <= cols) return std::string(s);
    if (cols <= 0) return "";
    std::size_t end = 0;
    int w = 0;
    each_char(s, [&](std::size_t i, std::size_t len, int cw) {
        if (w + cw > cols - 1) return false; // one column for the ellipsis
        w += cw;
        end = i + len;
        return true;
    });
    return std::string(s.substr(0, end)) + "\xe2\x80\xa6"; // U+2026 …
}

// ---- the live line's layout

namespace {

enum Field { f_pct, f_sizes, f_down, f_up, f_peers, f_eta, f_more, kFields };
// Columns of each field, its separating spaces included; every text below fits its field.
constexpr int kFieldWidth[kFields] = {
    7,  // " 100.0%"
    22, // " 1023.9 KiB/1023.9 KiB"
    18, // " 1023.9 KiB/s down"
    16, // " 1023.9 KiB/s up"
    11, // " 999+ peers"
    13, // " ETA 99:59:59"
    11, // " +999+ more"
};
// Which fields a narrower terminal gives up first: the last of this list.
constexpr Field kPriority[] = {f_pct, f_down, f_more, f_eta, f_peers, f_sizes, f_up};
constexpr int kMinBar = 10, kMaxBar = 50;
constexpr int kMinName = 8, kMaxName = 40;

struct Layout {
    int name = 0; // columns for the name (shorter names leave spaces after the bar)
    int bar = 0;  // 0: no bar
    bool on[kFields] = {};
};

// `avail` columns in all; `more`: the "+N more" field is wanted (other downloads run). Depends on these two
// alone, never on the text shown, so the bar keeps its width from one redraw to the next.
Layout layout_for(int avail, bool more) {
    Layout l;
    if (avail <= 0) return l;
    l.name = std::clamp(avail / 6, kMinName, 32);
    int used = l.name + 3 + kMinBar;         // name, " [", bar, "]"
    if (used + kFieldWidth[f_pct] > avail) { // too narrow for a bar: the name and the percentage
        l.on[f_pct] = avail > kFieldWidth[f_pct];
        l.name = std::max(0, avail - (l.on[f_pct] ? kFieldWidth[f_pct] : 0));
        return l;
    }
    for (Field f : kPriority)
        if ((f != f_more || more) && used + kFieldWidth[f] <= avail) {
            l.on[f] = true;
            used += kFieldWidth[f];
        }
    l.bar = kMinBar + (avail - used);
    if (l.bar > kMaxBar) { // a wide terminal: room for longer names, the rest stays blank
        l.name += std::clamp(l.bar - kMaxBar, 0, std::max(0, kMaxName - l.name));
        l.bar = kMaxBar;
    }
    return l;
}

std::string field_text(Field f, const ProgressInfo& p, std::size_t more) {
    switch (f) {
    case f_pct: {
        double frac = p.total > 0 ? std::min(1.0, double(p.done) / double(p.total)) : 0.0;
        char pct[16];
        std::snprintf(pct, sizeof pct, "%5.1f%%", frac * 100);
        return pct;
    }
    case f_sizes: return p.total > 0 ? format_bytes(double(p.done)) + "/" + format_bytes(double(p.total)) : "";
    case f_down: return p.down_rate >= 0 ? format_bytes(p.down_rate) + "/s down" : "";
    case f_up: return p.up_rate >= 0 ? format_bytes(p.up_rate) + "/s up" : "";
    case f_peers:
        if (p.peers < 0) return "";
        return (p.peers > 999 ? std::string("999+") : std::to_string(p.peers)) + (p.peers == 1 ? " peer" : " peers");
    case f_eta:
        if (!(p.down_rate > 0 && p.done < p.total)) return "";
        return "ETA " + format_eta(double(p.total - p.done) / p.down_rate);
    case f_more:
        if (more == 0) return "";
        return "+" + (more > 999 ? std::string("999+") : std::to_string(more)) + " more";
    case kFields: break;
    }
    return "";
}

// The line of p (and "+more") in at most `avail` columns. pad_name: a short name is padded so the bar starts at
// a fixed column (the live line: its first torrent may change); else the bar follows the name and the padding
// comes after it, so the fields keep their columns either way.
std::string layout_line(const ProgressInfo& p, std::size_t more, int avail, bool pad_name) {
    if (avail <= 0) return "";
    const Layout l = layout_for(avail, more > 0);
    std::string name = fit_width(printable(p.name), l.name);
    const int gap = l.name - display_width(name);
    std::string line = name;
    if (pad_name) line += spaces(gap);
    if (l.bar > 0) {
        double frac = p.total > 0 ? std::min(1.0, double(p.done) / double(p.total)) : 0.0;
        int fill = std::clamp(static_cast<int>(frac * l.bar), 0, l.bar);
        line += " [" + std::string(fill, '#') + std::string(l.bar - fill, '.') + "]";
    }
    if (!pad_name) line += spaces(gap);
    for (int f = 0; f < kFields; ++f)
        if (l.on[f]) line += slot(field_text(Field(f), p, more), kFieldWidth[f]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return fit_width(line, avail); // a guard: the layout already fits
}

} // namespace

int live_bar_width(int width, bool others) { return layout_for(width - 1, others).bar; }

std::string format_progress(const ProgressInfo& p, int width, bool with_bar) {
    if (with_bar) return layout_line(p, 0, width, false);
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
    std::string line = name + tail;
    if (width > 0 && int(line.size()) > width) line.resize(width);
    return line;
}

std::string format_live_line(const std::vector<ProgressInfo>& active, int width) {
    if (active.empty()) return "";
    auto top = active.begin();
    for (auto it = active.begin(); it != active.end(); ++it)
        if (it->down_rate > top->down_rate) top = it;
    return layout_line(*top, active.size() - 1, width - 1, true);
}

int terminal_width(int fd) {
    struct winsize ws {};
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    if (const char* c = std::getenv("COLUMNS")) {
        char* end = nullptr;
        long v = std::strtol(c, &end, 10);
        if (end != c && *end == '\0' && v > 0 && v < 10000) return static_cast<int>(v);
    }
    return 80;
}

bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

// ---- the printer

ProgressPrinter::ProgressPrinter(bool enabled, bool tty, std::uint64_t plain_every_ms)
    : enabled_(enabled), tty_(tty), plain_every_ms_(plain_every_ms) {
    if (enabled_ && tty_)
        set_status_line(StatusLineHooks{[this] { erase(); },
                                        [this] {
                                            if (!active_.empty()) draw();
                                        },
                                        [this](std::string_view line) { echoed(line); }});
}

ProgressPrinter::~ProgressPrinter() {
    if (!enabled_ || !tty_) return;
    clear_status_line();
    erase();
    std::fflush(stderr);
}

void ProgressPrinter::draw() {
    const int width = terminal_width(STDERR_FILENO);
    const std::string line = format_live_line(active_, width);
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
    std::fflush(stderr);
    shown_ = true;
    shown_cols_ = display_width(line);
    shown_width_ = width;
}

void ProgressPrinter::erase() {
    if (!shown_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    shown_ = false;
}

// The user typed `line` on our terminal: its echo followed the live line, and Enter left that row (or rows, if
// it wrapped) behind. Those rows are cleared and the typed line printed alone, then the live line redrawn.
void ProgressPrinter::echoed(std::string_view line) {
    if (!shown_ || shown_width_ <= 0) return;
    const std::string typed = printable(line);
    const int cols = shown_cols_ + display_width(typed);
    const int rows = std::max(1, (cols + shown_width_ - 1) / shown_width_);
    std::fprintf(stderr, "\033[%dA\r\033[J%s\n", rows, typed.c_str());
    shown_ = false;
    if (!active_.empty()) draw();
}

void ProgressPrinter::update(const std::vector<ProgressInfo>& active, std::uint64_t now_ms) {
    if (!enabled_) return;
    if (tty_) {
        active_ = active; // kept even when not drawn now: a redraw after a log line shows the latest
        if (active_.empty()) return erase();
        if (shown_ && now_ms - last_ms_ < 100) return;
        last_ms_ = now_ms;
        drawn_ = true;
        return draw();
    }
    if (active.empty() || (drawn_ && now_ms - last_ms_ < plain_every_ms_)) return;
    last_ms_ = now_ms;
    drawn_ = true;
    for (const auto& p : active) std::fprintf(stderr, "%s\n", format_progress(p, 0, false).c_str());
    std::fflush(stderr);
}

void ProgressPrinter::finish(const ProgressInfo& p) {
    if (!enabled_) return;
    if (!tty_) {
        std::fprintf(stderr, "%s\n", format_progress(p, 0, false).c_str());
        std::fflush(stderr);
        return;
    }
    // The final line stays on the screen; the live line of the others (if any) comes back at the next update or
    // log line, not at once: the caller's own result line ("complete NAME") may follow on stdout.
    auto it = std::find_if(active_.begin(), active_.end(), [&](const ProgressInfo& a) { return a.name == p.name; });
    if (it != active_.end()) active_.erase(it);
    const int width = terminal_width(STDERR_FILENO);
    std::fprintf(stderr, "\r%s\033[K\n", format_live_line({p}, width).c_str()); // laid out as the live line
    shown_ = false;
    std::fflush(stderr);
}

} // namespace p2p
