// KRPC codec (proto/krpc.hpp) against golden bytes from libtorrent's own bencoder (tools/krpc_golden.py, which also
// checks them against BEP 5's printed examples: rerun it and paste its output below after changing a message), then
// round trips, every truncation, the bounds, each refusal, and what the decoder must let through (unknown methods,
// unknown keys, the optional hints of BEP 5, 42 and 43).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "base/bytes.hpp"
#include "proto/bencode.hpp"
#include "proto/krpc.hpp"
#include "test_util.hpp"

using namespace p2p;
using namespace p2p::krpc;
using p2p::test::unhex;

namespace {

// tools/krpc_golden.py output (BEP 5's examples, t = "aa").
const std::string kPingQuery =
    "64313a6164323a696432303a6162636465666768696a3031323334353637383965313a71343a70696e67313a"
    "74323a6161313a79313a7165";
const std::string kPingResponse = "64313a7264323a696432303a6d6e6f707172737475767778797a31323334353665313a74323a6161313a"
                                  "79313a7265";
const std::string kFindNodeQuery =
    "64313a6164323a696432303a6162636465666768696a30313233343536373839363a7461726765743230"
    "3a6d6e6f707172737475767778797a31323334353665313a71393a66696e645f6e6f6465313a74323a"
    "6161313a79313a7165";
const std::string kFindNodeResponse =
    "64313a7264323a696432303a303132333435363738396162636465666768696a353a6e6f64657335323a6d6e6f7071727374757677787"
    "97a313233343536c00002011ae1303132333435363738396162636465666768696ac6336407c8d565313a74323a6161313a79313a7265";
const std::string kGetPeersQuery = "64313a6164323a696432303a6162636465666768696a30313233343536373839393a696e666f5f6861"
                                   "736832303a6d6e6f707172737475767778797a31323334353665313a71393a6765745f706565727331"
                                   "3a74323a6161313a79313a7165";
const std::string kGetPeersValues = "64313a7264323a696432303a6162636465666768696a30313233343536373839353a746f6b656e383a"
                                    "616f6575736e7468363a76616c7565736c363a61786a652e75363a696468746e6d6565313a74323a"
                                    "6161313a79313a7265";
const std::string kGetPeersNodes =
    "64313a7264323a696432303a6162636465666768696a30313233343536373839353a6e6f64657335323a6d6e6f70717273747576777879"
    "7a313233343536c00002011ae1303132333435363738396162636465666768696ac6336407c8d5353a746f6b656e383a616f6575736e74"
    "6865313a74323a6161313a79313a7265";
const std::string kAnnounceImplied =
    "64313a6164323a696432303a6162636465666768696a3031323334353637383931323a696d706c6965645f706f7274693165393a696e66"
    "6f5f6861736832303a6d6e6f707172737475767778797a313233343536343a706f7274693638383165353a746f6b656e383a616f657573"
    "6e746865313a7131333a616e6e6f756e63655f70656572313a74323a6161313a79313a7165";
const std::string kAnnounceQuery =
    "64313a6164323a696432303a6162636465666768696a30313233343536373839393a696e666f5f6861736832303a6d6e6f707172737475"
    "767778797a313233343536343a706f7274693638383165353a746f6b656e383a616f6575736e746865313a7131333a616e6e6f756e6365"
    "5f70656572313a74323a6161313a79313a7165";
const std::string kError = "64313a656c693230316532333a412047656e65726963204572726f72204f63757272656465313a74323a616131"
                           "3a79313a6565";
const std::string kPingResponseIpV = "64323a6970363a7c1f4b151ae1313a7264323a696432303a6d6e6f707172737475767778797a3132"
                                     "3334353665313a74323a6161313a76343a4c540200313a79313a7265";
const std::string kPingQueryRo =
    "64313a6164323a696432303a6162636465666768696a3031323334353637383965313a71343a70696e6732"
    "3a726f693165313a74323a6161313a79313a7165";
const std::string kGetPeersV6 =
    "64313a7264323a696432303a6162636465666768696a30313233343536373839353a6e6f64657332363a6d6e6f70717273747576777879"
    "7a313233343536c00002011ae1363a6e6f6465733633383a303132333435363738396162636465666768696a20010db800000000000000"
    "00000000011ae1353a746f6b656e383a616f6575736e7468363a76616c7565736c31383a20010db8000000000000000000000002c8d536"
    "3a61786a652e756565313a74323a6161313a79313a7265";
const std::string kError204 = "64313a656c693230346531343a4d6574686f6420556e6b6e6f776e65313a74323a6161313a79313a6565";

const std::vector<std::string> kGolden = {kPingQuery,     kPingResponse,   kFindNodeQuery,   kFindNodeResponse,
                                          kGetPeersQuery, kGetPeersValues, kGetPeersNodes,   kAnnounceImplied,
                                          kAnnounceQuery, kError,          kPingResponseIpV, kPingQueryRo,
                                          kGetPeersV6,    kError204};

const NodeId kIdA = NodeId::from("abcdefghij0123456789"); // BEP 5's querying node
const NodeId kIdM = NodeId::from("mnopqrstuvwxyz123456"); // BEP 5's target / info hash / responder
const NodeId kId0 = NodeId::from("0123456789abcdefghij"); // BEP 5's find_node responder

udp::CompactPeer v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d, std::uint16_t port) {
    udp::CompactPeer p;
    p.ip = {a, b, c, d};
    p.port = port;
    return p;
}

udp::CompactPeer v6(std::string_view ip16, std::uint16_t port) {
    udp::CompactPeer p;
    p.v6 = true;
    std::copy(ip16.begin(), ip16.end(), p.ip.begin());
    p.port = port;
    return p;
}

udp::CompactPeer peer_of(std::string_view compact6) { // BEP 5's "axje.u" style 6-byte values
    return v4(compact6[0], compact6[1], compact6[2], compact6[3], read_be16(compact6, 4));
}

// unhex() for static initialisers (test_util's unhex uses REQUIRE, which needs a running test).
std::string hex16(std::string_view hex) {
    std::string out;
    if (!from_hex(hex, out) || out.size() != 16) std::abort();
    return out;
}

// The contacts of tools/krpc_golden.py.
const NodeInfo kNodeM{kIdM, v4(192, 0, 2, 1, 6881)};
const NodeInfo kNode0{kId0, v4(198, 51, 100, 7, 51413)};
const NodeInfo kNode0v6{kId0, v6(hex16("20010db8000000000000000000000001"), 6881)};
const udp::CompactPeer kPeerV6 = v6(hex16("20010db8000000000000000000000002"), 51413);

Message decoded(const std::string& hex) {
    auto r = decode(unhex(hex));
    REQUIRE_MESSAGE(r.ok(), r.error().str());
    return *r;
}

std::string refusal(std::string_view bytes) {
    auto r = decode(bytes);
    if (r.ok()) return "accepted";
    CHECK(r.error().code == Errc::bad_input);
    CHECK(r.error().op == "krpc.decode");
    return r.error().what;
}

// A golden message as a bencode tree, to be changed and re-encoded by a test.
bencode::Value tree(const std::string& hex) {
    auto v = bencode::decode(unhex(hex));
    REQUIRE(v.ok());
    return *v;
}
bencode::Dict& dict(bencode::Value& v, const char* key) { return v.as_dict()[key].as_dict(); }
std::string bytes(const bencode::Value& v) { return bencode::encode(v); }

Response response(const NodeId& id, std::vector<NodeInfo> nodes, std::vector<udp::CompactPeer> values,
                  std::optional<std::string> token) {
    Response r;
    r.id = id;
    r.nodes = std::move(nodes);
    r.values = std::move(values);
    r.token = std::move(token);
    return r;
}

} // namespace

TEST_CASE("krpc: golden queries of BEP 5") {
    CHECK(to_hex(encode_query("aa", ping(kIdA))) == kPingQuery);
    CHECK(to_hex(encode_query("aa", find_node(kIdA, kIdM))) == kFindNodeQuery);
    CHECK(to_hex(encode_query("aa", get_peers(kIdA, kIdM))) == kGetPeersQuery);
    CHECK(to_hex(encode_query("aa", announce_peer(kIdA, kIdM, 6881, "aoeusnth", true))) == kAnnounceImplied);
    CHECK(to_hex(encode_query("aa", announce_peer(kIdA, kIdM, 6881, "aoeusnth"))) == kAnnounceQuery);

    Message m = decoded(kPingQuery);
    CHECK(m.t == "aa");
    CHECK(m.kind() == Kind::query);
    REQUIRE(m.query());
    CHECK(*m.query() == ping(kIdA));
    CHECK_FALSE(m.v);
    CHECK_FALSE(m.ip);
    CHECK_FALSE(m.ro);
    CHECK(*decoded(kFindNodeQuery).query() == find_node(kIdA, kIdM));
    CHECK(*decoded(kGetPeersQuery).query() == get_peers(kIdA, kIdM));
    Query ann = *decoded(kAnnounceImplied).query();
    CHECK(ann.method == Method::announce_peer);
    CHECK(ann.id == kIdA);
    CHECK(ann.info_hash == kIdM);
    CHECK(ann.port == 6881);
    CHECK(ann.token == "aoeusnth");
    CHECK(ann.implied_port);
    CHECK_FALSE(decoded(kAnnounceQuery).query()->implied_port);
    CHECK(method_name(Method::announce_peer) == "announce_peer");
    CHECK(method_name(Method::unknown).empty());
}

TEST_CASE("krpc: golden responses and errors of BEP 5") {
    CHECK(to_hex(encode_response("aa", response(kIdM, {}, {}, std::nullopt))) == kPingResponse);
    CHECK(to_hex(encode_response("aa", response(kId0, {kNodeM, kNode0}, {}, std::nullopt))) == kFindNodeResponse);
    auto values = std::vector<udp::CompactPeer>{peer_of("axje.u"), peer_of("idhtnm")};
    CHECK(to_hex(encode_response("aa", response(kIdA, {}, values, "aoeusnth"))) == kGetPeersValues);
    CHECK(to_hex(encode_response("aa", response(kIdA, {kNodeM, kNode0}, {}, "aoeusnth"))) == kGetPeersNodes);
    CHECK(to_hex(encode_error("aa", kErrorGeneric, "A Generic Error Ocurred")) == kError);
    CHECK(to_hex(encode_error("aa", kErrorMethodUnknown, "Method Unknown")) == kError204);

    Message ping_r = decoded(kPingResponse);
    CHECK(ping_r.kind() == Kind::response);
    CHECK(*ping_r.response() == response(kIdM, {}, {}, std::nullopt));
    CHECK(*decoded(kFindNodeResponse).response() == response(kId0, {kNodeM, kNode0}, {}, std::nullopt));
    Response vals = *decoded(kGetPeersValues).response();
    CHECK(vals == response(kIdA, {}, values, "aoeusnth"));
    CHECK(vals.values[0].ip[0] == 'a');
    CHECK(vals.values[0].port == ('.' << 8 | 'u'));
    CHECK(*decoded(kGetPeersNodes).response() == response(kIdA, {kNodeM, kNode0}, {}, "aoeusnth"));
    Message err = decoded(kError);
    CHECK(err.kind() == Kind::error);
    CHECK(*err.error() == ErrorReply{201, "A Generic Error Ocurred"});
    CHECK(decoded(kError204).error()->code == kErrorMethodUnknown);
}

TEST_CASE("krpc: BEP 5's placeholder nodes \"def456...\" are no compact node info") {
    // The BEP prints find_node and get_peers replies with a 9-byte stand-in for the nodes: it is refused.
    CHECK(refusal("d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re") ==
          "\"nodes\" of 9 bytes, not a multiple of 26");
    CHECK(refusal("d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re") ==
          "\"nodes\" of 9 bytes, not a multiple of 26");
}

TEST_CASE("krpc: golden \"ip\" and \"v\" (BEP 42, BEP 5), \"ro\" (BEP 43), IPv6 contacts (BEP 32)") {
    udp::CompactPeer requester = v4(124, 31, 75, 21, 6881);
    CHECK(to_hex(encode_response("aa", response(kIdM, {}, {}, std::nullopt), requester,
                                 std::string("LT\x02\x00", 4))) == kPingResponseIpV);
    Message m = decoded(kPingResponseIpV);
    REQUIRE(m.ip);
    CHECK(same_peer(*m.ip, requester));
    CHECK(m.v == std::optional<std::string>(std::string("LT\x02\x00", 4)));
    CHECK(*m.response() == response(kIdM, {}, {}, std::nullopt));

    CHECK(to_hex(encode_query("aa", ping(kIdA), true)) == kPingQueryRo);
    CHECK(decoded(kPingQueryRo).ro);

    Response six = response(kIdA, {kNodeM, kNode0v6}, {kPeerV6, peer_of("axje.u")}, "aoeusnth");
    CHECK(to_hex(encode_response("aa", six)) == kGetPeersV6);
    Response got = *decoded(kGetPeersV6).response();
    CHECK(got == six);
    CHECK(got.nodes[1].addr.v6);
    CHECK(got.values[0].v6);
    CHECK_FALSE(got.values[1].v6);
    // Nodes come back IPv4 first ("nodes", then "nodes6"), whatever order they were given in.
    Response mixed = response(kIdA, {kNode0v6, kNodeM}, {}, std::nullopt);
    CHECK(decode(encode_response("aa", mixed))->response()->nodes == std::vector<NodeInfo>{kNodeM, kNode0v6});
}

TEST_CASE("krpc: round trips") {
    std::vector<Message> all;
    for (const std::string& hex : kGolden) all.push_back(decoded(hex));
    Message big;
    big.t = std::string(kMaxTransactionId, '\xff');
    big.v = std::string(kMaxVersion, 'v');
    big.ip = kPeerV6;
    big.ro = true;
    std::vector<NodeInfo> nodes;
    for (std::size_t i = 0; i < kMaxNodes; ++i) {
        nodes.push_back(NodeInfo{kIdA, v4(10, 0, 0, static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(i))});
        nodes.push_back(NodeInfo{kIdM, v6(std::string(16, static_cast<char>(i)), 65535)});
    }
    std::vector<udp::CompactPeer> values;
    for (std::size_t i = 0; i < kMaxValues; ++i) values.push_back(v4(1, 2, 3, static_cast<std::uint8_t>(i), 1));
    // 2 x 16 nodes and 100 values exceed a datagram together: one message for each.
    std::vector<NodeInfo> sorted = nodes;
    std::stable_partition(sorted.begin(), sorted.end(), [](const NodeInfo& n) { return !n.addr.v6; });
    big.body = response(kId0, sorted, {}, std::string(kMaxToken, '\0'));
    all.push_back(big);
    big.body = response(kId0, {}, values, std::string());
    all.push_back(big);
    big.body = announce_peer(kIdA, kIdM, 0, "", true);
    all.push_back(big);
    big.body = announce_peer(kIdA, kIdM, 65535, std::string(kMaxToken, 't'));
    all.push_back(big);
    big.body = ErrorReply{-1, ""};
    all.push_back(big);
    big.t.clear();
    big.body = ErrorReply{INT64_MAX, "x"};
    all.push_back(big);
    for (const Message& m : all) {
        std::string bytes = encode(m);
        CAPTURE(bytes);
        CHECK(bytes.size() <= kMaxDatagram);
        auto r = decode(bytes);
        REQUIRE_MESSAGE(r.ok(), r.error().str());
        CHECK(*r == m);
        CHECK(encode(*r) == bytes);
    }
}

TEST_CASE("krpc: every truncation is refused cleanly") {
    for (const std::string& hex : kGolden) {
        std::string full = unhex(hex);
        for (std::size_t n = 0; n < full.size(); ++n) {
            CAPTURE(hex);
            CAPTURE(n);
            std::string_view part = std::string_view(full).substr(0, n);
            CHECK(refusal(part) != "accepted");
            CHECK_FALSE(query_transaction(part));
        }
        CHECK(decode(full).ok());
        CHECK(refusal(full + "e") != "accepted"); // trailing bytes
    }
}

TEST_CASE("krpc: bounds") {
    // The datagram: kMaxDatagram bytes are parsed, one more is not.
    auto pad = [](std::size_t total) {
        bencode::Value v = tree(kPingQuery);
        v.as_dict()["x"] = std::string(total - 100, 'p');
        // Grow the padding by what is missing (its length keeps its 4 digits).
        std::size_t n = total - 100 + total - bytes(v).size();
        v.as_dict()["x"] = std::string(n, 'p');
        return bytes(v);
    };
    REQUIRE(pad(kMaxDatagram).size() == kMaxDatagram);
    CHECK(decode(pad(kMaxDatagram)).ok());
    CHECK(refusal(pad(kMaxDatagram + 1)) == "datagram of 1501 bytes (limit 1500)");
    CHECK(refusal(std::string(100000, 'd')) == "datagram of 100000 bytes (limit 1500)");
    // Nesting: the limit holds inside keys nobody reads.
    bencode::Value deep = tree(kPingQuery);
    bencode::Value nest = bencode::List{};
    for (std::size_t i = 0; i < kMaxDepth; ++i) nest = bencode::List{nest};
    deep.as_dict()["z"] = nest;
    CHECK(refusal(bytes(deep)).find("nesting deeper than 8") != std::string::npos);

    // Nodes per family, values, token, transaction id: the bound passes, one more is refused.
    std::string n4, n6;
    for (std::size_t i = 0; i <= kMaxNodes; ++i) {
        n4 += std::string(kIdA.view()) + std::string(6, '\1');
        n6 += std::string(kIdA.view()) + std::string(18, '\1');
    }
    bencode::Value r = tree(kPingResponse);
    dict(r, "r")["nodes"] = n4.substr(kNodeV4Size);
    CHECK(decode(bytes(r))->response()->nodes.size() == kMaxNodes);
    dict(r, "r")["nodes6"] = n6.substr(kNodeV6Size);
    CHECK(decode(bytes(r))->response()->nodes.size() == 2 * kMaxNodes);
    dict(r, "r")["nodes"] = n4;
    CHECK(refusal(bytes(r)) == "\"nodes\" lists 17 nodes (limit 16)");
    dict(r, "r")["nodes"] = "";
    dict(r, "r")["nodes6"] = n6;
    CHECK(refusal(bytes(r)) == "\"nodes6\" lists 17 nodes (limit 16)");

    bencode::Value p = tree(kGetPeersValues);
    bencode::List values(kMaxValues, bencode::Value("axje.u"));
    dict(p, "r")["values"] = values;
    CHECK(decode(bytes(p))->response()->values.size() == kMaxValues);
    values.emplace_back("idhtnm");
    dict(p, "r")["values"] = values;
    CHECK(refusal(bytes(p)) == "\"values\" lists 101 peers (limit 100)");

    dict(p, "r")["values"] = bencode::List{};
    dict(p, "r")["token"] = std::string(kMaxToken, 't');
    CHECK(decode(bytes(p))->response()->token->size() == kMaxToken);
    dict(p, "r")["token"] = std::string(kMaxToken + 1, 't');
    CHECK(refusal(bytes(p)) == "\"token\" of 65 bytes (limit 64)");
    bencode::Value a = tree(kAnnounceQuery);
    dict(a, "a")["token"] = std::string(kMaxToken + 1, 't');
    CHECK(refusal(bytes(a)) == "\"token\" of 65 bytes (limit 64)");

    bencode::Value t = tree(kPingQuery);
    t.as_dict()["t"] = std::string(kMaxTransactionId, 't');
    CHECK(decode(bytes(t))->t.size() == kMaxTransactionId);
    t.as_dict()["t"] = std::string(kMaxTransactionId + 1, 't');
    CHECK(refusal(bytes(t)) == "\"t\" of 17 bytes (limit 16)");
    t.as_dict()["t"] = "";
    CHECK(decode(bytes(t))->t.empty()); // BEP 5 asks for "a short string"; empty is one
}

TEST_CASE("krpc: the encoder keeps within the bounds the decoder enforces") {
    std::vector<NodeInfo> nodes(kMaxNodes + 5, kNodeM);
    nodes.insert(nodes.end(), kMaxNodes + 1, kNode0v6);
    std::vector<udp::CompactPeer> values(kMaxValues + 1, peer_of("axje.u"));
    Message m;
    m.t = std::string(40, 't');
    m.v = std::string(kMaxVersion + 1, 'v');
    m.body = response(kIdA, nodes, {}, std::string(kMaxToken + 9, 'k'));
    auto r = decode(encode(m));
    REQUIRE(r.ok());
    CHECK(r->t == std::string(kMaxTransactionId, 't'));
    CHECK(r->v == std::string(kMaxVersion, 'v'));
    CHECK(r->response()->nodes.size() == 2 * kMaxNodes);
    CHECK(r->response()->token->size() == kMaxToken);
    m.body = response(kIdA, {}, values, std::nullopt);
    CHECK(decode(encode(m))->response()->values.size() == kMaxValues);
    m.body = announce_peer(kIdA, kIdM, 1, std::string(kMaxToken + 1, 'k'));
    CHECK(decode(encode(m))->query()->token.size() == kMaxToken);
}

TEST_CASE("krpc: wrong-length ids, nodes and values are refused") {
    for (std::size_t len : {0u, 19u, 21u, 40u}) {
        CAPTURE(len);
        std::string s(len, 'i');
        std::string want = " of " + std::to_string(len) + " bytes, not 20";
        bencode::Value q = tree(kFindNodeQuery);
        dict(q, "a")["id"] = s;
        CHECK(refusal(bytes(q)) == "\"id\"" + want);
        q = tree(kFindNodeQuery);
        dict(q, "a")["target"] = s;
        CHECK(refusal(bytes(q)) == "\"target\"" + want);
        q = tree(kAnnounceQuery);
        dict(q, "a")["info_hash"] = s;
        CHECK(refusal(bytes(q)) == "\"info_hash\"" + want);
        bencode::Value r = tree(kPingResponse);
        dict(r, "r")["id"] = s;
        CHECK(refusal(bytes(r)) == "\"id\"" + want);
    }
    bencode::Value q = tree(kPingQuery);
    dict(q, "a")["id"] = 20;
    CHECK(refusal(bytes(q)) == "\"id\" is not a string");
    dict(q, "a").erase("id");
    CHECK(refusal(bytes(q)) == "\"a\" has no \"id\"");
    q = tree(kGetPeersQuery);
    dict(q, "a").erase("info_hash");
    CHECK(refusal(bytes(q)) == "get_peers has no \"info_hash\"");

    bencode::Value r = tree(kFindNodeResponse);
    dict(r, "r")["nodes"] = std::string(kNodeV4Size * 2 - 1, 'n');
    CHECK(refusal(bytes(r)) == "\"nodes\" of 51 bytes, not a multiple of 26");
    dict(r, "r")["nodes"] = std::string(kNodeV6Size, 'n'); // an IPv6 contact under the IPv4 key
    CHECK(refusal(bytes(r)) == "\"nodes\" of 38 bytes, not a multiple of 26");
    dict(r, "r")["nodes"] = bencode::List{};
    CHECK(refusal(bytes(r)) == "\"nodes\" is not a string");
    dict(r, "r").erase("nodes");
    dict(r, "r")["nodes6"] = std::string(kNodeV4Size, 'n');
    CHECK(refusal(bytes(r)) == "\"nodes6\" of 26 bytes, not a multiple of 38");

    bencode::Value p = tree(kGetPeersValues);
    dict(p, "r")["values"] = bencode::List{"axje.u", "axje.uu"};
    CHECK(refusal(bytes(p)) == "value 1 of 7 bytes, not 6 or 18");
    dict(p, "r")["values"] = bencode::List{"", "axje.u"};
    CHECK(refusal(bytes(p)) == "value 0 of 0 bytes, not 6 or 18");
    dict(p, "r")["values"] = bencode::List{6};
    CHECK(refusal(bytes(p)) == "value 0 is not a string");
    dict(p, "r")["values"] = "axje.uidhtnm"; // a compact string, as trackers send, is not BEP 5's list
    CHECK(refusal(bytes(p)) == "\"values\" is not a list");
    dict(p, "r")["values"] = bencode::List{};
    dict(p, "r")["token"] = 7;
    CHECK(refusal(bytes(p)) == "\"token\" is not a string");
}

TEST_CASE("krpc: unknown methods decode as Method::unknown") {
    // BEP 44's "get", with arguments nobody reads: the node answers error 204.
    Message m = *decode("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q3:get1:t2:xy1:y1:qe");
    REQUIRE(m.query());
    CHECK(m.query()->method == Method::unknown);
    CHECK(m.query()->unknown_name == "get");
    CHECK(m.t == "xy");
    // No "a" at all, an "a" of another type, a bad id: still only unknown.
    CHECK(decode("d1:q17:sample_infohashes1:t2:xy1:y1:qe")->query()->unknown_name == "sample_infohashes");
    CHECK(decode("d1:ai5e1:q4:pong1:t2:xy1:y1:qe")->query()->method == Method::unknown);
    CHECK(decode("d1:ad2:id1:xe1:q0:1:t2:xy1:y1:qe")->query()->unknown_name.empty());
    // A long name is kept cut, for logs.
    std::string name(200, 'n');
    auto r = decode("d1:q200:" + name + "1:t2:xy1:y1:qe");
    REQUIRE(r.ok());
    CHECK(r->query()->unknown_name == name.substr(0, kMaxMethodName));
    // Method names are case-sensitive.
    std::string upper = unhex(kPingQuery);
    upper.replace(upper.find("ping"), 4, "PING");
    CHECK(decode(upper)->query()->method == Method::unknown);
    // Round trip through the encoder.
    Query q;
    q.method = Method::unknown;
    q.unknown_name = "vote";
    auto again = decode(encode_query("aa", q));
    REQUIRE(again.ok());
    CHECK(*again->query() == q);
    // "q" itself must be a string.
    CHECK(refusal("d1:ad2:id20:abcdefghij0123456789e1:qi1e1:t2:aa1:y1:qe") == "\"q\" is not a string");
    CHECK(refusal("d1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe") == "query has no \"q\"");
}

TEST_CASE("krpc: unknown keys are ignored, dictionary keys in any order") {
    // BEP 32's "want", BEP 33's "noseed" and "scrape", a top-level key of a future extension.
    bencode::Value q = tree(kGetPeersQuery);
    dict(q, "a")["want"] = bencode::List{"n4", "n6"};
    dict(q, "a")["noseed"] = 1;
    dict(q, "a")["scrape"] = 1;
    q.as_dict()["zz"] = bencode::Dict{{"x", bencode::List{1, "y"}}};
    auto m = decode(bytes(q));
    REQUIRE(m.ok());
    CHECK(*m->query() == get_peers(kIdA, kIdM));
    CHECK(encode(*m) == unhex(kGetPeersQuery));
    bencode::Value r = tree(kGetPeersValues);
    dict(r, "r")["p"] = 6881;
    dict(r, "r")["samples"] = "xyz";
    CHECK(decode(bytes(r))->response()->values.size() == 2);
    // Keys out of order (some clients do not sort): read the same; the encoder sorts them.
    std::string unsorted = "d1:y1:q1:t2:aa1:q4:ping1:ad2:id20:abcdefghij0123456789ee";
    auto u = decode(unsorted);
    REQUIRE(u.ok());
    CHECK(encode(*u) == unhex(kPingQuery));
    // "implied_port" and "port" are ignored outside announce_peer, "token" in a get_peers query.
    bencode::Value g = tree(kGetPeersQuery);
    dict(g, "a")["port"] = "not a port";
    dict(g, "a")["token"] = 5;
    CHECK(decode(bytes(g)).ok());
}

TEST_CASE("krpc: announce_peer's port, implied_port and token") {
    auto with = [](const char* key, bencode::Value v) {
        bencode::Value a = tree(kAnnounceQuery);
        dict(a, "a")[key] = std::move(v);
        return bytes(a);
    };
    auto implied = [](const std::string& b) { return decode(b)->query()->implied_port; };
    CHECK_FALSE(implied(with("implied_port", 0)));
    CHECK(implied(with("implied_port", 1)));
    CHECK(implied(with("implied_port", 2))); // BEP 5: "present and non-zero"
    CHECK(implied(with("implied_port", -1)));
    CHECK(refusal(with("implied_port", "1")) == "\"implied_port\" is not an integer");
    // Encoded as 1 when set, left out otherwise.
    CHECK(encode(*decode(with("implied_port", 7))) == unhex(kAnnounceImplied));
    CHECK(encode(*decode(with("implied_port", 0))) == unhex(kAnnounceQuery));

    CHECK(decode(with("port", 0))->query()->port == 0); // with implied_port the node uses the source port
    CHECK(decode(with("port", 65535))->query()->port == 65535);
    CHECK(refusal(with("port", 65536)) == "\"port\" 65536 out of range");
    CHECK(refusal(with("port", -1)) == "\"port\" -1 out of range");
    CHECK(refusal(with("port", "6881")) == "\"port\" is not an integer");
    CHECK(decode(with("token", ""))->query()->token.empty());
    CHECK(refusal(with("token", bencode::List{})) == "\"token\" is not a string");
    bencode::Value a = tree(kAnnounceImplied);
    dict(a, "a").erase("port");
    CHECK(refusal(bytes(a)) == "announce_peer has no \"port\"");
    a = tree(kAnnounceQuery);
    dict(a, "a").erase("token");
    CHECK(refusal(bytes(a)) == "announce_peer has no \"token\"");
}

TEST_CASE("krpc: refusals of the envelope") {
    CHECK(refusal("") == "truncated input at byte 0");
    CHECK(refusal("le") == "not a dictionary");
    CHECK(refusal("4:ping") == "not a dictionary");
    CHECK(refusal("de") == "no \"t\"");
    CHECK(refusal("d1:ti1e1:y1:qe") == "\"t\" is not a string");
    CHECK(refusal("d1:t2:aae") == "no \"y\" string");
    CHECK(refusal("d1:t2:aa1:yi1ee") == "no \"y\" string");
    CHECK(refusal("d1:t2:aa1:y1:xe") == "\"y\" is not \"q\", \"r\" or \"e\"");
    CHECK(refusal("d1:t2:aa1:y2:qqe") == "\"y\" is not \"q\", \"r\" or \"e\"");
    CHECK(refusal("d1:t2:aa1:y0:e") == "\"y\" is not \"q\", \"r\" or \"e\"");
    CHECK(refusal("d1:a4:ping1:q4:ping1:t2:aa1:y1:qe") == "\"a\" is not a dictionary");
    CHECK(refusal("d1:q4:ping1:t2:aa1:y1:qe") == "query has no \"a\"");
    CHECK(refusal("d1:t2:aa1:y1:re") == "response has no \"r\"");
    CHECK(refusal("d1:rle1:t2:aa1:y1:re") == "\"r\" is not a dictionary");
    CHECK(refusal("d1:rde1:t2:aa1:y1:re") == "\"r\" has no \"id\"");
    CHECK(refusal("d1:t2:aa1:y1:ee") == "error has no \"e\"");
    CHECK(refusal("d1:ei201e1:t2:aa1:y1:ee") == "\"e\" is not a list");
    CHECK(refusal("d1:eli201ee1:t2:aa1:y1:ee") == "\"e\" is not [code, message]");
    CHECK(refusal("d1:el3:abci201ee1:t2:aa1:y1:ee") == "\"e\" is not [code, message]");
    CHECK(refusal("d1:t2:aa1:t2:bb1:y1:ee").find("duplicate dictionary key") == 0);
    CHECK(refusal("d1:t2:aa1:y1:qei0e").find("trailing data") == 0);
    // Extra elements of "e" are ignored; any integer is a code.
    auto e = decode("d1:eli-5e4:oopsi1ee1:t2:aa1:y1:ee");
    REQUIRE(e.ok());
    CHECK(*e->error() == ErrorReply{-5, "oops"});
}

TEST_CASE("krpc: the optional hints are dropped when ill-formed, never fatal") {
    auto top = [](const char* key, bencode::Value v) {
        bencode::Value m = tree(kPingResponse);
        m.as_dict()[key] = std::move(v);
        return *decode(bytes(m));
    };
    CHECK(top("v", "UT\x01").v == std::optional<std::string>("UT\x01"));
    CHECK(top("v", std::string(kMaxVersion, 'v')).v->size() == kMaxVersion);
    CHECK_FALSE(top("v", std::string(kMaxVersion + 1, 'v')).v);
    CHECK_FALSE(top("v", 5).v);
    CHECK(top("ip", unhex("7c1f4b151ae1")).ip);
    CHECK(top("ip", std::string(18, '\x20')).ip->v6);
    CHECK_FALSE(top("ip", "12345").ip);
    CHECK_FALSE(top("ip", std::string(16, '\x20')).ip); // an address without its port
    CHECK_FALSE(top("ip", bencode::List{}).ip);
    CHECK(top("ro", 1).ro);
    CHECK_FALSE(top("ro", 0).ro);
    CHECK_FALSE(top("ro", "1").ro);
    // "ro" is read on any message; written as 1.
    Message m = top("ro", 9);
    CHECK(m.ro);
    CHECK(encode(m).find("2:roi1e") != std::string::npos);
}

TEST_CASE("krpc: query_transaction finds what to answer error 203 with") {
    bencode::Value q = tree(kAnnounceQuery);
    q.as_dict()["t"] = "\x01\x02";
    dict(q, "a")["id"] = "short";
    std::string broken = bytes(q);
    CHECK(refusal(broken) == "\"id\" of 5 bytes, not 20");
    CHECK(query_transaction(broken) == std::optional<std::string>("\x01\x02"));
    CHECK(query_transaction("d1:t2:aa1:y1:qe") == std::optional<std::string>("aa"));
    CHECK(query_transaction(unhex(kPingQuery)) == std::optional<std::string>("aa"));
    // Never for a response or an error (no ping-pong), nor without a usable "t", nor for what is no dictionary.
    CHECK_FALSE(query_transaction("d1:rde1:t2:aa1:y1:re"));
    CHECK_FALSE(query_transaction(unhex(kError)));
    CHECK_FALSE(query_transaction("d1:y1:qe"));
    CHECK_FALSE(query_transaction("d1:ti7e1:y1:qe"));
    CHECK_FALSE(query_transaction("d1:t17:aaaaaaaaaaaaaaaaa1:y1:qe"));
    CHECK_FALSE(query_transaction("l1:t2:aa1:y1:qe"));
    CHECK_FALSE(query_transaction(std::string(kMaxDatagram + 1, 'd')));
    // The reply the node sends.
    auto reply = decode(encode_error("\x01\x02", kErrorProtocol, "invalid id"));
    REQUIRE(reply.ok());
    CHECK(reply->t == "\x01\x02");
    CHECK(*reply->error() == ErrorReply{203, "invalid id"});
}
