#include "cli/config_file.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "base/read_file.hpp"
#include "cli/args.hpp"

namespace p2p {

namespace {

using nlohmann::json;

// The checks a DOM parse cannot make, in one SAX pass over the text: the parser's own message (it carries the
// line and column) and a top-level key given twice (the DOM would keep the last one silently). Throws nothing:
// nlohmann hands parse_error the exception object instead of throwing it when the handler returns false.
class CheckSax : public nlohmann::json_sax<json> {
public:
    std::string error;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return ++depth_, true; }
    bool end_object() override { return --depth_, true; }
    bool start_array(std::size_t) override { return ++depth_, true; }
    bool end_array() override { return --depth_, true; }
    bool key(string_t& k) override {
        if (depth_ != 1 || seen_.insert(k).second) return true;
        error = "key \"" + k + "\" given twice";
        return false;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
        // "[json.exception.parse_error.101] parse error at line 2, column 9: syntax error ...": keep the part
        // for people.
        std::string_view what = ex.what();
        if (auto close = what.find("] "); what.front() == '[' && close != std::string_view::npos)
            what.remove_prefix(close + 2);
        error = "not JSON: " + std::string(what);
        return false;
    }

private:
    int depth_ = 0;
    std::set<std::string> seen_;
};

// A flag's key: its name without the leading dashes ("--no-dht" -> "no-dht", "-o" -> "o").
std::string_view key_of(const FlagInfo& f) {
    std::string_view n = f.name;
    while (!n.empty() && n.front() == '-') n.remove_prefix(1);
    return n;
}

const FlagInfo* flag_for_key(std::string_view key) {
    for (const auto& f : all_flags())
        if (key_of(f) == key) return &f;
    return nullptr;
}

std::optional<Mode> mode_of_flag(std::string_view name) {
    for (Mode m : {Mode::help, Mode::version, Mode::make_torrent, Mode::tracker, Mode::list, Mode::scrape, Mode::peer})
        if (name == mode_flag(m)) return m;
    return std::nullopt;
}

// Edit distance, for "did you mean": keys are short, so the quadratic table is nothing.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string unknown_key(const std::string& key) {
    std::string msg = "unknown key \"" + key + "\"";
    std::string_view best;
    std::size_t best_d = 3; // more than two edits away is another word, not a typo
    std::string plain = key;
    std::replace(plain.begin(), plain.end(), '_', '-'); // "no_dht": a common spelling of "no-dht"
    while (!plain.empty() && plain.front() == '-') plain.erase(0, 1);
    for (const auto& f : all_flags()) {
        if (key_of(f) == "config") continue;
        std::size_t d = distance(plain, key_of(f));
        if (d < best_d && d < plain.size()) best_d = d, best = key_of(f); // "" is one edit from "o"
    }
    if (!best.empty()) return msg + " (did you mean \"" + std::string(best) + "\"?)";
    return msg + ": the keys are the long flags without their dashes (see p2pnode --help)";
}

const char* type_name(const json& v) {
    switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "an object";
    default: return "a number";
    }
}

// The flag's value is a number (a port, seconds, bytes): a JSON number is accepted for it too.
bool numeric_arg(const FlagInfo& f) {
    std::string_view a = f.arg;
    return a == "N" || a == "SECS" || a == "BYTES";
}

// One key of the file as command-line words.
struct FileFlag {
    const FlagInfo* info;
    std::string key;
    std::string counted; // the name the command line would give it: "--tracker URL" for the URL form
    std::optional<Mode> mode;
    std::vector<std::string> words;
};

// One value of a flag that takes one: a string, or a number where the flag is numeric.
Result<std::string> scalar(const FlagInfo& f, const std::string& key, const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number() && numeric_arg(f)) return v.dump(); // 6881, 2.5: the digits the flag would be given
    if (key == "tracker")
        return make_error("", "\"tracker\" takes true (run a tracker), a URL or a list of URLs, not " +
                                  std::string(type_name(v)));
    return make_error("", "\"" + key + "\" takes " + (numeric_arg(f) ? "a number or a string" : "a string") + " (" +
                              f.arg + "), not " + type_name(v));
}

Result<FileFlag> convert(const std::string& key, const json& v) {
    if (key == "config") return make_error("", "\"config\" in a config file: --config is for the command line only");
    const FlagInfo* f = flag_for_key(key);
    if (!f) return make_error("", unknown_key(key));
    FileFlag out{f, key, f->name, std::nullopt, {}};
    const bool tracker = key == "tracker";
    if (!f->arg || (tracker && v.is_boolean())) { // a switch, or the tracker mode
        if (!v.is_boolean())
            return make_error("", "\"" + key + "\" is a switch: true or false, not " + std::string(type_name(v)));
        if (v.get<bool>()) out.words.push_back(f->name);
        out.mode = mode_of_flag(f->name);
        if (!v.get<bool>()) out.mode.reset();
        return out;
    }
    if (tracker) out.counted = "--tracker URL";
    if (v.is_array()) {
        if (!f->repeatable) return make_error("", "\"" + key + "\" takes one value, not a list");
        for (const auto& e : v) {
            auto s = scalar(*f, key, e);
            if (!s) return make_error("", s.error().what + " in its list");
            out.words.insert(out.words.end(), {f->name, *s});
        }
        return out;
    }
    auto s = scalar(*f, key, v);
    if (!s) return s.error();
    out.words = {f->name, *s};
    if (!tracker) out.mode = mode_of_flag(f->name); // --make-torrent PATH, --scrape NAME
    return out;
}

// What the command line gives, scanned the way parse_args reads it (a flag that takes a value takes the next
// word; "--tracker" followed by a word that is not a flag names a URL).
struct CmdLine {
    std::set<std::string> given;
    std::optional<Mode> mode;
};

CmdLine scan(const std::vector<std::string>& args) {
    CmdLine c;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const FlagInfo* f = find_flag(args[i] == "-h" ? "--help" : args[i]);
        if (!f) continue; // parse_args reports it
        const bool has_next = i + 1 < args.size();
        if (std::string_view(f->name) == "--tracker") {
            if (has_next && args[i + 1].rfind('-', 0) != 0) {
                c.given.insert("--tracker URL");
                ++i;
            } else
                c.mode = Mode::tracker;
            continue;
        }
        c.given.insert(f->name);
        if (auto m = mode_of_flag(f->name)) c.mode = m;
        if (f->arg && has_next) ++i;
    }
    return c;
}

bool overridden(const FileFlag& ff, const CmdLine& c) {
    if (c.given.count(ff.counted)) return true;
    // -v is --log-level debug: either on the command line replaces the other in the file.
    if (ff.counted == "-v") return c.given.count("--log-level") > 0;
    if (ff.counted == "--log-level") return c.given.count("-v") > 0;
    return false;
}

// "--peer", "--tracker and --peer": as parse_args names the modes of a flag.
std::string modes_text(unsigned modes) {
    std::vector<std::string> names;
    for (Mode m : {Mode::make_torrent, Mode::tracker, Mode::peer, Mode::list, Mode::scrape})
        if (modes & mode_bit(m)) names.emplace_back(mode_flag(m));
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i)
        s += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return s;
}

} // namespace

Result<std::vector<std::string>> merge_config(std::string_view json_text, const std::string& origin,
                                              const std::vector<std::string>& cmdline) {
    auto bad = [&](std::string why) { return make_error(origin, std::move(why)); };
    CheckSax check;
    // Comments (// and /* */) are allowed: a file under /etc is worth annotating.
    if (!json::sax_parse(json_text, &check, json::input_format_t::json, true, true)) return bad(check.error);
    json doc = json::parse(json_text, nullptr, false, true);
    if (doc.is_discarded()) return bad("not JSON"); // the SAX pass said it is: not reached
    if (!doc.is_object()) return bad("not a JSON object of flags ({\"share\": \"/srv/p2pnode\", ...})");

    std::vector<FileFlag> flags;
    for (const auto& [key, value] : doc.items()) {
        auto ff = convert(key, value);
        if (!ff) return bad(ff.error().what);
        if (!ff->words.empty()) flags.push_back(std::move(*ff));
    }
    const CmdLine cmd = scan(cmdline);
    std::optional<Mode> file_mode;
    std::string file_mode_key;
    for (const auto& ff : flags) {
        if (!ff.mode) continue;
        if (file_mode) return bad("\"" + file_mode_key + "\" and \"" + ff.key + "\" select two modes");
        file_mode = ff.mode;
        file_mode_key = ff.key;
    }
    const std::optional<Mode> mode = cmd.mode ? cmd.mode : file_mode;
    std::vector<std::string> mode_words, words;
    for (const auto& ff : flags)
        if (ff.mode && !cmd.mode) mode_words = ff.words; // a mode on the command line replaces the file's
    // --help and --version ignore the rest (the file was still checked above).
    if (mode == Mode::help || mode == Mode::version) return cmd.mode ? cmdline : mode_words;

    for (const auto& ff : flags) {
        if (ff.mode) continue;
        if (overridden(ff, cmd)) continue;
        if (mode && !(ff.info->modes & mode_bit(*mode)))
            return bad("\"" + ff.key + "\" applies to " + modes_text(ff.info->modes) + ", not " + mode_flag(*mode));
        words.insert(words.end(), ff.words.begin(), ff.words.end());
    }
    words.insert(words.end(), cmdline.begin(), cmdline.end());
    // The file's mode goes first. A bare "--tracker" runs the tracker only when no plain word follows it (else
    // it would name that word as a URL): then it goes last.
    if (mode_words == std::vector<std::string>{"--tracker"} && !words.empty() && words.front().rfind('-', 0) != 0)
        words.push_back("--tracker");
    else
        words.insert(words.begin(), mode_words.begin(), mode_words.end());
    return words;
}

Result<std::vector<std::string>> apply_config_file(const std::vector<std::string>& args) {
    std::vector<std::string> rest;
    std::optional<std::string> path;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] != "--config") {
            rest.push_back(args[i]);
            // A value that happens to read "--config" (--get --config) belongs to its flag.
            const FlagInfo* f = find_flag(args[i]);
            const bool value_follows = f && f->arg && std::string_view(f->name) != "--tracker";
            if (value_follows && i + 1 < args.size()) rest.push_back(args[++i]);
            continue;
        }
        if (i + 1 >= args.size()) return make_error("", "--config needs a value");
        if (path) return make_error("", "--config given twice");
        path = args[++i];
    }
    if (!path) return args;
    if (path->empty()) return make_error("", "--config needs a file name");
    auto text = read_file(*path, kMaxConfigBytes);
    if (!text) return make_error("--config", text.error().str());
    return merge_config(*text, *path, rest);
}

} // namespace p2p
