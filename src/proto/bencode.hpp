// Bencode (BEP 3) decoder and encoder. Pure: bytes in, values or an error out; no I/O.
//
// The decoder is strict: canonical integers only (no "-0", no leading zeros, int64 range), string lengths are
// checked against the remaining input before anything is allocated, nesting depth and token count are bounded,
// dictionary keys must be byte strings and may not repeat. Every dictionary remembers the byte range it was
// decoded from, so the info hash is computed over exactly the bytes that were received.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"

namespace p2p::bencode {

struct Value;
using List = std::vector<Value>;
using Dict = std::map<std::string, Value, std::less<>>; // std::map keeps keys sorted: BEP 3 encode order

struct Value {
    std::variant<std::int64_t, std::string, List, Dict> v;
    // Byte range [raw_begin, raw_end) of this value in the decoded input; 0/0 for values built in code.
    std::size_t raw_begin = 0, raw_end = 0;

    Value() : v(std::int64_t{0}) {}
    Value(std::int64_t i) : v(i) {}
    Value(int i) : v(std::int64_t{i}) {}
    Value(std::string s) : v(std::move(s)) {}
    Value(const char* s) : v(std::string(s)) {}
    Value(List l) : v(std::move(l)) {}
    Value(Dict d) : v(std::move(d)) {}

    bool is_int() const { return v.index() == 0; }
    bool is_string() const { return v.index() == 1; }
    bool is_list() const { return v.index() == 2; }
    bool is_dict() const { return v.index() == 3; }
    std::int64_t as_int() const { return std::get<0>(v); }
    const std::string& as_string() const { return std::get<1>(v); }
    const List& as_list() const { return std::get<2>(v); }
    const Dict& as_dict() const { return std::get<3>(v); }
    List& as_list() { return std::get<2>(v); }
    Dict& as_dict() { return std::get<3>(v); }

    // Dictionary lookup helpers: nullptr when this is not a dict, the key is absent or has another type.
    const Value* find(std::string_view key) const;
    const std::string* find_string(std::string_view key) const;
    const std::int64_t* find_int(std::string_view key) const;
    const List* find_list(std::string_view key) const;
    const Dict* find_dict(std::string_view key) const;
};

struct Limits {
    std::size_t max_depth = 100;        // nesting of lists/dicts (CVE-2020-8437 class)
    std::size_t max_tokens = 4'000'000; // values of any kind in one document
    std::size_t max_input = 64u << 20;  // bytes one document may span
};

// Result of decoding a value at the front of a buffer that may hold more (or less) than one value.
struct Prefix {
    Decode status = Decode::error;
    Value value;              // valid when status == ok
    std::size_t consumed = 0; // bytes of the value, when ok
    Error error;              // when status == error: op "bencode.decode", what names the problem and offset
};

// Decode one value from the start of `in`. need_more means `in` is a valid but incomplete prefix.
Prefix decode_prefix(std::string_view in, const Limits& limits = {});
// Decode a whole buffer holding exactly one value; truncation and trailing bytes are errors.
Result<Value> decode(std::string_view in, const Limits& limits = {});

void encode_to(std::string& out, const Value& v);
std::string encode(const Value& v);

} // namespace p2p::bencode
