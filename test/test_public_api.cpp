#include <doctest/doctest.h>

#include <cstring>

#include "p2pnode/p2pnode.hpp"

TEST_CASE("public api: the embedding header is self-contained and reports the version") {
    CHECK(std::strcmp(p2p::version(), P2PNODE_VERSION) == 0);
    p2p::PeerNodeConfig peer;
    CHECK(peer.port == 6881);
    p2p::TrackerConfig tracker;
    CHECK(tracker.port == 6969);
}

// ---- p2p::Node on a host's loop (include/p2pnode/node.hpp)

#include <uv.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "test_util.hpp"

namespace {

// Runs the host's loop until pred() or timeout; the host owns the loop, as an embedder would.
bool host_run_until(uv_loop_t* loop, const std::function<bool()>& pred, std::uint64_t timeout_ms) {
    const std::uint64_t end = uv_now(loop) + timeout_ms;
    uv_timer_t tick; // wakes the loop so pred is looked at even when nothing else happens
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, [](uv_timer_t*) {}, 20, 20);
    while (!pred() && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(loop, UV_RUN_NOWAIT);
    return pred();
}

std::string read_all(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

p2p::PeerNodeConfig offline_config() {
    p2p::PeerNodeConfig c;
    c.listen_ip = "127.0.0.1";
    c.port = 0;
    c.dht = false;
    c.lsd = false;
    c.quiet = true;
    return c;
}

} // namespace

TEST_CASE("public api: two Nodes on the host's loop: magnet with x.pe, files, pause, verify, remove, stop") {
    p2p::test::TempDir share("api-share"), into("api-into");
    namespace fs = std::filesystem;
    fs::create_directories(fs::path(share.path) / "album");
    const std::string a = p2p::test::pseudo_random(300'000, 1), b = p2p::test::pseudo_random(70'000, 2);
    std::ofstream(fs::path(share.path) / "album" / "a.bin", std::ios::binary) << a;
    std::ofstream(fs::path(share.path) / "album" / "b.bin", std::ios::binary) << b;

    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        p2p::PeerNodeConfig sc = offline_config(), lc = offline_config();
        sc.share_dir = share.str();
        lc.into_dir = into.str();
        auto seed = p2p::Node::start(sc, &loop);
        REQUIRE(seed.ok());
        auto leech = p2p::Node::start(lc, &loop);
        REQUIRE(leech.ok());
        p2p::Node& s = **seed;
        p2p::Node& l = **leech;
        CHECK(s.port() != 0);
        CHECK(s.run() == -1); // the host runs its loop

        std::vector<p2p::NodeEvent> seed_events, events;
        s.on_event([&](const p2p::NodeEvent& e) { seed_events.push_back(e); });
        l.on_event([&](const p2p::NodeEvent& e) { events.push_back(e); });
        auto count = [&](p2p::NodeEventKind k) {
            int n = 0;
            for (const auto& e : events) n += e.kind == k;
            return n;
        };
        REQUIRE(host_run_until(&loop, [&] { return !seed_events.empty(); }, 10'000));
        CHECK(seed_events[0].kind == p2p::NodeEventKind::added);
        CHECK(seed_events[0].name == "album");
        const std::string hash = seed_events[0].hash;
        REQUIRE(hash.size() == 40);
        REQUIRE(host_run_until(&loop, [&] { return s.torrent(hash)->state == p2p::TorrentState::seeding; }, 10'000));
        auto st = s.torrent(hash);
        REQUIRE(st.ok());
        CHECK(st->shared_item);

        // Errors are values with a kind.
        auto bad = l.add("not a magnet, a hash, a file or a name/");
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().code == p2p::NodeErrc::bad_input);
        CHECK(l.pause(std::string(40, 'a')).error().code == p2p::NodeErrc::not_found);
        CHECK(l.files(std::string(40, 'a')).error().code == p2p::NodeErrc::not_found);
        // A shared item's files are never deleted.
        CHECK(s.remove(hash, true).error().code == p2p::NodeErrc::refused);

        // Only file 1 (b.bin): chosen before the metadata is there.
        const std::string magnet = st->magnet + "&x.pe=127.0.0.1:" + std::to_string(s.port());
        p2p::AddOptions opts;
        opts.files = {1};
        auto added = l.add(magnet, opts);
        REQUIRE(added.ok());
        CHECK(*added == hash);
        CHECK(l.add(magnet).value() == hash); // again: the same handle
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::complete) == 1; }, 20'000));
        CHECK(count(p2p::NodeEventKind::added) == 1);
        CHECK(count(p2p::NodeEventKind::metadata) == 1);
        auto files = l.files(hash);
        REQUIRE(files.ok());
        REQUIRE(files->size() == 2);
        CHECK((*files)[0].path == "a.bin");
        CHECK_FALSE((*files)[0].wanted);
        CHECK((*files)[1].wanted);
        CHECK((*files)[1].done == b.size());
        CHECK_FALSE(fs::exists(fs::path(into.path) / "album" / "a.bin")); // unwanted: never created
        CHECK(read_all(fs::path(into.path) / "album" / "b.bin") == b);
        auto lt = l.torrent(hash);
        REQUIRE(lt.ok());
        CHECK(lt->progress == 1.0);
        CHECK(lt->eta_s == 0);

        // Every file now: downloads a.bin too, `complete` again.
        REQUIRE(l.select_files(hash, {0}, true).ok());
        CHECK(l.select_files(hash, {7}, true).error().code == p2p::NodeErrc::bad_input);
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::complete) == 2; }, 20'000));
        CHECK(read_all(fs::path(into.path) / "album" / "a.bin") == a);

        // Pause and resume: the state follows.
        REQUIRE(l.pause(hash).ok());
        CHECK(l.torrent(hash)->state == p2p::TorrentState::paused);
        REQUIRE(l.resume(hash).ok());
        CHECK(l.torrent(hash)->state != p2p::TorrentState::paused);
        REQUIRE(l.set_limits(hash, 100'000, 200'000).ok());
        CHECK(l.torrent(hash)->up_limit == 100'000);
        CHECK(l.torrent(hash)->down_limit == 200'000);

        // Verify finds a damaged piece, fetches it again and completes once more with the right bytes.
        {
            std::fstream f(fs::path(into.path) / "album" / "a.bin", std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(1000);
            f.write("XXXX", 4);
        }
        REQUIRE(l.verify(hash).ok());
        CHECK(l.verify(hash).error().code == p2p::NodeErrc::refused); // being checked already
        REQUIRE(host_run_until(&loop, [&] { return l.torrent(hash)->state == p2p::TorrentState::downloading; },
                               10'000));
        CHECK(l.torrent(hash)->have_bytes < a.size() + b.size()); // the damaged piece is missing
        // Both were seeds, so they had parted: the torrent dials the seed it parted with again by itself.
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::complete) == 3; }, 30'000));
        CHECK(read_all(fs::path(into.path) / "album" / "a.bin") == a);

        // Remove with its data: the event, the files gone, the handle unknown.
        REQUIRE(l.remove(hash, true).ok());
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::removed) == 1; }, 5'000));
        CHECK(l.torrents().empty());
        REQUIRE(host_run_until(&loop, [&] { return !fs::exists(fs::path(into.path) / "album" / "a.bin"); }, 5'000));

        // A clean stop of both, then the nodes are destroyed outside their callbacks.
        int stopped = 0, status = -1;
        s.stop([&](int rc) { ++stopped, status = rc; });
        l.stop([&](int) { ++stopped; });
        REQUIRE(host_run_until(&loop, [&] { return stopped == 2; }, 10'000));
        CHECK(status == 0);
        CHECK(count(p2p::NodeEventKind::stopped) == 1);
    }
    // Every handle of the nodes closes on the host's loop; nothing is left.
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("public api: a magnet still fetching its metadata can be added paused, paused, resumed and removed") {
    p2p::test::TempDir share("api-share2"), into("api-into2");
    namespace fs = std::filesystem;
    const std::string a = p2p::test::pseudo_random(200'000, 3);
    std::ofstream(fs::path(share.path) / "one.bin", std::ios::binary) << a;
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        p2p::PeerNodeConfig sc = offline_config(), lc = offline_config();
        sc.share_dir = share.str();
        lc.into_dir = into.str();
        auto seed = p2p::Node::start(sc, &loop);
        REQUIRE(seed.ok());
        auto leech = p2p::Node::start(lc, &loop);
        REQUIRE(leech.ok());
        p2p::Node& s = **seed;
        p2p::Node& l = **leech;
        std::vector<p2p::NodeEvent> seed_events, events;
        s.on_event([&](const p2p::NodeEvent& e) { seed_events.push_back(e); });
        l.on_event([&](const p2p::NodeEvent& e) { events.push_back(e); });
        auto count = [&](p2p::NodeEventKind k) {
            int n = 0;
            for (const auto& e : events) n += e.kind == k;
            return n;
        };
        REQUIRE(host_run_until(&loop, [&] { return !seed_events.empty(); }, 10'000));
        const std::string hash = seed_events[0].hash;
        REQUIRE(host_run_until(&loop, [&] { return s.torrent(hash)->state == p2p::TorrentState::seeding; }, 10'000));
        const std::string magnet = s.torrent(hash)->magnet + "&x.pe=127.0.0.1:" + std::to_string(s.port());

        // Added paused: listed as paused, and nothing is fetched although the seed is one dial away.
        p2p::AddOptions paused;
        paused.paused = true;
        REQUIRE(l.add(magnet, paused).value() == hash);
        CHECK(l.torrent(hash)->state == p2p::TorrentState::paused);
        host_run_until(&loop, [] { return false; }, 1'500);
        CHECK(count(p2p::NodeEventKind::metadata) == 0);
        CHECK(l.torrent(hash)->state == p2p::TorrentState::paused);
        CHECK(s.torrent(hash)->peers == 0);
        CHECK(l.verify(hash).error().code == p2p::NodeErrc::refused); // no metadata: nothing to verify
        CHECK(l.pause(hash).ok());                                      // already paused: said, not an error
        // Resumed: the metadata, then the whole download, and the torrent runs (the add's `paused` is spent).
        REQUIRE(l.resume(hash).ok());
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::complete) == 1; }, 20'000));
        CHECK(read_all(fs::path(into.path) / "one.bin") == a);
        CHECK(l.torrent(hash)->state == p2p::TorrentState::seeding);

        // A magnet nobody answers (its only x.pe is a closed port): pause, resume and remove while it fetches.
        const std::string other(40, 'b');
        const std::string lonely = "magnet:?xt=urn:btih:" + other + "&dn=lonely&x.pe=127.0.0.1:1";
        REQUIRE(l.add(lonely).value() == other);
        CHECK(l.torrent(other)->state == p2p::TorrentState::fetching_metadata);
        CHECK(l.torrent(other)->name == "lonely");
        REQUIRE(l.pause(other).ok());
        CHECK(l.torrent(other)->state == p2p::TorrentState::paused);
        REQUIRE(l.resume(other).ok());
        CHECK(l.torrent(other)->state == p2p::TorrentState::fetching_metadata);
        host_run_until(&loop, [] { return false; }, 300);
        REQUIRE(l.remove(other, true).ok()); // nothing written, nothing to delete
        REQUIRE(host_run_until(&loop, [&] { return count(p2p::NodeEventKind::removed) == 1; }, 5'000));
        CHECK(l.torrent(other).error().code == p2p::NodeErrc::not_found);
        CHECK(l.torrents().size() == 1);
        CHECK(l.remove(other, false).error().code == p2p::NodeErrc::not_found);

        int stopped = 0;
        s.stop([&](int) { ++stopped; });
        l.stop([&](int) { ++stopped; });
        REQUIRE(host_run_until(&loop, [&] { return stopped == 2; }, 10'000));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("public api: start errors are values") {
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        p2p::PeerNodeConfig c = offline_config();
        c.share_dir = "/nonexistent/p2pnode-api-test";
        auto n = p2p::Node::start(c, &loop);
        REQUIRE_FALSE(n.ok());
        CHECK(n.error().op == "--share /nonexistent/p2pnode-api-test");
        CHECK(n.error().message == "no such folder");
        c = offline_config();
        c.gets = {"magnet:?xt=urn:btih:nothex"};
        auto m = p2p::Node::start(c, &loop);
        REQUIRE_FALSE(m.ok());
        CHECK(m.error().code == p2p::NodeErrc::bad_input);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}
