// DhtNode's saved state (our id and good nodes, so a restart rejoins at once), its statistics and the text of
// the console's `dht` command. Design: dht_node.hpp.
#include <arpa/inet.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/bytes.hpp"
#include "dht/dht_node.hpp"

namespace p2p::dht {

namespace {

constexpr std::size_t kMaxSavedNodes = 200;

std::string ip_text(const Endpoint& e) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(e.v6 ? AF_INET6 : AF_INET, e.ip.data(), buf, sizeof buf);
    return buf;
}

std::optional<Endpoint> parse_ip(const std::string& s, std::uint16_t port) {
    Endpoint e;
    e.port = port;
    if (inet_pton(AF_INET, s.c_str(), e.ip.data()) == 1) return e;
    e.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), e.ip.data()) == 1) return e;
    return std::nullopt;
}

std::optional<NodeId> parse_id(const nlohmann::json& j) {
    if (!j.is_string()) return std::nullopt;
    std::string raw;
    if (!from_hex(j.get<std::string>(), raw) || raw.size() != krpc::kIdSize) return std::nullopt;
    return NodeId::from(raw);
}

} // namespace

std::string DhtNode::save_state(TimeMs now) const {
    nlohmann::json j;
    j["id"] = to_hex(std::string_view(reinterpret_cast<const char*>(table_.self().b.data()), table_.self().b.size()));
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& c : table_.good_nodes(now)) {
        if (nodes.size() >= kMaxSavedNodes) break;
        nodes.push_back(
            {{"ip", ip_text(c.addr)},
             {"port", c.addr.port},
             {"id", to_hex(std::string_view(reinterpret_cast<const char*>(c.id.b.data()), c.id.b.size()))}});
    }
    j["nodes"] = std::move(nodes);
    return j.dump(1);
}

std::optional<NodeId> DhtNode::saved_id(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id")) return std::nullopt;
    return parse_id(j["id"]);
}

void DhtNode::load_nodes(std::string_view text, TimeMs now) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("nodes") || !j["nodes"].is_array()) return;
    std::size_t n = 0;
    for (const auto& e : j["nodes"]) {
        if (++n > kMaxSavedNodes) break;
        if (!e.is_object() || !e.contains("ip") || !e["ip"].is_string() || !e.contains("port") ||
            !e["port"].is_number_unsigned())
            continue;
        const auto port = e["port"].get<std::uint64_t>();
        if (port == 0 || port > 65535) continue;
        auto addr = parse_ip(e["ip"].get<std::string>(), static_cast<std::uint16_t>(port));
        if (!addr) continue;
        // Pinged, not trusted: a saved node enters the table again only when it answers.
        auto id = e.contains("id") ? parse_id(e["id"]) : std::nullopt;
        send_query(*addr, id, krpc::ping(table_.self()), Purpose::ping, 0, now);
    }
}

DhtStats DhtNode::stats(TimeMs now) const {
    DhtStats s = counters_;
    s.id = table_.self();
    s.external = external_;
    s.nodes = table_.size();
    s.good = table_.size(NodeState::good, now);
    s.questionable = table_.size(NodeState::questionable, now);
    s.buckets = table_.stats(now);
    s.replacements = 0;
    for (const auto& b : s.buckets) s.replacements += b.replacements;
    s.searches = searches_.size() - queue_.size();
    s.queued_searches = queue_.size();
    s.pending = pending_.size();
    s.tracked = tracked_.size();
    s.stored_torrents = store_.torrents();
    s.stored_peers = store_.peers();
    s.memory_bytes = memory_bytes();
    return s;
}

std::string DhtNode::describe(TimeMs now) const {
    const DhtStats s = stats(now);
    std::string out;
    out += "dht id " + to_hex(std::string_view(reinterpret_cast<const char*>(s.id.b.data()), s.id.b.size()));
    if (s.external) out += ", external address " + ip_text(*s.external);
    out += "\n";
    out += "nodes " + std::to_string(s.nodes) + " (" + std::to_string(s.good) + " good, " +
           std::to_string(s.questionable) + " questionable), " + std::to_string(s.replacements) + " replacements, " +
           std::to_string(s.buckets.size()) + " buckets\n";
    out += "lookups " + std::to_string(s.searches) + " running, " + std::to_string(s.queued_searches) + " waiting, " +
           std::to_string(s.pending) + " queries in flight; " + std::to_string(s.tracked) + " torrents announced\n";
    out +=
        "stored " + std::to_string(s.stored_peers) + " peers for " + std::to_string(s.stored_torrents) + " torrents\n";
    out += "packets in " + std::to_string(s.packets_in) + " out " + std::to_string(s.packets_out) + ", bytes in " +
           std::to_string(s.bytes_in) + " out " + std::to_string(s.bytes_out) + "; queries in " +
           std::to_string(s.queries_in) + ", replies " + std::to_string(s.replies_in) + ", timeouts " +
           std::to_string(s.timeouts) + ", dropped " + std::to_string(s.dropped_in) + ", rate-limited " +
           std::to_string(s.rate_limited) + "\n";
    if (s.lookups_done)
        out += "lookups done " + std::to_string(s.lookups_done) + ", " +
               std::to_string(s.lookup_queries / s.lookups_done) + " queries each on average\n";
    out += "memory " + std::to_string(s.memory_bytes) + " bytes\n";
    out += "bucket  good  questionable  bad  replacements\n";
    for (const auto& b : s.buckets) {
        char line[96];
        std::snprintf(line, sizeof line, "%6d  %4zu  %12zu  %3zu  %12zu\n", b.prefix_bits, b.good, b.questionable,
                      b.bad, b.replacements);
        out += line;
    }
    return out;
}

} // namespace p2p::dht
