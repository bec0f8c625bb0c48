// UTF-8 checks for names that leave the process as text: catalog names (docs/catalog-protocol.md), torrent
// names and paths made from a shared folder (BEP 3: name and path are UTF-8), JSON documents (nlohmann::json
// throws on invalid UTF-8 when dumping).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace p2p {

// Length of the valid UTF-8 sequence at s[i] (1..4), or 0 when the bytes there are not one: a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate or a code point above U+10FFFF.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);
bool valid_utf8(std::string_view s);
// s with every byte that is not part of a valid sequence, and every control character (< 0x20, 0x7f),
// replaced by `repl`, as libtorrent does for file names: the result is valid UTF-8 of the same length.
std::string utf8_sanitize(std::string_view s, char repl = '_');

} // namespace p2p
