// Writing a small file so that a crash or a power cut leaves the old contents or the new, never half of either:
// the data goes to PATH.tmp.<pid> in the same folder, is fsynced, renamed over PATH, and the folder is fsynced.
// Plain blocking POSIX calls, for files of a few KiB to a few MiB written rarely (the tracker's state at exit, the
// DHT's table, the share cache's .torrent files); the loop's regular saves go through libuv instead
// (tracker/state_saver.hpp, storage/resume.hpp).
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace p2p {

// Errors name the failed step and the file ("fsync /x/state.json.tmp.42: No space left on device").
Status write_file_atomic(const std::string& path, std::string_view data);
// The same with the data produced in parts: `produce` appends the next part and returns false after the last.
Status write_atomic_parts(const std::string& path, const std::function<bool(std::string&)>& produce);

// The folder a path is in ("." for a bare name): where the temporary file goes and which folder is fsynced.
std::string folder_of(const std::string& path);

} // namespace p2p
