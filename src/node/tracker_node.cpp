#include "node/tracker_node.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "base/memory_budget.hpp"
#include "loop/loop.hpp"
#include "tracker/console.hpp"
#include "tracker/server.hpp"
#include "tracker/state_file.hpp"
#include "tracker/udp_client.hpp"

namespace p2p {

namespace {

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
        if (console) console->close();
        loop.stop();
    };
    loop.on_terminate([&](int sig) { shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM"); });
    // SIGHUP (a log rotation, or an operator asking for a checkpoint) must not kill the tracker, its default
    // action: reopen the log file first, so that what follows goes to the new one, then save in the background.
    loop.on_hangup([&] {
        if (stopping) return;
        (void)reopen_log(); // a failure is reported by reopen_log itself, in the old log
        if (server->request_save())
            log_info("tracker", "SIGHUP: log reopened, saving the state to " + cfg.state_file);
        else
            log_info("tracker", "SIGHUP: log reopened (no state file to save)");
    });
    // Only now say we listen: a script that signals us as soon as it reads this line must find the handlers
    // installed (else SIGTERM's default action kills us without the exit save, SIGHUP's without any).
    if (!cfg.quiet) {
        for (const auto& b : server->bound()) std::printf("tracker listening on %s\n", b.url().c_str());
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

} // namespace

int run_list(const CatalogCliConfig& cfg) {
    return run_client(cfg, [](UdpTrackerClient& c, auto done) {
        c.list_all([done](Result<std::vector<udp::CatalogEntry>> r) {
            if (!r) return done(fail(r.error()));
            std::printf("%-32s %16s %8s %8s  %s\n", "NAME", "SIZE", "SEEDERS", "LEECHERS", "INFOHASH");
            for (const auto& e : *r)
                std::printf("%-32s %16llu %8u %8u  %s\n", e.name.c_str(), static_cast<unsigned long long>(e.total_size),
                            e.seeders, e.leechers, to_hex(e.info_hash.view()).c_str());
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
