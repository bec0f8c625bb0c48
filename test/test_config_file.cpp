#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/config_file.hpp"
#include "test_util.hpp"

using namespace p2p;

namespace {

using Args = std::vector<std::string>;

// The file's text and the command line, merged and parsed as main() does.
Result<CliOptions> load(std::string_view text, Args cmdline = {}) {
    auto words = merge_config(text, "cfg.json", cmdline);
    if (!words) return words.error();
    return parse_args(*words);
}

// The one-line error of a file, for message checks.
std::string error_of(std::string_view text, Args cmdline = {}) {
    auto r = load(text, std::move(cmdline));
    REQUIRE_FALSE(r.ok());
    return r.error().str();
}

bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

} // namespace

TEST_CASE("config: every flag of the table has a key, the long name without dashes") {
    // Each flag, written as its key with a value of the right kind, reaches the parser as that flag: the error
    // (or success) is the flag's own, never "unknown key" or a type error.
    for (const auto& f : all_flags()) {
        std::string key = f.name;
        key.erase(0, key.find_first_not_of('-'));
        if (key == "config") continue; // refused in a file: checked below
        std::string value = f.arg ? "\"1\"" : "true";
        auto words = merge_config("{\"" + key + "\": " + value + "}", "cfg.json", {});
        REQUIRE_MESSAGE(words.ok(), f.name, ": ", words.ok() ? "" : words.error().str());
        CHECK_MESSAGE(std::find(words->begin(), words->end(), std::string(f.name)) != words->end(), f.name);
    }
}

TEST_CASE("config: a peer from a file: strings, numbers, switches and lists") {
    auto o = load(R"({
        // comments are allowed
        "peer": true, "share": "/srv/share", "port": 6881, "no-dht": true, "no-lsd": false,
        "tracker": ["udp://a.example:6969", "https://b.example/announce"],
        "get": ["x.torrent", "y.torrent"], "max-upload-rate": "2M", "max-memory": 16777216,
        "log-level": "warn", "no-console": true
    })");
    REQUIRE_MESSAGE(o.ok(), (o.ok() ? "" : o.error().str()));
    CHECK(o->mode == Mode::peer);
    CHECK(o->share_dir == "/srv/share");
    CHECK(o->port == 6881);
    CHECK(o->no_dht);
    CHECK_FALSE(o->no_lsd); // false is as if absent
    CHECK(o->tracker_urls == Args{"udp://a.example:6969", "https://b.example/announce"});
    CHECK(o->gets == Args{"x.torrent", "y.torrent"});
    CHECK(o->max_upload_rate == 2 << 20);
    CHECK(o->max_memory == 16 << 20);
    CHECK(o->log_level == LogLevel::warn);
    CHECK(o->no_console);
    // One string for a repeatable flag is a list of one.
    auto one = load(R"({"peer": true, "share": "s", "dht-bootstrap": "router.example:6881"})");
    REQUIRE(one.ok());
    CHECK(one->dht_bootstrap == Args{"router.example:6881"});
}

TEST_CASE("config: \"tracker\": true runs a tracker; the other short and numeric keys") {
    auto t = load(R"({"tracker": true, "port": 0, "bind": ["127.0.0.1", "::1"], "interval": 600,
                      "state": "/var/lib/p2pnode/tracker.json"})");
    REQUIRE(t.ok());
    CHECK(t->mode == Mode::tracker);
    CHECK(t->port == 0);
    CHECK(t->bind == Args{"127.0.0.1", "::1"});
    CHECK(t->interval == 600);
    CHECK(t->state_file == "/var/lib/p2pnode/tracker.json");
    auto m = load(R"({"make-torrent": "dir", "tracker": "udp://a:1", "o": "out.torrent", "private": true})");
    REQUIRE(m.ok());
    CHECK(m->mode == Mode::make_torrent);
    CHECK(m->output == "out.torrent");
    CHECK(m->is_private);
    auto s = load(R"({"scrape": "photos", "tracker": "udp://a:1", "timeout": 2.5})");
    REQUIRE(s.ok());
    CHECK(s->timeout_s == doctest::Approx(2.5));
}

TEST_CASE("config: the command line wins") {
    const char* file = R"({"peer": true, "share": "/from/file", "port": 7000, "tracker": ["udp://file:1"],
                           "log-level": "warn"})";
    auto o = load(file, {"--port", "0", "--tracker", "udp://cmd:2", "-v"});
    REQUIRE_MESSAGE(o.ok(), (o.ok() ? "" : o.error().str()));
    CHECK(o->port == 0);                           // one value: the command line's, not "given twice"
    CHECK(o->tracker_urls == Args{"udp://cmd:2"}); // a list: replaced whole
    CHECK(o->share_dir == "/from/file");           // not given there: the file's
    CHECK(o->log_level == LogLevel::debug);        // -v replaces the file's log-level
    auto lvl = load(R"({"peer": true, "share": "s", "v": true})", {"--log-level", "error"});
    REQUIRE(lvl.ok());
    CHECK(lvl->log_level == LogLevel::error);
    // The mode too: the file's is dropped, and its keys must then apply to the command line's mode.
    auto t = load(R"({"peer": true, "port": 7000})", {"--tracker"});
    REQUIRE(t.ok());
    CHECK(t->mode == Mode::tracker);
    CHECK(has(error_of(R"({"peer": true, "share": "s"})", {"--tracker"}),
              "cfg.json: \"share\" applies to --peer, not --tracker"));
    // The mode may come from either side.
    auto p = load(R"({"share": "s"})", {"--peer"});
    REQUIRE(p.ok());
    CHECK(p->mode == Mode::peer);
    // --help prints help whatever the file says (once it parses).
    auto h = load(R"({"share": "s", "peer": true})", {"--help"});
    REQUIRE(h.ok());
    CHECK(h->mode == Mode::help);
}

TEST_CASE("config: errors are one line naming the file and the key") {
    CHECK(has(error_of(R"({"peer": true, "shar": "s"})"), "cfg.json: unknown key \"shar\" (did you mean \"share\"?)"));
    CHECK(has(error_of(R"({"peer": true, "no_dht": true})"), "did you mean \"no-dht\""));
    CHECK_FALSE(has(error_of(R"({"frobnicate": 1})"), "did you mean"));
    CHECK(has(error_of(R"({"peer": true, "share": 5})"), "cfg.json: \"share\" takes a string (DIR), not a number"));
    CHECK(
        has(error_of(R"({"tracker": true, "port": true})"), "\"port\" takes a number or a string (N), not a boolean"));
    CHECK(has(error_of(R"({"peer": "yes"})"), "\"peer\" is a switch: true or false, not a string"));
    CHECK(has(error_of(R"({"peer": true, "share": ["a", "b"]})"), "\"share\" takes one value, not a list"));
    CHECK(has(error_of(R"({"peer": true, "share": "s", "get": ["a", 3]})"), "\"get\" takes a string"));
    CHECK(has(error_of(R"({"tracker": null})"), "\"tracker\" takes true (run a tracker), a URL or a list of URLs"));
    CHECK(has(error_of(R"({"tracker": true, "share": "s"})"), "\"share\" applies to --peer, not --tracker"));
    CHECK(has(error_of(R"({"tracker": true, "peer": true})"), "select two modes"));
    CHECK(has(error_of(R"({"config": "other.json"})"), "--config is for the command line only"));
    CHECK(has(error_of(R"({"port": 1, "port": 2})"), "cfg.json: key \"port\" given twice"));
    CHECK(has(error_of("[1, 2]"), "cfg.json: not a JSON object"));
    CHECK(has(error_of(""), "cfg.json: not JSON: parse error at line 1, column 1"));
    CHECK(has(error_of("{\n  \"peer\": true,\n  \"share\": \"s\"\n  \"port\": 1\n}"),
              "cfg.json: not JSON: parse error at line 4, column"));
    // A value error is the flag's own (the key is the flag's name).
    CHECK(has(error_of(R"({"tracker": true, "port": 70000})"), "--port needs an integer in 0..65535, got '70000'"));
    for (const char* text : {"{\"shar\": 1}", "[", "{\"port\": 1, \"port\": 2}"})
        CHECK(error_of(text).find('\n') == std::string::npos);
}

TEST_CASE("config: --config on the command line") {
    test::TempDir d("config");
    const std::string path = d.str() + "/p.json";
    std::ofstream(path) << R"({"peer": true, "share": "/srv/share"})";
    auto w = apply_config_file({"--port", "0", "--config", path});
    REQUIRE(w.ok());
    auto o = parse_args(*w);
    REQUIRE(o.ok());
    CHECK(o->mode == Mode::peer);
    CHECK(o->share_dir == "/srv/share");
    CHECK(o->port == 0);
    // Without --config the words are untouched; a value that reads "--config" belongs to its flag.
    CHECK(*apply_config_file({"--peer", "--get", "--config"}) == Args{"--peer", "--get", "--config"});
    CHECK(has(apply_config_file({"--config", path, "--config", path}).error().str(), "--config given twice"));
    CHECK(has(apply_config_file({"--peer", "--config"}).error().str(), "--config needs a value"));
    auto missing = apply_config_file({"--config", d.str() + "/none.json"});
    REQUIRE_FALSE(missing.ok());
    CHECK(has(missing.error().str(), "none.json"));
    CHECK(has(missing.error().str(), "No such file"));
}
