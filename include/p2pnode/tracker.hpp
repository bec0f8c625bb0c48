// Public: run the UDP tracker and ask trackers from the CLI. Part of <p2pnode/p2pnode.hpp>.
// Entry points the CLI calls for the tracker side: run the tracker daemon, and the catalog client commands.
// Each builds its own p2p::Loop, runs it to completion and returns a process exit code.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

struct TrackerConfig {
    std::vector<std::string> bind; // literal IPs; empty = 0.0.0.0 and :: (IPv6 optional)
    std::uint16_t port = 6969;     // 0 = an ephemeral port (printed on start)
    std::string state_file;        // empty = no persistence
    int interval =
        1800; // <= 0 = this default; seconds between announces told to clients (peers expire after 2x + 60 s)
    bool trust_ip_field = false;       // honour the announce IPv4 "ip" field
    std::size_t max_swarms = 200'000;  // 0 = this default
    std::size_t max_peers = 4'000'000; // 0 = this default (24 bytes each)
    std::size_t max_catalog = 100'000; // 0 = this default
    std::uint64_t max_memory = 0;      // --max-memory (>= 4 MiB): lowers the three caps above to fit; 0 = none
    bool console = true;               // read commands from stdin (EOF on stdin does not stop the tracker)
    bool quiet = false; // no "tracker listening" lines on stdout: only errors (the log level is the caller's)
    int dht_port = -1;  // >= 0: also run a DHT node (BEP 5) on this UDP port (0: ephemeral, printed)
    int http_port = -1; // >= 0: also serve HTTP (BEP 3 announce, BEP 48 scrape, /catalog, /stats, /metrics) on this
                        // TCP port of the same bind addresses, over the same swarms (0: ephemeral, printed)
};

// Runs until SIGINT/SIGTERM or the console's `quit`; saves the state file on the way out. SIGHUP does not stop
// it: it reopens the log file (reopen_log) and saves the state file in the background. On start prints one line
// per bound socket to stdout, e.g. "tracker listening on udp://0.0.0.0:6969" (the real port when port = 0), then
// with http_port one per HTTP listener, e.g. "tracker listening on http://0.0.0.0:8080", unless quiet. Returns 0
// on a clean stop; 1, after one line on stderr, if the state file's folder cannot take the file ("p2pnode:
// --state PATH: reason"), if no address could be bound ("p2pnode: tracker: cannot listen on UDP port N (...)",
// or "... TCP port N (...)" for the HTTP port), or if the final save failed.
int run_tracker(const TrackerConfig& config);

struct CatalogCliConfig {
    std::string tracker_url; // udp://host:port[/announce]
    double timeout_s = 0;    // 0 = the full BEP 15 retransmit schedule (about 2 hours)
    std::string what;        // run_scrape: a catalog name or a 40-hex info hash
    std::string ca_file;     // https:// trackers: CA bundle (empty: the system store)
};

// Prints the whole catalog as a table: NAME SIZE SEEDERS LEECHERS INFOHASH. 0 = ok, 1 = error (stderr).
int run_list(const CatalogCliConfig& config);
// Prints seeders/leechers/completed for a name or an info hash. 1 on an unknown name or an unreachable tracker.
int run_scrape(const CatalogCliConfig& config);

} // namespace p2p
