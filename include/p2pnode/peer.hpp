// Public: run a BitTorrent peer (seed a folder, download torrents). Part of <p2pnode/p2pnode.hpp>.
// Composition root of `p2pnode --peer`: a Session (TCP listener + torrents), announcers on shared UDP tracker
// clients, the shared folder made into torrents, downloads, the progress display, and shutdown on signals.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace p2p {

// --encryption (MSE/PE, RC4: obfuscation against traffic shaping, not security).
enum class EncryptionMode {
    allow,   // outgoing plaintext first, MSE once if refused; incoming accept both (libtorrent's default)
    prefer,  // outgoing try MSE, then plaintext once; incoming accept both (Transmission's default)
    require, // RC4 only, both ways
    disable, // plaintext only
};

struct PeerNodeConfig {
    std::string share_dir;             // every top-level file/folder becomes a torrent and is seeded
    std::vector<std::string> gets;     // .torrent files to download
    // --select-file: for every download of `gets`, only these files (each: "0,2" file indices or one path as in
    // the torrent); empty = every file.
    std::vector<std::string> select_files;
    std::string into_dir;              // where downloads go (default: share_dir, else ".")
    std::vector<std::string> trackers; // announce URLs (also written into torrents made from share_dir)
    std::string listen_ip = "0.0.0.0";
    int port = 6881;             // 0: ephemeral (printed)
    bool exit_when_done = false; // exit 0 once every --get is complete and verified
    double timeout_s = 0;        // with exit_when_done: give up after this long (0 = never)
    bool quiet = false;
    std::size_t max_connections = 400;
    std::uint64_t max_upload_rate = 0; // bytes/s, 0 = unlimited
    std::uint64_t max_memory = 0;      // --max-memory: bound on memory that grows with load (>= 4 MiB), 0 = none
    bool console = false;              // read console commands from stdin (the CLI sets it unless --no-console)
    bool overwrite = false;            // --overwrite: a download may replace an existing file that is not its own
                                       // (default: it goes to a free name such as readme.1.txt)
    EncryptionMode encryption = EncryptionMode::allow;
    bool utp = true; // uTP (BEP 29) on the UDP port of the same number as the TCP port; outgoing tries it first
    bool tcp = true; // TCP listener and TCP connections (off: uTP only)
    bool dht = true; // a Mainline DHT node (BEP 5) on the uTP socket; never for private torrents (BEP 27)
    std::vector<std::string> dht_bootstrap; // HOST:PORT; empty: the well-known routers (plus the saved nodes)
    bool lsd = true;                        // Local Service Discovery (BEP 14) for public torrents
    std::string ca_file;                    // CA bundle for https:// trackers; empty: the system store
    std::uint64_t max_download_rate = 0;    // bytes/s over all torrents, 0 = unlimited
    // Transmission-compatible RPC (POST /transmission/rpc) and /stats, /metrics on TCP port rpc_port: -1 none,
    // 0 ephemeral (printed as "rpc http://ADDR:PORT/transmission/rpc").
    int rpc_port = -1;
    std::string rpc_bind = "127.0.0.1"; // the RPC's address (loopback only unless told otherwise)
    std::string rpc_auth_file;          // "user:password" on one line: HTTP basic auth required; empty: none
};

// Runs until SIGINT/SIGTERM (or completion with exit_when_done). Prints one line per shared item
// ("sharing NAME INFOHASH MAGNET") and one per download when complete. Returns the process exit code.
// Raises the process's soft open-file limit to its hard limit (at most 65536) and fits max_connections and the
// open torrent files within it.
int run_peer(const PeerNodeConfig& config);

} // namespace p2p
