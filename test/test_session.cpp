// Session-level tests, in process on 127.0.0.1: two p2p::Session objects on one p2p::Loop move a torrent from
// A (seed) to B (downloader); a hostile raw TCP client (libuv) cannot disturb A.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/sha.hpp"
#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "proto/extension.hpp"
#include "proto/metainfo.hpp"
#include "proto/wire.hpp"
#include "session/metadata_fetch.hpp"
#include "session/session.hpp"
#include "test_util.hpp"

using p2p::test::run_until;

using namespace p2p;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// A multi-file torrent "content" (sizes off piece boundaries, an empty file) written under dir; 16 KiB pieces.
struct Content {
    std::vector<std::pair<std::string, std::string>> files{
        {"a.bin", test::pseudo_random(700'001, 1)}, {"sub/b.bin", test::pseudo_random(123'457, 2)}, {"sub/empty", ""}};
    Metainfo meta;
    explicit Content(const fs::path& dir) {
        std::string all;
        std::vector<TorrentFileInput> inputs;
        for (auto& [rel, bytes] : files) {
            write_file(dir / "content" / rel, bytes);
            all += bytes;
            std::vector<std::string> comps;
            for (const auto& c : fs::path(rel)) comps.push_back(c.string());
            inputs.push_back(TorrentFileInput{comps, static_cast<std::int64_t>(bytes.size())});
        }
        const std::size_t pl = 16 * 1024;
        std::string hashes;
        for (std::size_t off = 0; off < all.size(); off += pl) hashes += sha1(std::string_view(all).substr(off, pl));
        auto m = parse_info_dict(build_info_dict("content", pl, hashes, inputs, true, false));
        REQUIRE(m);
        meta = *m;
    }
};

// Two sessions and a torrent on A (seeding) and B (downloading into its own folder).
struct Pair {
    test::TempDir dir_a, dir_b;
    Content content{dir_a.path};
    Loop loop;
    std::unique_ptr<Session> a, b;
    Torrent* ta = nullptr;
    Torrent* tb = nullptr;

    // Memory plans (--max-memory) of A and B; the defaults keep the defaults. A nonzero handshake_timeout_ms
    // shortens A's wait for the handshakes of incoming connections.
    explicit Pair(const PeerMemoryPlan& plan_a = {}, const PeerMemoryPlan& plan_b = {},
                  std::uint64_t handshake_timeout_ms = 0, Encryption enc_a = Encryption::prefer,
                  Encryption enc_b = Encryption::prefer) {
        SessionConfig sc;
        sc.listen_ip = "127.0.0.1";
        sc.port = 0;
        sc.memory = plan_a;
        sc.peer.encryption = enc_a;
        if (handshake_timeout_ms) sc.peer.handshake_timeout_ms = handshake_timeout_ms;
        a = std::make_unique<Session>(loop, sc);
        sc.peer.handshake_timeout_ms = SessionConfig{}.peer.handshake_timeout_ms;
        sc.memory = plan_b;
        sc.peer.encryption = enc_b;
        b = std::make_unique<Session>(loop, sc);
        REQUIRE(a->listen());
        REQUIRE(b->listen());
        REQUIRE(a->port() != 0);
        TorrentConfig ca;
        ca.root_dir = dir_a.path.string();
        ta = a->add_torrent(content.meta, ca, true);
        REQUIRE(ta);
        REQUIRE(run_until(
            loop, [&] { return ta->status().phase == TorrentPhase::seeding; }, 5000));
    }
    void start_download() {
        TorrentConfig cb;
        cb.root_dir = dir_b.path.string();
        tb = b->add_torrent(content.meta, cb, false);
        REQUIRE(tb);
        tb->add_candidates({test::loopback(a->port())});
    }
    ~Pair() {
        // Let both sessions save resume data and close connections before they (and then the loop) go away.
        int done = 0;
        a->shutdown([&] { ++done; });
        b->shutdown([&] { ++done; });
        run_until(
            loop, [&] { return done == 2; }, 5000);
        a.reset();
        b.reset();
        run_until(loop, std::function<bool()>([] { return false; }), 50); // close callbacks of the connections
    }
    void check_identical() const { check_identical(dir_b.path); }
    void check_identical(const fs::path& root) const { // a download of `content` under root
        for (auto& [rel, bytes] : content.files) {
            fs::path p = root / "content" / rel;
            CHECK_MESSAGE(fs::exists(p), rel);
            CHECK_MESSAGE(read_file(p) == bytes, rel);
        }
    }
};

// A raw libuv client: connects, sends `payload`, records what comes back and whether the peer closed. The
// state is shared with the test; the handle block frees itself in its close callback.
struct RawClient;
struct RawState {
    bool connected = false, peer_closed = false, failed = false;
    std::string received;
    RawClient* client = nullptr; // valid until the handle is closing
};
struct RawClient {
    uv_tcp_t tcp{};
    uv_connect_t connect{};
    std::string payload; // the first write; later ones go through send()
    std::string inbuf = std::string(64 * 1024, '\0');
    std::shared_ptr<RawState> st;

    static void start(uv_loop_t* loop, std::uint16_t port, std::string payload, std::shared_ptr<RawState> st) {
        auto* c = new RawClient;
        c->payload = std::move(payload);
        c->st = std::move(st);
        c->st->client = c;
        uv_tcp_init(loop, &c->tcp);
        c->tcp.data = c;
        sockaddr_storage addr = test::loopback(port);
        if (uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&addr), on_connect) != 0)
            c->finish(true);
    }
    void finish(bool failed) {
        if (failed)
            st->failed = true;
        else
            st->peer_closed = true;
        st->client = nullptr;
        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp)))
            uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
                     [](uv_handle_t* h) { delete static_cast<RawClient*>(h->data); });
    }
    // The bytes and the request live in one heap block freed by the write callback.
    void send(const std::string& bytes) {
        struct Req {
            uv_write_t req;
            std::string bytes;
        };
        auto* r = new Req{{}, bytes};
        uv_buf_t b = uv_buf_init(r->bytes.data(), static_cast<unsigned>(r->bytes.size()));
        if (uv_write(&r->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1,
                     [](uv_write_t* w, int) { delete reinterpret_cast<Req*>(w); }) != 0)
            delete r;
    }
    static void on_connect(uv_connect_t* req, int status) {
        auto* c = static_cast<RawClient*>(req->handle->data);
        if (status != 0) return c->finish(true);
        c->st->connected = true;
        c->send(c->payload);
        uv_read_start(
            reinterpret_cast<uv_stream_t*>(&c->tcp),
            [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
                auto* self = static_cast<RawClient*>(h->data);
                *buf = uv_buf_init(self->inbuf.data(), static_cast<unsigned>(self->inbuf.size()));
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                auto* self = static_cast<RawClient*>(s->data);
                if (n > 0) self->st->received.append(buf->base, static_cast<std::size_t>(n));
                // EOF or a reset: the peer dropped us (what we want to see).
                if (n < 0) self->finish(false);
            });
    }
};

} // namespace

TEST_CASE("session: B downloads a multi-file torrent from A, byte-identical, A counts the upload") {
    Pair p;
    p.start_download();
    bool done = run_until(
        p.loop, [&] { return p.tb->complete(); }, 20'000);
    REQUIRE_MESSAGE(done, "B did not complete within 20 s");
    p.check_identical();
    CHECK(p.ta->uploaded() > 0);
    CHECK(p.ta->uploaded() >= static_cast<std::uint64_t>(p.content.meta.total_length));
    CHECK(p.tb->downloaded() >= static_cast<std::uint64_t>(p.content.meta.total_length));
    CHECK(p.tb->left_bytes() == 0);
}

TEST_CASE("session: A drops a client sending a 0xFFFFFFFF length prefix and keeps serving B") {
    Pair p;
    std::string hostile;
    wire::encode_handshake(hostile, wire::Reserved{}, p.content.meta.info_hash, "-XX0000-hostile-0001");
    auto st = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), hostile, st);
    p.start_download();
    // First a valid handshake: A answers it and keeps the connection (so what follows is what gets it dropped).
    bool answered = run_until(
        p.loop, [&] { return st->received.size() >= wire::kHandshakeSize || !st->client; }, 10'000);
    REQUIRE_MESSAGE(answered, "A did not answer the raw client's handshake within 10 s");
    REQUIRE_MESSAGE(st->client, "A closed the raw client after a valid handshake");
    CHECK(st->received.substr(28, 20) == p.content.meta.info_hash);
    // Then a 4 GiB length prefix and a little of its "message": A must not wait for (or allocate) the rest.
    st->client->send(std::string("\xFF\xFF\xFF\xFF", 4) + std::string(64, 'A'));
    bool dropped = run_until(
        p.loop, [&] { return st->peer_closed || st->failed; }, 10'000);
    REQUIRE_MESSAGE(dropped, "A did not close the hostile connection within 10 s");
    CHECK(st->connected);
    CHECK_FALSE(st->failed);

    bool done = run_until(
        p.loop, [&] { return p.tb->complete(); }, 20'000);
    REQUIRE_MESSAGE(done, "B did not complete within 20 s after the hostile client");
    p.check_identical();
    CHECK(p.ta->uploaded() > 0);
    // Only B's connection is left on A (the hostile one was dropped and destroyed).
    run_until(p.loop, std::function<bool()>([] { return false; }), 50);
    CHECK(p.ta->num_links() <= 1);
}

// ---- --max-memory: one budget over every torrent and connection of the session

TEST_CASE("session under a memory budget: a nearly full write pool leaves few blocks in flight; still completes") {
    auto plan = plan_peer_memory(4u << 20);
    REQUIRE(plan);
    Pair p({}, *plan);
    MemoryBudget& m = p.b->memory();
    const std::size_t cap = m.cap(MemPool::write);
    const std::size_t other = cap - 3 * 16384; // pressure from elsewhere (other torrents): room for 3 blocks
    m.reserve(MemPool::write, other);
    p.start_download();
    // Sampled every loop turn (check phase), not on a 5 ms poll: on loopback a whole piece can come and go
    // between two polls.
    struct Probe {
        uv_check_t h{};
        Torrent* t = nullptr;
        std::size_t max_out = 0;
    } probe;
    probe.t = p.tb;
    uv_check_init(p.loop.get(), &probe.h);
    probe.h.data = &probe;
    uv_check_start(&probe.h, [](uv_check_t* h) {
        auto* pr = static_cast<Probe*>(h->data);
        for (const auto& l : pr->t->links())
            if (!l->dead && l->conn) pr->max_out = std::max(pr->max_out, l->conn->outgoing_requests().size());
    });
    bool done = run_until(
        p.loop, [&] { return p.tb->complete(); }, 30'000);
    uv_close(reinterpret_cast<uv_handle_t*>(&probe.h), nullptr);
    run_until(p.loop, std::function<bool()>([] { return false; }), 10); // the close callback
    const std::size_t max_out = probe.max_out;
    REQUIRE_MESSAGE(done, "B did not complete under memory pressure within 30 s");
    p.check_identical();
    MESSAGE("most blocks in flight: " << max_out << ", write pool peak " << m.peak(MemPool::write) << " of " << cap);
    CHECK(max_out >= 1);
    CHECK(max_out <= 3);
    // Soft by at most one piece (16 KiB here): the block a torrent with nothing in assembly may still ask for.
    CHECK(m.peak(MemPool::write) <= cap + 16384);
    m.release(MemPool::write, other);
    CHECK(m.used(MemPool::write) == 0); // every piece's reservation came back
}

// The disk (and the hasher) stall: libuv's threadpool is held by blocking jobs, so no piece is hashed or written.
// Pieces waiting for them stay in the write pool, and a torrent with pieces of its own there asks for nothing
// more, not even the one block a torrent with nothing in the pool may ask for. Both once let a fast peer fill
// memory without bound (pieces at the hasher left the pool; the one-block escape went on one block at a time).
// The seed serves from its read cache meanwhile (warmed by a first download), so blocks could still flow.
TEST_CASE("session under a memory budget: while the disk stalls, no more is requested than the write pool holds") {
    Pair p;
    p.start_download();
    REQUIRE(run_until(
        p.loop, [&] { return p.tb->complete(); }, 20'000)); // A has read every piece: all in its cache now
    auto plan = plan_peer_memory(4u << 20);
    REQUIRE(plan);
    SessionConfig sc;
    sc.listen_ip = "127.0.0.1";
    sc.port = 0;
    sc.memory = *plan;
    Session c(p.loop, sc);
    REQUIRE(c.listen());
    MemoryBudget& m = c.memory();
    const std::size_t cap = m.cap(MemPool::write);
    const std::size_t other = cap - 3 * 16384; // room for 3 blocks (pieces are 16 KiB here)
    m.reserve(MemPool::write, other);
    test::TempDir dir_c;
    TorrentConfig tc;
    tc.root_dir = dir_c.path.string();
    Torrent* t = c.add_torrent(p.content.meta, tc, false);
    REQUIRE(t);
    t->add_candidates({test::loopback(p.a->port())});
    REQUIRE(run_until(
        p.loop, [&] { return t->downloaded() > 0; }, 10'000)); // its files are made: the storage needs the pool
    // Hold every pool thread (UV_THREADPOOL_SIZE, default 4) until released.
    const char* env = std::getenv("UV_THREADPOOL_SIZE");
    const int threads = env && std::atoi(env) > 0 ? std::atoi(env) : 4;
    struct Hold {
        Loop& loop;
        std::vector<uv_work_t> jobs;
        std::atomic<int> running{0};
        std::atomic<bool> release{false};
        int finished = 0;
        // Also on a failed REQUIRE: the jobs must return (and their callbacks run) before this goes.
        ~Hold() {
            release = true;
            run_until(loop, [&] { return finished == int(jobs.size()); }, 10'000);
        }
    } hold{p.loop, std::vector<uv_work_t>(static_cast<std::size_t>(threads))};
    for (auto& j : hold.jobs) {
        j.data = &hold;
        uv_queue_work(
            p.loop.get(), &j,
            [](uv_work_t* w) {
                auto* h = static_cast<Hold*>(w->data);
                ++h->running;
                while (!h->release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            },
            [](uv_work_t* w, int) { ++static_cast<Hold*>(w->data)->finished; });
    }
    REQUIRE(run_until(
        p.loop, [&] { return hold.running == threads; }, 10'000));
    const std::uint64_t at_stall = t->downloaded();
    run_until(p.loop, std::function<bool()>([] { return false; }), 2500); // two ticks (fill_all_requests)
    const std::uint64_t during = t->downloaded() - at_stall;
    hold.release = true;
    MESSAGE("received while the disk stalled: " << during << " bytes (write pool " << m.used(MemPool::write) - other
                                                << " of its room " << cap - other << "); the torrent is "
                                                << p.content.meta.total_length);
    // The pool's room (3 blocks) and one more; without the bounds, everything.
    CHECK(during <= 4 * 16384);
    REQUIRE(run_until(
        p.loop, [&] { return t->complete(); }, 30'000));
    p.check_identical(dir_c.path);
    CHECK(m.peak(MemPool::write) <= cap + 16384);
    m.release(MemPool::write, other);
    CHECK(m.used(MemPool::write) == 0);
}

TEST_CASE("session under a memory budget: serving pauses while the send pool is exhausted, resumes after") {
    auto plan = plan_peer_memory(4u << 20);
    REQUIRE(plan);
    Pair p(*plan, {});
    MemoryBudget& m = p.a->memory();
    const std::size_t cap = m.cap(MemPool::send);
    m.reserve(MemPool::send, cap); // every other connection's queue is full
    p.start_download();
    run_until(
        p.loop, [&] { return p.tb->downloaded() > 0; }, 1500);
    CHECK(p.tb->downloaded() == 0);
    CHECK(p.ta->uploaded() == 0);
    m.release(MemPool::send, cap);
    REQUIRE_MESSAGE(run_until(
                        p.loop, [&] { return p.tb->complete(); }, 20'000),
                    "B did not complete after the pool freed");
    p.check_identical();
    CHECK(m.peak(MemPool::send) <= cap + 16384 + 13); // the soft edge: at most one block queued over the cap
}

TEST_CASE("session: the read cache the torrents use is the plan's, and stays within it") {
    auto plan = plan_peer_memory(4u << 20);
    REQUIRE(plan);
    Pair p(*plan, {});
    p.start_download();
    REQUIRE(run_until(
        p.loop, [&] { return p.tb->complete(); }, 20'000));
    CHECK(p.a->read_cache().max_bytes() == plan->read_cache);
    // A served from it. Its peak, not what is left: A drops a piece once B, its only peer, was sent all of it
    // (torrent_serve.cpp).
    CHECK(p.a->read_cache().peak_bytes() > 0);
    CHECK(p.a->read_cache().peak_bytes() <= plan->read_cache);
}

// ---- magnets: incoming connections for an info hash being fetched (a seed may learn our address first)

TEST_CASE("session: while a magnet is fetched, incoming connections go where their handshake's info hash says") {
    Pair p({}, {}, 300);
    const std::string fetched = sha1("some magnet's info dictionary");
    MetadataFetchConfig fc;
    fc.info_hash = fetched;
    fc.peer = p.a->peer_config();
    fc.connections = p.a->connection_counter();
    fc.incoming = p.a->incoming_fetches();
    bool fetch_done = false;
    auto fetch = std::make_unique<MetadataFetch>(p.loop, fc, [&](Result<Metainfo>) { fetch_done = true; });

    // 1. A handshake for the fetched hash: the fetch takes it and answers with its own handshake (BEP 10 bit on).
    std::string hs;
    wire::encode_handshake(hs, wire::Reserved{}.set_extensions(), fetched, "-XX0000-magnetseed01");
    auto for_fetch = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), hs, for_fetch);
    // 2. Not BitTorrent at all: refused at once (a first byte that is not a plaintext handshake's is read as the
    // start of an MSE handshake, and this one has no HASH('req1', S) within the 512 bytes of padding allowed).
    // 3. A handshake cut short: dropped after the handshake timeout. 4. A handshake for a hash nobody has:
    // refused, as without a fetch.
    auto garbage = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), "GET /announce HTTP/1.1\r\n" + std::string(1000, 'x'), garbage);
    auto slow = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), hs.substr(0, 30), slow);
    std::string unknown;
    wire::encode_handshake(unknown, wire::Reserved{}.set_extensions(), sha1("nobody"), "-XX0000-unknown00001");
    auto nobody = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), unknown, nobody);

    REQUIRE(run_until(
        p.loop, [&] { return for_fetch->received.size() >= wire::kHandshakeSize; }, 5000));
    CHECK(for_fetch->received.substr(28, 20) == fetched);
    CHECK(for_fetch->received.substr(48, 20) == p.a->peer_id());
    CHECK(fetch->status().peers == 1);
    REQUIRE(run_until(
        p.loop, [&] { return garbage->peer_closed && nobody->peer_closed; }, 2000));
    CHECK_FALSE(slow->peer_closed);
    REQUIRE_MESSAGE(run_until(
                        p.loop, [&] { return slow->peer_closed; }, 3000),
                    "a connection that never finished its handshake was kept");
    CHECK(for_fetch->client); // still open: the fetch keeps it

    // 5. B's handshake names A's torrent: routed to it as ever; B downloads everything.
    p.start_download();
    REQUIRE_MESSAGE(run_until(
                        p.loop, [&] { return p.tb->complete(); }, 20'000),
                    "B did not complete within 20 s");
    p.check_identical();
    CHECK(p.ta->uploaded() > 0);
    // B's connection ends once both are seeds; A still counts the fetch's, and nothing of the refused ones.
    run_until(
        p.loop, [&] { return p.a->connection_count() == 1; }, 2000);
    CHECK(p.a->connection_count() == 1);
    CHECK_FALSE(fetch_done);
    fetch->give_up(make_error("test", "done"));
    run_until(
        p.loop, [] { return false; }, 50);
    CHECK(p.a->connection_count() == 0);
    REQUIRE(run_until(
        p.loop, [&] { return !for_fetch->client; }, 2000)); // closed with the fetch
    fetch.reset();
}

TEST_CASE("session: without a fetch, a connection for an unknown info hash is refused as before") {
    Pair p;
    std::string hs;
    const std::string hash = sha1("a magnet nobody fetches here");
    wire::encode_handshake(hs, wire::Reserved{}.set_extensions(), hash, "-XX0000-magnetseed02");
    auto st = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), hs, st);
    REQUIRE(run_until(
        p.loop, [&] { return st->peer_closed || st->failed; }, 5000));
    CHECK(st->received.empty());
    // And once a fetch of that hash has finished, the same.
    MetadataFetchConfig fc;
    fc.info_hash = hash;
    fc.peer = p.a->peer_config();
    fc.incoming = p.a->incoming_fetches();
    auto fetch = std::make_unique<MetadataFetch>(p.loop, fc, [](Result<Metainfo>) {});
    fetch->give_up(make_error("test", "over"));
    auto again = std::make_shared<RawState>();
    RawClient::start(p.loop.get(), p.a->port(), hs, again);
    REQUIRE(run_until(
        p.loop, [&] { return again->peer_closed || again->failed; }, 5000));
    CHECK(again->received.empty());
}

// --encryption on both sides (seed A, downloader B dials A): which pairs connect, byte-identical, and which never do.
// require refusing plaintext both ways is what shows the others really ran MSE.
TEST_CASE("session: --encryption policies: allow, prefer, require and disable against each other") {
    struct Case {
        Encryption a, b;
        bool connects;
    };
    const Case cases[] = {
        {Encryption::prefer, Encryption::prefer, true},    {Encryption::require, Encryption::require, true},
        {Encryption::require, Encryption::prefer, true},   {Encryption::prefer, Encryption::require, true},
        {Encryption::prefer, Encryption::disable, true}, // plaintext incoming
        {Encryption::disable, Encryption::prefer, true}, // B's MSE refused: B dials again in plaintext
        {Encryption::disable, Encryption::disable, true},  {Encryption::require, Encryption::disable, false},
        {Encryption::disable, Encryption::require, false},
        {Encryption::allow, Encryption::allow, true},   {Encryption::prefer, Encryption::allow, true},
        {Encryption::allow, Encryption::prefer, true},  {Encryption::disable, Encryption::allow, true},
        {Encryption::require, Encryption::allow, true}, // B's plaintext refused: B dials again with MSE
        {Encryption::allow, Encryption::require, true}, {Encryption::allow, Encryption::disable, true},
    };
    for (const Case& c : cases) {
        CAPTURE(encryption_name(c.a));
        CAPTURE(encryption_name(c.b));
        Pair p({}, {}, 0, c.a, c.b);
        p.start_download();
        const bool done = run_until(
            p.loop, [&] { return p.tb->status().phase == TorrentPhase::seeding; }, c.connects ? 10'000 : 1500);
        CHECK(done == c.connects);
        if (c.connects) p.check_identical();
        if (!c.connects) CHECK(p.tb->status().have_bytes == 0);
    }
}
