#include "tracker/state_file.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/bytes.hpp"
#include "base/log.hpp"

namespace p2p {
namespace {

using json = nlohmann::json;
constexpr const char* kFormat = "p2pnode-tracker-state";
constexpr int kVersion = 1;

std::string ip_text(const PeerEntry& p) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.ip.data(), buf, sizeof buf);
    return buf;
}

bool parse_ip(const std::string& s, PeerEntry& p) {
    if (inet_pton(AF_INET, s.c_str(), p.ip.data()) == 1) {
        p.v6 = 0;
        return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), p.ip.data()) == 1) {
        p.v6 = 1;
        return true;
    }
    return false;
}

bool get_u64(const json& j, const char* key, std::uint64_t& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return false;
    out = it->get<std::uint64_t>();
    return true;
}
bool get_u32(const json& j, const char* key, std::uint32_t& out) {
    std::uint64_t v;
    if (!get_u64(j, key, v) || v > 0xffffffffu) return false;
    out = static_cast<std::uint32_t>(v);
    return true;
}
bool get_str(const json& j, const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    out = it->get<std::string>();
    return true;
}
bool get_hash(const json& j, const char* key, udp::Hash20& out) {
    std::string hex, raw;
    if (!get_str(j, key, hex) || hex.size() != 40 || !from_hex(hex, raw)) return false;
    out = udp::Hash20::from(raw);
    return true;
}

Error corrupt(std::string what) { return make_error("state.parse", std::move(what)); }

Status fsync_dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return make_error("open " + dir, std::strerror(errno));
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return make_error("fsync " + dir, std::strerror(err));
    return ok_status();
}

} // namespace

std::uint32_t wall_seconds() { return static_cast<std::uint32_t>(std::time(nullptr)); }

std::string serialize_state(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& c,
                            std::uint32_t now) {
    json doc = json::object();
    doc["format"] = kFormat;
    doc["version"] = kVersion;
    doc["saved_at"] = now;
    doc["counters"] = {{"connects", c.connects}, {"announces", c.announces}, {"scrapes", c.scrapes},
                       {"catalog", c.catalog},   {"malformed", c.malformed}, {"bad_connection", c.bad_connection},
                       {"send_drops", c.send_drops}, {"errors", c.errors},   {"capped", c.capped}};
    // Sorted by info hash so the same state always gives the same bytes (diffable, testable).
    // for_each hands out decoded copies that live only for the call: keep our own.
    std::vector<std::pair<Hash20, Swarm>> order;
    order.reserve(store.swarm_count());
    store.for_each([&](const Hash20& h, const Swarm& s) { order.emplace_back(h, s); });
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    json swarms = json::array();
    for (const auto& [h, s] : order) {
        json peers = json::array();
        for (const auto& p : s.peers) peers.push_back(json::array({ip_text(p), p.port, p.last_seen, p.seeder ? 1 : 0}));
        swarms.push_back({{"info_hash", to_hex(h.view())}, {"downloaded", s.downloaded}, {"peers", std::move(peers)}});
    }
    doc["swarms"] = std::move(swarms);
    json cat = json::array();
    for (const auto& r : catalog.entries())
        cat.push_back({{"name", r.name}, {"info_hash", to_hex(r.info_hash.view())}, {"size", r.total_size},
                       {"last_seen", r.last_seen}});
    doc["catalog"] = std::move(cat);
    // replace: never throw on a byte sequence that is not UTF-8 (names are validated, but be safe).
    return doc.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Status parse_state(std::string_view text, TrackerState into, std::uint32_t now) {
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) return corrupt("not valid JSON");
    if (!doc.is_object()) return corrupt("top level is not an object");
    std::string format;
    std::uint64_t version = 0;
    if (!get_str(doc, "format", format) || format != kFormat) return corrupt("missing or wrong \"format\"");
    if (!get_u64(doc, "version", version) || version != kVersion) return corrupt("unsupported version");

    struct SwarmIn {
        Hash20 h;
        std::uint32_t downloaded = 0;
        std::vector<PeerEntry> peers;
    };
    std::vector<SwarmIn> swarms;
    std::vector<CatalogRecord> records;
    TrackerCounters c;

    auto cit = doc.find("counters");
    if (cit == doc.end() || !cit->is_object()) return corrupt("missing counters");
    if (!get_u64(*cit, "connects", c.connects) || !get_u64(*cit, "announces", c.announces) ||
        !get_u64(*cit, "scrapes", c.scrapes) || !get_u64(*cit, "catalog", c.catalog) ||
        !get_u64(*cit, "malformed", c.malformed) || !get_u64(*cit, "bad_connection", c.bad_connection) ||
        !get_u64(*cit, "send_drops", c.send_drops) || !get_u64(*cit, "errors", c.errors) ||
        !get_u64(*cit, "capped", c.capped))
        return corrupt("bad counters");

    auto sit = doc.find("swarms");
    if (sit == doc.end() || !sit->is_array()) return corrupt("missing swarms");
    for (const auto& js : *sit) {
        if (!js.is_object()) return corrupt("swarm is not an object");
        SwarmIn s;
        if (!get_hash(js, "info_hash", s.h) || !get_u32(js, "downloaded", s.downloaded)) return corrupt("bad swarm");
        auto pit = js.find("peers");
        if (pit == js.end() || !pit->is_array()) return corrupt("bad swarm peers");
        for (const auto& jp : *pit) {
            if (!jp.is_array() || jp.size() != 4 || !jp[0].is_string() || !jp[1].is_number_unsigned() ||
                !jp[2].is_number_unsigned() || !jp[3].is_number_unsigned())
                return corrupt("bad peer");
            PeerEntry p;
            std::uint64_t port = jp[1].get<std::uint64_t>(), seen = jp[2].get<std::uint64_t>();
            if (!parse_ip(jp[0].get<std::string>(), p) || port == 0 || port > 65535 || seen > 0xffffffffu)
                return corrupt("bad peer address");
            p.port = static_cast<std::uint16_t>(port);
            p.last_seen = static_cast<std::uint32_t>(seen);
            p.seeder = jp[3].get<std::uint64_t>() ? 1 : 0;
            s.peers.push_back(p);
        }
        swarms.push_back(std::move(s));
    }

    auto kit = doc.find("catalog");
    if (kit == doc.end() || !kit->is_array()) return corrupt("missing catalog");
    for (const auto& jr : *kit) {
        if (!jr.is_object()) return corrupt("catalog entry is not an object");
        CatalogRecord r;
        if (!get_str(jr, "name", r.name) || !udp::valid_name(r.name) || !get_hash(jr, "info_hash", r.info_hash) ||
            !get_u64(jr, "size", r.total_size) || !get_u32(jr, "last_seen", r.last_seen))
            return corrupt("bad catalog entry");
        records.push_back(std::move(r));
    }

    // Everything parsed: commit.
    into.store.clear();
    into.catalog.clear();
    for (auto& s : swarms) into.store.restore(s.h, s.downloaded, std::move(s.peers), now);
    for (auto& r : records) into.catalog.restore(std::move(r));
    into.counters = c;
    return ok_status();
}

Status write_file_atomic(const std::string& path, std::string_view data) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return make_error("open " + tmp, std::strerror(errno));
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            return make_error("write " + tmp, std::strerror(err));
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return make_error("fsync " + tmp, std::strerror(err));
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return make_error("rename " + tmp, std::strerror(err));
    }
    return fsync_dir_of(path);
}

Status save_state(const std::string& path, const SwarmStore& store, const Catalog& catalog,
                  const TrackerCounters& counters, std::uint32_t now) {
    return write_file_atomic(path, serialize_state(store, catalog, counters, now));
}

LoadOutcome load_state(const std::string& path, TrackerState into, std::uint32_t now) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return LoadOutcome::fresh;
        log_warn("tracker", "cannot open state file " + path + ": " + std::strerror(errno) + "; starting empty");
        return LoadOutcome::fresh;
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    Status st = text.empty() ? Status(corrupt("empty file")) : parse_state(text, into, now);
    if (st) return LoadOutcome::loaded;
    std::string aside = path + ".corrupt";
    into.store.clear();
    into.catalog.clear();
    into.counters = TrackerCounters{};
    if (::rename(path.c_str(), aside.c_str()) != 0)
        log_warn("tracker", "cannot move " + path + " aside: " + std::strerror(errno));
    log_warn("tracker", "state file " + path + " is unusable (" + st.error().what + "); moved to " + aside +
                            ", starting empty");
    return LoadOutcome::corrupt;
}

} // namespace p2p
