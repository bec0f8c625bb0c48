// p2pnode entry point: parse flags, dispatch to a mode. Every mode builds its own objects on one p2p::Loop.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "cli/args.hpp"
#include "cli/config_file.hpp"
#include "cli/make_torrent_cmd.hpp"
#include "crypto/random.hpp"
#include "node/peer_node.hpp"
#include "node/tracker_node.hpp"
#include "p2pnode/p2pnode.hpp"
#include "tracker/tls_client.hpp"

namespace {

using namespace p2p;

TrackerConfig tracker_config(const CliOptions& o) {
    TrackerConfig tc;
    tc.bind = o.bind;
    if (o.port >= 0) tc.port = static_cast<std::uint16_t>(o.port);
    tc.state_file = o.state_file;
    if (o.interval) tc.interval = o.interval;
    tc.trust_ip_field = o.trust_ip_field;
    if (o.max_swarms) tc.max_swarms = static_cast<std::size_t>(o.max_swarms);
    if (o.max_peers) tc.max_peers = static_cast<std::size_t>(o.max_peers);
    tc.max_memory = static_cast<std::uint64_t>(o.max_memory);
    tc.console = !o.no_console;
    tc.quiet = o.quiet;
    tc.dht_port = o.dht_port;
    tc.http_port = o.http_port;
    return tc;
}

PeerNodeConfig peer_config(const CliOptions& o) {
    PeerNodeConfig pc;
    pc.share_dir = o.share_dir;
    pc.gets = o.gets;
    pc.select_files = o.select_files;
    pc.into_dir = o.into_dir;
    pc.trackers = o.tracker_urls;
    if (!o.bind.empty()) pc.listen_ip = o.bind.front();
    if (o.port >= 0) pc.port = o.port;
    pc.exit_when_done = o.exit_when_done;
    pc.timeout_s = o.timeout_s;
    pc.quiet = o.quiet;
    pc.overwrite = o.overwrite;
    pc.encryption = o.encryption;
    pc.utp = !o.no_utp;
    pc.tcp = !o.no_tcp;
    pc.dht = !o.no_dht;
    pc.dht_bootstrap = o.dht_bootstrap;
    pc.lsd = !o.no_lsd;
    pc.ca_file = o.ca_file;
    pc.console = !o.no_console;
    if (o.max_connections) pc.max_connections = static_cast<std::size_t>(o.max_connections);
    pc.max_upload_rate = static_cast<std::uint64_t>(o.max_upload_rate);
    pc.max_download_rate = static_cast<std::uint64_t>(o.max_download_rate);
    pc.max_memory = static_cast<std::uint64_t>(o.max_memory);
    pc.rpc_port = o.rpc_port;
    if (!o.rpc_bind.empty()) pc.rpc_bind = o.rpc_bind;
    pc.rpc_auth_file = o.rpc_auth_file;
    return pc;
}

// Logging is set up before anything starts, so a log file that cannot be opened stops us at once. --quiet:
// errors (and the modes' final summaries, which are not log lines) only, unless a level was given.
bool setup_logging(const CliOptions& o) {
    if (o.log_level)
        set_log_level(*o.log_level);
    else if (o.quiet)
        set_log_level(LogLevel::error);
    if (o.log_file.empty()) return true;
    if (auto st = set_log_file(o.log_file); !st) {
        std::fprintf(stderr, "p2pnode: %s\n", st.error().str().c_str());
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    // --config FILE: its flags join the command line's (which win) and are checked as flags.
    auto expanded = apply_config_file(args);
    if (!expanded) {
        std::fprintf(stderr, "p2pnode: %s\n", expanded.error().str().c_str());
        return 2;
    }
    auto parsed = parse_args(*expanded);
    if (!parsed) {
        std::fprintf(stderr, "p2pnode: %s\n", parsed.error().str().c_str());
        return 2;
    }
    const CliOptions& o = *parsed;
    if (o.mode == Mode::help) return std::fputs(usage_text().c_str(), stdout) < 0;
    if (o.mode == Mode::version) // a line per face this build left out (meson_options.txt): scripts can tell
        return std::printf("p2pnode %s\n%s%s%s", P2PNODE_VERSION,
                           tls_available() ? "" : "built without TLS (meson -Dtls=false): no https:// trackers\n",
                           dht_available() ? "" : "built without the DHT (meson -Ddht=false): no BEP 5 node\n",
                           rpc_available() ? ""
                                           : "built without the RPC port (meson -Drpc=false): no --rpc-port\n") < 0;
    if (!setup_logging(o)) return 1;
    // A peer that hung up must not kill us: libuv writes sockets with write(2), so take EPIPE as an error value.
    std::signal(SIGPIPE, SIG_IGN);
    if (!crypto_init()) {
        std::fprintf(stderr, "p2pnode: no source of randomness (getrandom and /dev/urandom failed)\n");
        return 1;
    }
    switch (o.mode) {
    case Mode::make_torrent: return run_make_torrent(o);
    case Mode::tracker: return run_tracker(tracker_config(o));
    case Mode::peer: return run_peer(peer_config(o));
    // parse_args gives --list/--scrape exactly one tracker URL and a timeout (kDefaultQueryTimeoutS if none).
    case Mode::list: return run_list(CatalogCliConfig{o.tracker_urls.front(), o.timeout_s, "", o.ca_file});
    case Mode::scrape:
        return run_scrape(CatalogCliConfig{o.tracker_urls.front(), o.timeout_s, o.scrape_what, o.ca_file});
    default: break;
    }
    std::fprintf(stderr, "p2pnode: this mode is not available in this build\n");
    return 2;
}
