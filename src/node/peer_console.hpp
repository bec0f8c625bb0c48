// The console of a running peer (`p2pnode --peer`): one command per line on stdin, answers on stdout.
//
//   share PATH   share a file or folder where it is (its data is not copied)
//   get WHAT     download a .torrent file, a magnet link, a 40-hex info hash or a catalog NAME
//   list         the tracker's catalog: name, size, seeders, leechers, info hash
//   scrape WHAT  seeders/leechers/completed of a catalog name, an info hash or one of our torrents
//   status       each of our torrents: state, percent, rates, peers, bytes moved
//   peers WHAT   each connected peer of one of our torrents (name or info hash)
//   trackers     each tracker of each torrent: working or not, last and next announce, counts, last error
//   files WHAT   each file of one of our torrents: index, size, bytes done, percent, wanted, path
//   want WHAT IDX..., skip WHAT IDX...   select or deselect files of a download by index (as `files` shows)
//   limit WHAT UP DOWN   a torrent's own upload and download limits (bytes/s, K/M/G; 0 = none)
//   pause WHAT, resume WHAT, remove WHAT [delete]   stop and restart a torrent, or forget it (and delete the
//                files it downloaded; never a shared item's)
//   verify WHAT  hash every piece on disk again; a download fetches what is missing
//   help, quit   (quit announces `stopped`, saves resume data and exits)
//
// The console knows nothing of PeerNode: the node hands it a PeerConsoleCommands of callbacks, so a test drives
// it with fakes. Parsing and formatting are pure functions. `list` and `scrape` ask the tracker and answer
// later: lines read meanwhile wait in a bounded queue (kMaxQueued) so answers come out in command order;
// `quit` never waits. End of input stops the console only, never the peer (a peer started with </dev/null
// keeps running). Errors are one line and the console goes on.
#pragma once
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "loop/life_token.hpp"
#include "loop/line_reader.hpp"
#include "proto/udp_tracker.hpp"
#include "session/torrent.hpp"

namespace p2p {

// ---- the command language

enum class PeerCommand {
    none,
    share,
    get,
    list,
    scrape,
    status,
    peers,
    trackers,
    files,
    want,
    skip,
    limit,
    pause,
    resume,
    remove,
    verify,
    dht,
    help,
    quit,
    invalid
};

struct ParsedPeerCommand {
    PeerCommand cmd = PeerCommand::none; // none: an empty line
    // share/get/scrape/peers/...: the rest of the line (less limit's rates and remove's `delete`), trimmed,
    // quotes removed
    std::string arg;
    std::string error;                     // cmd == invalid: one line without '\n'
    std::uint64_t up = 0, down = 0;        // limit: bytes/s, 0 = none
    bool delete_files = false;             // remove ... delete
    std::vector<std::size_t> file_indices; // want/skip: the trailing indices (space- or comma-separated)
};
ParsedPeerCommand parse_peer_command(std::string_view line);

// ---- what the node answers with

struct ConsoleTorrentRow {
    std::string name;
    std::string info_hash; // raw 20 bytes
    std::string state;     // checking, fetching metadata, downloading, seeding, failed
    std::uint64_t have_bytes = 0, total = 0;
    double down_rate = 0, up_rate = 0;
    std::size_t peers = 0;
    std::uint64_t downloaded = 0, uploaded = 0;
};

struct ConsoleScrape {
    std::string name;      // empty when asked by info hash and the catalog does not name it
    std::string info_hash; // raw 20 bytes
    std::uint32_t seeders = 0, leechers = 0, completed = 0;
};

using PeerSummary = Torrent::PeerSummary;

struct ConsoleTrackerRow {
    std::string name;      // the torrent (or the label of a metadata fetch)
    std::string info_hash; // raw 20 bytes
    std::string url;
    std::size_t tier = 0;
    std::string state;        // "working", "updating", "not working", "not yet", "unusable"
    std::int64_t last_s = -1; // seconds since its last answer; -1 never
    std::int64_t next_s = -1; // seconds until its next announce; -1 none scheduled
    std::uint32_t seeders = 0, leechers = 0;
    std::string error; // the last error, "" if none
};

struct PeerConsoleCommands {
    template <class T>
    using Done = std::function<void(Result<T>)>;
    std::function<Result<std::string>(const std::string& path)> share; // the answer line, e.g. "hashing ..."
    std::function<Result<std::string>(const std::string& what)> get;
    std::function<void(Done<std::vector<udp::CatalogEntry>>)> list;
    std::function<void(const std::string& what, Done<ConsoleScrape>)> scrape;
    std::function<std::vector<ConsoleTorrentRow>()> status;
    std::function<Result<std::vector<PeerSummary>>(const std::string& what)> peers;
    std::function<std::vector<ConsoleTrackerRow>()> trackers;
    std::function<Result<std::vector<FileProgress>>(const std::string& what)> files;
    // Control: each answers one line (e.g. "paused NAME"), or an error.
    std::function<Result<std::string>(const std::string& what, std::uint64_t up, std::uint64_t down)> limit;
    std::function<Result<std::string>(const std::string& what)> pause;
    std::function<Result<std::string>(const std::string& what)> resume;
    std::function<Result<std::string>(const std::string& what)> verify;
    std::function<Result<std::string>(const std::string& what, bool delete_files)> remove;
    // want/skip: file selection of a download (file indices as `files` shows them).
    std::function<Result<std::string>(const std::string& what, const std::vector<std::size_t>& files, bool wanted)>
        select_files;
    std::function<std::string()> dht; // the DHT's state (several lines); null: the DHT is off
    std::function<void()> quit;       // called last: it may tear the console down
};

// Formatting (each ends with '\n').
std::string format_status(const std::vector<ConsoleTorrentRow>& rows);
std::string format_catalog(const std::vector<udp::CatalogEntry>& entries);
std::string format_scrape(const ConsoleScrape& s);
std::string format_peers(const std::vector<PeerSummary>& peers);
std::string format_trackers(const std::vector<ConsoleTrackerRow>& rows);
std::string format_files(const std::vector<FileProgress>& files);
// "0", "512K", "2M", "1G" or plain bytes: a rate for `limit`; nullopt when not one.
std::optional<std::uint64_t> parse_console_rate(std::string_view text);
// "Transmission 3.00 (-TR3000-)", "p2pnode (-PN0100-)", or the printable prefix of an unknown id.
std::string client_of(std::string_view peer_id);
// Flags of one peer: D/d we want its data and it unchokes/chokes us; U/u it wants ours and we unchoke/choke
// it; S snubbed; I/O incoming/outgoing connection.
std::string peer_flags(const PeerSummary& p);
extern const char* const kPeerConsoleHelp;

// ---- the console on stdin

class PeerConsole {
public:
    using Write = std::function<void(std::string_view)>;
    static constexpr std::size_t kMaxQueued = 64; // lines waiting behind a tracker question; more are refused

    // out: where answers go (default: stdout, flushed after each answer).
    PeerConsole(uv_loop_t* loop, PeerConsoleCommands cmds, Write out = {});
    PeerConsole(const PeerConsole&) = delete;
    PeerConsole& operator=(const PeerConsole&) = delete;

    bool start(int fd = 0); // false: fd is not readable; the peer runs without a console
    void close() { reader_.close(); }
    bool reading() const { return reader_.active(); }

    // One line of input, as if read from the fd (the reader calls these; tests may too).
    void on_line(std::string_view line);
    void on_eof();

private:
    void execute(const std::string& line);
    void finish_async(std::string text); // an answer from the tracker arrived
    void drain();
    void write(std::string_view text) { out_(text); }

    PeerConsoleCommands cmds_;
    Write out_;
    LineReader reader_;
    std::deque<std::string> queued_; // bounded by kMaxQueued
    bool busy_ = false;              // a list/scrape answer is outstanding
    bool executing_ = false;         // inside execute(): an answer given at once must not drain recursively
    bool quitting_ = false;
    LifeToken life_; // late tracker answers check it
};

} // namespace p2p
