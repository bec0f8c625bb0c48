// Progress display: a redrawn bar on a terminal, a plain status line every few seconds otherwise.
#pragma once
#include <cstdint>
#include <string>

namespace p2p {

struct ProgressInfo {
    std::string name;
    std::int64_t done = 0, total = 0;
    double down_rate = -1, up_rate = -1; // bytes/s; negative: not shown
    int peers = -1;                      // negative: not shown
};

// "1.5 MiB", "812 B"
std::string format_bytes(double bytes);
// One line, at most `width` columns: name [#####.....]  45.0%  3.2 MiB/s down  1.0 MiB/s up  4 peers  ETA 0:12
std::string format_progress(const ProgressInfo& p, int width, bool with_bar);

class ProgressPrinter {
public:
    // tty: redraw in place on stderr at most ~10 times a second; otherwise a line every `plain_every_ms`.
    ProgressPrinter(bool enabled, bool tty, std::uint64_t plain_every_ms = 5000);
    void update(const ProgressInfo& p, std::uint64_t now_ms);
    void finish(const ProgressInfo& p); // final line, always printed when enabled

private:
    bool enabled_, tty_;
    std::uint64_t plain_every_ms_;
    std::uint64_t last_ms_ = 0;
    bool drawn_ = false;
};

bool stderr_is_terminal();

} // namespace p2p
