#include "node/peer_console.hpp"

#include <cstdio>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "node/progress.hpp"

namespace p2p {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}
std::string lpad(std::string s, std::size_t w) {
    if (s.size() < w) s.insert(0, w - s.size(), ' ');
    return s;
}

std::string percent(double fraction) {
    char b[16];
    std::snprintf(b, sizeof b, "%.1f%%", fraction * 100.0);
    return b;
}

std::string rate(double r) { return format_bytes(r) + "/s"; }

// "ip:port" as the session gives it; an IPv6 address in brackets ("[::1]:6881"), as in a URL.
std::string bracketed(const std::string& address) {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || address.find(':') == colon || address.front() == '[') return address;
    return "[" + address.substr(0, colon) + "]" + address.substr(colon);
}

// `limit NAME UP DOWN` and `remove NAME [delete]`: the trailing words are taken off the end, so a name may
// hold spaces.
void split_trailing(ParsedPeerCommand& out, const char* usage) {
    auto last_word = [](std::string& s) {
        std::string_view v = trim(s);
        auto sp = v.find_last_of(" \t");
        std::string word(sp == std::string_view::npos ? v : v.substr(sp + 1));
        s = sp == std::string_view::npos ? std::string() : std::string(trim(v.substr(0, sp)));
        return word;
    };
    auto unquote = [](std::string& s) {
        if (s.size() >= 2 && ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'')))
            s = s.substr(1, s.size() - 2);
    };
    if (out.cmd == PeerCommand::want || out.cmd == PeerCommand::skip) {
        // Trailing words of digits and commas are the indices; the rest is the name.
        std::string rest = out.arg;
        std::vector<std::size_t> idx;
        for (;;) {
            std::string keep = rest;
            std::string word = last_word(rest);
            bool ok = !word.empty() && !rest.empty();
            std::vector<std::size_t> here;
            std::size_t v = 0;
            bool digits = false;
            for (char ch : word + ",") {
                if (ch >= '0' && ch <= '9') {
                    if (v > 1'000'000'000) ok = false;
                    v = v * 10 + std::size_t(ch - '0');
                    digits = true;
                } else if (ch == ',' && digits) {
                    here.push_back(v);
                    v = 0;
                    digits = false;
                } else if (ch != ',') {
                    ok = false;
                }
            }
            if (!ok || here.empty()) {
                rest = keep;
                break;
            }
            idx.insert(idx.begin(), here.begin(), here.end());
        }
        unquote(rest);
        if (idx.empty() || rest.empty()) {
            out.cmd = PeerCommand::invalid;
            out.error = std::string("usage: ") + usage;
            return;
        }
        out.arg = rest;
        out.file_indices = std::move(idx);
        return;
    }
    if (out.cmd == PeerCommand::remove) {
        std::string rest = out.arg;
        if (last_word(rest) == "delete" && !rest.empty()) {
            out.delete_files = true;
            unquote(rest);
            out.arg = rest;
        }
        return;
    }
    std::string rest = out.arg;
    const std::string down = last_word(rest), up = last_word(rest);
    unquote(rest);
    auto u = parse_console_rate(up), d = parse_console_rate(down);
    if (rest.empty() || !u || !d) {
        out.cmd = PeerCommand::invalid;
        out.error = std::string("usage: ") + usage;
        return;
    }
    out.arg = rest;
    out.up = *u;
    out.down = *d;
}

struct CommandInfo {
    const char* name;
    PeerCommand cmd;
    bool needs_arg;
    const char* usage;
};
constexpr CommandInfo kCommands[] = {
    {"share", PeerCommand::share, true, "share PATH"},
    {"get", PeerCommand::get, true, "get FILE.torrent|MAGNET|INFOHASH|NAME"},
    {"list", PeerCommand::list, false, "list"},
    {"scrape", PeerCommand::scrape, true, "scrape NAME|INFOHASH"},
    {"status", PeerCommand::status, false, "status"},
    {"peers", PeerCommand::peers, true, "peers NAME|INFOHASH"},
    {"trackers", PeerCommand::trackers, false, "trackers"},
    {"files", PeerCommand::files, true, "files NAME|INFOHASH"},
    {"want", PeerCommand::want, true, "want NAME|INFOHASH INDEX... (file indices as 'files' shows, e.g. 0 2,3)"},
    {"skip", PeerCommand::skip, true, "skip NAME|INFOHASH INDEX... (file indices as 'files' shows)"},
    {"limit", PeerCommand::limit, true, "limit NAME|INFOHASH UP DOWN (bytes/s, e.g. 512K; 0 = no limit)"},
    {"pause", PeerCommand::pause, true, "pause NAME|INFOHASH"},
    {"resume", PeerCommand::resume, true, "resume NAME|INFOHASH"},
    {"remove", PeerCommand::remove, true, "remove NAME|INFOHASH [delete]"},
    {"verify", PeerCommand::verify, true, "verify NAME|INFOHASH"},
    {"dht", PeerCommand::dht, false, "dht"},
    {"help", PeerCommand::help, false, "help"},
    {"quit", PeerCommand::quit, false, "quit"},
    {"exit", PeerCommand::quit, false, "quit"},
};

// Azureus-style client codes (BEP 20) of the clients a user meets most.
const char* client_name(std::string_view code) {
    struct Code {
        const char* code;
        const char* name;
    };
    static constexpr Code kCodes[] = {
        {"PN", "p2pnode"},     {"TR", "Transmission"}, {"LT", "libtorrent"}, {"lt", "libTorrent"},
        {"qB", "qBittorrent"}, {"DE", "Deluge"},       {"UT", "uTorrent"},   {"UM", "uTorrent Mac"},
        {"AZ", "Vuze"},        {"BI", "BiglyBT"},      {"KT", "KTorrent"},   {"FW", "FrostWire"},
    };
    for (const auto& c : kCodes)
        if (code == c.code) return c.name;
    return nullptr;
}

} // namespace

const char* const kPeerConsoleHelp =
    "commands:\n"
    "  share PATH             share a file or folder where it is (prints 'sharing NAME INFOHASH MAGNET' when hashed)\n"
    "  get WHAT               download WHAT: a .torrent file, a magnet link, a 40-hex info hash or a catalog NAME\n"
    "  list                   the tracker's catalog: name, size, seeders, leechers, info hash\n"
    "  scrape NAME|INFOHASH   seeders, leechers and completed count from the tracker\n"
    "  status                 each torrent: state, percent, rates, peers, bytes moved\n"
    "  peers NAME|INFOHASH    each connected peer of a torrent; flags: D/d we download (unchoked/choked),\n"
    "                         U/u it downloads (unchoked/choked), S snubbed, I/O incoming/outgoing,\n"
    "                         T over uTP (else TCP), E encrypted (RC4)\n"
    "  trackers               each tracker of each torrent: working or not, last and next announce, last error\n"
    "  files NAME|INFOHASH    each file of a torrent: index, size, bytes done, percent, wanted, path\n"
    "  want NAME|INFOHASH INDEX...\n"
    "                         download these files too (indices as 'files' shows; spaces or commas)\n"
    "  skip NAME|INFOHASH INDEX...\n"
    "                         do not download these files (never created; pieces shared with wanted files are\n"
    "                         kept in .p2pnode/INFOHASH.parts)\n"
    "  limit NAME|INFOHASH UP DOWN\n"
    "                         a torrent's own upload and download limits in bytes/s (K, M, G; 0 = none);\n"
    "                         --max-upload-rate and --max-download-rate apply as well\n"
    "  pause NAME|INFOHASH    close its connections, stop its announces; data and progress are kept\n"
    "  resume NAME|INFOHASH   start a paused torrent again\n"
    "  remove NAME|INFOHASH [delete]\n"
    "                         stop it and forget it; with 'delete', also delete the files it downloaded\n"
    "                         (never the files of something you shared)\n"
    "  verify NAME|INFOHASH   hash every piece on disk again (connections close meanwhile); what is\n"
    "                         missing or damaged is downloaded again\n"
    "  dht                    the DHT node: id, nodes per bucket, lookups, stored peers, packets in/out\n"
    "  help                   this text\n"
    "  quit                   announce 'stopped', save resume data and exit\n";

ParsedPeerCommand parse_peer_command(std::string_view raw) {
    std::string_view line = trim(raw);
    ParsedPeerCommand out;
    if (line.empty()) return out;
    auto sp = line.find_first_of(" \t");
    std::string_view word = line.substr(0, sp);
    std::string_view arg = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp + 1));
    // A path with spaces may be quoted: share "my photos".
    if (arg.size() >= 2 && ((arg.front() == '"' && arg.back() == '"') || (arg.front() == '\'' && arg.back() == '\'')))
        arg = arg.substr(1, arg.size() - 2);
    for (const auto& c : kCommands) {
        if (word != c.name) continue;
        if (c.needs_arg && arg.empty()) {
            out.cmd = PeerCommand::invalid;
            out.error = std::string("usage: ") + c.usage;
        } else if (!c.needs_arg && !arg.empty()) {
            out.cmd = PeerCommand::invalid;
            out.error = std::string(c.name) + " takes no argument";
        } else {
            out.cmd = c.cmd;
            out.arg = std::string(arg);
            if (c.cmd == PeerCommand::limit || c.cmd == PeerCommand::remove || c.cmd == PeerCommand::want ||
                c.cmd == PeerCommand::skip)
                split_trailing(out, c.usage);
        }
        return out;
    }
    out.cmd = PeerCommand::invalid;
    out.error = "unknown command: " + std::string(word) + " (try help)";
    return out;
}

std::optional<std::uint64_t> parse_console_rate(std::string_view t) {
    std::uint64_t v = 0;
    std::size_t i = 0;
    for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
        if (v > (UINT64_MAX - 9) / 10) return std::nullopt;
        v = v * 10 + std::uint64_t(t[i] - '0');
    }
    if (i == 0) return std::nullopt;
    const std::string_view suffix = t.substr(i);
    int shift = 0;
    if (suffix == "k" || suffix == "K")
        shift = 10;
    else if (suffix == "m" || suffix == "M")
        shift = 20;
    else if (suffix == "g" || suffix == "G")
        shift = 30;
    else if (!suffix.empty())
        return std::nullopt;
    if (v > (UINT64_MAX >> shift)) return std::nullopt;
    return v << shift;
}

std::string format_files(const std::vector<FileProgress>& files) {
    std::string out = lpad("#", 4) + " " + lpad("SIZE", 12) + " " + lpad("DONE", 12) + " " + lpad("%", 6) + " " +
                      pad("WANT", 4) + "  PATH\n";
    for (const auto& f : files) {
        const double frac = f.size ? double(f.done) / double(f.size) : 1.0;
        out += lpad(std::to_string(f.index), 4) + " " + lpad(std::to_string(f.size), 12) + " " +
               lpad(std::to_string(f.done), 12) + " " + lpad(percent(frac), 6) + " " + pad(f.wanted ? "yes" : "no", 4) +
               "  " + f.path + "\n";
    }
    out += std::to_string(files.size()) + (files.size() == 1 ? " file\n" : " files\n");
    return out;
}

std::string format_status(const std::vector<ConsoleTorrentRow>& rows) {
    if (rows.empty()) return "no torrents\n";
    std::string out = pad("NAME", 32) + " " + pad("STATE", 17) + " " + lpad("DONE", 6) + " " + lpad("DOWN", 12) + " " +
                      lpad("UP", 12) + " " + lpad("PEERS", 5) + " " + lpad("DOWNLOADED", 11) + " " +
                      lpad("UPLOADED", 11) + "  INFOHASH\n";
    for (const auto& r : rows) {
        double frac = r.total ? static_cast<double>(r.have_bytes) / static_cast<double>(r.total) : 0.0;
        out += pad(r.name, 32) + " " + pad(r.state, 17) + " " + lpad(percent(frac), 6) + " " +
               lpad(rate(r.down_rate), 12) + " " + lpad(rate(r.up_rate), 12) + " " + lpad(std::to_string(r.peers), 5) +
               " " + lpad(format_bytes(static_cast<double>(r.downloaded)), 11) + " " +
               lpad(format_bytes(static_cast<double>(r.uploaded)), 11) + "  " + to_hex(r.info_hash) + "\n";
    }
    out += std::to_string(rows.size()) + (rows.size() == 1 ? " torrent\n" : " torrents\n");
    return out;
}

std::string format_trackers(const std::vector<ConsoleTrackerRow>& rows) {
    if (rows.empty()) return "no trackers\n";
    auto secs = [](std::int64_t s, const char* none) { return s < 0 ? std::string(none) : std::to_string(s) + " s"; };
    std::string out = pad("NAME", 24) + " " + lpad("TIER", 4) + " " + pad("TRACKER", 36) + " " + pad("STATE", 11) +
                      " " + lpad("LAST", 8) + " " + lpad("NEXT", 8) + " " + lpad("SEEDERS", 7) + " " +
                      lpad("LEECHERS", 8) + "  ERROR\n";
    for (const auto& r : rows)
        out += pad(r.name, 24) + " " + lpad(std::to_string(r.tier), 4) + " " + pad(r.url, 36) + " " + pad(r.state, 11) +
               " " + lpad(secs(r.last_s, "never"), 8) + " " + lpad(secs(r.next_s, "-"), 8) + " " +
               lpad(std::to_string(r.seeders), 7) + " " + lpad(std::to_string(r.leechers), 8) + "  " +
               (r.error.empty() ? "-" : r.error) + "\n";
    return out;
}

std::string format_catalog(const std::vector<udp::CatalogEntry>& entries) {
    std::string out = pad("NAME", 32) + " " + lpad("SIZE", 16) + " " + lpad("SEEDERS", 8) + " " + lpad("LEECHERS", 8) +
                      "  INFOHASH\n";
    for (const auto& e : entries)
        out += pad(e.name, 32) + " " + lpad(format_bytes(static_cast<double>(e.total_size)), 16) + " " +
               lpad(std::to_string(e.seeders), 8) + " " + lpad(std::to_string(e.leechers), 8) + "  " +
               to_hex(e.info_hash.view()) + "\n";
    out += std::to_string(entries.size()) + " catalog entries\n";
    return out;
}

std::string format_scrape(const ConsoleScrape& s) {
    std::string out;
    if (!s.name.empty()) out += "name: " + s.name + "\n";
    out += "info_hash: " + to_hex(s.info_hash) + "\nseeders: " + std::to_string(s.seeders) +
           "\nleechers: " + std::to_string(s.leechers) + "\ncompleted: " + std::to_string(s.completed) + "\n";
    return out;
}

std::string client_of(std::string_view id) {
    std::string shown;
    for (char c : id.substr(0, 8)) shown += (c >= 0x20 && c < 0x7f) ? c : '.';
    if (id.empty()) return "?";
    // Azureus style: '-', two letters, four version characters, '-' (BEP 20).
    if (id.size() >= 8 && id[0] == '-' && id[7] == '-') {
        if (const char* n = client_name(id.substr(1, 2))) return std::string(n) + " (" + shown + ")";
    }
    if (id.substr(0, 3) == "A2-") return "aria2 (" + shown + ")";
    return shown;
}

std::string peer_flags(const PeerSummary& p) {
    std::string f;
    if (p.am_interested) f += p.peer_choking ? 'd' : 'D';
    if (p.peer_interested) f += p.am_choking ? 'u' : 'U';
    if (p.snubbed) f += 'S';
    f += p.incoming ? 'I' : 'O';
    if (p.utp) f += 'T';
    if (p.encrypted) f += 'E';
    return f;
}

std::string format_peers(const std::vector<PeerSummary>& peers) {
    std::string out = pad("ADDRESS", 24) + " " + pad("CLIENT", 28) + " " + lpad("HAVE", 6) + " " + lpad("DOWN", 12) +
                      " " + lpad("UP", 12) + " " + lpad("DOWNLOADED", 11) + " " + lpad("UPLOADED", 11) + "  FLAGS\n";
    for (const auto& p : peers)
        out += pad(bracketed(p.address), 24) + " " + pad(client_of(p.peer_id), 28) + " " + lpad(percent(p.have), 6) +
               " " + lpad(rate(p.down_rate), 12) + " " + lpad(rate(p.up_rate), 12) + " " +
               lpad(format_bytes(static_cast<double>(p.downloaded)), 11) + " " +
               lpad(format_bytes(static_cast<double>(p.uploaded)), 11) + "  " + peer_flags(p) + "\n";
    out += std::to_string(peers.size()) + (peers.size() == 1 ? " peer\n" : " peers\n");
    return out;
}

// ---- the console

PeerConsole::PeerConsole(uv_loop_t* loop, PeerConsoleCommands cmds, Write out)
    : cmds_(std::move(cmds)), out_(std::move(out)), reader_(
                                                        loop,
                                                        [this](std::string_view line, bool too_long) {
                                                            if (too_long)
                                                                write("line too long; ignored\n");
                                                            else
                                                                on_line(line);
                                                        },
                                                        [this] { on_eof(); }) {
    if (!out_) out_ = [](std::string_view t) { print_above_status_line(stdout, t); }; // above the live progress line
}

bool PeerConsole::start(int fd) {
    if (reader_.start(fd)) return true;
    log_info("console", "stdin is not readable; running without a console");
    return false;
}

void PeerConsole::on_eof() {
    // A peer started with </dev/null (or whose terminal went away) keeps sharing.
    log_info("console", "end of input; the peer keeps running (stop it with a signal)");
}

void PeerConsole::on_line(std::string_view line) {
    if (quitting_) return;
    if (busy_) {
        if (parse_peer_command(line).cmd == PeerCommand::quit) return execute(std::string(line));
        if (queued_.size() >= kMaxQueued) return write("busy: still waiting for the tracker; line ignored\n");
        queued_.emplace_back(line);
        return;
    }
    execute(std::string(line));
    drain();
}

void PeerConsole::drain() {
    while (!busy_ && !quitting_ && !queued_.empty()) {
        std::string l = std::move(queued_.front());
        queued_.pop_front();
        execute(l);
    }
}

void PeerConsole::finish_async(std::string text) {
    write(text);
    busy_ = false;
    if (!executing_) drain();
}

void PeerConsole::execute(const std::string& line) {
    ParsedPeerCommand c = parse_peer_command(line);
    executing_ = true;
    auto alive = life_.watch();
    switch (c.cmd) {
    case PeerCommand::none: break;
    case PeerCommand::invalid: write(c.error + "\n"); break;
    case PeerCommand::help: write(kPeerConsoleHelp); break;
    case PeerCommand::share: {
        auto r = cmds_.share(c.arg);
        write(r ? *r + "\n" : "share: " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::get: {
        auto r = cmds_.get(c.arg);
        write(r ? *r + "\n" : "get: " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::status: write(format_status(cmds_.status())); break;
    case PeerCommand::dht: write(cmds_.dht ? cmds_.dht() : std::string("dht: off (--no-dht)\n")); break;
    case PeerCommand::trackers:
        write(format_trackers(cmds_.trackers ? cmds_.trackers() : std::vector<ConsoleTrackerRow>{}));
        break;
    case PeerCommand::peers: {
        auto r = cmds_.peers(c.arg);
        write(r ? format_peers(*r) : "peers: " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::files: {
        if (!cmds_.files) {
            write("files: not available\n");
            break;
        }
        auto r = cmds_.files(c.arg);
        write(r ? format_files(*r) : "files: " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::want:
    case PeerCommand::skip: {
        const char* name = c.cmd == PeerCommand::want ? "want" : "skip";
        Result<std::string> r = make_error(name, "not available");
        if (cmds_.select_files) r = cmds_.select_files(c.arg, c.file_indices, c.cmd == PeerCommand::want);
        write(r ? *r + "\n" : std::string(name) + ": " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::limit:
    case PeerCommand::pause:
    case PeerCommand::resume:
    case PeerCommand::verify:
    case PeerCommand::remove: {
        const char* name = c.cmd == PeerCommand::limit    ? "limit"
                           : c.cmd == PeerCommand::pause  ? "pause"
                           : c.cmd == PeerCommand::resume ? "resume"
                           : c.cmd == PeerCommand::verify ? "verify"
                                                          : "remove";
        Result<std::string> r = make_error(name, "not available");
        if (c.cmd == PeerCommand::limit && cmds_.limit) r = cmds_.limit(c.arg, c.up, c.down);
        if (c.cmd == PeerCommand::pause && cmds_.pause) r = cmds_.pause(c.arg);
        if (c.cmd == PeerCommand::resume && cmds_.resume) r = cmds_.resume(c.arg);
        if (c.cmd == PeerCommand::verify && cmds_.verify) r = cmds_.verify(c.arg);
        if (c.cmd == PeerCommand::remove && cmds_.remove) r = cmds_.remove(c.arg, c.delete_files);
        write(r ? *r + "\n" : std::string(name) + ": " + r.error().str() + "\n");
        break;
    }
    case PeerCommand::list:
        busy_ = true;
        cmds_.list([this, alive](Result<std::vector<udp::CatalogEntry>> r) {
            if (!alive) return;
            finish_async(r ? format_catalog(*r) : "list: " + r.error().str() + "\n");
        });
        break;
    case PeerCommand::scrape:
        busy_ = true;
        cmds_.scrape(c.arg, [this, alive](Result<ConsoleScrape> r) {
            if (!alive) return;
            finish_async(r ? format_scrape(*r) : "scrape: " + r.error().str() + "\n");
        });
        break;
    case PeerCommand::quit:
        quitting_ = true;
        queued_.clear();
        write("stopping: announcing 'stopped' and saving resume data\n");
        close();
        executing_ = false;
        // Last thing: the node may tear everything down, this console included.
        if (cmds_.quit) cmds_.quit();
        return;
    }
    executing_ = false;
}

} // namespace p2p
