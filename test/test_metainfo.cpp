#include <doctest/doctest.h>

#include "base/bytes.hpp"
#include "crypto/sha.hpp"
#include "proto/metainfo.hpp"

using namespace p2p;

namespace {
std::string hello_hash() { return sha1("hello"); }
// Golden single-file info dict; its SHA-1 was computed independently with Python's hashlib.
std::string golden_info() { return "d6:lengthi5e4:name5:a.txt12:piece lengthi16384e6:pieces20:" + hello_hash() + "e"; }
std::string wrap(const std::string& info, const std::string& extra = "") {
    return "d8:announce22:udp://127.0.0.1:6969/a" + extra + "4:info" + info + "e";
}
std::string err_of(const std::string& torrent) {
    auto r = parse_torrent(torrent);
    REQUIRE_FALSE(r.ok());
    return r.error().what;
}
} // namespace

TEST_CASE("metainfo: golden single-file torrent and info hash") {
    auto m = parse_torrent(wrap(golden_info()));
    REQUIRE(m.ok());
    CHECK(to_hex(m->info_hash) == "de3edc1dfa1958affac1dbdc8f34d4d6dac43f00");
    CHECK(m->name == "a.txt");
    CHECK(m->total_length == 5);
    CHECK(m->piece_count() == 1);
    CHECK(m->piece_size(0) == 5);
    CHECK_FALSE(m->multi_file);
    CHECK(m->relative_path(0) == "a.txt");
    REQUIRE(m->trackers.size() == 1);
    CHECK(m->trackers[0][0] == "udp://127.0.0.1:6969/a");
    CHECK(m->info_bytes == golden_info());
}

TEST_CASE("metainfo: build_info_dict reproduces the golden bytes") {
    std::string info = build_info_dict("a.txt", 16384, hello_hash(), {{{}, 5}}, false, false);
    CHECK(info == golden_info());
    std::string t = build_torrent(info, {"udp://x:1", "udp://y:2"});
    auto m = parse_torrent(t);
    REQUIRE(m.ok());
    CHECK(to_hex(m->info_hash) == "de3edc1dfa1958affac1dbdc8f34d4d6dac43f00");
    REQUIRE(m->trackers.size() == 2); // BEP 12 tiers, one tracker each
    CHECK(m->trackers[1][0] == "udp://y:2");
}

TEST_CASE("metainfo: multi-file offsets, paths and private flag") {
    std::string pieces(40, 'x');
    std::vector<TorrentFileInput> files{{{"a", "one.bin"}, 20000}, {{"empty"}, 0}, {{"z.bin"}, 100}};
    std::string info = build_info_dict("folder", 16384, pieces, files, true, true);
    auto m = parse_info_dict(info);
    REQUIRE(m.ok());
    CHECK(m->multi_file);
    CHECK(m->is_private);
    CHECK(m->total_length == 20100);
    REQUIRE(m->files.size() == 3);
    CHECK(m->files[2].offset == 20000);
    CHECK(m->relative_path(0) == "folder/a/one.bin");
    CHECK(m->piece_size(1) == 20100 - 16384);
    auto wrong = parse_info_dict(info, std::string(20, '\0'));
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().what == "info dictionary does not match the info hash");
}

TEST_CASE("metainfo: piece length must be a power of two in range") {
    auto with_plen = [](const std::string& plen) {
        return wrap("d6:lengthi5e4:name1:a12:piece length" + plen + "6:pieces20:" + std::string(20, 'h') + "e");
    };
    CHECK(err_of(with_plen("i0e")).find("piece length 0 is not a power of two") == 0);
    CHECK(err_of(with_plen("i20000e")).find("piece length 20000") == 0);
    CHECK(err_of(with_plen("i8192e")).find("piece length 8192") == 0);
    CHECK(err_of(with_plen("i134217728e")).find("piece length 134217728") == 0);
    CHECK(err_of(with_plen("i-16384e")).find("piece length -16384") == 0);
}

TEST_CASE("metainfo: pieces length and size consistency") {
    CHECK(err_of(wrap("d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces19:" + std::string(19, 'h') + "e")) ==
          "info.pieces length 19 is not a positive multiple of 20");
    CHECK(err_of(wrap("d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces40:" + std::string(40, 'h') + "e")) ==
          "total length 5 needs 1 pieces but info.pieces has 2");
    CHECK(err_of(wrap("d6:lengthi99999e4:name1:a12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e")) ==
          "total length 99999 needs 7 pieces but info.pieces has 1");
    CHECK(err_of(wrap("d6:lengthi-5e4:name1:a12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e")) ==
          "negative length");
    CHECK(err_of(wrap("d4:name1:a12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e")) ==
          "info has neither length nor files");
}

TEST_CASE("metainfo: hostile paths are rejected") {
    auto multi = [](const std::string& path_list) {
        return wrap("d5:filesld6:lengthi5e4:path" + path_list +
                    "ee4:name1:d12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e");
    };
    CHECK(err_of(multi("l2:..e")) == "info.files[0].path: path component '..' is not allowed");
    CHECK(err_of(multi("l1:a2:..2:..1:be")) == "info.files[0].path: path component '..' is not allowed");
    CHECK(err_of(multi("l1:.e")) == "info.files[0].path: path component '.' is not allowed");
    CHECK(err_of(multi("l0:e")) == "info.files[0].path: empty path component");
    CHECK(err_of(multi("l6:/etc/xe")) == "info.files[0].path: path component contains '/'");
    CHECK(err_of(multi("l3:a\\be")) == "info.files[0].path: path component contains a backslash");
    CHECK(err_of(multi(std::string("l3:a") + '\0' + "be")) == "info.files[0].path: path component contains NUL");
    CHECK(err_of(multi("le")) == "info.files[0].path missing or empty");
    CHECK(err_of(multi("l4096:" + std::string(4096, 'n') + "e")) ==
          "info.files[0].path: path component longer than 255 bytes");
    CHECK(err_of(wrap("d6:lengthi5e4:name2:..12:piece lengthi16384e6:pieces20:" + std::string(20, 'h') + "e")) ==
          "info.name: path component '..' is not allowed");
    // duplicates
    std::string dup = wrap("d5:filesld6:lengthi3e4:pathl1:aeed6:lengthi2e4:pathl1:aeee4:name1:d12:piece lengthi16384e"
                           "6:pieces20:" +
                           std::string(20, 'h') + "e");
    CHECK(err_of(dup) == "info.files[1].path duplicates an earlier file");
    std::string file_and_folder = wrap("d5:filesld6:lengthi3e4:pathl1:aeed6:lengthi2e4:pathl1:a1:beee4:name1:d"
                                       "12:piece lengthi16384e6:pieces20:" +
                                       std::string(20, 'h') + "e");
    CHECK(err_of(file_and_folder) == "a file path is also used as a folder");
}

TEST_CASE("metainfo: size limits") {
    std::string big(kMaxTorrentFileSize + 1, 'x');
    CHECK(err_of(big) == ".torrent file larger than 10 MB");
    std::string many = std::to_string((kMaxPieces + 1) * 20) + ":";
    many += std::string((kMaxPieces + 1) * 20, 'h');
    // Over 2 million pieces is 40 MB of hashes: refused by the size check before any decoding.
    CHECK(err_of(wrap("d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces" + many + "e")) ==
          ".torrent file larger than 10 MB");
    CHECK(parse_info_dict("d6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces" + many + "e").error().what ==
          "info dictionary larger than 10 MB");
    CHECK(err_of("i1e") == "top level is not a dictionary");
    CHECK(err_of("d3:fooi1ee") == "no info dictionary");
    CHECK(err_of("d4:infod").find("truncated") == 0);
}

TEST_CASE("metainfo: default piece length aims at 1000-2000 pieces") {
    CHECK(default_piece_length(1) == 16384);
    CHECK(default_piece_length(16384 * 2000) == 16384);
    CHECK(default_piece_length(1LL << 30) == 1 << 20);  // 1 GiB -> 1 MiB pieces, 1024 of them
    CHECK(default_piece_length(1LL << 40) == 16 << 20); // capped at 16 MiB
    for (std::int64_t total : {100LL << 20, 700LL << 20, 3LL << 30}) {
        std::int64_t n = (total + default_piece_length(total) - 1) / default_piece_length(total);
        CHECK(n >= 1000);
        CHECK(n <= 2000);
    }
}

TEST_CASE("metainfo: path component check") {
    CHECK(check_path_component("normal name.txt").ok());
    CHECK(check_path_component("\xc3\xa9t\xc3\xa9").ok());
    CHECK_FALSE(check_path_component("a\nb").ok());
    CHECK_FALSE(check_path_component(std::string(256, 'a')).ok());
    CHECK(check_path_component(std::string(255, 'a')).ok());
}

TEST_CASE("magnet: make and parse round trip") {
    Magnet m{std::string(20, '\x11'), "my file.txt", {"udp://127.0.0.1:6969", "http://t/a?b=1&c"}};
    std::string uri = make_magnet(m);
    CHECK(uri == "magnet:?xt=urn:btih:1111111111111111111111111111111111111111&dn=my%20file.txt"
                 "&tr=udp%3A%2F%2F127.0.0.1%3A6969&tr=http%3A%2F%2Ft%2Fa%3Fb%3D1%26c");
    auto p = parse_magnet(uri);
    REQUIRE(p.ok());
    CHECK(p->info_hash == m.info_hash);
    CHECK(p->display_name == m.display_name);
    CHECK(p->trackers == m.trackers);
}

TEST_CASE("magnet: base32, plus signs and errors") {
    // base32 of 20 bytes of 0x11 is "CEIRCEIRCEIRCEIRCEIRCEIRCEIRCEIR"
    auto p = parse_magnet("magnet:?dn=a+b&xt=urn:btih:CEIRCEIRCEIRCEIRCEIRCEIRCEIRCEIR");
    REQUIRE(p.ok());
    CHECK(p->info_hash == std::string(20, '\x11'));
    CHECK(p->display_name == "a b");
    CHECK(parse_magnet("http://x").error().what == "not a magnet URI (expected 'magnet:?')");
    CHECK(parse_magnet("magnet:?dn=x").error().what == "no urn:btih info hash");
    CHECK(parse_magnet("magnet:?xt=urn:btih:123").error().what == "info hash must be 40 hex or 32 base32 characters");
    CHECK(parse_magnet("magnet:?xt=urn:btih:zz11111111111111111111111111111111111111").error().what ==
          "info hash is not 40 hex digits");
    CHECK(parse_magnet("magnet:?xt=urn:btih:1111111111111111111111111111111111111111&dn=%4").error().what ==
          "bad percent-encoding in 'dn'");
}

TEST_CASE("metainfo: BEP 5 nodes of a trackerless torrent") {
    // "nodes": [["host", port], ...]; malformed entries are skipped, the torrent stays good.
    const std::string nodes = "5:nodesll11:router.testi6881eel8:10.0.0.1i0eeli1ei2eel9:127.0.0.1i70000eel3:::1i6882eee";
    auto m = parse_torrent("d8:announce22:udp://127.0.0.1:6969/a4:info" + golden_info() + nodes + "e");
    REQUIRE(m);
    REQUIRE(m->dht_nodes.size() == 2);
    CHECK(m->dht_nodes[0] == std::pair<std::string, std::uint16_t>{"router.test", 6881});
    CHECK(m->dht_nodes[1] == std::pair<std::string, std::uint16_t>{"::1", 6882});
    auto none = parse_torrent(wrap(golden_info()));
    REQUIRE(none);
    CHECK(none->dht_nodes.empty());
}

TEST_CASE("magnet: x.pe peers (BEP 9), bounded, and made back") {
    const std::string hex(40, 'b');
    auto m = parse_magnet("magnet:?xt=urn:btih:" + hex + "&x.pe=10.0.0.1:6881&x.pe=%5B%3A%3A1%5D%3A51413&x.pe=");
    REQUIRE(m);
    CHECK(m->peers == std::vector<std::string>{"10.0.0.1:6881", "[::1]:51413"});
    CHECK(make_magnet(*m) == "magnet:?xt=urn:btih:" + hex + "&x.pe=10.0.0.1%3A6881&x.pe=%5B%3A%3A1%5D%3A51413");
    std::string many = "magnet:?xt=urn:btih:" + hex;
    for (int i = 0; i < 100; ++i) many += "&x.pe=10.0.0.1:" + std::to_string(1000 + i);
    auto b = parse_magnet(many);
    REQUIRE(b);
    CHECK(b->peers.size() == kMaxMagnetPeers);
}
