// --config FILE: a JSON object whose keys are the long flags without their dashes ("share", "port", "no-dht",
// "o"), turned into command-line words before parse_args sees them, so a value from the file is checked exactly
// as the flag's (ranges, modes, conflicts). The keys are derived from the flag table (all_flags()): a new flag
// has its key at once, and no key exists that is not a flag.
//
// Values: a flag taking a value takes a JSON string, or a number where the value is numeric (N, SECS, BYTES);
// a repeatable flag also takes an array of them ("tracker": ["udp://a:1", "https://b/announce"]); a switch takes
// true or false (false: as if absent). "tracker": true selects the tracker mode, a string or array names tracker
// URLs. "config" itself is refused (no nesting).
//
// The command line wins: a flag given there drops the file's value(s) for it (-v and --log-level count as one
// setting), and a mode given there drops the file's mode. The rest of the file must apply to the mode, as the
// flags must.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace p2p {

// A config file is a few hundred bytes; a wrong path (a device, a log) costs an error, not memory.
inline constexpr std::size_t kMaxConfigBytes = 1 << 20;

// `args` (argv without argv[0]) with its --config FILE, if any, replaced by the file's flags. Errors are one
// line that names the file and the key, e.g. "/etc/p2pnode/peer.json: unknown key \"shar\" (did you mean
// \"share\"?)"; the caller prints it as a usage error (exit 2).
Result<std::vector<std::string>> apply_config_file(const std::vector<std::string>& args);

// The same with the file's text given (`origin` names it in errors) and the command line without --config.
Result<std::vector<std::string>> merge_config(std::string_view json_text, const std::string& origin,
                                              const std::vector<std::string>& cmdline);

} // namespace p2p
