#include "node/tracker_node.hpp"
#include "node/peer_console.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "base/memory_budget.hpp"
#include "http/server.hpp"
#include "loop/loop.hpp"
#include "node/tracker_dht.hpp"
#include "tracker/console.hpp"
#include "tracker/http_client.hpp"
#include "tracker/http_front.hpp"
#include "tracker/server.hpp"
#include "tracker/state_file.hpp"
#include "tracker/udp_client.hpp"

namespace p2p {

namespace {

// --http-port under --max-memory: the HTTP connections get this share of the budget (the swarms, peers and catalog
// are planned on the rest), one connection priced at what it may hold at its bounds: its record (~1 KiB), a
// request's line and headers (<= 8 KiB, kept once as fields), its output (<= kHttpMaxOutput plus one answer of
// <= 4 KiB: 200 IPv6 peers) and the unparsed rest of a read while paused (<= http::Server::kReadSlab).
constexpr std::uint64_t kHttpBudgetDivisor = 8;
constexpr std::size_t kHttpMaxOutput = 16 * 1024; // a tracker's answers are small; pipelining waits above this
constexpr std::size_t kHttpConnectionCost = 1024 + 8 * 1024 + kHttpMaxOutput + 4096 + http::Server::kReadSlab;
constexpr std::size_t kHttpMaxConnections = 512; // without --max-memory (worst case ~23 MiB)
constexpr std::size_t kHttpMinConnections = 8;

// The rest must stay a valid budget (>= kMinMemoryBudget): at the minimum the HTTP port gets kHttpMinConnections.
std::uint64_t http_share(const TrackerConfig& cfg) {
    if (cfg.http_port < 0 || cfg.max_memory <= kMinMemoryBudget) return 0;
    return std::min(cfg.max_memory / kHttpBudgetDivisor, cfg.max_memory - kMinMemoryBudget);
}

http::Limits http_limits(const TrackerConfig& cfg) {
    http::Limits l;
    l.max_body = 0; // GET only: a body is refused with 413
    l.max_output = kHttpMaxOutput;
    l.max_connections = kHttpMaxConnections;
    // Most announces are one request on a new connection: accepted only once it is in, so no wake-up (nor empty
    // accept4) for a handshake whose request is still on its way, and no connection on the libuv path (close mode
    // 15.6k -> 16.8k announces/s under a 40 % core, median of 10 interleaved rounds).
    l.defer_accept_s = 1;
    if (cfg.http_port >= 0 && cfg.max_memory) {
        const std::uint64_t share = http_share(cfg);
        l.max_connections = std::clamp<std::size_t>(static_cast<std::size_t>(share / kHttpConnectionCost),
                                                    kHttpMinConnections, kHttpMaxConnections);
    }
    return l;
}

// The server's settings from the public config: 0 means "not given" for the caps (a cap of 0 would refuse
// everything); --max-memory shrinks them to what fits, explicit smaller caps stay.
Result<ServerConfig> server_config(const TrackerConfig& cfg) {
    ServerConfig sc;
    sc.bind = cfg.bind;
    sc.port = cfg.port;
    sc.interval = cfg.interval > 0 ? static_cast<std::uint32_t>(cfg.interval) : 1800;
    sc.trust_ip_field = cfg.trust_ip_field;
    if (cfg.max_swarms) sc.limits.max_swarms = cfg.max_swarms;
    if (cfg.max_peers) sc.limits.max_peers = cfg.max_peers;
    if (cfg.max_catalog) sc.max_catalog = cfg.max_catalog;
    auto plan = plan_tracker_memory(cfg.max_memory);
    if (plan && http_share(cfg)) plan = plan_tracker_memory(cfg.max_memory - http_share(cfg));
    if (!plan) return plan.error();
    if (plan->budget) {
        sc.limits.max_swarms = std::min(sc.limits.max_swarms, plan->max_swarms);
        sc.limits.max_peers = std::min(sc.limits.max_peers, plan->max_peers);
        sc.max_catalog = std::min(sc.max_catalog, plan->max_catalog);
        log_info("tracker", plan->describe());
    }
    sc.state_file = cfg.state_file;
    return sc;
}

} // namespace

int run_tracker(const TrackerConfig& cfg) {
    Loop loop;
    auto sc = server_config(cfg);
    if (!sc) {
        std::fprintf(stderr, "p2pnode: %s\n", sc.error().str().c_str());
        return 2;
    }
    // A state file we could never save is a configuration error: say so now, not at the first save or at exit.
    if (!sc->state_file.empty()) {
        if (auto st = check_state_path(sc->state_file); !st) {
            std::fprintf(stderr, "p2pnode: --state %s: %s\n", sc->state_file.c_str(), st.error().str().c_str());
            return 1;
        }
    }
    // Destroyed before `loop` (declared after it): their handles close and drain in ~Loop.
    auto server = std::make_unique<TrackerServer>(loop.get(), *sc);
    if (auto st = server->start(); !st) {
        std::fprintf(stderr, "p2pnode: tracker: %s\n", st.error().str().c_str()); // one line, the whole story
        return 1;
    }
    // --http-port: the same tracker over HTTP, on the same addresses (the server's bind list, defaults filled in).
    std::unique_ptr<TrackerHttpFront> http_front;
    std::unique_ptr<http::Server> http_server;
    if (cfg.http_port >= 0) {
        http_front = std::make_unique<TrackerHttpFront>(*server, cfg.max_memory);
        TrackerHttpFront* front = http_front.get();
        http_server = std::make_unique<http::Server>(
            loop.get(), http_limits(cfg), [front](const http::Request& rq, http::Response& rs) { front->handle(rq, rs); });
        if (auto st = http_server->listen(server->config().bind, static_cast<std::uint16_t>(cfg.http_port)); !st) {
            std::fprintf(stderr, "p2pnode: tracker: %s\n", st.error().str().c_str());
            return 1;
        }
        http_front->set_server(http_server.get());
        log_debug("tracker", "HTTP: at most " + std::to_string(http_server->limits().max_connections) + " connections");
    }
    // --dht-port: a DHT node beside the tracker (a stable bootstrap node for its peers), node/tracker_dht.hpp.
    std::unique_ptr<TrackerDht> dht;
    if (cfg.dht_port >= 0) {
        const std::string ip = cfg.bind.empty() ? std::string("0.0.0.0") : cfg.bind.front();
        auto d = TrackerDht::open(loop, ip, static_cast<std::uint16_t>(cfg.dht_port),
                                  cfg.state_file.empty() ? std::string() : cfg.state_file + ".dht");
        if (!d) {
            std::fprintf(stderr, "p2pnode: tracker: %s\n", d.error().str().c_str());
            return 1;
        }
        dht = std::move(*d);
    }
    std::unique_ptr<TrackerConsole> console;
    bool stopping = false;
    bool final_save_failed = false; // exit 1: a script must see that the swarms of this run were not kept
    auto shutdown = [&](const char* why) {
        if (stopping) return;
        stopping = true;
        log_info("tracker", std::string("stopping (") + why + ")");
        if (auto st = server->save(); !st) {
            final_save_failed = true;
            log_error("tracker", "saving state failed: " + st.error().str() + "; the previous state file is kept");
        }
        server->close();
        if (http_server) http_server->close();
        if (dht) dht->stop(); // the final save of STATE.dht
        if (console) console->close();
        loop.stop();
    };
    loop.on_terminate([&](int sig) { shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM"); });
    // SIGHUP (a log rotation, or an operator asking for a checkpoint) must not kill the tracker, its default
    // action: reopen the log file first, so that what follows goes to the new one, then save in the background.
    loop.on_hangup([&] {
        if (stopping) return;
        (void)reopen_log(); // a failure is reported by reopen_log itself, in the old log
        if (dht) (void)dht->save_now(); // a failure is logged by the host
        if (server->request_save())
            log_info("tracker", "SIGHUP: log reopened, saving the state to " + cfg.state_file);
        else
            log_info("tracker", "SIGHUP: log reopened (no state file to save)");
    });
    // Only now say we listen: a script that signals us as soon as it reads this line must find the handlers
    // installed (else SIGTERM's default action kills us without the exit save, SIGHUP's without any).
    if (!cfg.quiet) {
        for (const auto& b : server->bound()) std::printf("tracker listening on %s\n", b.url().c_str());
        if (http_server)
            for (const auto& b : http_server->bound()) std::printf("tracker listening on %s\n", b.url().c_str());
        if (dht) std::printf("dht node listening on udp port %u\n", dht->port());
        std::fflush(stdout);
    }
    if (cfg.console) {
        console = std::make_unique<TrackerConsole>(
            loop.get(), ConsoleView{server->store(), server->catalog(), server->counters()},
            [&] { return server->now(); }, [&] { shutdown("quit"); });
        console->start();
    }
    loop.run();
    return final_save_failed ? 1 : 0;
}

namespace {

// Runs one client operation to completion on a fresh loop.
template <class Start>
int run_client(const CatalogCliConfig& cfg, Start start) {
    Loop loop;
    UdpClientOptions opt;
    opt.timeout_s = cfg.timeout_s;
    auto client = std::make_unique<UdpTrackerClient>(loop.get(), cfg.tracker_url, opt);
    int rc = 1;
    start(*client, [&](int code) {
        rc = code;
        loop.stop(); // the client's socket would keep the loop alive
    });
    loop.run();
    client.reset();
    return rc;
}

int fail(const Error& e) {
    std::fprintf(stderr, "p2pnode: %s\n", e.str().c_str());
    return 1;
}

bool is_http_url(const std::string& url) {
    return starts_with_nocase(url, "http://") || starts_with_nocase(url, "https://");
}

// BEP 48 scrape of one info hash on an http:// or https:// tracker, on a fresh loop.
int run_http_scrape(const CatalogCliConfig& cfg, const udp::Hash20& h,
                    const std::function<void(const udp::ScrapeEntry&)>& print) {
    Loop loop;
    HttpGetOptions opt;
    if (cfg.timeout_s > 0) opt.timeout_ms = static_cast<std::uint64_t>(cfg.timeout_s * 1000);
    opt.ca_file = cfg.ca_file;
    auto client = std::make_unique<HttpTrackerClient>(loop.get(), cfg.tracker_url, opt);
    int rc = 1;
    client->scrape({h}, [&](Result<std::vector<udp::ScrapeEntry>> r) {
        if (!r)
            rc = fail(r.error());
        else {
            print(r->front());
            rc = 0;
        }
        loop.stop();
    });
    loop.run();
    client.reset();
    return rc;
}

} // namespace

int run_list(const CatalogCliConfig& cfg) {
    if (is_http_url(cfg.tracker_url)) {
        std::fprintf(stderr, "p2pnode: --list reads the catalog, an extension of udp:// trackers; %s has none\n",
                     cfg.tracker_url.c_str());
        return 1;
    }
    return run_client(cfg, [](UdpTrackerClient& c, auto done) {
        c.list_all([done](Result<std::vector<udp::CatalogEntry>> r) {
            if (!r) return done(fail(r.error()));
            // The console's table (sizes in the units of `status`), one formatter for both.
            const std::string table = format_catalog(*r);
            std::fwrite(table.data(), 1, table.size(), stdout);
            std::fflush(stdout);
            done(0);
        });
    });
}

int run_scrape(const CatalogCliConfig& cfg) {
    std::string raw;
    bool by_hash = cfg.what.size() == 40 && from_hex(cfg.what, raw);
    if (!by_hash && !udp::valid_name(cfg.what)) {
        std::fprintf(stderr, "p2pnode: not a catalog name or a 40-hex info hash: '%s'\n", cfg.what.c_str());
        return 1;
    }
    auto print = [](const udp::Hash20& h, std::uint32_t s, std::uint32_t l, std::uint32_t c) {
        std::printf("info_hash: %s\nseeders: %u\nleechers: %u\ncompleted: %u\n", to_hex(h.view()).c_str(), s, l, c);
        std::fflush(stdout);
    };
    if (is_http_url(cfg.tracker_url)) {
        if (!by_hash) {
            std::fprintf(stderr,
                         "p2pnode: --scrape by name needs the catalog of a udp:// tracker; give the 40-hex info "
                         "hash to scrape %s\n",
                         cfg.tracker_url.c_str());
            return 1;
        }
        udp::Hash20 h = udp::Hash20::from(raw);
        return run_http_scrape(cfg, h,
                               [&](const udp::ScrapeEntry& e) { print(h, e.seeders, e.leechers, e.completed); });
    }
    if (by_hash) {
        udp::Hash20 h = udp::Hash20::from(raw);
        return run_client(cfg, [h, print](UdpTrackerClient& c, auto done) {
            c.scrape({h}, [h, print, done](Result<std::vector<udp::ScrapeEntry>> r) {
                if (!r) return done(fail(r.error()));
                const auto& e = r->front();
                print(h, e.seeders, e.leechers, e.completed);
                done(0);
            });
        });
    }
    std::string name = cfg.what;
    return run_client(cfg, [name, print](UdpTrackerClient& c, auto done) {
        c.lookup(name, [name, print, done](Result<std::optional<udp::CatalogEntry>> r) {
            if (!r) return done(fail(r.error()));
            if (!*r) {
                std::fprintf(stderr, "p2pnode: no torrent named '%s' in the tracker's catalog\n", name.c_str());
                return done(1);
            }
            const auto& e = **r;
            std::printf("name: %s\nsize: %llu\n", e.name.c_str(), static_cast<unsigned long long>(e.total_size));
            print(e.info_hash, e.seeders, e.leechers, e.completed);
            done(0);
        });
    });
}

} // namespace p2p
