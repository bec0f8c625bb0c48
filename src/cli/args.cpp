#include "cli/args.hpp"

#include <charconv>
#include <cstdlib>
#include <map>

#include "base/bytes.hpp"
#include "proto/metainfo.hpp" // kMinPieceLength, kMaxPieceLength: the maker's rule for piece sizes

namespace p2p {

namespace {
constexpr unsigned kMake = mode_bit(Mode::make_torrent);
constexpr unsigned kTracker = mode_bit(Mode::tracker);
constexpr unsigned kPeer = mode_bit(Mode::peer);
constexpr unsigned kList = mode_bit(Mode::list);
constexpr unsigned kScrape = mode_bit(Mode::scrape);
constexpr unsigned kWorking = kMake | kTracker | kPeer | kList | kScrape; // every mode but --help/--version
} // namespace

const char* mode_flag(Mode m) {
    switch (m) {
    case Mode::help: return "--help";
    case Mode::version: return "--version";
    case Mode::make_torrent: return "--make-torrent";
    case Mode::tracker: return "--tracker";
    case Mode::list: return "--list";
    case Mode::scrape: return "--scrape";
    case Mode::peer: return "--peer";
    case Mode::none: break;
    }
    return "no mode";
}

const std::vector<FlagInfo>& all_flags() {
    // --tracker is two flags in one: alone it selects the tracker mode (handled in parse_args); with a URL it
    // names a tracker, and the modes below are those of the URL form.
    static const std::vector<FlagInfo> flags = {
        {"--help", nullptr, "print this help and exit", mode_bit(Mode::help), false},
        {"--version", nullptr, "print the version and exit", mode_bit(Mode::version), false},
        {"--make-torrent", "PATH", "make a .torrent of a file or folder (prints info hash and magnet link)", kMake,
         false},
        {"--tracker", "[URL]",
         "alone: run a UDP tracker; with a udp://, http:// or https:// URL: a tracker to use (repeatable)",
         kMake | kPeer | kList | kScrape, true},
        {"--piece-size", "BYTES", "make-torrent: piece size (power of two, 16K..64M; default from size)", kMake, false},
        {"--private", nullptr, "make-torrent: mark the torrent private (BEP 27)", kMake, false},
        {"-o", "FILE", "make-torrent: where the .torrent goes (default NAME.torrent; never replaced without --force)",
         kMake, false},
        {"--force", nullptr, "make-torrent: replace the output file if it exists", kMake, false},
        {"--bind", "ADDR", "address to listen on (tracker: repeatable, default 0.0.0.0 and ::; peer: 0.0.0.0)",
         kTracker | kPeer, true},
        {"--port", "N", "tracker: UDP port (default 6969); peer: TCP port (default 6881); 0 picks a free one",
         kTracker | kPeer, false},
        {"--state", "FILE", "tracker: JSON state file, loaded at start and saved every minute and on exit", kTracker,
         false},
        {"--interval", "SECS", "tracker: announce interval given to clients (default 1800)", kTracker, false},
        {"--trust-ip-field", nullptr, "tracker: honour the IP field of announces (default: use the source address)",
         kTracker, false},
        {"--max-swarms", "N", "tracker: cap on stored swarms", kTracker, false},
        {"--max-peers", "N", "tracker: cap on stored peers over all swarms", kTracker, false},
        {"--peer", nullptr, "run a peer: seed --share DIR, download --get WHAT", kPeer, false},
        {"--share", "DIR", "peer: seed every top-level file and folder of DIR (downloads go there too)", kPeer, false},
        {"--get", "WHAT", "peer: download a .torrent file, magnet link, info hash or catalog name (repeatable)", kPeer,
         true},
        {"--select-file", "SPEC",
         "peer: fetch only these files of each --get: 0-based indices (0,2,5) or one path as in the torrent "
         "(repeatable)",
         kPeer, true},
        {"--into", "DIR", "peer: where downloads go (default: the --share folder, else .)", kPeer, false},
        {"--overwrite", nullptr,
         "peer: a download may replace a file that is not its own (default: a free name, NAME.1.EXT)", kPeer, false},
        {"--encryption", "MODE",
         "peer: allow (default: plaintext first, MSE if refused), prefer (MSE first, plaintext fallback), require "
         "(RC4 only) or disable (plaintext only)",
         kPeer, false},
        {"--no-utp", nullptr, "peer: TCP only (default: uTP and TCP, outgoing uTP first, on the --port number)", kPeer,
         false},
        {"--no-tcp", nullptr, "peer: uTP only (no TCP listener, no TCP connections)", kPeer, false},
        {"--no-dht", nullptr, "peer: no Mainline DHT (BEP 5; default: a DHT node on the --port UDP socket)", kPeer,
         false},
        {"--dht-bootstrap", "HOST:PORT",
         "peer: a DHT node to join through (repeatable; default the public routers, plus the nodes saved at exit)",
         kPeer, true},
        {"--dht-port", "N", "tracker: also run a DHT node on UDP port N (a bootstrap node for its peers)", kTracker,
         false},
        {"--http-port", "N",
         "tracker: also serve HTTP on TCP port N: BEP 3 /announce, BEP 48 /scrape, /catalog, /stats, /metrics",
         kTracker, false},
        {"--no-lsd", nullptr, "peer: no Local Service Discovery (BEP 14 multicast on the LAN)", kPeer, false},
        {"--ca-file", "FILE",
         "peer, scrape: trust the CA certificates in FILE for https:// trackers (default: the system store)",
         kPeer | kScrape | kList, false},
        {"--exit-when-done", nullptr, "peer: exit 0 once every --get is complete and verified", kPeer, false},
        {"--rpc-port", "N",
         "peer: serve the Transmission RPC (transmission-remote), /stats and /metrics on TCP port N (0 picks one)",
         kPeer, false},
        {"--rpc-bind", "ADDR", "peer: the RPC's address (default 127.0.0.1: this machine only)", kPeer, false},
        {"--rpc-auth-file", "FILE", "peer: the RPC requires HTTP basic auth with the user:password line in FILE",
         kPeer, false},
        {"--max-connections", "N", "peer: cap on peer connections over all torrents (default 400)", kPeer, false},
        {"--max-upload-rate", "BYTES", "peer: upload limit in bytes per second over all torrents (e.g. 2M)", kPeer,
         false},
        {"--max-download-rate", "BYTES", "peer: download limit in bytes per second over all torrents (e.g. 2M)", kPeer,
         false},
        {"--max-memory", "BYTES", "peer and tracker: bound the memory that grows with load (e.g. 16M; at least 4M)",
         kTracker | kPeer, false},
        {"--list", nullptr, "print the catalog of the tracker given with --tracker URL", kList, false},
        {"--scrape", "NAME|INFOHASH", "print seeders, leechers and completed counts from the tracker", kScrape, false},
        {"--timeout", "SECS",
         "list, scrape: give up on a silent tracker after SECS (default 10); peer --exit-when-done: on the download",
         kList | kScrape | kPeer, false},
        {"--no-console", nullptr, "tracker, peer: do not read commands from standard input", kTracker | kPeer, false},
        {"--quiet", nullptr, "errors and the final summary only (no progress bar, status or info lines)", kWorking,
         false},
        {"--log-level", "LEVEL", "debug, info, warn or error: the least severe log line printed (default info)",
         kWorking, false},
        {"-v", nullptr, "verbose: the same as --log-level debug", kWorking, false},
        {"--log-file", "FILE", "append log lines to FILE instead of standard error (reopened on SIGHUP)", kWorking,
         false},
        {"--config", "FILE",
         "read flags from a JSON object in FILE (keys: the long flags without dashes); the command line wins", kWorking,
         false},
    };
    return flags;
}

const FlagInfo* find_flag(std::string_view name) {
    for (const auto& f : all_flags())
        if (name == f.name) return &f;
    return nullptr;
}

std::string usage_text() {
    std::string s =
        "usage: p2pnode --make-torrent PATH --tracker URL [--tracker URL]... [--piece-size BYTES] [--private]\n"
        "                              [-o FILE] [--force]\n"
        "       p2pnode --tracker [--bind ADDR]... [--port N] [--state FILE] [--interval SECS] [--max-memory BYTES]\n"
        "                         [--dht-port N] [--http-port N]\n"
        "       p2pnode --peer [--share DIR] [--get WHAT]... [--into DIR] [--tracker URL]... [--port N]\n"
        "                      [--bind ADDR] [--exit-when-done [--timeout SECS]] [--overwrite] [--max-memory BYTES]\n"
        "                      [--encryption allow|prefer|require|disable] [--no-utp | --no-tcp]\n"
        "                      [--no-dht] [--dht-bootstrap HOST:PORT]... [--no-lsd] [--ca-file FILE]\n"
        "                      [--rpc-port N [--rpc-bind ADDR] [--rpc-auth-file FILE]]\n"
        "       p2pnode --list --tracker URL [--timeout SECS]\n"
        "       p2pnode --scrape NAME|INFOHASH --tracker URL [--timeout SECS]\n"
        "every mode also takes [--quiet] [--log-level LEVEL | -v] [--log-file FILE] [--config FILE]\n"
        "\nflags:\n";
    for (const auto& f : all_flags()) {
        std::string left = std::string("  ") + f.name + (f.arg ? std::string(" ") + f.arg : "");
        if (left.size() < 30)
            left.resize(30, ' ');
        else
            left += "  ";
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
    if (suffix.empty())
        shift = 0;
    else if (suffix == "k" || suffix == "K" || suffix == "KiB")
        shift = 10;
    else if (suffix == "m" || suffix == "M" || suffix == "MiB")
        shift = 20;
    else if (suffix == "g" || suffix == "G" || suffix == "GiB")
        shift = 30;
    else
        return make_error("size", "'" + text + "' has an unknown suffix (use K, M or G)");
    if (v > (INT64_MAX >> shift)) return make_error("size", "'" + text + "' is too large");
    return v << shift;
}

Status check_tracker_url(std::string_view url) {
    auto bad = [](std::string why) { return make_error("", std::move(why)); };
    for (char c : url) {
        auto b = static_cast<unsigned char>(c);
        // They would end up in an HTTP request line, and no host or port contains them.
        if (b <= 0x20 || b >= 0x7f) return bad("space, control or non-ASCII byte in the URL");
    }
    std::string_view rest;
    bool udp = false;
    // udp:// is matched exactly as the UDP tracker client does (src/tracker/udp_client.cpp); http and https
    // case-insensitively as the HTTP tracker client does (src/proto/http_tracker.cpp).
    if (url.substr(0, 6) == "udp://") {
        udp = true;
        rest = url.substr(6);
    } else if (starts_with_nocase(url, "http://"))
        rest = url.substr(7);
    else if (starts_with_nocase(url, "https://"))
        rest = url.substr(8);
    else
        return bad("not a udp://HOST:PORT, http:// or https:// URL");
    std::size_t auth_end = rest.find_first_of(udp ? "/" : "/?#");
    std::string_view auth = rest.substr(0, auth_end);
    if (auth.find('@') != std::string_view::npos) return bad("user info in a tracker URL is not supported");
    std::string_view host, port;
    bool has_port = false;
    if (!auth.empty() && auth.front() == '[') {
        auto close = auth.find(']');
        if (close == std::string_view::npos) return bad("unclosed '[' around the IPv6 address");
        host = auth.substr(1, close - 1);
        if (host.find(':') == std::string_view::npos ||
            host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos)
            return bad("bad IPv6 address '" + std::string(host) + "'");
        std::string_view after = auth.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("unexpected text after the IPv6 address");
            port = after.substr(1);
            has_port = true;
        }
    } else {
        auto colon = auth.rfind(':');
        host = auth.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = auth.substr(colon + 1);
            has_port = true;
        }
        if (host.find_first_of("[]:") != std::string_view::npos)
            return bad("bad host '" + std::string(host) + "' (put IPv6 addresses in brackets)");
    }
    if (host.empty()) return bad("missing host");
    if (udp && !has_port) return bad("missing port (udp://HOST:PORT)");
    if (has_port && parse_port(port) == 0) return bad("bad port '" + std::string(port) + "' (1..65535)");
    return ok_status();
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
    if (o.mode == m) return make_error("", flag + " given twice");
    if (o.mode != Mode::none) return make_error("", flag + " cannot be combined with another mode");
    o.mode = m;
    return ok_status();
}

// "--peer", "--tracker and --peer", "--make-torrent, --peer, --list and --scrape"
std::string mode_list(unsigned modes) {
    static constexpr Mode kOrder[] = {Mode::make_torrent, Mode::tracker, Mode::peer,   Mode::list,
                                      Mode::scrape,       Mode::help,    Mode::version};
    std::vector<std::string> names;
    for (Mode m : kOrder)
        if (modes & mode_bit(m)) names.emplace_back(mode_flag(m));
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) s += i + 1 == names.size() ? " and " : ", ";
        s += names[i];
    }
    return s;
}

} // namespace

namespace {

// What each flag does to the options, by name; `v` is its value ("" for a switch). --tracker is handled in
// parse_args (its two forms). Every flag of kFlags but --tracker has exactly one row.
using Apply = Status (*)(CliOptions& o, const std::string& flag, const std::string& v);
struct Setter {
    const char* name;
    Apply apply;
};

Status set_int(const std::string& flag, const std::string& v, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
    auto n = parse_int(flag, v, lo, hi);
    if (!n) return n.error();
    out = *n;
    return ok_status();
}

Status set_piece_size(CliOptions& o, const std::string&, const std::string& v) {
    auto n = parse_size(v);
    if (!n) return make_error("", "--piece-size: " + n.error().what);
    // The maker's rule (src/maker/torrent_maker.cpp), checked here so a bad size is a usage error.
    if (*n < kMinPieceLength || *n > kMaxPieceLength || (*n & (*n - 1)) != 0)
        return make_error("", "--piece-size " + v + " is not a power of two in 16K..64M");
    o.piece_size = *n;
    return ok_status();
}

Status set_timeout(CliOptions& o, const std::string&, const std::string& v) {
    char* end = nullptr;
    o.timeout_s = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end || !(o.timeout_s > 0) || o.timeout_s > 86400)
        return make_error("", "--timeout needs a number of seconds, got '" + v + "'");
    return ok_status();
}

Status set_rate(CliOptions& o, const std::string&, const std::string& v) {
    auto n = parse_size(v);
    if (!n || *n <= 0) return make_error("", "--max-upload-rate needs a positive size such as 2M, got '" + v + "'");
    o.max_upload_rate = *n;
    return ok_status();
}

Status set_download_rate(CliOptions& o, const std::string&, const std::string& v) {
    auto n = parse_size(v);
    if (!n || *n <= 0) return make_error("", "--max-download-rate needs a positive size such as 2M, got '" + v + "'");
    o.max_download_rate = *n;
    return ok_status();
}

Status set_memory(CliOptions& o, const std::string&, const std::string& v) {
    auto n = parse_size(v);
    if (!n || *n <= 0) return make_error("", "--max-memory needs a size such as 16M, got '" + v + "'");
    if (*n < 4 << 20) return make_error("", "--max-memory " + v + " is below the minimum of 4M");
    o.max_memory = *n;
    return ok_status();
}

Status set_log_level_flag(CliOptions& o, const std::string&, const std::string& v) {
    o.log_level = parse_log_level(v);
    if (!o.log_level) return make_error("", "--log-level " + v + ": use debug, info, warn or error");
    return ok_status();
}

Status set_encryption_flag(CliOptions& o, const std::string&, const std::string& v) {
    if (v == "allow")
        o.encryption = EncryptionMode::allow;
    else if (v == "prefer")
        o.encryption = EncryptionMode::prefer;
    else if (v == "require")
        o.encryption = EncryptionMode::require;
    else if (v == "disable")
        o.encryption = EncryptionMode::disable;
    else
        return make_error("", "--encryption " + v + ": use allow, prefer, require or disable");
    return ok_status();
}

Status set_log_file_flag(CliOptions& o, const std::string&, const std::string& v) {
    if (v.empty()) return make_error("", "--log-file needs a file name");
    o.log_file = v;
    return ok_status();
}

#define P2P_SWITCH(field)                                                                                              \
    [](CliOptions& o, const std::string&, const std::string&) {                                                        \
        o.field = true;                                                                                                \
        return ok_status();                                                                                            \
    }
#define P2P_STRING(field)                                                                                              \
    [](CliOptions& o, const std::string&, const std::string& v) {                                                      \
        o.field = v;                                                                                                   \
        return ok_status();                                                                                            \
    }
#define P2P_MODE(m) [](CliOptions& o, const std::string& f, const std::string&) { return set_mode(o, m, f); }

const Setter kSetters[] = {
    {"--help", P2P_MODE(Mode::help)},
    {"--version", P2P_MODE(Mode::version)},
    {"--make-torrent",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         o.make_path = v;
         return set_mode(o, Mode::make_torrent, f);
     }},
    {"--piece-size", set_piece_size},
    {"--private", P2P_SWITCH(is_private)},
    {"-o", P2P_STRING(output)},
    {"--force", P2P_SWITCH(force)},
    {"--bind",
     [](CliOptions& o, const std::string&, const std::string& v) {
         o.bind.push_back(v);
         return ok_status();
     }},
    {"--port",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         std::int64_t n = 0;
         if (auto st = set_int(f, v, 0, 65535, n); !st) return st;
         o.port = static_cast<int>(n);
         return ok_status();
     }},
    {"--state", P2P_STRING(state_file)},
    {"--interval",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         std::int64_t n = 0;
         if (auto st = set_int(f, v, 10, 86400, n); !st) return st;
         o.interval = static_cast<int>(n);
         return ok_status();
     }},
    {"--trust-ip-field", P2P_SWITCH(trust_ip_field)},
    {"--max-swarms", [](CliOptions& o, const std::string& f,
                        const std::string& v) { return set_int(f, v, 1, INT64_C(1) << 40, o.max_swarms); }},
    {"--max-peers", [](CliOptions& o, const std::string& f,
                       const std::string& v) { return set_int(f, v, 1, INT64_C(1) << 40, o.max_peers); }},
    {"--list", P2P_MODE(Mode::list)},
    {"--scrape",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         o.scrape_what = v;
         return set_mode(o, Mode::scrape, f);
     }},
    {"--timeout", set_timeout},
    {"--peer", P2P_MODE(Mode::peer)},
    {"--share", P2P_STRING(share_dir)},
    {"--get",
     [](CliOptions& o, const std::string&, const std::string& v) {
         o.gets.push_back(v);
         return ok_status();
     }},
    {"--select-file",
     [](CliOptions& o, const std::string&, const std::string& v) {
         o.select_files.push_back(v);
         return ok_status();
     }},
    {"--into", P2P_STRING(into_dir)},
    {"--overwrite", P2P_SWITCH(overwrite)},
    {"--encryption", set_encryption_flag},
    {"--no-utp", P2P_SWITCH(no_utp)},
    {"--no-tcp", P2P_SWITCH(no_tcp)},
    {"--no-dht", P2P_SWITCH(no_dht)},
    {"--dht-bootstrap",
     [](CliOptions& o, const std::string&, const std::string& v) -> Status {
         if (v.rfind(':') == std::string::npos || v.rfind(':') + 1 == v.size())
             return make_error("", "--dht-bootstrap " + v + ": use HOST:PORT");
         std::int64_t n = 0;
         if (auto st = set_int("--dht-bootstrap port", v.substr(v.rfind(':') + 1), 1, 65535, n); !st) return st;
         o.dht_bootstrap.push_back(v);
         return ok_status();
     }},
    {"--dht-port",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         std::int64_t n = 0;
         if (auto st = set_int(f, v, 0, 65535, n); !st) return st;
         o.dht_port = static_cast<int>(n);
         return ok_status();
     }},
    {"--http-port",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         std::int64_t n = 0;
         if (auto st = set_int(f, v, 0, 65535, n); !st) return st;
         o.http_port = static_cast<int>(n);
         return ok_status();
     }},
    {"--no-lsd", P2P_SWITCH(no_lsd)},
    {"--ca-file", P2P_STRING(ca_file)},
    {"--exit-when-done", P2P_SWITCH(exit_when_done)},
    {"--rpc-port",
     [](CliOptions& o, const std::string& f, const std::string& v) {
         std::int64_t n = 0;
         if (auto st = set_int(f, v, 0, 65535, n); !st) return st;
         o.rpc_port = static_cast<int>(n);
         return ok_status();
     }},
    {"--rpc-bind", P2P_STRING(rpc_bind)},
    {"--rpc-auth-file", P2P_STRING(rpc_auth_file)},
    {"--max-connections", [](CliOptions& o, const std::string& f,
                             const std::string& v) { return set_int(f, v, 1, 100000, o.max_connections); }},
    {"--max-upload-rate", set_rate},
    {"--max-download-rate", set_download_rate},
    {"--max-memory", set_memory},
    {"--quiet", P2P_SWITCH(quiet)},
    {"--no-console", P2P_SWITCH(no_console)},
    {"--log-level", set_log_level_flag},
    {"-v",
     [](CliOptions& o, const std::string&, const std::string&) {
         o.log_level = LogLevel::debug;
         return ok_status();
     }},
    {"--log-file", set_log_file_flag},
    // main() replaces --config FILE by the file's flags (cli/config_file.hpp) before parsing.
    {"--config",
     [](CliOptions&, const std::string&, const std::string&) {
         return Status(make_error("", "--config is read before parse_args (a bug)"));
     }},
};

#undef P2P_SWITCH
#undef P2P_STRING
#undef P2P_MODE

Apply setter_of(std::string_view name) {
    for (const auto& s : kSetters)
        if (name == s.name) return s.apply;
    return nullptr;
}

// After parsing: every flag given applies to the mode (none is silently dropped), and the mode has what it needs.
Status check_mode(CliOptions& o, const std::vector<std::string>& given, const std::map<std::string, int>& count) {
    if (o.mode == Mode::none)
        return make_error("", "nothing to do: give a mode such as --make-torrent, --tracker or --list (see --help)");
    const unsigned mode = mode_bit(o.mode);
    for (const auto& name : given) {
        const FlagInfo* info = find_flag(name == "--tracker URL" ? "--tracker" : name);
        if (!(info->modes & mode))
            return make_error("", name + " applies to " + mode_list(info->modes) + ", not " + mode_flag(o.mode));
    }
    if (o.mode == Mode::peer && o.share_dir.empty() && o.gets.empty() && o.rpc_port < 0)
        return make_error("", "--peer needs --share DIR, --get FILE.torrent or --rpc-port N");
    if (o.rpc_port < 0 && (count.count("--rpc-bind") || count.count("--rpc-auth-file")))
        return make_error("", std::string(count.count("--rpc-bind") ? "--rpc-bind" : "--rpc-auth-file") +
                                  " needs --rpc-port N");
    if (!o.select_files.empty() && o.gets.empty()) return make_error("", "--select-file applies to --get downloads");
    if (o.mode == Mode::peer && o.bind.size() > 1) return make_error("", "--peer takes one --bind address");
    if (o.no_utp && o.no_tcp) return make_error("", "--no-utp and --no-tcp together leave no way to reach a peer");
    if (o.no_dht && !o.dht_bootstrap.empty()) return make_error("", "--dht-bootstrap and --no-dht contradict");
    if (o.mode == Mode::peer && count.count("--timeout") && !o.exit_when_done)
        return make_error("", "--timeout applies to --peer only with --exit-when-done");
    if (o.mode == Mode::list || o.mode == Mode::scrape) {
        const std::string flag = mode_flag(o.mode);
        if (o.tracker_urls.empty()) return make_error("", flag + " needs --tracker URL");
        if (o.tracker_urls.size() > 1) return make_error("", flag + " asks one tracker: give --tracker URL once");
        if (o.timeout_s == 0) o.timeout_s = kDefaultQueryTimeoutS;
    }
    if (o.mode == Mode::make_torrent && o.tracker_urls.empty())
        return make_error("", "--make-torrent needs at least one --tracker URL");
    return ok_status();
}

} // namespace

Result<CliOptions> parse_args(const std::vector<std::string>& args) {
    CliOptions o;
    bool tracker_server = false;
    // Every flag given, in order of first appearance, with how often; the URL form of --tracker is counted as
    // "--tracker URL" (its server form selects the mode and is not a flag of any mode).
    std::vector<std::string> given;
    std::map<std::string, int> count;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const FlagInfo* info = find_flag(a == "-h" ? "--help" : a);
        if (!info) return make_error("", "unknown flag " + a + " (see p2pnode --help)");
        const std::string name = info->name;
        const bool has_next = i + 1 < args.size();
        // "--tracker URL" names a tracker; "--tracker" followed by a flag or nothing runs one.
        const bool tracker_url = name == "--tracker" && has_next && args[i + 1].rfind("-", 0) != 0;
        const std::string counted = tracker_url ? "--tracker URL" : name;
        if (name != "--tracker" || tracker_url)
            if (count[counted]++ == 0) given.push_back(counted);
        if (!info->repeatable && count[name] > 1) return make_error("", name + " given twice");
        if (name == "-v" && count.count("--log-level")) return make_error("", "-v cannot be combined with --log-level");
        if (name == "--log-level" && count.count("-v")) return make_error("", "--log-level cannot be combined with -v");
        if (name == "--tracker") {
            if (!tracker_url) {
                if (tracker_server) return make_error("", "--tracker given twice");
                tracker_server = true;
                continue;
            }
            const std::string& url = args[++i];
            if (auto ok = check_tracker_url(url); !ok)
                return make_error("", "--tracker " + url + ": " + ok.error().what);
            o.tracker_urls.push_back(url);
            continue;
        }
        std::string v;
        if (info->arg) {
            if (!has_next) return make_error("", a + " needs a value");
            v = args[++i];
        }
        Apply apply = setter_of(name);
        if (!apply) return make_error("", name + " is in the flag table but not handled (a bug)");
        if (auto st = apply(o, a, v); !st) return st.error();
    }
    if (tracker_server) {
        if (auto st = set_mode(o, Mode::tracker, "--tracker"); !st) return st.error();
    }
    if (auto st = check_mode(o, given, count); !st) return st.error();
    return o;
}

} // namespace p2p
