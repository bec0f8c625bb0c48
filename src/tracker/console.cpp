#include "tracker/console.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/bytes.hpp"
#include "base/log.hpp"

namespace p2p {
namespace {

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

std::string peer_address(const PeerEntry& p) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.ip.data(), buf, sizeof buf);
    // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on the "[" + std::string(...) form.
    std::string out;
    if (p.v6) out += '[';
    out += buf;
    if (p.v6) out += ']';
    out += ':';
    out += std::to_string(p.port);
    return out;
}

std::string ago(std::uint32_t then, std::uint32_t now) { return std::to_string(now > then ? now - then : 0) + "s ago"; }

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}

std::string peer_line(const PeerEntry& p, std::uint32_t now) {
    return pad(peer_address(p), 48) + (p.seeder ? "seeder   " : "leecher  ") + "last seen " + ago(p.last_seen, now);
}

const char* kHelp = "commands:\n"
                    "  list                     catalog entries: name, size, seeders, leechers, info hash\n"
                    "  fileinfo NAME|INFOHASH   one torrent: counts and every peer with its last announce\n"
                    "  peerinfo                 every known peer\n"
                    "  stats                    request counters, swarms, peers\n"
                    "  help                     this text\n"
                    "  quit                     save the state file and exit\n";

std::string cmd_list(const ConsoleView& v) {
    std::string out = pad("NAME", 32) + " " + pad("SIZE", 16) + " SEEDERS LEECHERS INFOHASH\n";
    for (const auto& r : v.catalog.entries()) {
        udp::ScrapeEntry s = v.store.scrape(r.info_hash);
        char counts[32];
        std::snprintf(counts, sizeof counts, "%7u %8u", s.seeders, s.leechers);
        out += pad(r.name, 32) + " " + pad(std::to_string(r.total_size), 16) + " " + counts + " " +
               to_hex(r.info_hash.view()) + "\n";
    }
    out += std::to_string(v.catalog.size()) + " catalog entries, " + std::to_string(v.store.swarm_count()) +
           " swarms tracked\n";
    return out;
}

std::string cmd_fileinfo(const ConsoleView& v, std::string_view arg, std::uint32_t now) {
    if (arg.empty()) return "usage: fileinfo NAME|INFOHASH\n";
    const CatalogRecord* rec = v.catalog.find_name(arg);
    udp::Hash20 h;
    std::string raw;
    if (rec)
        h = rec->info_hash;
    else if (arg.size() == 40 && from_hex(arg, raw)) {
        h = udp::Hash20::from(raw);
        rec = v.catalog.find_hash(h);
    } else
        return "unknown name or info hash: " + std::string(arg) + "\n";
    std::optional<Swarm> s = v.store.find(h);
    if (!rec && !s) return "unknown info hash: " + std::string(arg) + "\n";
    std::string out;
    if (rec) out += "name:      " + rec->name + "\nsize:      " + std::to_string(rec->total_size) + "\n";
    out += "info hash: " + to_hex(h.view()) + "\n";
    udp::ScrapeEntry e = v.store.scrape(h);
    out += "seeders:   " + std::to_string(e.seeders) + "\nleechers:  " + std::to_string(e.leechers) +
           "\ncompleted: " + std::to_string(e.completed) + "\n";
    out += "peers:     " + std::to_string(s ? s->peers.size() : 0) + "\n";
    if (s)
        for (const auto& p : s->peers) out += "  " + peer_line(p, now) + "\n";
    return out;
}

std::string cmd_peerinfo(const ConsoleView& v, std::uint32_t now) {
    std::string out;
    std::size_t shown = 0, total = 0;
    v.store.for_each([&](const Hash20& h, const Swarm& s) {
        for (const auto& p : s.peers) {
            ++total;
            if (shown >= kMaxPeerLines) continue;
            ++shown;
            out += to_hex(h.view()) + "  " + peer_line(p, now) + "\n";
        }
    });
    if (total > shown) out += "... and " + std::to_string(total - shown) + " more\n";
    out += std::to_string(total) + " peers in " + std::to_string(v.store.swarm_count()) + " swarms\n";
    return out;
}

std::string cmd_stats(const ConsoleView& v) {
    const TrackerCounters& c = v.counters;
    std::string out;
    auto line = [&](const char* k, std::uint64_t n) { out += pad(k, 16) + std::to_string(n) + "\n"; };
    line("connects", c.connects);
    line("announces", c.announces);
    line("scrapes", c.scrapes);
    line("catalog", c.catalog);
    line("malformed", c.malformed);
    line("bad_connection", c.bad_connection);
    line("send_drops", c.send_drops);
    line("errors", c.errors);
    line("capped", v.store.capped());
    line("swarms", v.store.swarm_count());
    line("peers", v.store.peer_count());
    line("catalog_size", v.catalog.size());
    return out;
}

} // namespace

ConsoleReply console_command(std::string_view line_in, const ConsoleView& v, std::uint32_t now) {
    std::string line = trim(line_in);
    if (line.empty()) return {};
    auto sp = line.find_first_of(" \t");
    std::string cmd = line.substr(0, sp);
    std::string arg = sp == std::string::npos ? "" : trim(std::string_view(line).substr(sp + 1));
    if (cmd == "list") return {cmd_list(v)};
    if (cmd == "fileinfo") return {cmd_fileinfo(v, arg, now)};
    if (cmd == "peerinfo") return {cmd_peerinfo(v, now)};
    if (cmd == "stats") return {cmd_stats(v)};
    if (cmd == "help") return {kHelp};
    if (cmd == "quit" || cmd == "exit") return {"saving and exiting\n", true};
    return {"unknown command: " + cmd + " (try help)\n"};
}

// --- stdin ---

TrackerConsole::TrackerConsole(uv_loop_t* loop, ConsoleView view, std::function<std::uint32_t()> wall,
                               std::function<void()> on_quit)
    : view_(view), wall_(std::move(wall)), on_quit_(std::move(on_quit)),
      reader_(
          loop, [this](std::string_view line, bool too_long) { on_line(line, too_long); },
          // End of input stops the console only: a daemon started with </dev/null keeps serving.
          [] { log_info("tracker", "console: end of input; the tracker keeps running"); }) {}

bool TrackerConsole::start() {
    if (reader_.start(0)) return true;
    log_info("tracker", "stdin is not readable; running without a console");
    return false;
}

void TrackerConsole::on_line(std::string_view line, bool too_long) {
    if (too_long) {
        std::fputs("line too long; ignored\n", stdout);
        std::fflush(stdout);
        return;
    }
    ConsoleReply r = console_command(line, view_, wall_());
    std::fwrite(r.text.data(), 1, r.text.size(), stdout);
    std::fflush(stdout);
    if (r.quit) {
        close();
        // Last thing this callback does: the owner may tear everything down.
        if (on_quit_) on_quit_();
    }
}

} // namespace p2p
