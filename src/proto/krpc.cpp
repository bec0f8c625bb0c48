// KRPC codec of the Mainline DHT (BEP 5, with BEP 32's IPv6 contacts, BEP 42's "ip" and BEP 43's "ro"); see
// proto/krpc.hpp.
#include "proto/krpc.hpp"

#include <cstring>

#include "base/bytes.hpp"
#include "proto/bencode.hpp"

namespace p2p::krpc {

namespace {

constexpr const char* kOp = "krpc.decode";
// Bencode bounds for one datagram: at most kMaxDatagram bytes, which can hold at most ~750 values ("0:" each).
constexpr bencode::Limits kLimits{/*max_depth=*/kMaxDepth, /*max_tokens=*/1024, /*max_input=*/kMaxDatagram};

// BEP 5 method names, indexed by Method.
constexpr std::string_view kMethodNames[] = {"ping", "find_node", "get_peers", "announce_peer"};

Error bad(std::string what) { return make_error(kOp, std::move(what), Errc::bad_input); }

// `"key"`, built by appending (GCC 12 warns falsely, -Wrestrict, on some operator+ chains of literals).
std::string quoted(std::string_view key) {
    std::string s = "\"";
    s.append(key);
    s += '"';
    return s;
}

std::string cut(std::string_view s, std::size_t max) { return std::string(s.substr(0, max)); }

// One compact peer of 6 (IPv4) or 18 (IPv6) bytes: address, then the port big-endian (BEP 5, BEP 32).
udp::CompactPeer peer_from(std::string_view s) {
    udp::CompactPeer p;
    p.v6 = s.size() == kPeerV6Size;
    std::memcpy(p.ip.data(), s.data(), s.size() - 2);
    p.port = read_be16(s, s.size() - 2);
    return p;
}

std::string compact(const udp::CompactPeer& p) {
    std::string s;
    udp::append_compact_peer(s, p);
    return s;
}

// A 20-byte string under `key` of the dictionary `d` (named `where` in errors).
Result<NodeId> get_id(const bencode::Value& d, std::string_view key, std::string_view where) {
    const bencode::Value* x = d.find(key);
    if (!x) return bad(std::string(where) + " has no " + quoted(key));
    if (!x->is_string()) return bad(quoted(key) + " is not a string");
    const std::string& s = x->as_string();
    if (s.size() != kIdSize) return bad(quoted(key) + " of " + std::to_string(s.size()) + " bytes, not 20");
    return NodeId::from(s);
}

// "nodes" (26-byte entries) or "nodes6" (38-byte entries, BEP 32), appended to `out`.
Status get_nodes(const bencode::Value& r, std::string_view key, bool v6, std::vector<NodeInfo>& out) {
    const bencode::Value* x = r.find(key);
    if (!x) return ok_status();
    if (!x->is_string()) return bad(quoted(key) + " is not a string");
    const std::string& s = x->as_string();
    const std::size_t size = v6 ? kNodeV6Size : kNodeV4Size;
    if (s.size() % size != 0)
        return bad(quoted(key) + " of " + std::to_string(s.size()) + " bytes, not a multiple of " +
                   std::to_string(size));
    const std::size_t count = s.size() / size;
    if (count > kMaxNodes)
        return bad(quoted(key) + " lists " + std::to_string(count) + " nodes (limit " + std::to_string(kMaxNodes) +
                   ")");
    std::string_view all(s);
    for (std::size_t i = 0; i < count; ++i) {
        std::string_view entry = all.substr(i * size, size);
        out.push_back(NodeInfo{NodeId::from(entry), peer_from(entry.substr(kIdSize))});
    }
    return ok_status();
}

// "values": a list of compact peers, each of 6 or 18 bytes (BEP 5, BEP 32).
Status get_values(const bencode::Value& r, std::vector<udp::CompactPeer>& out) {
    const bencode::Value* x = r.find("values");
    if (!x) return ok_status();
    if (!x->is_list()) return bad("\"values\" is not a list");
    const bencode::List& l = x->as_list();
    if (l.size() > kMaxValues)
        return bad("\"values\" lists " + std::to_string(l.size()) + " peers (limit " + std::to_string(kMaxValues) +
                   ")");
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (!l[i].is_string()) return bad("value " + std::to_string(i) + " is not a string");
        const std::string& s = l[i].as_string();
        if (s.size() != kPeerV4Size && s.size() != kPeerV6Size)
            return bad("value " + std::to_string(i) + " of " + std::to_string(s.size()) + " bytes, not 6 or 18");
        out.push_back(peer_from(s));
    }
    return ok_status();
}

// A token: optional in responses, required in announce_peer.
Status get_token(const bencode::Value& d, std::optional<std::string>& out) {
    const bencode::Value* x = d.find("token");
    if (!x) return ok_status();
    if (!x->is_string()) return bad("\"token\" is not a string");
    if (x->as_string().size() > kMaxToken)
        return bad("\"token\" of " + std::to_string(x->as_string().size()) + " bytes (limit " +
                   std::to_string(kMaxToken) + ")");
    out = x->as_string();
    return ok_status();
}

Method method_from(std::string_view name) {
    for (std::size_t i = 0; i < std::size(kMethodNames); ++i)
        if (name == kMethodNames[i]) return static_cast<Method>(i);
    return Method::unknown;
}

Result<Query> decode_query(const bencode::Value& top) {
    const bencode::Value* qv = top.find("q");
    if (!qv) return bad("query has no \"q\"");
    if (!qv->is_string()) return bad("\"q\" is not a string");
    Query q;
    q.method = method_from(qv->as_string());
    if (q.method == Method::unknown) {
        // BEP 5 defines no arguments for it: the node answers error 204 whatever "a" holds.
        q.unknown_name = cut(qv->as_string(), kMaxMethodName);
        return q;
    }
    const bencode::Value* a = top.find("a");
    if (!a) return bad("query has no \"a\"");
    if (!a->is_dict()) return bad("\"a\" is not a dictionary");
    auto id = get_id(*a, "id", "\"a\""); // BEP 5: "All queries have an "id" key"
    if (!id) return id.error();
    q.id = *id;
    switch (q.method) {
    case Method::ping: break;
    case Method::find_node: {
        auto target = get_id(*a, "target", "find_node");
        if (!target) return target.error();
        q.target = *target;
        break;
    }
    case Method::get_peers:
    case Method::announce_peer: {
        auto ih = get_id(*a, "info_hash", method_name(q.method));
        if (!ih) return ih.error();
        q.info_hash = *ih;
        break;
    }
    case Method::unknown: break;
    }
    if (q.method != Method::announce_peer) return q;

    const bencode::Value* port = a->find("port");
    if (!port) return bad("announce_peer has no \"port\"");
    if (!port->is_int()) return bad("\"port\" is not an integer");
    if (port->as_int() < 0 || port->as_int() > 65535)
        return bad("\"port\" " + std::to_string(port->as_int()) + " out of range");
    q.port = static_cast<std::uint16_t>(port->as_int());
    // BEP 5: "optional argument called implied_port which value is either 0 or 1. If it is present and non-zero,
    // the port argument should be ignored and the source port of the UDP packet should be used".
    if (const bencode::Value* ip = a->find("implied_port")) {
        if (!ip->is_int()) return bad("\"implied_port\" is not an integer");
        q.implied_port = ip->as_int() != 0;
    }
    std::optional<std::string> token;
    if (auto s = get_token(*a, token); !s) return s.error();
    if (!token) return bad("announce_peer has no \"token\"");
    q.token = std::move(*token);
    return q;
}

Result<Response> decode_response(const bencode::Value& top) {
    const bencode::Value* r = top.find("r");
    if (!r) return bad("response has no \"r\"");
    if (!r->is_dict()) return bad("\"r\" is not a dictionary");
    Response resp;
    auto id = get_id(*r, "id", "\"r\""); // BEP 5: "All responses have an "id" key"
    if (!id) return id.error();
    resp.id = *id;
    if (auto s = get_nodes(*r, "nodes", false, resp.nodes); !s) return s.error();
    if (auto s = get_nodes(*r, "nodes6", true, resp.nodes); !s) return s.error();
    if (auto s = get_values(*r, resp.values); !s) return s.error();
    if (auto s = get_token(*r, resp.token); !s) return s.error();
    return resp;
}

Result<ErrorReply> decode_error(const bencode::Value& top) {
    const bencode::Value* e = top.find("e");
    if (!e) return bad("error has no \"e\"");
    // BEP 5: "The value of "e" is a list. The first element is an integer representing the error code. The second
    // element is a string containing the error message."
    if (!e->is_list()) return bad("\"e\" is not a list");
    const bencode::List& l = e->as_list();
    if (l.size() < 2 || !l[0].is_int() || !l[1].is_string()) return bad("\"e\" is not [code, message]");
    return ErrorReply{l[0].as_int(), l[1].as_string()};
}

// The top-level dictionary of a datagram, or why it is none.
Result<bencode::Value> top_level(std::string_view datagram) {
    if (datagram.size() > kMaxDatagram)
        return bad("datagram of " + std::to_string(datagram.size()) + " bytes (limit " + std::to_string(kMaxDatagram) +
                   ")");
    auto v = bencode::decode(datagram, kLimits);
    if (!v) return bad(v.error().what);
    if (!v->is_dict()) return bad("not a dictionary");
    return v;
}

Result<std::string> transaction(const bencode::Value& top) {
    const bencode::Value* t = top.find("t");
    if (!t) return bad("no \"t\"");
    if (!t->is_string()) return bad("\"t\" is not a string");
    if (t->as_string().size() > kMaxTransactionId)
        return bad("\"t\" of " + std::to_string(t->as_string().size()) + " bytes (limit " +
                   std::to_string(kMaxTransactionId) + ")");
    return t->as_string();
}

} // namespace

std::string_view method_name(Method m) {
    auto i = static_cast<std::size_t>(m);
    return i < std::size(kMethodNames) ? kMethodNames[i] : std::string_view();
}

bool same_peer(const udp::CompactPeer& a, const udp::CompactPeer& b) {
    return a.v6 == b.v6 && a.port == b.port && std::memcmp(a.ip.data(), b.ip.data(), a.v6 ? 16 : 4) == 0;
}

bool operator==(const NodeInfo& a, const NodeInfo& b) { return a.id == b.id && same_peer(a.addr, b.addr); }

bool operator==(const Response& a, const Response& b) {
    if (a.id != b.id || a.nodes != b.nodes || a.token != b.token || a.values.size() != b.values.size()) return false;
    for (std::size_t i = 0; i < a.values.size(); ++i)
        if (!same_peer(a.values[i], b.values[i])) return false;
    return true;
}

bool operator==(const Message& a, const Message& b) {
    if (a.t != b.t || a.v != b.v || a.ro != b.ro || a.ip.has_value() != b.ip.has_value()) return false;
    if (a.ip && !same_peer(*a.ip, *b.ip)) return false;
    return a.body == b.body;
}

Result<Message> decode(std::string_view datagram) {
    auto top = top_level(datagram);
    if (!top) return top.error();
    Message m;
    auto t = transaction(*top);
    if (!t) return t.error();
    m.t = std::move(*t);

    // BEP 5: "y" is "a single character value": "q", "r" or "e".
    const std::string* y = top->find_string("y");
    if (!y) return bad("no \"y\" string");
    if (*y == "q") {
        auto q = decode_query(*top);
        if (!q) return q.error();
        m.body = std::move(*q);
    } else if (*y == "r") {
        auto r = decode_response(*top);
        if (!r) return r.error();
        m.body = std::move(*r);
    } else if (*y == "e") {
        auto e = decode_error(*top);
        if (!e) return e.error();
        m.body = std::move(*e);
    } else {
        return bad("\"y\" is not \"q\", \"r\" or \"e\"");
    }

    // Optional hints: one that is ill-formed is dropped, never a reason to lose the message.
    if (const std::string* v = top->find_string("v"); v && v->size() <= kMaxVersion) m.v = *v;
    // BEP 42: "a compact binary representation of the requestor's IP and port".
    if (const std::string* ip = top->find_string("ip"); ip && (ip->size() == kPeerV4Size || ip->size() == kPeerV6Size))
        m.ip = peer_from(*ip);
    // BEP 43: a read-only node "places a 'ro' key in the top-level message dictionary and sets its value to 1".
    if (const std::int64_t* ro = top->find_int("ro")) m.ro = *ro != 0;
    return m;
}

std::optional<std::string> query_transaction(std::string_view datagram) {
    auto top = top_level(datagram);
    if (!top) return std::nullopt;
    const std::string* y = top->find_string("y");
    if (!y || *y != "q") return std::nullopt;
    auto t = transaction(*top);
    if (!t) return std::nullopt;
    return std::move(*t);
}

std::string encode(const Message& m) {
    // std::map keeps the keys sorted as raw byte strings, which is the order BEP 3 asks of a dictionary.
    bencode::Dict d;
    d["t"] = cut(m.t, kMaxTransactionId);
    if (m.v) d["v"] = cut(*m.v, kMaxVersion);
    if (m.ip) d["ip"] = compact(*m.ip);
    if (m.ro) d["ro"] = bencode::Value(kReadOnlyFlag);
    if (const Query* q = m.query()) {
        d["y"] = "q";
        bencode::Dict a;
        a["id"] = q->id.str();
        switch (q->method) {
        case Method::ping: break;
        case Method::find_node: a["target"] = q->target.str(); break;
        case Method::get_peers: a["info_hash"] = q->info_hash.str(); break;
        case Method::announce_peer:
            a["info_hash"] = q->info_hash.str();
            a["port"] = bencode::Value(std::int64_t{q->port});
            a["token"] = cut(q->token, kMaxToken);
            if (q->implied_port) a["implied_port"] = bencode::Value(std::int64_t{1});
            break;
        case Method::unknown: break;
        }
        d["q"] =
            q->method == Method::unknown ? cut(q->unknown_name, kMaxMethodName) : std::string(method_name(q->method));
        d["a"] = std::move(a);
    } else if (const Response* r = m.response()) {
        d["y"] = "r";
        bencode::Dict body;
        body["id"] = r->id.str();
        std::string nodes, nodes6;
        std::size_t n4 = 0, n6 = 0;
        for (const NodeInfo& n : r->nodes) {
            std::size_t& count = n.addr.v6 ? n6 : n4;
            if (count == kMaxNodes) continue;
            ++count;
            std::string& out = n.addr.v6 ? nodes6 : nodes;
            out.append(n.id.view());
            udp::append_compact_peer(out, n.addr);
        }
        if (n4) body["nodes"] = std::move(nodes);
        if (n6) body["nodes6"] = std::move(nodes6);
        if (!r->values.empty()) {
            bencode::List values;
            for (std::size_t i = 0; i < r->values.size() && i < kMaxValues; ++i)
                values.emplace_back(compact(r->values[i]));
            body["values"] = std::move(values);
        }
        if (r->token) body["token"] = cut(*r->token, kMaxToken);
        d["r"] = std::move(body);
    } else if (const ErrorReply* e = m.error()) {
        d["y"] = "e";
        d["e"] = bencode::List{bencode::Value(e->code), bencode::Value(e->message)};
    }
    return bencode::encode(bencode::Value(std::move(d)));
}

std::string encode_query(std::string_view t, const Query& q, bool read_only, const std::optional<std::string>& v) {
    Message m;
    m.t = std::string(t);
    m.body = q;
    m.ro = read_only;
    m.v = v;
    return encode(m);
}

std::string encode_response(std::string_view t, const Response& r, const std::optional<udp::CompactPeer>& requester_ip,
                            const std::optional<std::string>& v) {
    Message m;
    m.t = std::string(t);
    m.body = r;
    m.ip = requester_ip;
    m.v = v;
    return encode(m);
}

std::string encode_error(std::string_view t, std::int64_t code, std::string_view message,
                         const std::optional<udp::CompactPeer>& requester_ip, const std::optional<std::string>& v) {
    Message m;
    m.t = std::string(t);
    m.body = ErrorReply{code, std::string(message)};
    m.ip = requester_ip;
    m.v = v;
    return encode(m);
}

Query ping(const NodeId& id) {
    Query q;
    q.method = Method::ping;
    q.id = id;
    return q;
}

Query find_node(const NodeId& id, const NodeId& target) {
    Query q;
    q.method = Method::find_node;
    q.id = id;
    q.target = target;
    return q;
}

Query get_peers(const NodeId& id, const NodeId& info_hash) {
    Query q;
    q.method = Method::get_peers;
    q.id = id;
    q.info_hash = info_hash;
    return q;
}

Query announce_peer(const NodeId& id, const NodeId& info_hash, std::uint16_t port, std::string token,
                    bool implied_port) {
    Query q;
    q.method = Method::announce_peer;
    q.id = id;
    q.info_hash = info_hash;
    q.port = port;
    q.token = std::move(token);
    q.implied_port = implied_port;
    return q;
}

} // namespace p2p::krpc
