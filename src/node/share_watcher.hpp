// Watches the top level of a share folder (`--share DIR`) so entries copied in later are shared and entries
// deleted stop being shared, without a restart.
//
// uv_fs_event (inotify) only says "something changed in DIR"; every burst of events is collapsed into one
// rescan after debounce_ms, and a slow periodic rescan (rescan_ms) covers lost events. A new entry is reported
// ready only once it is complete: its signature (size and mtime; for a folder the total size, the latest mtime
// and the file count of everything under it) has stayed the same over `stable_checks` consecutive checks
// check_ms apart, so a file still being copied is never hashed half-written. An entry that was reported ready
// and then disappears is reported removed. An entry that was reported ready and whose signature then moves (a
// shared file edited in place) is reported changed and settles again like a new one: ready once stable. Files
// at the top level are re-checked on every rescan (a stat each); folders, whose signature walks them, on the
// periodic rescan and on rescan_now() (SIGHUP). inotify sees only the top level: changes inside a subfolder are
// noticed by the checks of entries still settling (or failed) and by the periodic rescan. Hidden names (leading
// '.', which includes our .p2pnode folder), symlinks and special files are ignored. (The seeder itself also
// refuses to serve a file whose stamp moved, at once: storage.hpp "Sealed files".)
//
// Bounds: at most max_pending entries are watched for stability at once (more wait for a later rescan); a
// folder's signature walks at most kMaxWalk files (a bigger one is reported after its first kMaxWalk files are
// stable). Directory reads are synchronous std::filesystem calls on the loop: only the top level and the
// entries still settling are read, once per check.
//
// The callbacks run from the loop (a timer), never from inside start(); they may destroy the watcher.
#pragma once
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/timer.hpp"

namespace p2p {

struct ShareWatcherOptions {
    std::uint64_t check_ms = 1000;    // between stability checks of settling entries
    unsigned stable_checks = 2;       // unchanged checks in a row before an entry is ready
    std::uint64_t debounce_ms = 200;  // a burst of fs events becomes one rescan this long after the first
    std::uint64_t rescan_ms = 30'000; // periodic rescan, in case the kernel dropped events
    std::size_t max_pending = 256;    // entries settling at once
};

// What identifies "the same content" between two checks.
struct EntrySignature {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t files = 0;
    bool folder = false;
    bool operator==(const EntrySignature&) const = default;
};
// The signature of DIR/name now; an error if it vanished or is not a regular file or folder.
Result<EntrySignature> entry_signature(const std::string& path);

class ShareWatcher {
public:
    using OnName = std::function<void(const std::string& name)>;
    static constexpr std::uint64_t kMaxWalk = 100'000;

    ShareWatcher(uv_loop_t* loop, std::string dir, ShareWatcherOptions opt, OnName on_ready, OnName on_removed,
                 OnName on_changed = nullptr);
    ~ShareWatcher();
    ShareWatcher(const ShareWatcher&) = delete;
    ShareWatcher& operator=(const ShareWatcher&) = delete;

    // `known`: names already shared (or queued) by the owner; they are not reported ready again, and are
    // reported removed if they disappear. Entries present now but not known settle like new ones.
    Status start(const std::set<std::string>& known);
    void stop();
    // The owner could not share `name` (e.g. an empty folder): it is reported ready again once its content
    // changes and settles, not before.
    void failed(const std::string& name);
    // The owner found `name` changed (its seeder refused a read): it settles again and is reported ready once
    // stable, as after an on_changed report.
    void changed(const std::string& name);
    // Look at everything now, folders included (SIGHUP).
    void rescan_now() { rescan(true); }
    std::size_t pending() const { return pending_.size(); }

private:
    struct Pending {
        EntrySignature sig;
        unsigned stable = 0;
        std::uint64_t last_ms = 0; // when sig was taken or last counted as stable
    };
    struct FsEvent; // the uv_fs_event_t block, freed in its close callback
    void on_fs_event();
    struct Findings;
    void rescan(bool full);
    void check_known(const std::set<std::string>& now_names, bool full, Findings& f);
    void check_new(const std::set<std::string>& now_names, Findings& f);
    void schedule(std::uint64_t delay_ms);

    uv_loop_t* loop_;
    std::string dir_;
    ShareWatcherOptions opt_;
    OnName on_ready_, on_removed_, on_changed_;
    FsEvent* event_ = nullptr;
    Timer timer_;    // the next rescan: debounce or stability check
    Timer periodic_; // the slow fallback rescan
    bool scheduled_ = false;
    std::uint64_t due_ms_ = 0;
    // Reported ready (or known at start), with the signature last seen (unset until first looked at); bounded by
    // the folder.
    std::map<std::string, std::optional<EntrySignature>> known_;
    std::map<std::string, Pending> pending_;       // settling; at most opt_.max_pending
    std::map<std::string, EntrySignature> failed_; // not shareable as they were; bounded by the folder
    LifeToken life_;
};

} // namespace p2p
