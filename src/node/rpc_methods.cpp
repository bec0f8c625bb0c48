// The Transmission RPC's methods over RpcNodeOps (see rpc_methods.hpp for why it is only a face of the node);
// torrent-get's fields are in rpc_torrent_fields.cpp. Shapes follow Transmission's rpc-spec (rpc-version 15):
// numbers for sizes and rates, status 0 stopped, 2 checking, 4 downloading, 6 seeding; uploadRatio -1 when
// nothing was downloaded (-2: infinite); eta -1 when not applicable, -2 when unknown.
#include "node/rpc_methods.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "base/bytes.hpp"

namespace p2p {

namespace {

// About the size of j once dumped, without dumping it (escapes not counted: a low estimate, which the server's
// exact check after the dump backs up).
std::size_t approx_json_size(const nlohmann::json& j) {
    switch (j.type()) {
    case nlohmann::json::value_t::object: {
        std::size_t n = 2;
        for (const auto& [k, v] : j.items()) n += k.size() + 4 + approx_json_size(v);
        return n;
    }
    case nlohmann::json::value_t::array: {
        std::size_t n = 2;
        for (const auto& v : j) n += 1 + approx_json_size(v);
        return n;
    }
    case nlohmann::json::value_t::string: return j.get_ref<const std::string&>().size() + 2;
    case nlohmann::json::value_t::boolean: return 5;
    case nlohmann::json::value_t::null: return 4;
    default: return 12; // numbers: most are short
    }
}

using Json = nlohmann::json;

// Checked reads: a wrong type is "absent", never an exception.
const Json* member(const Json& o, const char* key) {
    if (!o.is_object()) return nullptr;
    auto it = o.find(key);
    return it == o.end() ? nullptr : &*it;
}
std::optional<std::int64_t> as_int(const Json* v) {
    if (!v) return std::nullopt;
    if (v->is_number_integer()) return v->get<std::int64_t>();
    if (v->is_number_float()) {
        const double d = v->get<double>();
        if (d >= -9e18 && d <= 9e18) return static_cast<std::int64_t>(d);
    }
    return std::nullopt;
}
std::optional<bool> as_bool(const Json* v) { // Transmission takes 0/1 for booleans too
    if (!v) return std::nullopt;
    if (v->is_boolean()) return v->get<bool>();
    if (auto n = as_int(v)) return *n != 0;
    return std::nullopt;
}
std::optional<std::string> as_string(const Json* v) {
    if (!v || !v->is_string()) return std::nullopt;
    return v->get<std::string>();
}

bool active(const RpcTorrentInfo& t) {
    return !t.paused && (t.down_rate > 0 || t.up_rate > 0 || !t.has_metadata || t.phase == TorrentPhase::checking);
}

constexpr const char* kSuccess = "success";

} // namespace

std::optional<std::string> base64_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size() / 4 * 3 + 3);
    std::uint32_t acc = 0;
    int bits = 0;
    bool padded = false;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+' || c == '-')
            v = 62;
        else if (c == '/' || c == '_')
            v = 63;
        else if (c == '=') {
            padded = true;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        else
            return std::nullopt;
        if (padded) return std::nullopt; // data after padding
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (bits >= 6) return std::nullopt; // a lone sextet is no byte
    return out;
}

RpcMethods::RpcMethods(RpcNodeOps ops, std::function<std::int64_t()> unix_now)
    : ops_(std::move(ops)),
      unix_now_(unix_now ? std::move(unix_now) : [] { return static_cast<std::int64_t>(std::time(nullptr)); }) {
    started_ = unix_now_();
    if (ops_.session) {
        const RpcSessionInfo s = ops_.session();
        session_up_kb_ = s.up_limit / kSpeedUnit;
        session_down_kb_ = s.down_limit / kSpeedUnit;
    }
}

std::string RpcMethods::handle(std::string_view body) {
    std::string text;
    run(body, false, [&text](std::string s) { text = std::move(s); });
    return text;
}

void RpcMethods::handle(std::string_view body, Answer done) { run(body, true, done); }

void RpcMethods::cancel() {
    if (ops_.cancel_adds) ops_.cancel_adds();
}

std::string RpcMethods::finish(Json answer, const std::string& result, Json out) {
    if (result != kSuccess) ++counters_.errors;
    answer["result"] = result;
    answer["arguments"] = std::move(out);
    return answer.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void RpcMethods::run(std::string_view body, bool allow_async, const Answer& done) {
    ++counters_.calls;
    Json answer = Json::object();
    Json out = Json::object();
    std::string result;
    auto answered = std::make_shared<bool>(false); // once, whatever a buggy add_async does
    try {
        Json req = Json::parse(body.begin(), body.end(), nullptr, false);
        if (req.is_discarded() || !req.is_object()) {
            result = "invalid request: not a JSON object";
        } else {
            if (const Json* tag = member(req, "tag")) answer["tag"] = *tag;
            const auto method = as_string(member(req, "method"));
            const Json* args = member(req, "arguments");
            static const Json kEmpty = Json::object();
            if (!method)
                result = "invalid request: no \"method\"";
            else if (args && !args->is_object())
                result = "invalid request: \"arguments\" is not an object";
            else if (*method == "torrent-add" && allow_async && ops_.add_async) {
                RpcAddRequest req;
                result = add_request(args ? *args : kEmpty, req);
                if (result == kSuccess) {
                    // The answer (tag included) when the node has it: now, or from the loop.
                    ops_.add_async(req, life_.bind([this, answer, done, answered](Result<RpcAdded> r) {
                        if (*answered) return;
                        *answered = true;
                        Json later = Json::object();
                        std::string why;
                        try {
                            if (r)
                                added(*r, later), why = kSuccess;
                            else
                                why = r.error().str();
                        } catch (const std::exception& e) {
                            why = std::string("internal error: ") + e.what();
                            later = Json::object();
                        }
                        done(finish(answer, why, std::move(later)));
                    }));
                    return;
                }
            } else
                result = call(*method, args ? *args : kEmpty, out);
        }
    } catch (const std::exception& e) { // a bug: answered, never thrown into the HTTP server's callback
        result = std::string("internal error: ") + e.what();
        out = Json::object();
    }
    if (*answered) return;
    *answered = true;
    done(finish(std::move(answer), result, std::move(out)));
}

std::string RpcMethods::call(const std::string& m, const Json& args, Json& out) {
    if (m == "session-get") return session_get(out);
    if (m == "session-set") return session_set(args);
    if (m == "session-stats") return session_stats(out);
    if (m == "torrent-get") return torrent_get(args, out);
    if (m == "torrent-add") return torrent_add(args, out);
    if (m == "torrent-set") return torrent_set(args);
    if (m == "torrent-start" || m == "torrent-start-now" || m == "torrent-stop" || m == "torrent-remove" ||
        m == "torrent-reannounce" || m == "torrent-verify")
        return torrent_each(m, args);
    if (m == "free-space") return free_space(args, out);
    if (m == "port-test")
        return "port-test is not supported: p2pnode cannot test its own port from inside; ask a peer outside to "
               "connect to it";
    if (m == "session-close") {
        if (ops_.quit) ops_.quit();
        return kSuccess;
    }
    return "method name not recognized";
}

// ---- session

std::string RpcMethods::session_get(Json& out) {
    const RpcSessionInfo s = ops_.session ? ops_.session() : RpcSessionInfo{};
    if (s.up_limit) session_up_kb_ = s.up_limit / kSpeedUnit;
    if (s.down_limit) session_down_kb_ = s.down_limit / kSpeedUnit;
    out["version"] = s.version;
    out["rpc-version"] = kRpcVersion;
    out["rpc-version-minimum"] = kRpcVersionMinimum;
    out["download-dir"] = s.download_dir;
    out["peer-port"] = s.peer_port;
    out["peer-port-random-on-start"] = false;
    out["port-forwarding-enabled"] = false;
    out["encryption"] = s.encryption;
    out["speed-limit-up"] = session_up_kb_;
    out["speed-limit-up-enabled"] = s.up_limit > 0;
    out["speed-limit-down"] = session_down_kb_;
    out["speed-limit-down-enabled"] = s.down_limit > 0;
    out["alt-speed-enabled"] = false;
    out["alt-speed-up"] = 0;
    out["alt-speed-down"] = 0;
    out["alt-speed-time-enabled"] = false;
    out["alt-speed-time-begin"] = 0;
    out["alt-speed-time-end"] = 0;
    out["alt-speed-time-day"] = 0;
    out["peer-limit-global"] = s.peer_limit;
    out["peer-limit-per-torrent"] = TorrentConfig{}.max_peers;
    out["utp-enabled"] = s.utp;
    out["dht-enabled"] = s.dht;
    out["lpd-enabled"] = s.lsd;
    out["pex-enabled"] = false;
    out["seedRatioLimit"] = 0.0;
    out["seedRatioLimited"] = false; // p2pnode seeds until told otherwise
    out["start-added-torrents"] = start_added_;
    out["rename-partial-files"] = false;
    out["units"] = {{"speed-units", {"kB/s", "MB/s", "GB/s", "TB/s"}}, {"speed-bytes", kSpeedUnit},
                    {"size-units", {"kB", "MB", "GB", "TB"}},          {"size-bytes", 1000},
                    {"memory-units", {"KiB", "MiB", "GiB", "TiB"}},    {"memory-bytes", 1024}};
    return kSuccess;
}

std::string RpcMethods::session_set(const Json& args) {
    const RpcSessionInfo s = ops_.session ? ops_.session() : RpcSessionInfo{};
    std::uint64_t up_kb = session_up_kb_, down_kb = session_down_kb_;
    bool up_on = s.up_limit > 0, down_on = s.down_limit > 0, start_added = start_added_;
    for (auto it = args.begin(); it != args.end(); ++it) {
        const std::string& k = it.key();
        const Json* v = &it.value();
        if (k == "speed-limit-up" || k == "speed-limit-down") {
            auto n = as_int(v);
            if (!n || *n < 0) return k + ": not a number of kB/s";
            (k == "speed-limit-up" ? up_kb : down_kb) = static_cast<std::uint64_t>(*n);
        } else if (k == "speed-limit-up-enabled" || k == "speed-limit-down-enabled") {
            auto b = as_bool(v);
            if (!b) return k + ": not a boolean";
            (k == "speed-limit-up-enabled" ? up_on : down_on) = *b;
        } else if (k == "start-added-torrents") { // transmission-remote --start-paused / --no-start-paused
            auto b = as_bool(v);
            if (!b) return k + ": not a boolean";
            start_added = *b;
        } else if (k == "peer-port") {
            if (as_int(v) != std::optional<std::int64_t>(s.peer_port))
                return "peer-port cannot change while p2pnode runs (start it with --port)";
        } else if (k == "encryption") {
            if (as_string(v) != s.encryption)
                return "encryption cannot change while p2pnode runs (start it with --encryption)";
        } else if (k == "download-dir") {
            if (as_string(v) != s.download_dir)
                return "download-dir cannot change while p2pnode runs (start it with --into)";
        } else {
            return k + " is not supported by p2pnode";
        }
    }
    session_up_kb_ = up_kb;
    session_down_kb_ = down_kb;
    start_added_ = start_added;
    if (ops_.set_session_limits)
        ops_.set_session_limits(up_on ? up_kb * kSpeedUnit : 0, down_on ? down_kb * kSpeedUnit : 0);
    return kSuccess;
}

std::string RpcMethods::session_stats(Json& out) {
    const auto all = snapshot();
    std::uint64_t up = 0, down = 0;
    double up_rate = 0, down_rate = 0;
    std::size_t paused = 0;
    for (const auto& t : all) {
        up += t.uploaded;
        down += t.downloaded;
        up_rate += t.up_rate;
        down_rate += t.down_rate;
        if (t.paused) ++paused;
    }
    out["torrentCount"] = all.size();
    out["activeTorrentCount"] = all.size() - paused;
    out["pausedTorrentCount"] = paused;
    out["downloadSpeed"] = static_cast<std::uint64_t>(down_rate);
    out["uploadSpeed"] = static_cast<std::uint64_t>(up_rate);
    // p2pnode keeps no history across runs: the totals are this run's (of the torrents it has now).
    Json stats = {{"uploadedBytes", up},
                  {"downloadedBytes", down},
                  {"filesAdded", all.size()},
                  {"sessionCount", 1},
                  {"secondsActive", std::max<std::int64_t>(0, unix_now_() - started_)}};
    out["current-stats"] = stats;
    out["cumulative-stats"] = stats;
    return kSuccess;
}

std::string RpcMethods::free_space(const Json& args, Json& out) {
    auto path = as_string(member(args, "path"));
    if (!path || path->empty()) return "free-space: no \"path\"";
    if (!ops_.free_space) return "free-space is not supported";
    auto n = ops_.free_space(*path);
    if (!n) return n.error().str();
    out["path"] = *path;
    out["size-bytes"] = *n;
    return kSuccess;
}

// ---- torrents

int RpcMethods::id_of(const std::string& hash) {
    auto [it, fresh] = ids_.emplace(hash, next_id_);
    if (fresh) {
        ++next_id_;
        added_[hash] = unix_now_();
    }
    return it->second;
}

void RpcMethods::forget(const std::string& hash) {
    auto it = ids_.find(hash);
    if (it == ids_.end()) return;
    if (removed_.size() >= kMaxRemembered) removed_.erase(removed_.begin());
    removed_.emplace_back(it->second, unix_now_());
    ids_.erase(it);
    added_.erase(hash);
    limits_.erase(hash);
}

std::vector<RpcTorrentInfo> RpcMethods::snapshot() {
    std::vector<RpcTorrentInfo> all = ops_.torrents ? ops_.torrents() : std::vector<RpcTorrentInfo>{};
    std::set<std::string> live;
    for (const auto& t : all) {
        live.insert(t.hash);
        id_of(t.hash);
    }
    std::vector<std::string> gone;
    for (const auto& [h, id] : ids_)
        if (!live.count(h)) gone.push_back(h);
    for (const auto& h : gone) forget(h);
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) { return ids_[a.hash] < ids_[b.hash]; });
    return all;
}

std::string RpcMethods::select(const Json& args, std::vector<RpcTorrentInfo>& picked, bool* recent) {
    auto all = snapshot();
    const Json* ids = member(args, "ids");
    if (!ids) {
        picked = std::move(all);
        return kSuccess;
    }
    std::set<int> want_ids;
    std::set<std::string> want_hashes;
    auto add_one = [&](const Json& v) -> bool {
        if (auto n = as_int(&v)) return want_ids.insert(static_cast<int>(*n)), true;
        if (v.is_string()) {
            std::string s = v.get<std::string>(), raw;
            if (s.size() != 40 || !from_hex(s, raw)) return false;
            std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
            want_hashes.insert(s);
            return true;
        }
        return false;
    };
    if (ids->is_string() && ids->get<std::string>() == "recently-active") {
        if (recent) *recent = true;
        for (auto& t : all)
            if (active(t)) picked.push_back(std::move(t));
        return kSuccess;
    }
    if (ids->is_array()) {
        for (const auto& v : *ids)
            if (!add_one(v)) return "ids: each must be a torrent id or a 40-hex info hash";
    } else if (!add_one(*ids)) {
        return "ids: a torrent id, a 40-hex info hash, a list of them or \"recently-active\"";
    }
    for (auto& t : all)
        if (want_ids.count(ids_[t.hash]) || want_hashes.count(t.hash)) picked.push_back(std::move(t));
    return kSuccess;
}

std::string RpcMethods::torrent_get(const Json& args, Json& out) {
    std::vector<std::string> fields;
    const Json* f = member(args, "fields");
    if (!f || !f->is_array()) return "torrent-get needs \"fields\" (a list of field names)";
    for (const auto& v : *f)
        if (v.is_string()) fields.push_back(v.get<std::string>());
    std::vector<RpcTorrentInfo> picked;
    bool recent = false;
    if (auto r = select(args, picked, &recent); r != kSuccess) return r;
    Json list = Json::array();
    std::size_t size = 0;
    for (const auto& t : picked) {
        list.push_back(torrent_fields(t, fields));
        size += approx_json_size(list.back()) + 1;
        if (answer_cap_ && size > answer_cap_) // what was built goes now, not after the whole list
            return "the answer (over " + std::to_string(size) + " bytes at torrent " + std::to_string(list.size()) +
                   " of " + std::to_string(picked.size()) + ") is over the RPC's cap of " +
                   std::to_string(answer_cap_) + " bytes (--max-memory): ask for fewer torrents or fields";
    }
    out["torrents"] = std::move(list);
    if (recent) {
        Json removed = Json::array();
        const std::int64_t now = unix_now_();
        for (const auto& [id, when] : removed_)
            if (now - when <= kRecentS) removed.push_back(id);
        out["removed"] = std::move(removed);
    }
    return kSuccess;
}

std::string RpcMethods::torrent_add(const Json& args, Json& out) {
    RpcAddRequest req;
    if (auto r = add_request(args, req); r != kSuccess) return r;
    if (!ops_.add) return "torrent-add is not supported";
    auto a = ops_.add(req);
    if (!a) return a.error().str();
    added(*a, out);
    return kSuccess;
}

void RpcMethods::added(const RpcAdded& a, Json& out) {
    const Json t = {{"id", id_of(a.hash)}, {"name", a.name}, {"hashString", a.hash}};
    out[a.duplicate ? "torrent-duplicate" : "torrent-added"] = t;
}

std::string RpcMethods::add_request(const Json& args, RpcAddRequest& req) {
    auto filename = as_string(member(args, "filename"));
    auto metainfo = as_string(member(args, "metainfo"));
    if (filename && !filename->empty()) {
        req.filename = *filename;
    } else if (metainfo && !metainfo->empty()) {
        auto raw = base64_decode(*metainfo);
        if (!raw) return "metainfo: not base64";
        req.metainfo = std::move(*raw);
    } else {
        return "torrent-add needs \"filename\" or \"metainfo\"";
    }
    req.paused = !start_added_; // the session's start-added-torrents, unless the add says otherwise
    if (const Json* p = member(args, "paused")) {
        auto b = as_bool(p);
        if (!b) return "paused: not a boolean";
        req.paused = *b;
    }
    if (auto dir = as_string(member(args, "download-dir")); dir && !dir->empty()) {
        const RpcSessionInfo s = ops_.session ? ops_.session() : RpcSessionInfo{};
        if (*dir != s.download_dir) return "download-dir: p2pnode downloads into " + s.download_dir + " (--into)";
    }
    for (const char* k : {"files-wanted", "files-unwanted", "priority-high", "priority-low", "priority-normal"})
        if (member(args, k)) return std::string(k) + ": choose files with torrent-set once the torrent is added";
    return kSuccess;
}

std::string RpcMethods::torrent_set(const Json& args) {
    std::optional<std::int64_t> up, down;
    std::optional<bool> up_on, down_on;
    std::vector<std::size_t> want, skip;
    bool want_all = false, skip_all = false;
    for (auto it = args.begin(); it != args.end(); ++it) {
        const std::string& k = it.key();
        const Json* v = &it.value();
        if (k == "ids") continue;
        if (k == "uploadLimit" || k == "downloadLimit") {
            auto n = as_int(v);
            if (!n || *n < 0) return k + ": not a number of kB/s";
            (k == "uploadLimit" ? up : down) = n;
        } else if (k == "uploadLimited" || k == "downloadLimited") {
            auto b = as_bool(v);
            if (!b) return k + ": not a boolean";
            (k == "uploadLimited" ? up_on : down_on) = b;
        } else if (k == "files-wanted" || k == "files-unwanted") {
            if (!v->is_array()) return k + ": not an array of file indices";
            std::vector<std::size_t>& into = k == "files-wanted" ? want : skip;
            (k == "files-wanted" ? want_all : skip_all) = v->empty(); // Transmission: an empty list is every file
            for (const Json& e : *v) {
                auto n = as_int(&e);
                if (!n || *n < 0) return k + ": not an array of file indices";
                into.push_back(static_cast<std::size_t>(*n));
            }
        } else if (k.rfind("priority-", 0) == 0) {
            return k + ": file priorities are not supported (files are wanted or not)";
        } else {
            return k + " is not supported by p2pnode";
        }
    }
    std::vector<RpcTorrentInfo> picked;
    if (auto r = select(args, picked); r != kSuccess) return r;
    for (const auto& t : picked) {
        if (!t.has_metadata) continue; // no torrent yet to limit
        for (int pass = 0; pass < 2; ++pass) {
            const bool wanted = pass == 0;
            std::vector<std::size_t> files = wanted ? want : skip;
            if (wanted ? want_all : skip_all) {
                if (!ops_.files) return "torrent-set: no file list";
                auto list = ops_.files(t.hash);
                if (!list) return list.error().str();
                for (std::size_t i = 0; i < list->size(); ++i) files.push_back(i);
            }
            if (files.empty()) continue;
            if (!ops_.select) return "file selection is not supported";
            auto r = ops_.select(t.hash, files, wanted);
            if (!r) return r.error().str();
        }
        if (!up && !down && !up_on && !down_on) continue; // a file selection only
        Limits lim = limits_.count(t.hash)
                         ? limits_[t.hash]
                         : Limits{t.up_limit / kSpeedUnit, t.down_limit / kSpeedUnit, t.up_limit > 0, t.down_limit > 0};
        if (up) lim.up = static_cast<std::uint64_t>(*up);
        if (down) lim.down = static_cast<std::uint64_t>(*down);
        if (up_on) lim.up_on = *up_on;
        if (down_on) lim.down_on = *down_on;
        if (!ops_.limit) return "torrent-set is not supported";
        auto r = ops_.limit(t.hash, lim.up_on ? lim.up * kSpeedUnit : 0, lim.down_on ? lim.down * kSpeedUnit : 0);
        if (!r) return r.error().str();
        limits_[t.hash] = lim;
    }
    return kSuccess;
}

// start, stop, remove, reannounce, verify: the same operation on every torrent named. A magnet whose metadata is
// still being fetched is stopped (its fetch paused), started and removed like any torrent; it is skipped by verify
// and reannounce.
std::string RpcMethods::torrent_each(const std::string& m, const Json& args) {
    bool del = false;
    if (m == "torrent-remove")
        if (const Json* d = member(args, "delete-local-data")) {
            auto b = as_bool(d);
            if (!b) return "delete-local-data: not a boolean";
            del = *b;
        }
    std::vector<RpcTorrentInfo> picked;
    if (auto r = select(args, picked); r != kSuccess) return r;
    for (const auto& t : picked) {
        // Still fetching its metadata: it can be stopped, started and removed; nothing to verify or reannounce.
        if (!t.has_metadata && (m == "torrent-reannounce" || m == "torrent-verify")) continue;
        Result<std::string> r = std::string();
        if (m == "torrent-start" || m == "torrent-start-now")
            r = ops_.resume ? ops_.resume(t.hash) : r;
        else if (m == "torrent-stop")
            r = ops_.pause ? ops_.pause(t.hash) : r;
        else if (m == "torrent-reannounce")
            r = ops_.reannounce ? ops_.reannounce(t.hash) : r;
        else if (m == "torrent-verify")
            r = ops_.verify ? ops_.verify(t.hash) : make_error(t.hash, "verify is not available");
        else {
            r = ops_.remove ? ops_.remove(t.hash, del) : r;
            if (r) forget(t.hash);
        }
        if (!r) return r.error().str();
    }
    return kSuccess;
}

} // namespace p2p
