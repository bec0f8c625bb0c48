// Progress display: one live line redrawn in place on a terminal, a plain status line every few seconds otherwise.
//
// On a terminal (stderr is a tty) the live line shows every active download at once, aria2's way: the most
// active one (highest download rate) with its bar, then "+N more". It fits the terminal: the width is asked
// again (TIOCGWINSZ) at every redraw, which is cheap (one ioctl, at most ~10 a second) and needs neither a
// signal handle nor the loop, so a resize is picked up at the next redraw (within a second); the line's display
// width stays below the terminal's, so it never wraps, and it is redrawn with "\r" + text + "\x1b[K". Its
// layout (which fields are shown, the bar's width) depends on the terminal's width and on whether other downloads
// run: the bar keeps its width whatever the name, the rates and the counts. Log lines and console answers are written above it (base/log.hpp's
// status line hooks, which the printer sets).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace p2p {

struct ProgressInfo {
    std::string name;
    std::int64_t done = 0, total = 0;
    double down_rate = -1, up_rate = -1; // bytes/s; negative: not shown
    int peers = -1;                      // negative: not shown
};

// "1.5 MiB", "812 B"
std::string format_bytes(double bytes);

// Columns `s` takes on a terminal: one per code point, two for East Asian wide and fullwidth ones (CJK,
// Hangul, fullwidth forms, most emoji), none for combining marks; a byte that is not valid UTF-8 counts one.
int display_width(std::string_view s);
// s cut to at most `cols` columns on a code point boundary, ending in "…" when it was cut.
std::string fit_width(std::string_view s, int cols);

// One download's line. with_bar: "name [#####.....]  45.0%  1.0 MiB/2.0 MiB  ..." in at most `width` columns
// (the live line's layout, see below). Without: the plain status line of a log or pipe (format kept stable:
// scripts read it): "name  45.0%  1.0 MiB/2.0 MiB  3.2 MiB/s down  1.0 MiB/s up  4 peers  ETA 0:12".
std::string format_progress(const ProgressInfo& p, int width, bool with_bar);

// The live line for a terminal of `width` columns: the most active of `active` (highest down rate, the first of
// equals), then "+N more" for the others. At most width-1 columns (the last column stays free so the line never
// wraps). Names are made printable (control characters and invalid UTF-8 become '_') and cut with "…".
std::string format_live_line(const std::vector<ProgressInfo>& active, int width);
// The bar's width in the live line at `width` columns (0: no room for one), with or without other downloads
// ("+N more"). A function of these two alone: names, rates and counts never move it.
int live_bar_width(int width, bool others);

// The terminal's width: TIOCGWINSZ on fd, else $COLUMNS, else 80.
int terminal_width(int fd);
bool stderr_is_terminal();

class ProgressPrinter {
public:
    // tty: the live line on stderr, redrawn at most ~10 times a second; otherwise a plain line per download
    // every `plain_every_ms`.
    ProgressPrinter(bool enabled, bool tty, std::uint64_t plain_every_ms = 5000);
    ~ProgressPrinter(); // erases the live line
    ProgressPrinter(const ProgressPrinter&) = delete;
    ProgressPrinter& operator=(const ProgressPrinter&) = delete;

    // Every active download (empty: none, the live line goes away).
    void update(const std::vector<ProgressInfo>& active, std::uint64_t now_ms);
    void update(const ProgressInfo& p, std::uint64_t now_ms) { update(std::vector<ProgressInfo>{p}, now_ms); }
    // A download is over: its final line, always printed when enabled (above the live line of the others).
    void finish(const ProgressInfo& p);

private:
    void draw();  // the live line of active_, at the terminal's width now
    void erase(); // the live line, if drawn; the cursor is left at column 0
    void echoed(std::string_view line);

    bool enabled_, tty_;
    std::uint64_t plain_every_ms_;
    std::uint64_t last_ms_ = 0;
    bool drawn_ = false;                   // update() printed at least once
    std::vector<ProgressInfo> active_;     // tty: what the live line shows
    bool shown_ = false;                   // tty: the live line is on the screen, the cursor at its end
    int shown_cols_ = 0, shown_width_ = 0; // its display width, and the terminal's width then
};

} // namespace p2p
