// The Announcer's schedule (soon while peers are wanted) and tracker state: AnnounceBackoff alone (pure), then an Announcer against
// the real UDP TrackerServer on 127.0.0.1 with millisecond intervals, and against a UDP socket that never answers.
// (http:// trackers, BEP 12 fallback and "min interval": test_http_tracker.cpp.)
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "loop/loop.hpp"
#include "loop/timer.hpp"
#include "session/announcer.hpp"
#include "test_util.hpp"
#include "tracker/server.hpp"

using namespace p2p;
using p2p::test::run_until;
using p2p::test::SilentSocket;

namespace {

AnnouncerConfig config_for(const std::vector<std::vector<std::string>>& tiers) {
    AnnouncerConfig c;
    c.info_hash = std::string(19, 'i') + "1";
    c.peer_id = "-PN0100-announcetest";
    c.port = 6881;
    c.tiers = tiers;
    return c;
}

// The real tracker (interval in seconds), and the loop times at which the Announcer sent its announces (it asks
// for its stats exactly then).
struct Fixture {
    Loop loop;
    std::unique_ptr<TrackerServer> server;
    std::string url;
    std::vector<std::uint64_t> at; // loop ms of each announce sent
    explicit Fixture(std::uint32_t interval_s = 1) {
        ServerConfig cfg;
        cfg.bind = {"127.0.0.1"};
        cfg.port = 0;
        cfg.interval = interval_s;
        server = std::make_unique<TrackerServer>(loop.get(), cfg);
        REQUIRE(server->start().ok());
        url = "udp://127.0.0.1:" + std::to_string(server->bound()[0].port) + "/announce";
    }
    ~Fixture() {
        server->close();
        run_until(
            loop, [] { return false; }, 20);
    }
    std::function<AnnounceStats()> stats() {
        return [this] {
            at.push_back(loop.now_ms());
            return AnnounceStats{0, 0, 1000};
        };
    }
    // Runs until n announces were sent and the tracker counted them all (at most timeout_ms).
    bool wait_announces(std::size_t n, std::uint64_t timeout_ms) {
        return run_until(
            loop, [&] { return at.size() >= n && server->counters().announces >= n; }, timeout_ms);
    }
    std::uint64_t gap(std::size_t i) const { return at[i] - at[i - 1]; } // between announces i-1 and i
};

} // namespace

TEST_CASE("announce backoff: 15 s, doubling to the interval while peers are wanted, the interval once found") {
    AnnounceBackoff b; // 15 s first step
    const std::uint64_t interval = 1800'000;
    CHECK(b.answered(interval, 0, false) == interval); // not wanting: the tracker's interval
    CHECK(b.step_ms() == 0);
    std::vector<std::uint64_t> steps;
    for (int i = 0; i < 10; ++i) steps.push_back(b.answered(interval, 0, true));
    CHECK(steps == std::vector<std::uint64_t>{15'000, 30'000, 60'000, 120'000, 240'000, 480'000, 960'000, 1800'000,
                                              1800'000, 1800'000});
    // Peers found: back to the interval; wanted again later: from 15 s again.
    CHECK(b.answered(interval, 0, false) == interval);
    CHECK(b.recheck(false) == interval);
    CHECK(b.recheck(true) == 15'000); // a download that lost its peers: due 15 s after the last answer
    CHECK(b.recheck(true) == 15'000); // rechecking does not double; answers do
    CHECK(b.answered(interval, 0, true) == 30'000);
    CHECK(b.recheck(false) == interval); // found between answers: the interval from the last answer

    // An HTTP tracker's "min interval" is a floor; it never lifts a step above the interval.
    AnnounceBackoff m;
    CHECK(m.answered(1800'000, 60'000, true) == 60'000);
    CHECK(m.answered(1800'000, 60'000, true) == 120'000);
    AnnounceBackoff over;
    CHECK(over.answered(100'000, 300'000, true) == 100'000);
    // A tracker interval shorter than the first step: the interval.
    AnnounceBackoff tiny(15'000);
    CHECK(tiny.answered(10'000, 0, true) == 10'000);
}

TEST_CASE("announcer: without peers it asks again soon, doubling; at the interval once peers are found") {
    Fixture f(1); // interval 1000 ms
    auto cfg = config_for({{f.url}});
    bool wants = true;
    cfg.wants_peers = [&] { return wants; };
    cfg.wanting_first_ms = 50;
    cfg.recheck_ms = 20;
    cfg.shortest_interval_ms = 0;
    TrackerClients clients(f.loop.get());
    Announcer a(f.loop.get(), clients, cfg, f.stats(), [](const std::vector<PeerEndpoint>&) {});
    a.start();
    REQUIRE(f.wait_announces(5, 3000));
    // 50, 100, 200, 400 ms (plus a loopback round trip each), not the tracker's 1000 ms.
    const std::uint64_t expect[] = {50, 100, 200, 400};
    for (std::size_t i = 1; i < 5; ++i) {
        CHECK_MESSAGE(f.gap(i) >= expect[i - 1], "gap " << i << " = " << f.gap(i));
        CHECK_MESSAGE(f.gap(i) < expect[i - 1] + 150, "gap " << i << " = " << f.gap(i));
    }
    // Peers found: the next ones after the whole interval, however often wants_peers is looked at meanwhile.
    wants = false;
    REQUIRE(f.wait_announces(7, 3000));
    for (std::size_t i = 5; i < 7; ++i) {
        CHECK_MESSAGE(f.gap(i) >= 1000, "gap " << i << " = " << f.gap(i));
        CHECK_MESSAGE(f.gap(i) < 1200, "gap " << i << " = " << f.gap(i));
    }
    // The last peer leaves 300 ms into an interval: an announce follows at once (50 ms since the last answer
    // are long past), not 700 ms later.
    run_until(
        f.loop, [] { return false; }, 300);
    wants = true;
    const std::uint64_t lost_at = f.loop.now_ms();
    REQUIRE(f.wait_announces(8, 3000));
    CHECK_MESSAGE(f.at[7] - lost_at < 150, "announce " << (f.at[7] - lost_at) << " ms after the peers left");

    auto st = a.trackers();
    REQUIRE(st.size() == 1);
    CHECK(st[0].url == f.url);
    CHECK(st[0].working);
    CHECK(st[0].last_error.empty());
    CHECK(st[0].last_announce_ms > 0);
    bool stopped = false;
    a.stop(1000, [&] { stopped = true; });
    REQUIRE(run_until(
        f.loop, [&] { return stopped; }, 2000));
}

TEST_CASE("announcer: with no wants_peers the next announce waits the whole interval (as before)") {
    Fixture f(1);
    auto cfg = config_for({{f.url}});
    cfg.shortest_interval_ms = 0;
    TrackerClients clients(f.loop.get());
    Announcer a(f.loop.get(), clients, cfg, f.stats(), [](const std::vector<PeerEndpoint>&) {});
    a.start();
    REQUIRE(f.wait_announces(2, 3000));
    CHECK_MESSAGE(f.gap(1) >= 1000, "gap = " << f.gap(1));
    // The state after an answer: when the next is due, what the tracker said; unusable URLs are listed too.
    REQUIRE(run_until(
        f.loop, [&] { return !a.trackers().empty() && !a.trackers()[0].updating; }, 2000));
    auto st = a.trackers();
    REQUIRE(st.size() == 1);
    CHECK(st[0].working);
    CHECK(st[0].next_announce_ms >= st[0].last_announce_ms + 1000);
    CHECK(st[0].next_announce_ms <= f.loop.now_ms() + 1000);
    CHECK(a.last_result() == "ok");
}

TEST_CASE("announcer: trackers() lists every tracker by tier, the unusable ones with the reason") {
    Fixture f(600);
    SilentSocket silent(f.loop.get());
    auto cfg = config_for({{"wss://secure.example/announce", f.url}, {silent.url()}});
    TrackerClients clients(f.loop.get());
    Announcer a(f.loop.get(), clients, cfg, f.stats(), [](const std::vector<PeerEndpoint>&) {});
    auto before = a.trackers();
    REQUIRE(before.size() == 3);
    CHECK(before[0].tier == 0);
    CHECK(before[0].last_error.find("only udp://, http:// and https:// trackers") != std::string::npos);
    CHECK(before[1].tier == 0);
    CHECK(before[1].url == f.url);
    CHECK(before[2].tier == 1);
    CHECK_FALSE(before[1].working);
    CHECK(before[1].last_announce_ms == 0);
    a.start();
    CHECK(a.trackers()[1].updating);
    CHECK(a.trackers()[1].next_announce_ms == 0);
    REQUIRE(run_until(
        f.loop, [&] { return a.trackers()[1].working; }, 3000));
    auto st = a.trackers();
    CHECK_FALSE(st[1].updating);
    CHECK(st[1].next_announce_ms >= st[1].last_announce_ms + 600'000);
    CHECK_FALSE(st[0].working);
    CHECK(st[2].updating); // the silent one
    bool stopped = false;
    a.stop(200, [&] { stopped = true; });
    REQUIRE(run_until(
        f.loop, [&] { return stopped; }, 2000));
    CHECK(a.trackers()[1].next_announce_ms == 0);
}

TEST_CASE("announcer: a tracker that never answers is warned about once, however many torrents use it") {
    Loop loop;
    SilentSocket silent(loop.get());
    UdpClientOptions uo;
    uo.retransmit_base_ms = 20; // BEP 15's 15 s, 30 s, ... shortened: still nothing answers
    TrackerClients clients(loop.get(), uo);
    auto cfg = config_for({{silent.url()}});
    cfg.silent_warn_ms = 100;
    Announcer a(
        loop.get(), clients, cfg,
        [] {
            return AnnounceStats{0, 0, 1};
        },
        [](const std::vector<PeerEndpoint>&) {});
    cfg.info_hash = std::string(19, 'j') + "2";
    Announcer b(
        loop.get(), clients, cfg,
        [] {
            return AnnounceStats{0, 0, 1};
        },
        [](const std::vector<PeerEndpoint>&) {});
    a.start();
    b.start();
    run_until(
        loop, [] { return false; }, 60);
    CHECK(clients.silent_warnings() == 0); // not before silent_warn_ms
    CHECK(a.trackers()[0].last_error.empty());
    REQUIRE(run_until(
        loop, [&] { return clients.silent_warnings() > 0; }, 2000));
    run_until(
        loop, [] { return false; }, 200);
    CHECK(clients.silent_warnings() == 1);
    CHECK(silent.received >= 4); // both announcers kept trying (connect requests, retransmitted)
    for (Announcer* x : {&a, &b}) {
        auto st = x->trackers();
        REQUIRE(st.size() == 1);
        CHECK(st[0].last_error == "no answer for 100 ms (still trying)");
        CHECK_FALSE(st[0].working);
        CHECK(st[0].updating);
        CHECK(st[0].last_announce_ms == 0);
        CHECK(x->last_result().find("no answer for 100 ms") != std::string::npos);
    }
    // A tracker never heard from is not waited for: nothing was answered, no `stopped` to send, done at once.
    bool stopped = false;
    a.stop(50, [&] { stopped = true; });
    CHECK(stopped);
    // Once a tracker answers again, a later silence is worth a warning again.
    CHECK(clients.note_answer(silent.url()));
    CHECK_FALSE(clients.note_answer(silent.url()));
    CHECK(clients.note_silent(silent.url()));
    CHECK_FALSE(clients.note_silent(silent.url()));
    CHECK(clients.silent_warnings() == 2);
}

TEST_CASE("announcer: stopped while its first `started` is in flight, it sends `stopped` after that answer") {
    Fixture f(60);
    TrackerClients clients(f.loop.get());
    auto noop = [](const std::vector<PeerEndpoint>&) {};
    // A first torrent on the tracker: the tracker has answered this process, so it is alive.
    Announcer a(f.loop.get(), clients, config_for({{f.url}}), f.stats(), noop);
    a.start();
    REQUIRE(f.wait_announces(1, 2000));
    REQUIRE(run_until(
        f.loop, [&] { return a.trackers()[0].working; }, 2000));
    CHECK(f.server->store().peer_count() == 1);
    // A second one stops before its `started` is answered (a download that fails on the disk at once). Were no
    // `stopped` sent, the `started` arriving after would leave it on the tracker as a leecher.
    auto cfg = config_for({{f.url}});
    cfg.info_hash = std::string(19, 'k') + "3";
    Announcer b(f.loop.get(), clients, cfg, f.stats(), noop);
    b.start();
    bool stopped = false;
    b.stop(2000, [&] { stopped = true; });
    CHECK_FALSE(stopped); // it waits for that answer, then for the answer to `stopped`
    REQUIRE(run_until(
        f.loop, [&] { return stopped; }, 3000));
    run_until(
        f.loop, [] { return false; }, 50);
    CHECK(f.server->counters().announces == 3); // a's started, b's started, b's stopped
    CHECK(f.server->store().peer_count() == 1);
    bool a_stopped = false;
    a.stop(1000, [&] { a_stopped = true; });
    REQUIRE(run_until(
        f.loop, [&] { return a_stopped; }, 2000));
    CHECK(f.server->store().peer_count() == 0);
}
