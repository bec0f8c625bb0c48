// Command-line parsing. One table (kFlags in args.cpp) is the single source of every flag: --help is printed
// from it, it says which modes each flag applies to and whether it may be repeated (parse_args refuses the rest,
// so no flag is ever silently dropped), and a test checks that each flag in it appears in man/p2pnode.1.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "p2pnode/peer.hpp" // EncryptionMode

namespace p2p {

enum class Mode { none, help, version, make_torrent, tracker, list, scrape, peer };
constexpr unsigned mode_bit(Mode m) { return 1u << static_cast<unsigned>(m); }
// "--make-torrent", "--tracker" (the server), "--peer", ...: how a mode is named in messages.
const char* mode_flag(Mode m);

// --list and --scrape without --timeout: give up on an unanswering tracker after this long instead of waiting
// through BEP 15's whole retransmit schedule (15 * 2^n s, about two hours) with nothing printed.
inline constexpr double kDefaultQueryTimeoutS = 10;

struct CliOptions {
    Mode mode = Mode::none;
    // --make-torrent
    std::string make_path;
    std::int64_t piece_size = 0; // 0: the maker's default; else checked: power of two in 16K..64M
    bool is_private = false;
    std::string output;
    bool force = false; // replace an existing output file
    // shared by several modes: tracker URLs to announce to / ask (syntax checked: udp, http or https)
    std::vector<std::string> tracker_urls;
    // --tracker (server)
    std::vector<std::string> bind;
    int port = -1; // -1: the mode's default
    std::string state_file;
    int interval = 0;
    bool trust_ip_field = false;
    std::int64_t max_swarms = 0, max_peers = 0;
    int dht_port = -1; // --dht-port: -1 none
    int http_port = -1; // --http-port: -1 none
    // --list / --scrape
    std::string scrape_what;
    double timeout_s = 0; // --list/--scrape: kDefaultQueryTimeoutS unless given
    // --peer
    std::string share_dir;
    std::vector<std::string> gets;
    std::vector<std::string> select_files; // --select-file (repeatable)
    std::string into_dir;
    bool exit_when_done = false;
    std::int64_t max_connections = 0;
    std::int64_t max_upload_rate = 0;
    std::int64_t max_download_rate = 0;
    bool overwrite = false; // a download may replace a file that does not belong to it
    EncryptionMode encryption = EncryptionMode::allow;
    bool no_utp = false, no_tcp = false;
    bool no_dht = false, no_lsd = false;
    std::vector<std::string> dht_bootstrap; // HOST:PORT each (port checked)
    std::string ca_file;                    // --ca-file: CA bundle for https:// trackers (peer, scrape, list)
    int rpc_port = -1;                      // --rpc-port: -1 none
    std::string rpc_bind;                   // --rpc-bind: empty: 127.0.0.1
    std::string rpc_auth_file;              // --rpc-auth-file
    // --peer and --tracker (server): memory budget in bytes, 0 = none
    std::int64_t max_memory = 0;
    // common
    bool quiet = false;
    bool no_console = false;
    std::optional<LogLevel> log_level; // --log-level or -v; unset: info, or error with --quiet
    std::string log_file;              // empty: stderr
};

struct FlagInfo {
    const char* name; // "--port"
    const char* arg;  // "N", or nullptr for a switch
    const char* help;
    unsigned modes;  // mode_bit()s of the modes it applies to (a mode flag: its own mode)
    bool repeatable; // may be given more than once (in every mode it applies to unless parse_args says so)
};
const std::vector<FlagInfo>& all_flags();
// The table's entry for a flag by its exact name ("--port", "-o"), or null.
const FlagInfo* find_flag(std::string_view name);

// Parses argv (without argv[0]). Errors are one line, e.g. "unknown flag --foo", "--port needs a value",
// "--share given twice" or "--piece-size applies to --make-torrent, not --peer".
Result<CliOptions> parse_args(const std::vector<std::string>& args);
std::string usage_text();
// "16M", "256k", "1048576" -> bytes. Suffixes K/M/G (powers of 1024), case-insensitive.
Result<std::int64_t> parse_size(const std::string& text);
// Syntax of a tracker URL, no lookup: udp://HOST:PORT[/path], http://HOST[:PORT][/path] or https://...; HOST
// non-empty (IPv6 literals in brackets), PORT 1..65535. The error says why, e.g. "missing port".
Status check_tracker_url(std::string_view url);

} // namespace p2p
