// Fuzz target: the tracker's JSON state loader, parse_state (the string entry point of load_state).
// Invariants: a failed parse leaves the state untouched (all or nothing); an accepted document re-serializes to
// a document that parses, and serializing that gives the same text (a fixed point).
#include "tracker/state_file.hpp"

#include "fuzz_common.hpp"
#include "proto/udp_tracker.hpp"

using namespace p2p;

namespace {

constexpr std::uint32_t kNow = 1'700'000'000;

struct State {
    SwarmStore store;
    Catalog catalog{16};
    TrackerCounters counters;
    TrackerState ref() { return {store, catalog, counters}; }
    std::string text() const { return serialize_state(store, catalog, counters, kNow); }
};

// A small non-empty state to start from, so "nothing changed" is a real check.
const std::string& baseline() {
    static const std::string text = [] {
        State s;
        AnnounceInput in;
        in.info_hash = udp::Hash20::from(std::string(20, 'a'));
        in.peer.ip = {192, 0, 2, 1};
        in.peer.port = 6881;
        in.seeder = true;
        std::string out;
        (void)s.store.announce(in, kNow, out);
        const std::uint8_t publisher[4] = {198, 51, 100, 7};
        (void)s.catalog.publish("a name", in.info_hash, 1234, kNow, PublisherAddr::v4(publisher));
        s.counters.connects = 3;
        return s.text();
    }();
    return text;
}

} // namespace

FUZZ_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto in = fuzz::as_view(data, size);
    State s;
    FUZZ_CHECK(parse_state(baseline(), s.ref(), kNow).ok());
    const std::string before = s.text();
    auto st = parse_state(in, s.ref(), kNow);
    const std::string after = s.text();
    if (!st.ok()) {
        FUZZ_CHECK(after == before);
        return 0;
    }
    State t;
    FUZZ_CHECK(parse_state(after, t.ref(), kNow).ok());
    FUZZ_CHECK(t.text() == after);
    return 0;
}
