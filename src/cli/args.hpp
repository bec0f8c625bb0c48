// Command-line parsing. One table (kFlags in args.cpp) is the single source of every flag: --help is printed
// from it and a test checks that each flag in it appears in man/p2pnode.1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace p2p {

enum class Mode { none, help, version, make_torrent, tracker, list, scrape, peer };

struct CliOptions {
    Mode mode = Mode::none;
    // --make-torrent
    std::string make_path;
    std::int64_t piece_size = 0;
    bool is_private = false;
    std::string output;
    // shared by several modes: tracker URLs to announce to / ask
    std::vector<std::string> tracker_urls;
    // --tracker (server)
    std::vector<std::string> bind;
    int port = -1; // -1: the mode's default
    std::string state_file;
    int interval = 0;
    bool trust_ip_field = false;
    std::int64_t max_swarms = 0, max_peers = 0;
    // --list / --scrape
    std::string scrape_what;
    double timeout_s = 0;
    // --peer
    std::string share_dir;
    std::vector<std::string> gets;
    std::string into_dir;
    bool exit_when_done = false;
    std::int64_t max_connections = 0;
    std::int64_t max_upload_rate = 0;
    // --peer and --tracker (server): memory budget in bytes, 0 = none (issue 7)
    std::int64_t max_memory = 0;
    // common
    bool quiet = false;
    bool no_console = false;
};

struct FlagInfo {
    const char* name;  // "--port"
    const char* arg;   // "N", or nullptr for a switch
    const char* help;
};
const std::vector<FlagInfo>& all_flags();

// Parses argv (without argv[0]). Errors are one line, e.g. "unknown flag --foo" or "--port needs a value".
Result<CliOptions> parse_args(const std::vector<std::string>& args);
std::string usage_text();
// "16M", "256k", "1048576" -> bytes. Suffixes K/M/G (powers of 1024), case-insensitive.
Result<std::int64_t> parse_size(const std::string& text);

} // namespace p2p
