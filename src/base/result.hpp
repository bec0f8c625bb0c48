// Errors as values. Every fallible operation returns Result<T>: either a value or an Error that names the
// operation that failed and why. No exceptions cross module boundaries (and never a C callback).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace p2p {

// What kind of failure an Error is, for code that acts on it (compare codes, never the human text).
enum class Errc : std::uint8_t {
    unspecified = 0,
    bad_input,       // malformed bytes or arguments
    bad_name,        // a catalog name that is not 1..255 bytes of UTF-8 without '/' or control characters
    io,              // an operating-system call failed
    changed_on_disk, // a file's size or modification time moved since its pieces were hashed
    refused,         // a path-safety or policy refusal (a symlink in the download folder, a foreign file)
    timeout,
    unsupported,
    not_found,  // a file or folder that is not there (ENOENT)
    short_read, // a file ended before the byte range asked for (shorter than its torrent says)
    rejected,   // the other side answered with a refusal of its own (a tracker's "failure reason")
};

struct Error {
    std::string op;   // the operation that failed, e.g. "bencode.decode", "open /x/y"
    std::string what; // human-readable reason, e.g. "leading zero in integer at byte 4"
    Errc code = Errc::unspecified;
    std::string str() const { return op.empty() ? what : op + ": " + what; }
};

inline Error make_error(std::string op, std::string what, Errc code = Errc::unspecified) {
    return Error{std::move(op), std::move(what), code};
}

template <class T>
class [[nodiscard]] Result {
public:
    Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

struct Unit {};
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

} // namespace p2p

namespace p2p {
// Outcome of a streaming decoder looking at the front of a buffer: a whole value, a valid but incomplete
// prefix (read more bytes and call again), or bytes that can never become valid.
enum class Decode { ok, need_more, error };
} // namespace p2p
