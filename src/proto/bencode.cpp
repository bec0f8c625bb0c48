#include "proto/bencode.hpp"

#include <limits>

namespace p2p::bencode {

const Value* Value::find(std::string_view key) const {
    if (!is_dict()) return nullptr;
    const Dict& d = as_dict();
    auto it = d.find(key);
    return it == d.end() ? nullptr : &it->second;
}
const std::string* Value::find_string(std::string_view key) const {
    const Value* x = find(key);
    return x && x->is_string() ? &x->as_string() : nullptr;
}
const std::int64_t* Value::find_int(std::string_view key) const {
    const Value* x = find(key);
    return x && x->is_int() ? &std::get<0>(x->v) : nullptr;
}
const List* Value::find_list(std::string_view key) const {
    const Value* x = find(key);
    return x && x->is_list() ? &x->as_list() : nullptr;
}
const Dict* Value::find_dict(std::string_view key) const {
    const Value* x = find(key);
    return x && x->is_dict() ? &x->as_dict() : nullptr;
}

namespace {

// Recursive descent with an explicit depth bound: recursion never goes deeper than limits.max_depth, so a
// document nested 100 000 deep fails at depth 101 without growing the stack further.
class Decoder {
public:
    Decoder(std::string_view in, const Limits& lim)
        : in_(in.substr(0, std::min(in.size(), lim.max_input))), truncated_by_limit_(in.size() > lim.max_input),
          lim_(lim) {}

    Decode parse(Value& out, std::size_t depth) {
        if (pos_ >= in_.size()) return need_more();
        if (++tokens_ > lim_.max_tokens) return fail("too many values (limit " + std::to_string(lim_.max_tokens) + ")");
        std::size_t begin = pos_;
        char c = in_[pos_];
        Decode st;
        if (c == 'i')
            st = parse_int(out);
        else if (c >= '0' && c <= '9')
            st = parse_string(out);
        else if (c == 'l' || c == 'd') {
            if (depth >= lim_.max_depth) return fail("nesting deeper than " + std::to_string(lim_.max_depth));
            st = c == 'l' ? parse_list(out, depth) : parse_dict(out, depth);
        } else
            return fail(std::string("unexpected character '") + printable(c) + "'");
        if (st == Decode::ok) {
            out.raw_begin = begin;
            out.raw_end = pos_;
        }
        return st;
    }

    std::size_t pos() const { return pos_; }
    Error error() const { return err_; }

private:
    static std::string printable(char c) {
        if (c >= 0x20 && c < 0x7f) return std::string(1, c);
        static const char* hex = "0123456789abcdef";
        return std::string("\\x") + hex[(static_cast<unsigned char>(c) >> 4)] + hex[c & 15];
    }
    Decode need_more() {
        if (truncated_by_limit_) return fail("document larger than " + std::to_string(lim_.max_input) + " bytes");
        err_ = make_error("bencode.decode", "truncated input at byte " + std::to_string(pos_), Errc::bad_input);
        return Decode::need_more;
    }
    Decode fail(std::string what) {
        err_ = make_error("bencode.decode", what + " at byte " + std::to_string(pos_), Errc::bad_input);
        return Decode::error;
    }

    // Reads a canonical decimal up to `term`. Digits only; no leading zeros unless the number is 0; optional '-'
    // (only if allow_negative), never "-0". Fails on overflow of int64.
    Decode parse_number(char term, bool allow_negative, std::int64_t& out) {
        bool neg = false;
        if (pos_ < in_.size() && in_[pos_] == '-') {
            if (!allow_negative) return fail("negative length");
            neg = true;
            ++pos_;
        }
        std::size_t digits_begin = pos_;
        std::uint64_t mag = 0;
        const std::uint64_t max_mag = neg ? std::uint64_t(std::numeric_limits<std::int64_t>::max()) + 1
                                          : std::uint64_t(std::numeric_limits<std::int64_t>::max());
        while (true) {
            if (pos_ >= in_.size()) return need_more();
            char c = in_[pos_];
            if (c == term) break;
            if (c < '0' || c > '9') return fail(std::string("unexpected character '") + printable(c) + "' in number");
            std::uint64_t d = static_cast<std::uint64_t>(c - '0');
            if (mag > (max_mag - d) / 10) return fail("integer overflows 64 bits");
            mag = mag * 10 + d;
            ++pos_;
        }
        std::size_t ndigits = pos_ - digits_begin;
        if (ndigits == 0) return fail("empty number");
        if (in_[digits_begin] == '0' && ndigits > 1) {
            pos_ = digits_begin;
            return fail("leading zero in number");
        }
        if (neg && mag == 0) {
            pos_ = digits_begin;
            return fail("negative zero");
        }
        ++pos_; // terminator
        out = neg ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
        return Decode::ok;
    }

    Decode parse_int(Value& out) {
        ++pos_; // 'i'
        std::int64_t v = 0;
        Decode st = parse_number('e', true, v);
        if (st != Decode::ok) return st;
        out.v = v;
        return Decode::ok;
    }

    Decode parse_string_raw(std::string& out) {
        std::int64_t len = 0;
        std::size_t at = pos_;
        Decode st = parse_number(':', false, len);
        if (st != Decode::ok) return st;
        // Check the announced length against the limit and the buffer before allocating anything.
        if (static_cast<std::uint64_t>(len) > lim_.max_input) {
            pos_ = at;
            return fail("string length " + std::to_string(len) + " exceeds limit");
        }
        if (static_cast<std::uint64_t>(len) > in_.size() - pos_) return need_more();
        out.assign(in_.data() + pos_, static_cast<std::size_t>(len));
        pos_ += static_cast<std::size_t>(len);
        return Decode::ok;
    }

    Decode parse_string(Value& out) {
        std::string s;
        Decode st = parse_string_raw(s);
        if (st == Decode::ok) out.v = std::move(s);
        return st;
    }

    Decode parse_list(Value& out, std::size_t depth) {
        ++pos_; // 'l'
        List list;
        while (true) {
            if (pos_ >= in_.size()) return need_more();
            if (in_[pos_] == 'e') {
                ++pos_;
                break;
            }
            Value item;
            Decode st = parse(item, depth + 1);
            if (st != Decode::ok) return st;
            list.push_back(std::move(item));
        }
        out.v = std::move(list);
        return Decode::ok;
    }

    Decode parse_dict(Value& out, std::size_t depth) {
        ++pos_; // 'd'
        Dict dict;
        while (true) {
            if (pos_ >= in_.size()) return need_more();
            char c = in_[pos_];
            if (c == 'e') {
                ++pos_;
                break;
            }
            if (c < '0' || c > '9') return fail("dictionary key is not a byte string");
            if (++tokens_ > lim_.max_tokens) return fail("too many values");
            std::string key;
            std::size_t key_at = pos_;
            Decode st = parse_string_raw(key);
            if (st != Decode::ok) return st;
            Value item;
            st = parse(item, depth + 1);
            if (st != Decode::ok) return st;
            if (!dict.emplace(std::move(key), std::move(item)).second) {
                pos_ = key_at;
                return fail("duplicate dictionary key");
            }
        }
        out.v = std::move(dict);
        return Decode::ok;
    }

    std::string_view in_;
    bool truncated_by_limit_;
    const Limits& lim_;
    std::size_t pos_ = 0;
    std::size_t tokens_ = 0;
    Error err_;
};

} // namespace

Prefix decode_prefix(std::string_view in, const Limits& limits) {
    Prefix p;
    Decoder d(in, limits);
    p.status = d.parse(p.value, 0);
    if (p.status == Decode::ok)
        p.consumed = d.pos();
    else
        p.error = d.error();
    return p;
}

Result<Value> decode(std::string_view in, const Limits& limits) {
    Prefix p = decode_prefix(in, limits);
    if (p.status != Decode::ok) return p.error;
    if (p.consumed != in.size())
        return make_error("bencode.decode", "trailing data at byte " + std::to_string(p.consumed), Errc::bad_input);
    return std::move(p.value);
}

void encode_to(std::string& out, const Value& v) {
    switch (v.v.index()) {
    case 0:
        out += 'i';
        out += std::to_string(v.as_int());
        out += 'e';
        break;
    case 1:
        out += std::to_string(v.as_string().size());
        out += ':';
        out += v.as_string();
        break;
    case 2:
        out += 'l';
        for (const Value& x : v.as_list()) encode_to(out, x);
        out += 'e';
        break;
    case 3:
        out += 'd';
        for (const auto& [k, x] : v.as_dict()) {
            out += std::to_string(k.size());
            out += ':';
            out += k;
            encode_to(out, x);
        }
        out += 'e';
        break;
    }
}

std::string encode(const Value& v) {
    std::string out;
    encode_to(out, v);
    return out;
}

} // namespace p2p::bencode
