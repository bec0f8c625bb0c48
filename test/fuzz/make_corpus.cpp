// Writes the seed corpora of the fuzz targets (test/fuzz/corpus/<target>/) from the engine's own encoders, so
// the seeds are valid by construction, plus a few hand-written invalid ones. Run by `tools/fuzz --seeds`.
// Deterministic: the same engine gives the same files.
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "crypto/random.hpp"
#include "crypto/sha.hpp"
#include "mse_fixture.hpp"
#include "proto/bencode.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "proto/udp_tracker.hpp"
#include "proto/utp.hpp"
#include "proto/wire.hpp"
#include "storage/resume.hpp"
#include "tracker/state_file.hpp"

using namespace p2p;

namespace {

std::string g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
    std::string dir = g_root + "/" + target;
    mkdir(g_root.c_str(), 0755);
    mkdir(dir.c_str(), 0755);
    std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
    if (!f) std::abort();
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
}

std::string hashes(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += sha1(std::to_string(i));
    return s;
}

udp::Hash20 h20(char c) { return udp::Hash20::from(std::string(20, c)); }

void bencode_seeds() {
    put("bencode", "int", "i-42e");
    put("bencode", "string", "4:spam");
    put("bencode", "list", "l4:spami7ee");
    put("bencode", "dict", "d3:cow3:moo4:spaml1:a1:bee");
    put("bencode", "nested", "d1:ad1:bl1:cd1:di0eeeee");
    put("bencode", "bad_leading_zero", "i03e");
    put("bencode", "bad_dup_key", "d1:ai1e1:ai2ee");
    put("bencode", "truncated", "d3:cow3:mo");
    put("bencode", "huge_len", "99999999999:x");
}

void metainfo_seeds() {
    std::string single = build_info_dict("file.bin", 16384, hashes(3), {{{}, 40000}}, false, false);
    std::string multi =
        build_info_dict("folder", 32768, hashes(2), {{{"a", "b.txt"}, 30000}, {{"c.txt"}, 10000}}, true, true);
    put("metainfo", "single", build_torrent(single, {"udp://tracker.example:6969/announce"}));
    put("metainfo", "multi", build_torrent(multi, {"udp://a.example:1", "http://b.example/announce"}));
    put("metainfo", "bad_dotdot",
        build_torrent(build_info_dict("x", 16384, hashes(1), {{{"..", "evil"}, 5}}, true, false), {"udp://t:1"}));
    put("metainfo", "bad_piece_length",
        build_torrent(build_info_dict("x", 1000, hashes(1), {{{}, 5}}, false, false), {}));
    put("info_dict", "single", single);
    put("info_dict", "multi", multi);
    put("info_dict", "bad_pieces", build_info_dict("x", 16384, hashes(1).substr(0, 19), {{{}, 5}}, false, false));
    put("info_dict", "not_dict", "li1ee");
}

void magnet_seeds() {
    Magnet m;
    m.info_hash = sha1("x");
    m.display_name = "Some name & more";
    m.trackers = {"udp://tracker.example:6969/announce", "http://t.example/a?b=c"};
    put("magnet", "full", make_magnet(m));
    put("magnet", "hex_only", "magnet:?xt=urn:btih:" + to_hex(sha1("y")));
    put("magnet", "base32", "magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U&dn=a%20b");
    put("magnet", "bad_hash", "magnet:?xt=urn:btih:zz");
    put("magnet", "bad_escape", "magnet:?xt=urn:btih:" + to_hex(sha1("z")) + "&dn=%G1");
}

void path_seeds() {
    put("path_component", "ok", "file name.txt");
    put("path_component", "dotdot", "..");
    put("path_component", "slash", "a/b");
    put("path_component", "ctrl", std::string("a\x01", 2));
    put("path_component", "utf8", "\xc3\xa9t\xc3\xa9");
}

void wire_seeds() {
    std::string hs;
    wire::encode_handshake(hs, wire::Reserved{}.set_fast().set_extensions(), std::string(20, 'H'),
                           "-XX0001-theirpeerid0");
    put("wire_handshake", "ok", hs);
    put("wire_handshake", "truncated", hs.substr(0, 30));
    put("wire_handshake", "bad_name",
        "\x13"
        "BitTorrent protocoX");
    std::string all = std::string("\x40\x00", 2); // max_len 16384
    wire::encode_keepalive(all);
    wire::encode_simple(all, wire::MsgId::unchoke);
    wire::encode_have(all, 7);
    wire::encode_bitfield(all, "\xff\x80");
    wire::encode_request(all, 1, 16384, 16384);
    wire::encode_piece(all, 1, 0, "data");
    wire::encode_cancel(all, 1, 0, 16384);
    wire::encode_port(all, 6881);
    wire::encode_suggest(all, 2);
    wire::encode_simple(all, wire::MsgId::have_all);
    wire::encode_reject(all, 1, 0, 16384);
    wire::encode_allowed_fast(all, 3);
    wire::encode_extended(all, 0, "d1:md11:ut_metadatai1eee");
    put("wire_messages", "all", all);
    put("wire_messages", "too_long", std::string("\x00\x10\x00\x01\x00\x00\x07", 7));
    put("wire_messages", "bad_have_len", std::string("\x40\x00\x00\x00\x00\x02\x04\x00", 8));

    // peer_connection: flags, pieces, last, trigger, 4 chunk sizes, then the stream.
    auto conn = [](std::uint8_t flags, std::string stream) {
        std::string s;
        s += static_cast<char>(flags);
        s += '\x03'; // 4 pieces
        s += '\x10'; // last piece 17*128 bytes
        s += '\x00'; // no trigger
        s += "\x05\x11\x00\x40";
        return s + stream;
    };
    std::string msgs;
    wire::encode_simple(msgs, wire::MsgId::have_all);
    wire::encode_simple(msgs, wire::MsgId::unchoke);
    wire::encode_simple(msgs, wire::MsgId::interested);
    wire::encode_request(msgs, 0, 0, 16384);
    wire::encode_request(msgs, 1, 16384, 16384);
    wire::encode_cancel(msgs, 1, 16384, 16384);
    wire::encode_piece(msgs, 0, 0, std::string(100, 'p'));
    wire::encode_have(msgs, 3);
    wire::encode_allowed_fast(msgs, 2);
    wire::encode_reject(msgs, 0, 0, 16384);
    wire::encode_extended(msgs, 0, "d1:md11:ut_metadatai1eee");
    wire::encode_simple(msgs, wire::MsgId::choke);
    put("peer_connection", "outgoing_fast", conn(0x3e, msgs));
    put("peer_connection", "incoming_fast", conn(0x3f, msgs));
    put("peer_connection", "raw_handshake", conn(0x22, hs + msgs));
    std::string bf;
    wire::encode_bitfield(bf, "\xf0");
    put("peer_connection", "bitfield_plain", conn(0x26, bf + msgs));
    put("peer_connection", "close_in_callback", conn(0x7e, msgs).replace(3, 1, "\x04"));
    put("peer_connection", "destroy_in_callback", conn(0xbe, msgs).replace(3, 1, "\x05"));
    put("peer_connection", "garbage", conn(0x00, "GET / HTTP/1.1\r\n\r\n"));
}

void udp_seeds() {
    using namespace udp;
    AnnounceRequest a;
    a.connection_id = 1;
    a.transaction_id = 2;
    a.info_hash = h20('i');
    a.peer_id = h20('p');
    a.left = 100;
    a.event = kEventStarted;
    a.port = 6881;
    std::vector<std::string> reqs;
    reqs.push_back(encode_connect_request(5));
    reqs.push_back(encode_announce_request(a));
    reqs.push_back(encode_scrape_request(1, 3, {h20('i'), h20('j')}));
    reqs.push_back(encode_publish_request({1, 4, h20('i'), 12345, "My file"}));
    reqs.push_back(encode_list_request({1, 5, 0}));
    reqs.push_back(encode_lookup_request({1, 6, "My file"}));
    // Server: each packet framed [ctl][len16][bytes]; ctl 0x04 = use a valid connection id, IPv4 first source.
    std::string seq, seq6;
    for (const auto& r : reqs) {
        for (auto* s : {&seq, &seq6}) {
            s->push_back(s == &seq ? '\x0c' : '\x0f');
            put_be16(*s, static_cast<std::uint16_t>(r.size()));
            s->append(r);
        }
    }
    put("udp_tracker_server", "all_v4", seq);
    put("udp_tracker_server", "all_v6", seq6);
    std::string bad = "\x04";
    put_be16(bad, 20);
    bad += encode_announce_request(a).substr(0, 20);
    put("udp_tracker_server", "short_announce", bad);
    const char* names[] = {"connect", "announce", "scrape", "publish", "list", "lookup"};
    for (std::size_t i = 0; i < reqs.size(); ++i) put("catalog", std::string("req_") + names[i], reqs[i]);

    AnnounceResponse ar;
    ar.transaction_id = 2;
    ar.interval = 1800;
    ar.seeders = 1;
    ar.peers.push_back(CompactPeer{false, {192, 0, 2, 1}, 6881});
    std::string c;
    append_connect_response(c, 5, 0x1122334455667788ULL);
    put("udp_tracker_client", "connect", c);
    put("udp_tracker_client", "announce_v4", encode_announce_response(ar, false));
    ar.peers[0].v6 = true;
    put("udp_tracker_client", "announce_v6", encode_announce_response(ar, true));
    put("udp_tracker_client", "scrape", encode_scrape_response({3, {{1, 2, 3}, {4, 5, 6}}}));
    put("udp_tracker_client", "error", encode_error(9, "bad event"));
    std::string ack;
    append_publish_ack(ack, 4);
    put("udp_tracker_client", "publish_ack", ack);
    CatalogEntry e{h20('i'), 12345, 1, 2, 3, "My file"};
    std::string list = encode_list_response({5, 1, kListNoMore, {e}});
    std::string lookup = encode_lookup_response({6, true, e});
    put("udp_tracker_client", "list", list);
    put("udp_tracker_client", "lookup", lookup);
    put("udp_tracker_client", "truncated", std::string("\x00\x00\x00\x01\x00", 5));
    put("catalog", "resp_list", list);
    put("catalog", "resp_lookup", lookup);
    put("catalog", "name_utf8", "caf\xc3\xa9 \xf0\x9f\x8e\xb5");
    put("catalog", "name_overlong", "\xc0\xaf");
    put("catalog", "name_surrogate", "\xed\xa0\x80");
}

void state_seeds() {
    SwarmStore store;
    Catalog catalog;
    TrackerCounters counters;
    constexpr std::uint32_t now = 1'700'000'000;
    for (char c : {'a', 'b'}) {
        AnnounceInput in;
        in.info_hash = h20(c);
        in.peer.ip = {192, 0, 2, static_cast<std::uint8_t>(c)};
        in.peer.port = 6881;
        std::string out;
        store.announce(in, now, out);
        in.peer.v6 = true;
        in.peer.ip = {0x20, 0x01, 0x0d, 0xb8};
        in.seeder = true;
        store.announce(in, now, out);
    }
    (void)catalog.publish("My file", h20('a'), 12345, now);
    counters.connects = 10;
    std::string doc = serialize_state(store, catalog, counters, now);
    put("state_file", "two_swarms", doc);
    put("state_file", "truncated", doc.substr(0, doc.size() / 2));
    put("state_file", "empty_object", "{}");
    put("state_file", "not_json", "p2pnode");

    ResumeData r;
    r.info_hash = sha1("resume");
    r.piece_count = 10;
    r.have = {true, false, true, true, false, false, false, false, true, true};
    r.files = {{1000, 1'700'000'000'123'456'789}, {-1, 0}};
    std::string res = encode_resume(r);
    put("resume", "ok", res);
    put("resume", "empty_files", encode_resume(ResumeData{sha1("e"), 0, {}, {}}));
    put("resume", "bad_have",
        "{\"p2pnode_resume\":1,\"info_hash\":\"" + to_hex(sha1("x")) +
            "\",\"piece_count\":9,\"have\":\"ff\",\"files\":[]}");
    put("resume", "truncated", res.substr(0, res.size() - 3));
}

// BEP 10 / 9 / 11 extension payloads. ut_metadata seeds come in two shapes: one raw message, and a sequence of
// <u8 clock step><u16 length><message> frames that assembles (or fails to assemble) a whole info dictionary.
void extension_seeds() {
    ext::ExtHandshake hs;
    hs.m = {{std::string(ext::kUtMetadata), ext::kUtMetadataId}, {std::string(ext::kUtPex), ext::kUtPexId}};
    hs.listen_port = 6881;
    hs.client = "p2pnode 0.1";
    hs.metadata_size = 40000;
    hs.reqq = 250;
    hs.yourip = std::string("\x7f\x00\x00\x01", 4);
    put("ext_handshake", "full", ext::encode_ext_handshake(hs));
    put("ext_handshake", "empty", ext::encode_ext_handshake(ext::ExtHandshake{}));
    put("ext_handshake", "bad_id", "d1:md6:ut_pexi256eee");
    put("ext_handshake", "ill_typed", "d1:md6:ut_pex1:xe13:metadata_sizei-1e1:p2:xxe");
    put("ext_handshake", "not_dict", "li1ee");

    put("ut_metadata", "request", ext::encode_metadata_request(0));
    put("ut_metadata", "reject", ext::encode_metadata_reject(3));
    put("ut_metadata", "data", ext::encode_metadata_data(1, 20000, std::string(20000 - 16384, 'd')));
    put("ut_metadata", "bad_type", "d8:msg_typei3e5:piecei0ee");
    put("ut_metadata", "data_no_size", "d8:msg_typei1e5:piecei0eexyz");
    std::string info = build_info_dict("file.bin", 16384, hashes(900), {{{}, 900 * 16384}}, false, false);
    // The fuzz target checks the hash when the clock (sum of the steps) is even, and a wrong hash when it is odd.
    auto frames = [&](char first_step, char step) {
        std::string out;
        for (std::uint32_t i = 0; i < ext::metadata_piece_count(static_cast<std::int64_t>(info.size())); ++i) {
            std::string msg = ext::encode_metadata_data(
                i, static_cast<std::int64_t>(info.size()),
                std::string_view(info).substr(i * ext::kMetadataPieceSize, ext::kMetadataPieceSize));
            out.push_back(i == 0 ? first_step : step);
            put_be16(out, static_cast<std::uint16_t>(msg.size()));
            out += msg;
        }
        return out;
    };
    put("ut_metadata", "frames_whole", frames(2, 2));
    put("ut_metadata", "frames_bad_hash", frames(2, 3));
    std::string short_piece = ext::encode_metadata_data(0, 20000, std::string(100, 'x')); // piece 0 needs 16 KiB
    std::string wrong_len(1, '\x01');
    put_be16(wrong_len, static_cast<std::uint16_t>(short_piece.size()));
    put("ut_metadata", "frames_wrong_len", wrong_len + short_piece);

    ext::PexMessage pex;
    udp::CompactPeer a, b, c;
    a.ip = {10, 0, 0, 1};
    a.port = 6881;
    b.ip = {192, 168, 1, 2};
    b.port = 80;
    c.v6 = true;
    c.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    c.port = 443;
    pex.added = {a, b, c};
    pex.added_flags = {0x10, 0x02};
    pex.dropped = {c, a};
    put("pex", "mixed", ext::encode_pex(pex));
    put("pex", "empty", "de");
    put("pex", "port0", "d5:added6:" + std::string("\x0a\x00\x00\x01\x00\x00", 6) + "e");
    put("pex", "bad_len", "d5:added5:abcdee");
}

// MSE/PE handshakes between the fixed parties of mse_fixture.hpp: [flags][chunking][stream].
void mse_seeds() {
    using fuzz::MseFlags;
    auto seed = [](MseFlags f, std::uint8_t chunking, const std::string& stream) {
        return std::string(1, static_cast<char>(f.byte())) + static_cast<char>(chunking) + stream;
    };
    MseFlags both;
    both.pad = 2;
    MseFlags plain = both;
    plain.allowed = mse::kPlaintext;
    MseFlags rc4_only = both;
    rc4_only.allowed = mse::kRc4;
    auto [to_b, to_a] = fuzz::mse_streams(both, both);
    MseFlags r = both, i = both;
    i.initiator = true;
    put("mse", "responder_whole", seed(r, 0, to_b));
    put("mse", "responder_bytewise", seed(r, 1, to_b));
    put("mse", "responder_chunks", seed(r, 37, to_b + "payload after the handshake"));
    put("mse", "initiator_whole", seed(i, 0, to_a));
    put("mse", "initiator_chunks", seed(i, 5, to_a + "payload"));
    auto [plain_b, plain_a] = fuzz::mse_streams(plain, plain);
    MseFlags pi = plain;
    pi.initiator = true;
    put("mse", "responder_plaintext", seed(plain, 3, plain_b));
    put("mse", "initiator_plaintext", seed(pi, 2, plain_a));
    put("mse", "responder_refuses", seed(rc4_only, 0, plain_b)); // provide plaintext, allow RC4 only
    MseFlags other = both;
    other.pad = 0;
    put("mse", "responder_truncated", seed(r, 7, to_b.substr(0, to_b.size() - 1)));
    put("mse", "responder_garbage_after_ya", seed(other, 64, to_b.substr(0, 96) + std::string(700, 'g')));
    put("mse", "initiator_zero_yb", seed(i, 0, std::string(96, '\0')));
    put("mse", "initiator_no_vc", seed(i, 200, to_a.substr(0, 96) + std::string(600, '\x01')));
}

// uTP datagrams (proto/utp.hpp): every type, the extensions each way they come, and a few refusals.
void utp_seeds() {
    using namespace utp;
    Header h;
    h.connection_id = 0x1235;
    h.timestamp_us = 0x01020304;
    h.timestamp_difference_us = 3000;
    h.wnd_size = 1 << 20;
    h.seq_nr = 0x4e22;
    h.ack_nr = 0x0010;
    std::string mask = sack_from(h.ack_nr, [](std::uint16_t s) { return s == 0x12 || s == 0x1b || s == 0x31; });
    auto with = [&](Type t) {
        Header x = h;
        x.type = t;
        return x;
    };
    put("utp_packet", "syn", encode(with(Type::syn)));
    put("utp_packet", "state", encode(with(Type::state)));
    put("utp_packet", "data", encode(with(Type::data), std::nullopt, std::nullopt, std::string(1200, 'd')));
    put("utp_packet", "fin", encode(with(Type::fin)));
    put("utp_packet", "reset", encode(with(Type::reset)));
    put("utp_packet", "state_sack", encode(with(Type::state), mask));
    put("utp_packet", "data_sack_close", encode(with(Type::data), mask, std::uint16_t{2}, "payload"));
    put("utp_packet", "fin_close", encode(with(Type::fin), std::nullopt, std::uint16_t{5}));
    std::string hdr = encode(with(Type::state));
    auto ext = [&](std::uint8_t first, const std::string& chain) {
        std::string s = hdr;
        s[1] = static_cast<char>(first);
        return s + chain;
    };
    put("utp_packet", "close_first", ext(kExtCloseReason, std::string("\0\4\0\0\0\7", 6))); // libtorrent's
    put("utp_packet", "sack_odd_len", ext(kExtSack, std::string("\0\3\xff\x01\x80", 5)));   // libtorrent's
    put("utp_packet", "unknown_exts",
        ext(2, "\x4d\x08"
               "ABCDEFGH" +
                   std::string("\0\0", 2) + "tail"));
    std::string chain;
    for (int i = 0; i < 7; ++i) chain += std::string("\x02\0", 2);
    put("utp_packet", "eight_exts", ext(2, chain + std::string("\0\0", 2)));
    put("utp_packet", "nine_exts", ext(2, chain + std::string("\x02\0\0\0", 4)));
    put("utp_packet", "sack_past_end", ext(kExtSack, std::string("\0\x08\x01", 3)));
    put("utp_packet", "sack_len0", ext(kExtSack, std::string("\0\0", 2)));
    put("utp_packet", "truncated", hdr.substr(0, 19));
    put("utp_packet", "version2", "\x42" + hdr.substr(1));
    put("utp_packet", "dht_ping", "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe");
}

// uTP connection scripts (test/fuzz/fuzz_utp_conn.cpp: byte 0 the configuration, then one op per byte).
void utp_conn_seeds() {
    using namespace utp;
    auto u16 = [](unsigned v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; };
    const std::string a_to_b = "\x00", b_to_a = "\x01", drop_a = "\x02", write_a = "\x06\xff", write_b = "\x0e\xff";
    const std::string tick_10ms = "\x05" + u16(100), tick_1s = "\x05" + u16(10000), consume_b = "\x1f";
    const std::string close_a = "\x07", close_b = "\x0f";
    std::string handshake = b_to_a; // B's STATE answering A's SYN
    std::string transfer = handshake + write_a + write_b;
    for (int i = 0; i < 40; ++i) transfer += a_to_b + a_to_b + b_to_a + a_to_b + b_to_a + tick_10ms + consume_b;
    std::string closing = close_a + close_b;
    for (int i = 0; i < 12; ++i) closing += a_to_b + b_to_a + tick_10ms;
    put("utp_conn", "transfer_close", "\x05" + transfer + closing);
    put("utp_conn", "small_packets", "\x30" + transfer + closing);
    std::string loss = handshake + write_a;
    for (int i = 0; i < 10; ++i) loss += drop_a + a_to_b + tick_1s + b_to_a + tick_1s;
    put("utp_conn", "loss_timeouts", "\x15" + loss + closing);
    std::string zero = handshake + "\x2f" + u16(0) + write_a + a_to_b + b_to_a;
    for (int i = 0; i < 4; ++i) zero += "\x0d" + u16(0xffff) + a_to_b + b_to_a; // 13 s each
    zero += "\x2f" + u16(0x1000) + b_to_a + a_to_b + b_to_a + a_to_b;
    put("utp_conn", "zero_window", "\x45" + zero);
    // Patched raw packets (op 4/12): the target writes the receiver's id and an ack_nr it can take.
    Header h;
    h.type = Type::data;
    h.timestamp_us = 1234;
    h.timestamp_difference_us = 250000;
    h.wnd_size = 1 << 20;
    h.seq_nr = 0x0101;
    std::string data_pkt = encode(h, std::nullopt, std::nullopt, "raw payload");
    std::string mask = sack_from(0x00ff, [](std::uint16_t q) { return q == 0x0102 || q == 0x0105; });
    h.type = Type::state;
    std::string sack_pkt = encode(h, mask);
    h.type = Type::fin;
    h.seq_nr = 0x0102;
    std::string fin_pkt = encode(h);
    h.type = Type::reset;
    std::string reset_pkt = encode(h);
    auto raw = [&](bool to_b, bool patched, const std::string& d) {
        return std::string(1, static_cast<char>((patched ? 4 : 3) | (to_b ? 8 : 0))) +
               u16(static_cast<unsigned>(d.size())) + d;
    };
    put("utp_conn", "raw_packets",
        "\x05" + handshake + raw(false, true, data_pkt) + raw(false, true, fin_pkt) + raw(true, true, sack_pkt) +
            raw(false, false, data_pkt) + raw(true, false, "garbage that is no packet at all") + write_a + a_to_b +
            b_to_a + tick_1s);
    put("utp_conn", "reset", "\x05" + handshake + write_a + a_to_b + raw(true, true, reset_pkt) + b_to_a + tick_1s);
    put("utp_conn", "abort", "\x05" + handshake + write_b + b_to_a + "\x3f" + b_to_a + a_to_b + tick_1s);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    crypto_init();
    g_root = argv[1];
    bencode_seeds();
    metainfo_seeds();
    magnet_seeds();
    path_seeds();
    wire_seeds();
    udp_seeds();
    state_seeds();
    extension_seeds();
    mse_seeds();
    utp_seeds();
    utp_conn_seeds();
    return 0;
}
