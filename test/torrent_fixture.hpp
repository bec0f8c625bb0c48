// A real Session and Torrent on a Loop, seeding (or downloading) a small torrent from a temp folder, with peers
// attached through FakeTransport, so every byte the torrent sends can be read back and the peer's messages
// injected. No network: the torrent's max_connecting is 0 unless a test asks otherwise, so candidates are only
// recorded. Used by test_torrent.cpp (choking, suggestions, links) and test_torrent_extensions.cpp (BEP 10/9/11).
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crypto/sha.hpp"
#include "loop/loop.hpp"
#include "net/fake_transport.hpp"
#include "net/tcp_transport.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "proto/wire.hpp"
#include "session/session.hpp"
#include "test_util.hpp"

namespace p2p::test {

// One data file plus many empty files with long names: the info dictionary spans three 16 KiB metadata
// pieces (the last one short), while the payload stays small.
inline Metainfo make_content(const std::filesystem::path& dir, bool is_private) {
    std::vector<TorrentFileInput> inputs;
    std::string data = pseudo_random(100'000, 7);
    std::filesystem::create_directories(dir / "content");
    std::ofstream(dir / "content" / "data.bin", std::ios::binary).write(data.data(), std::streamsize(data.size()));
    inputs.push_back(TorrentFileInput{{"data.bin"}, std::int64_t(data.size())});
    for (int i = 0; i < 450; ++i) {
        char name[96];
        std::snprintf(name, sizeof name, "empty-file-%04d-with-a-rather-long-name-to-grow-the-info-dict.txt", i);
        std::ofstream(dir / "content" / name);
        inputs.push_back(TorrentFileInput{{name}, 0});
    }
    const std::size_t pl = 16 * 1024;
    std::string hashes;
    for (std::size_t off = 0; off < data.size(); off += pl) hashes += sha1(std::string_view(data).substr(off, pl));
    auto m = parse_info_dict(build_info_dict("content", pl, hashes, inputs, true, is_private));
    REQUIRE(m);
    return *m;
}

// Extended messages (ext id, payload) and other message ids we sent on one fake connection.
struct Sent {
    std::vector<std::uint8_t> ids;
    std::vector<std::pair<std::uint8_t, std::string>> ext;
    std::vector<std::uint32_t> suggests; // BEP 6 suggest_piece indices, in order
};

struct Peer {
    std::shared_ptr<FakeProbe> probe;
    PeerConnection* conn = nullptr;
    std::string address;
    bool outgoing = true;
    std::string buf; // what we sent, not yet parsed
    bool handshake_skipped = false;

    void send_ext(std::uint8_t id, const std::string& payload) {
        std::string out;
        wire::encode_extended(out, id, payload);
        probe->inject(out);
    }
    Sent take() {
        buf += probe->take_sent();
        Sent s;
        if (!handshake_skipped) {
            if (buf.size() < wire::kHandshakeSize) return s;
            buf.erase(0, wire::kHandshakeSize);
            handshake_skipped = true;
        }
        std::size_t pos = 0;
        for (;;) {
            auto d = wire::decode_message(std::string_view(buf).substr(pos), 4u << 20);
            if (d.status != Decode::ok) break;
            pos += d.consumed;
            if (d.msg.keepalive) continue;
            s.ids.push_back(d.msg.id);
            if (d.msg.id == 20) s.ext.emplace_back(d.msg.ext_id, std::string(d.msg.payload));
            if (d.msg.id == 13) s.suggests.push_back(d.msg.index);
        }
        buf.erase(0, pos);
        return s;
    }
};

struct Fixture {
    TempDir dir{"torrent"};
    Loop loop;
    Metainfo meta;
    std::unique_ptr<Session> session;
    Torrent* t = nullptr;
    int next_id = 0;

    // seeding: the torrent has every piece; otherwise it downloads into an empty folder (and is interested in
    // seeds instead of dropping them).
    // tweak: changes to the TorrentConfig before the torrent is added (e.g. max_connecting).
    explicit Fixture(bool is_private = false, bool seeding = true, std::function<void(TorrentConfig&)> tweak = {}) {
        meta = make_content(dir.path, is_private);
        SessionConfig sc;
        sc.listen_ip = "127.0.0.1";
        sc.port = 0;
        sc.peer.client = "p2pnode 9.8.7"; // the node passes its version in; the session knows no version
        session = std::make_unique<Session>(loop, sc);
        REQUIRE(session->listen());
        TorrentConfig tc;
        tc.root_dir = seeding ? dir.path.string() : (dir.path / "download").string();
        tc.max_connecting = 0; // candidates are recorded, never dialled
        if (tweak) tweak(tc);
        t = session->add_torrent(meta, tc, seeding);
        REQUIRE(t);
        TorrentPhase want = seeding ? TorrentPhase::seeding : TorrentPhase::downloading;
        REQUIRE(run_until(
            loop, [&] { return t->status().phase == want; }, 10'000));
    }
    ~Fixture() {
        bool done = false;
        session->shutdown([&] { done = true; });
        run_until(
            loop, [&] { return done; }, 5000);
        session.reset();
        run_until(loop, std::function<bool()>([] { return false; }), 30);
    }

    // A peer attached to the torrent over a fake transport; its BitTorrent handshake is injected (with the
    // BEP 10 bit when `ext`), so the connection is established when this returns.
    Peer attach(const std::string& address, bool outgoing = true, bool ext = true, std::string id = {}) {
        auto ft = std::make_unique<FakeTransport>(address);
        Peer p;
        p.probe = ft->probe();
        p.address = address;
        p.outgoing = outgoing;
        PeerConfig pc;
        pc.peer_id = session->peer_id();
        uv_loop_t* uv = loop.get();
        pc.clock = [uv] { return uv_now(uv); };
        const Metainfo& m = t->meta();
        TorrentGeometry g{m.piece_count(), std::uint32_t(m.piece_length), std::uint64_t(m.total_length)};
        std::unique_ptr<PeerConnection> c = outgoing ? PeerConnection::outgoing(*t, std::move(ft), pc, m.info_hash, g)
                                                     : PeerConnection::incoming(*t, std::move(ft), pc);
        if (!outgoing) REQUIRE(c->set_torrent(g));
        auto link = std::make_unique<PeerLink>();
        link->token = session->next_token();
        link->torrent = t;
        link->address = address;
        link->connected_at_ms = std::int64_t(uv_now(uv));
        c->set_context(link.get());
        p.conn = c.get();
        link->conn = std::move(c);
        session->connection_opened();
        REQUIRE(t->adopt(std::move(link)));
        p.conn->start();
        const bool explicit_id = !id.empty();
        if (id.empty()) id = "-XX0100-peer" + std::to_string(10'000'000 + ++next_id); // 20 bytes
        wire::Reserved r;
        r.set_fast(true).set_extensions(ext);
        std::string hs;
        wire::encode_handshake(hs, r, m.info_hash, id);
        bool delivered = p.probe->inject(hs); // false only when the torrent refused the handshake
        if (!explicit_id) REQUIRE(delivered);
        return p;
    }

    static std::string handshake_payload(std::map<std::string, std::uint8_t> m, std::uint16_t port = 0) {
        ext::ExtHandshake hs;
        hs.m = std::move(m);
        hs.listen_port = port;
        hs.client = "test 1.0";
        return ext::encode_ext_handshake(hs);
    }
    std::vector<std::string> candidate_keys() const {
        std::vector<std::string> out;
        for (const auto& ss : t->candidates()) out.push_back(format_sockaddr(reinterpret_cast<const sockaddr*>(&ss)));
        std::sort(out.begin(), out.end());
        return out;
    }
};

} // namespace p2p::test
