#include "tracker/state_writer.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "base/bytes.hpp"

namespace p2p {
namespace {

void append_u64(std::string& out, std::uint64_t v) { out += std::to_string(v); }

void append_hex_hash(std::string& out, const Hash20& h) {
    out += '"';
    out += to_hex(h.view());
    out += '"';
}

void append_ip(std::string& out, const PeerEntry& p) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.ip.data(), buf, sizeof buf);
    out += '"';
    out += buf;
    out += '"';
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += ch;
            }
        }
    }
    out += '"';
}

StateWriter::StateWriter(const SwarmStore& store, const Catalog& catalog, const TrackerCounters& c, std::uint32_t now)
    : store_(store), catalog_(catalog) {
    middle_ = "],\"counters\":{";
    const std::pair<const char*, std::uint64_t> counters[] = {
        {"announces", c.announces},  {"bad_connection", c.bad_connection},
        {"capped", c.capped},        {"catalog", c.catalog},
        {"connects", c.connects},    {"errors", c.errors},
        {"malformed", c.malformed},  {"scrapes", c.scrapes},
        {"send_drops", c.send_drops}};
    bool first = true;
    for (const auto& [key, value] : counters) { // already in key order, as the document's objects are
        if (!first) middle_ += ',';
        first = false;
        middle_ += '"';
        middle_ += key;
        middle_ += "\":";
        append_u64(middle_, value);
    }
    middle_ += "},\"format\":";
    append_json_string(middle_, kStateFormat);
    middle_ += ",\"saved_at\":";
    append_u64(middle_, now);
    middle_ += ",\"swarms\":[";
    hashes_.reserve(store.swarm_count());
    store.for_each_hash([this](const Hash20& h) { hashes_.push_back(h); });
    std::sort(hashes_.begin(), hashes_.end());
}

void StateWriter::write_entry(std::string& out, const CatalogRecord& r) {
    if (any_entry_) out += ',';
    any_entry_ = true;
    out += "{\"info_hash\":";
    append_hex_hash(out, r.info_hash);
    out += ",\"last_seen\":";
    append_u64(out, r.last_seen);
    out += ",\"name\":";
    append_json_string(out, r.name);
    if (r.publisher.known()) { // unknown for entries loaded from a file written before publishers were kept
        out += ",\"publisher\":";
        append_json_string(out, r.publisher.str());
    }
    out += ",\"size\":";
    append_u64(out, r.total_size);
    out += '}';
}

void StateWriter::write_swarm(std::string& out, const Hash20& h, const Swarm& s) {
    if (any_swarm_) out += ',';
    any_swarm_ = true;
    out += "{\"downloaded\":";
    append_u64(out, s.downloaded);
    out += ",\"info_hash\":";
    append_hex_hash(out, h);
    out += ",\"peers\":[";
    bool first = true;
    for (const PeerEntry& p : s.peers) {
        if (!first) out += ',';
        first = false;
        out += '[';
        append_ip(out, p);
        out += ',';
        append_u64(out, p.port);
        out += ',';
        append_u64(out, p.last_seen);
        out += p.seeder ? ",1]" : ",0]";
    }
    out += "]}";
    ++swarms_written_;
}

bool StateWriter::next(std::string& out, std::size_t budget) {
    const std::size_t stop_at = out.size() + budget;
    while (phase_ != Phase::done && out.size() < stop_at) {
        switch (phase_) {
        case Phase::catalog: {
            if (!opened_) out += "{\"catalog\":[";
            opened_ = true;
            // The first entry after the last one written, found again: entries may come and go between calls.
            const auto& es = catalog_.entries();
            auto it = any_entry_
                          ? std::upper_bound(es.begin(), es.end(), last_name_,
                                             [](const std::string& n, const CatalogRecord& r) { return n < r.name; })
                          : es.begin();
            for (; it != es.end() && out.size() < stop_at; ++it) {
                write_entry(out, *it);
                last_name_ = it->name;
            }
            if (it == es.end()) phase_ = Phase::middle;
            break;
        }
        case Phase::middle:
            out += middle_;
            middle_.clear();
            middle_.shrink_to_fit();
            phase_ = Phase::swarms;
            break;
        case Phase::swarms:
            for (; next_swarm_ < hashes_.size() && out.size() < stop_at; ++next_swarm_)
                if (auto s = store_.find(hashes_[next_swarm_])) write_swarm(out, hashes_[next_swarm_], *s);
            if (next_swarm_ == hashes_.size()) {
                out += "],\"version\":" + std::to_string(kStateVersion) + "}\n";
                hashes_.clear();
                hashes_.shrink_to_fit();
                phase_ = Phase::done;
            }
            break;
        case Phase::done: break;
        }
    }
    return phase_ != Phase::done;
}

} // namespace p2p
