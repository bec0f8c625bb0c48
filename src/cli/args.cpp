#include "cli/args.hpp"

#include <charconv>

namespace p2p {

const std::vector<FlagInfo>& all_flags() {
    static const std::vector<FlagInfo> flags = {
        {"--help", nullptr, "print this help and exit"},
        {"--version", nullptr, "print the version and exit"},
        {"--make-torrent", "PATH", "make a .torrent of a file or folder (prints info hash and magnet link)"},
        {"--tracker", "[URL]", "alone: run a UDP tracker; with a URL: the tracker to use (repeatable)"},
        {"--piece-size", "BYTES", "piece size for --make-torrent (power of two, 16K..64M; default from size)"},
        {"--private", nullptr, "mark the torrent private (BEP 27)"},
        {"-o", "FILE", "where --make-torrent writes the .torrent (default NAME.torrent)"},
        {"--bind", "ADDR", "address to listen on (tracker: repeatable, default 0.0.0.0 and ::; peer: 0.0.0.0)"},
        {"--port", "N", "tracker: UDP port (default 6969); peer: TCP port (default 6881); 0 picks a free one"},
        {"--state", "FILE", "tracker: JSON state file, loaded at start and saved every minute and on exit"},
        {"--interval", "SECS", "tracker: announce interval given to clients (default 1800)"},
        {"--trust-ip-field", nullptr, "tracker: honour the IP field of announces (default: use the source address)"},
        {"--max-swarms", "N", "tracker: cap on stored swarms"},
        {"--max-peers", "N", "tracker: cap on stored peers over all swarms"},
        {"--peer", nullptr, "run a peer: seed --share DIR, download --get WHAT"},
        {"--share", "DIR", "peer: seed every top-level file and folder of DIR (downloads go there too)"},
        {"--get", "WHAT", "peer: download a .torrent file, magnet link, info hash or catalog name (repeatable)"},
        {"--into", "DIR", "peer: where downloads go (default: the --share folder, else .)"},
        {"--exit-when-done", nullptr, "peer: exit 0 once every --get is complete and verified"},
        {"--max-connections", "N", "peer: cap on peer connections over all torrents (default 400)"},
        {"--max-upload-rate", "BYTES", "peer: upload limit in bytes per second over all torrents (e.g. 2M)"},
        {"--max-memory", "BYTES", "peer and tracker: bound the memory that grows with load (e.g. 16M; at least 4M)"},
        {"--list", nullptr, "print the catalog of the tracker given with --tracker URL"},
        {"--scrape", "NAME|INFOHASH", "print seeders, leechers and completed counts from the tracker"},
        {"--timeout", "SECS", "give up on an unanswering tracker (or, with --exit-when-done, the download) after SECS"},
        {"--no-console", nullptr, "do not read commands from standard input"},
        {"--quiet", nullptr, "no progress bar or status lines"},
    };
    return flags;
}

std::string usage_text() {
    std::string s =
        "usage: p2pnode --make-torrent PATH --tracker URL [--tracker URL]... [--piece-size BYTES] [--private] [-o FILE]\n"
        "       p2pnode --tracker [--bind ADDR]... [--port N] [--state FILE] [--interval SECS] [--max-memory BYTES]\n"
        "       p2pnode --peer [--share DIR] [--get WHAT]... [--into DIR] [--tracker URL]... [--port N]\n"
        "                      [--bind ADDR] [--exit-when-done [--timeout SECS]] [--max-memory BYTES]\n"
        "       p2pnode --list --tracker URL [--timeout SECS]\n"
        "       p2pnode --scrape NAME|INFOHASH --tracker URL [--timeout SECS]\n"
        "\nflags:\n";
    for (const auto& f : all_flags()) {
        std::string left = std::string("  ") + f.name + (f.arg ? std::string(" ") + f.arg : "");
        if (left.size() < 30) left.resize(30, ' ');
        else left += "  ";
        s += left + f.help + "\n";
    }
    s += "\nSee man p2pnode for details.\n";
    return s;
}

Result<std::int64_t> parse_size(const std::string& text) {
    if (text.empty()) return make_error("size", "empty size");
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || v < 0) return make_error("size", "'" + text + "' is not a size");
    std::string suffix(end, text.data() + text.size());
    int shift = 0;
    if (suffix.empty()) shift = 0;
    else if (suffix == "k" || suffix == "K" || suffix == "KiB") shift = 10;
    else if (suffix == "m" || suffix == "M" || suffix == "MiB") shift = 20;
    else if (suffix == "g" || suffix == "G" || suffix == "GiB") shift = 30;
    else return make_error("size", "'" + text + "' has an unknown suffix (use K, M or G)");
    if (v > (INT64_MAX >> shift)) return make_error("size", "'" + text + "' is too large");
    return v << shift;
}

namespace {

Result<std::int64_t> parse_int(const std::string& flag, const std::string& text, std::int64_t lo, std::int64_t hi) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
        return make_error("", flag + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) +
                                  ", got '" + text + "'");
    return v;
}

Status set_mode(CliOptions& o, Mode m, const std::string& flag) {
    if (o.mode != Mode::none && o.mode != m) return make_error("", flag + " cannot be combined with another mode");
    o.mode = m;
    return ok_status();
}

} // namespace

Result<CliOptions> parse_args(const std::vector<std::string>& args) {
    CliOptions o;
    bool tracker_server = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        bool has_next = i + 1 < args.size();
        auto value = [&](std::string& out) -> Status {
            if (!has_next) return make_error("", a + " needs a value");
            out = args[++i];
            return ok_status();
        };
        std::string v;
        Status st = ok_status();
        if (a == "--help" || a == "-h") st = set_mode(o, Mode::help, a);
        else if (a == "--version") st = set_mode(o, Mode::version, a);
        else if (a == "--make-torrent") {
            if (!(st = value(o.make_path))) return st.error();
            st = set_mode(o, Mode::make_torrent, a);
        } else if (a == "--tracker") {
            // "--tracker URL" names a tracker; "--tracker" followed by a flag or nothing runs one.
            if (has_next && args[i + 1].rfind("-", 0) != 0) o.tracker_urls.push_back(args[++i]);
            else tracker_server = true;
        } else if (a == "--piece-size") {
            if (!(st = value(v))) return st.error();
            auto n = parse_size(v);
            if (!n) return make_error("", "--piece-size: " + n.error().what);
            o.piece_size = *n;
        } else if (a == "--private") o.is_private = true;
        else if (a == "-o") st = value(o.output);
        else if (a == "--bind") {
            if (!(st = value(v))) return st.error();
            o.bind.push_back(v);
        } else if (a == "--port") {
            if (!(st = value(v))) return st.error();
            auto n = parse_int(a, v, 0, 65535);
            if (!n) return n.error();
            o.port = static_cast<int>(*n);
        } else if (a == "--state") st = value(o.state_file);
        else if (a == "--interval") {
            if (!(st = value(v))) return st.error();
            auto n = parse_int(a, v, 10, 86400);
            if (!n) return n.error();
            o.interval = static_cast<int>(*n);
        } else if (a == "--trust-ip-field") o.trust_ip_field = true;
        else if (a == "--max-swarms" || a == "--max-peers") {
            if (!(st = value(v))) return st.error();
            auto n = parse_int(a, v, 1, INT64_C(1) << 40);
            if (!n) return n.error();
            (a == "--max-swarms" ? o.max_swarms : o.max_peers) = *n;
        } else if (a == "--list") st = set_mode(o, Mode::list, a);
        else if (a == "--scrape") {
            if (!(st = value(o.scrape_what))) return st.error();
            st = set_mode(o, Mode::scrape, a);
        } else if (a == "--timeout") {
            if (!(st = value(v))) return st.error();
            char* end = nullptr;
            o.timeout_s = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end || o.timeout_s <= 0 || o.timeout_s > 86400)
                return make_error("", "--timeout needs a number of seconds, got '" + v + "'");
        } else if (a == "--peer") st = set_mode(o, Mode::peer, a);
        else if (a == "--share") st = value(o.share_dir);
        else if (a == "--get") {
            if (!(st = value(v))) return st.error();
            o.gets.push_back(v);
        } else if (a == "--into") st = value(o.into_dir);
        else if (a == "--exit-when-done") o.exit_when_done = true;
        else if (a == "--max-connections") {
            if (!(st = value(v))) return st.error();
            auto n = parse_int(a, v, 1, 100000);
            if (!n) return n.error();
            o.max_connections = *n;
        } else if (a == "--max-upload-rate") {
            if (!(st = value(v))) return st.error();
            auto n = parse_size(v);
            if (!n || *n <= 0) return make_error("", "--max-upload-rate needs a positive size such as 2M, got '" + v + "'");
            o.max_upload_rate = *n;
        } else if (a == "--max-memory") {
            if (!(st = value(v))) return st.error();
            auto n = parse_size(v);
            if (!n || *n <= 0) return make_error("", "--max-memory needs a size such as 16M, got '" + v + "'");
            if (*n < 4 << 20) return make_error("", "--max-memory " + v + " is below the minimum of 4M");
            o.max_memory = *n;
        } else if (a == "--quiet") o.quiet = true;
        else if (a == "--no-console") o.no_console = true;
        else return make_error("", "unknown flag " + a + " (see p2pnode --help)");
        if (!st) return st.error();
    }
    if (tracker_server) {
        if (auto st = set_mode(o, Mode::tracker, "--tracker"); !st) return st.error();
    }
    if (o.mode == Mode::none) return make_error("", "nothing to do: give a mode such as --make-torrent, --tracker or --list (see --help)");
    if (o.mode == Mode::peer && o.share_dir.empty() && o.gets.empty())
        return make_error("", "--peer needs --share DIR or --get FILE.torrent");
    if (o.mode == Mode::peer && o.bind.size() > 1) return make_error("", "--peer takes one --bind address");
    if (o.max_memory && o.mode != Mode::peer && o.mode != Mode::tracker)
        return make_error("", "--max-memory applies to --peer and --tracker");
    if ((o.mode == Mode::list || o.mode == Mode::scrape) && o.tracker_urls.empty())
        return make_error("", (o.mode == Mode::list ? std::string("--list") : std::string("--scrape")) +
                                  " needs --tracker URL");
    return o;
}

} // namespace p2p
