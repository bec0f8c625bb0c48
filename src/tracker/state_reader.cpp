#include "tracker/state_reader.hpp"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.hpp"
#include "tracker/state_writer.hpp"

namespace p2p {
namespace {

using json = nlohmann::json;

bool parse_ip(const std::string& s, PeerEntry& p) {
    if (inet_pton(AF_INET, s.c_str(), p.ip.data()) == 1) {
        p.v6 = 0;
        return true;
    }
    if (inet_pton(AF_INET6, s.c_str(), p.ip.data()) == 1) {
        p.v6 = 1;
        return true;
    }
    return false;
}

bool parse_hash(const std::string& hex, udp::Hash20& out) {
    std::string raw;
    if (hex.size() != 40 || !from_hex(hex, raw)) return false;
    out = udp::Hash20::from(raw);
    return true;
}

// Where in the document a value is. Named for the container being read.
enum class Ctx { root, counters, catalog, entry, swarms, swarm, peers, peer, skip };

// One scalar as the SAX events deliver it.
struct Value {
    enum Kind { unsigned_int, other_number, string, other } kind = other;
    std::uint64_t u = 0;
    std::string* s = nullptr;
};

// The SAX handler: checks (apply == nullptr) or restores (apply set) as values arrive. Returning false stops
// the parse; `error` says why.
class StateSax : public nlohmann::json_sax<json> {
public:
    StateSax(TrackerState* apply, std::uint32_t now) : apply_(apply), now_(now) {}
    std::string error;

    bool null() override { return scalar(Value{}); }
    bool boolean(bool) override { return scalar(Value{}); }
    bool number_integer(number_integer_t) override { return scalar(Value{Value::other_number}); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(Value{Value::unsigned_int, v}); }
    bool number_float(number_float_t, const string_t&) override { return scalar(Value{Value::other_number}); }
    bool string(string_t& v) override { return scalar(Value{Value::string, 0, &v}); }
    bool binary(binary_t&) override { return scalar(Value{}); }
    bool key(string_t& k) override {
        key_ = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return fail("not valid JSON");
    }

    bool start_object(std::size_t) override {
        if (stack_.empty()) return push(Ctx::root);
        switch (top()) {
        case Ctx::root:
            if (key_ == "counters") return push(Ctx::counters);
            if (is_known_root_key()) return fail("bad " + key_);
            return push(Ctx::skip);
        case Ctx::catalog:
            entry_ = {};
            entry_fields_ = 0;
            return push(Ctx::entry);
        case Ctx::swarms:
            swarm_hash_ = {};
            swarm_fields_ = 0;
            swarm_downloaded_ = 0;
            peers_.clear();
            return push(Ctx::swarm);
        case Ctx::skip: return push(Ctx::skip);
        case Ctx::peers: return fail("bad peer");
        default: return unknown_key_or(Ctx::skip, "unexpected object");
        }
    }
    bool end_object() override {
        const Ctx c = top();
        stack_.pop_back();
        switch (c) {
        case Ctx::root:
            if (!format_ok_) return fail("missing or wrong \"format\"");
            if (!version_ok_) return fail("unsupported version");
            if (counter_mask_ != kAllCounters) return fail("missing counters");
            if (!saw_swarms_) return fail("missing swarms");
            if (!saw_catalog_) return fail("missing catalog");
            if (apply_) apply_->counters = counters_;
            return true;
        case Ctx::counters:
            if (counter_mask_ != kAllCounters) return fail("bad counters");
            return true;
        case Ctx::entry:
            if (entry_fields_ != 0xf) return fail("bad catalog entry");
            if (apply_) apply_->catalog.restore(std::move(entry_));
            return true;
        case Ctx::swarm:
            if (swarm_fields_ != 0x7) return fail("bad swarm");
            if (apply_) apply_->store.restore(swarm_hash_, swarm_downloaded_, std::move(peers_), now_);
            peers_.clear();
            return true;
        default: return true;
        }
    }
    bool start_array(std::size_t) override {
        if (stack_.empty()) return fail("top level is not an object");
        switch (top()) {
        case Ctx::root:
            if (key_ == "catalog") {
                saw_catalog_ = true;
                return push(Ctx::catalog);
            }
            if (key_ == "swarms") {
                saw_swarms_ = true;
                return push(Ctx::swarms);
            }
            if (is_known_root_key()) return fail("bad " + key_);
            return push(Ctx::skip);
        case Ctx::swarm:
            if (key_ == "peers") {
                swarm_fields_ |= 4;
                return push(Ctx::peers);
            }
            return unknown_key_or(Ctx::skip, "bad swarm");
        case Ctx::peers:
            peer_ = {};
            peer_index_ = 0;
            return push(Ctx::peer);
        case Ctx::skip: return push(Ctx::skip);
        case Ctx::catalog: return fail("catalog entry is not an object");
        case Ctx::swarms: return fail("swarm is not an object");
        case Ctx::peer: return fail("bad peer");
        default: return unknown_key_or(Ctx::skip, "unexpected array");
        }
    }
    bool end_array() override {
        const Ctx c = top();
        stack_.pop_back();
        if (c != Ctx::peer) return true;
        if (peer_index_ != 4) return fail("bad peer");
        if (apply_) peers_.push_back(peer_);
        return true;
    }

private:
    static constexpr int kCounterFields = 9;
    static constexpr unsigned kAllCounters = (1u << kCounterFields) - 1;

    Ctx top() const { return stack_.back(); }
    bool push(Ctx c) {
        if (stack_.size() >= 64) return fail("nested too deeply"); // our documents have depth 5
        stack_.push_back(c);
        return true;
    }
    bool fail(std::string why) {
        if (error.empty()) error = std::move(why);
        return false;
    }
    bool is_known_root_key() const {
        return key_ == "format" || key_ == "version" || key_ == "counters" || key_ == "swarms" || key_ == "catalog";
    }
    // Inside an object: a key we do not know is skipped; one we know with the wrong kind of value is an error.
    bool unknown_key_or(Ctx c, const char* why) {
        const Ctx t = top();
        const bool known = (t == Ctx::swarm && (key_ == "info_hash" || key_ == "downloaded" || key_ == "peers")) ||
                           (t == Ctx::entry && (key_ == "name" || key_ == "info_hash" || key_ == "size" ||
                                                key_ == "last_seen" || key_ == "publisher")) ||
                           t == Ctx::counters;
        if (known || (t != Ctx::swarm && t != Ctx::entry)) return fail(why);
        return push(c);
    }

    bool scalar(const Value& v) {
        if (stack_.empty()) return fail("top level is not an object");
        const bool u32 = v.kind == Value::unsigned_int && v.u <= 0xffffffffu;
        switch (top()) {
        case Ctx::root:
            if (key_ == "format") {
                if (v.kind != Value::string || *v.s != kStateFormat) return fail("missing or wrong \"format\"");
                format_ok_ = true;
            } else if (key_ == "version") {
                if (v.kind != Value::unsigned_int || v.u != static_cast<std::uint64_t>(kStateVersion))
                    return fail("unsupported version");
                version_ok_ = true;
            } else if (key_ == "counters") {
                return fail("missing counters");
            } else if (key_ == "swarms") {
                return fail("missing swarms");
            } else if (key_ == "catalog") {
                return fail("missing catalog");
            }
            return true; // saved_at and unknown keys
        case Ctx::counters: return counter(v);
        case Ctx::entry:
            if (key_ == "name") {
                if (v.kind != Value::string || !udp::valid_name(*v.s)) return fail("bad catalog entry");
                entry_.name = std::move(*v.s);
                entry_fields_ |= 1;
            } else if (key_ == "info_hash") {
                if (v.kind != Value::string || !parse_hash(*v.s, entry_.info_hash)) return fail("bad catalog entry");
                entry_fields_ |= 2;
            } else if (key_ == "size") {
                if (v.kind != Value::unsigned_int) return fail("bad catalog entry");
                entry_.total_size = v.u;
                entry_fields_ |= 4;
            } else if (key_ == "last_seen") {
                if (!u32) return fail("bad catalog entry");
                entry_.last_seen = static_cast<std::uint32_t>(v.u);
                entry_fields_ |= 8;
            } else if (key_ == "publisher") { // optional: older files have none
                if (v.kind != Value::string || !PublisherAddr::parse(*v.s, entry_.publisher))
                    return fail("bad catalog entry");
            }
            return true;
        case Ctx::swarm:
            if (key_ == "info_hash") {
                if (v.kind != Value::string || !parse_hash(*v.s, swarm_hash_)) return fail("bad swarm");
                swarm_fields_ |= 1;
            } else if (key_ == "downloaded") {
                if (!u32) return fail("bad swarm");
                swarm_downloaded_ = static_cast<std::uint32_t>(v.u);
                swarm_fields_ |= 2;
            } else if (key_ == "peers") {
                return fail("bad swarm peers");
            }
            return true;
        case Ctx::peer: return peer_field(v);
        case Ctx::catalog: return fail("catalog entry is not an object");
        case Ctx::swarms: return fail("swarm is not an object");
        case Ctx::peers: return fail("bad peer");
        case Ctx::skip: return true;
        }
        return true;
    }

    bool counter(const Value& v) {
        static const char* const names[kCounterFields] = {"connects",   "announces", "scrapes",
                                                          "catalog",    "malformed", "bad_connection",
                                                          "send_drops", "errors",    "capped"};
        std::uint64_t* fields[kCounterFields] = {&counters_.connects,   &counters_.announces, &counters_.scrapes,
                                                 &counters_.catalog,    &counters_.malformed, &counters_.bad_connection,
                                                 &counters_.send_drops, &counters_.errors,    &counters_.capped};
        for (int i = 0; i < kCounterFields; ++i) {
            if (key_ != names[i]) continue;
            if (v.kind != Value::unsigned_int) return fail("bad counters");
            *fields[i] = v.u;
            counter_mask_ |= 1u << i;
            return true;
        }
        return true; // an unknown counter
    }

    bool peer_field(const Value& v) {
        switch (peer_index_++) {
        case 0:
            if (v.kind != Value::string || !parse_ip(*v.s, peer_)) return fail("bad peer");
            return true;
        case 1:
            if (v.kind != Value::unsigned_int || v.u == 0 || v.u > 65535) return fail("bad peer address");
            peer_.port = static_cast<std::uint16_t>(v.u);
            return true;
        case 2:
            if (v.kind != Value::unsigned_int || v.u > 0xffffffffu) return fail("bad peer");
            peer_.last_seen = static_cast<std::uint32_t>(v.u);
            return true;
        case 3:
            if (v.kind != Value::unsigned_int) return fail("bad peer");
            peer_.seeder = v.u ? 1 : 0;
            return true;
        default: return fail("bad peer");
        }
    }

    TrackerState* apply_;
    std::uint32_t now_;
    std::vector<Ctx> stack_;
    std::string key_;
    bool format_ok_ = false, version_ok_ = false, saw_swarms_ = false, saw_catalog_ = false;
    TrackerCounters counters_;
    unsigned counter_mask_ = 0;
    CatalogRecord entry_;
    unsigned entry_fields_ = 0;
    udp::Hash20 swarm_hash_;
    std::uint32_t swarm_downloaded_ = 0;
    unsigned swarm_fields_ = 0;
    std::vector<PeerEntry> peers_; // the current swarm's (applying only)
    PeerEntry peer_;
    int peer_index_ = 0;
};

// One pass over `input` (anything nlohmann's sax_parse reads).
template <class Input>
Status pass(Input&& input, TrackerState* apply, std::uint32_t now) {
    StateSax sax(apply, now);
    const bool ok = json::sax_parse(std::forward<Input>(input), &sax);
    if (ok && sax.error.empty()) return ok_status();
    return make_error("state.parse", sax.error.empty() ? "not valid JSON" : sax.error, Errc::bad_input);
}

void clear(TrackerState& into) {
    into.store.clear();
    into.catalog.clear();
    into.counters = TrackerCounters{};
}

} // namespace

Status parse_state(std::string_view text, TrackerState into, std::uint32_t now) {
    if (auto st = pass(text, nullptr, now); !st) return st;
    clear(into);
    return pass(text, &into, now);
}

Status parse_state_file(std::FILE* f, TrackerState into, std::uint32_t now) {
    std::rewind(f);
    if (auto st = pass(f, nullptr, now); !st) return st;
    std::rewind(f);
    clear(into);
    Status st = pass(f, &into, now);
    if (!st) clear(into); // the file changed under us between the passes
    return st;
}

} // namespace p2p
