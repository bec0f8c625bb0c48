#include "maker/torrent_maker.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "base/utf8.hpp"
#include "crypto/sha.hpp"
#include "loop/fence.hpp"

namespace p2p {

namespace fs = std::filesystem;

std::string torrent_safe_name(std::string_view disk_name) {
    std::string s = utf8_sanitize(disk_name);
    for (char& c : s)
        if (c == '\\') c = '_';
    return s;
}

namespace {
Result<FileStamp> lstat_stamp(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return make_error("stat " + path, std::strerror(errno), Errc::io);
    return stamp_of(st);
}
} // namespace

Result<std::vector<SourceFile>> list_source_files(const std::string& path, bool& is_folder) {
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (ec) return make_error("stat " + path, ec.message(), Errc::io);
    std::vector<SourceFile> out;
    if (fs::is_regular_file(st)) {
        is_folder = false;
        auto stamp = lstat_stamp(path);
        if (!stamp) return stamp.error();
        out.push_back(SourceFile{path, {}, stamp->size, *stamp});
        return out;
    }
    if (!fs::is_directory(st))
        return make_error("make-torrent " + path, "not a regular file or folder", Errc::unsupported);
    is_folder = true;
    fs::recursive_directory_iterator it(path, fs::directory_options::none, ec), end;
    if (ec) return make_error("list " + path, ec.message(), Errc::io);
    for (; it != end; it.increment(ec)) {
        if (ec) return make_error("list " + path, ec.message(), Errc::io);
        const fs::directory_entry& e = *it;
        if (e.path().filename() == ".p2pnode" && e.is_directory(ec)) {
            it.disable_recursion_pending();
            continue;
        }
        if (!e.is_regular_file(ec) || e.is_symlink(ec)) continue;
        SourceFile f;
        f.disk_path = e.path().string();
        for (const auto& c : fs::relative(e.path(), path, ec)) {
            std::string comp = torrent_safe_name(c.string());
            if (auto ok = check_path_component(comp); !ok)
                return make_error("make-torrent " + f.disk_path, ok.error().what, ok.error().code);
            f.path.push_back(comp);
        }
        auto stamp = lstat_stamp(f.disk_path);
        if (!stamp) return stamp.error();
        f.stamp = *stamp;
        f.length = stamp->size;
        out.push_back(std::move(f));
    }
    if (out.empty()) return make_error("make-torrent " + path, "folder has no files", Errc::bad_input);
    auto joined = [](const SourceFile& f) {
        std::string s;
        for (const auto& c : f.path) {
            if (!s.empty()) s += '/';
            s += c;
        }
        return s;
    };
    std::sort(out.begin(), out.end(), [&](const SourceFile& a, const SourceFile& b) { return joined(a) < joined(b); });
    for (std::size_t i = 1; i < out.size(); ++i)
        if (joined(out[i - 1]) == joined(out[i]))
            return make_error("make-torrent " + out[i].disk_path,
                              "its name is the same as " + out[i - 1].disk_path + "'s once made UTF-8 (" +
                                  joined(out[i]) + ")",
                              Errc::bad_input);
    return out;
}

// One hashing job. Owned by a shared_ptr held by the TorrentMaker handle and by every in-flight fs request, so
// a request completing after the handle was destroyed still finds live memory (it then just stops).
struct TorrentMaker::Job : std::enable_shared_from_this<Job> {
    // Bytes per read; two buffers: one hashing, one reading. 1 MiB keeps SHA-1 and the threadpool read
    // overlapped at full speed (measured: the same MB/s as 4 MiB) while costing a seeder only 2 MiB transiently.
    static constexpr std::size_t kChunk = 1u << 20;

    uv_loop_t* loop = nullptr;
    MakeTorrentOptions opts;
    Progress progress;
    Done done;
    bool cancelled = false;
    bool is_folder = false;
    std::vector<SourceFile> files;
    std::int64_t total = 0, hashed = 0;

    std::size_t file_index = 0;
    uv_file fd = -1;
    std::int64_t file_pos = 0;

    Sha1 piece_hash;
    std::int64_t piece_fill = 0;
    std::string hashes;

    // Allocated in begin(), no larger than the biggest file (a read never crosses a file's end), so a folder of
    // small files costs a few KiB, not 2 * kChunk. Not zero-filled: the reads write every byte that is hashed.
    std::unique_ptr<char[]> buffers[2];
    int reading = 0; // index of the buffer the read in flight fills

    struct Req {
        uv_fs_t fs;
        std::shared_ptr<Job> job;
    };

    // The open file still has the size and mtime it was listed with; otherwise the job fails. A synchronous
    // fstat on an open descriptor reads the inode already in memory: no disk wait on the loop.
    bool still_as_listed() {
        const SourceFile& f = files[file_index];
        uv_fs_t r;
        const int rc = uv_fs_fstat(nullptr, &r, fd, nullptr);
        const FileStamp now = rc == 0 ? stamp_of(r.statbuf) : FileStamp{};
        uv_fs_req_cleanup(&r);
        if (rc == 0 && now == f.stamp) return true;
        fail(make_error(f.disk_path, "changed while it was being hashed; hashing it again once it settles",
                        Errc::changed_on_disk));
        return false;
    }

    // Closing a read-only fd is cheap; a synchronous close (loop == nullptr form) is fine here.
    void close_fd() {
        if (fd < 0) return;
        uv_fs_t r;
        uv_fs_close(nullptr, &r, fd, nullptr);
        uv_fs_req_cleanup(&r);
        fd = -1;
    }

    void fail(Error e) {
        close_fd();
        if (!cancelled) {
            cancelled = true;
            done(std::move(e));
        }
    }

    // Runs one step from a libuv callback (no exception crosses it: loop/fence.hpp); a step that throws fails
    // the job, whose callback is fenced in turn.
    template <class F>
    void step(const char* where, F&& f) {
        if (fence(where, f)) return;
        close_fd();
        if (cancelled) return;
        cancelled = true;
        fence("make-torrent done",
              [&] { done(make_error("make-torrent " + opts.path, "internal error (see the log)")); });
    }

    void begin() {
        auto listed = list_source_files(opts.path, is_folder);
        if (!listed) return fail(listed.error());
        files = std::move(*listed);
        for (const auto& f : files) total += f.length;
        if (total == 0)
            return fail(make_error("make-torrent " + opts.path, "no data (all files are empty)", Errc::bad_input));
        if (opts.piece_length == 0) opts.piece_length = default_piece_length(total);
        if (opts.piece_length < kMinPieceLength || opts.piece_length > kMaxPieceLength ||
            (opts.piece_length & (opts.piece_length - 1)))
            return fail(
                make_error("make-torrent", "piece size must be a power of two in 16 KiB..64 MiB", Errc::bad_input));
        std::int64_t largest = 0;
        for (const auto& f : files) largest = std::max(largest, f.length);
        const auto size = static_cast<std::size_t>(std::min<std::int64_t>(kChunk, largest));
        for (auto& b : buffers) b.reset(new char[size]);
        open_next();
    }

    void open_next() {
        while (file_index < files.size() && files[file_index].length == 0) ++file_index;
        if (file_index == files.size()) return finish();
        auto* r = new Req{{}, shared_from_this()};
        uv_fs_open(loop, &r->fs, files[file_index].disk_path.c_str(), O_RDONLY, 0, [](uv_fs_t* req) {
            auto* r = reinterpret_cast<Req*>(req);
            auto job = std::move(r->job);
            int result = static_cast<int>(req->result);
            uv_fs_req_cleanup(req);
            delete r;
            if (job->cancelled) {
                if (result >= 0) {
                    uv_fs_t c;
                    uv_fs_close(nullptr, &c, result, nullptr);
                    uv_fs_req_cleanup(&c);
                }
                return;
            }
            job->step("make-torrent open", [&] {
                if (result < 0)
                    return job->fail(
                        make_error("open " + job->files[job->file_index].disk_path, uv_strerror(result), Errc::io));
                job->fd = result;
                job->file_pos = 0;
                if (!job->still_as_listed()) return;
                job->read_next();
            });
        });
    }

    void read_next() {
        const SourceFile& f = files[file_index];
        std::int64_t want = std::min<std::int64_t>(kChunk, f.length - file_pos);
        auto* r = new Req{{}, shared_from_this()};
        uv_buf_t buf = uv_buf_init(buffers[reading].get(), static_cast<unsigned>(want));
        uv_fs_read(loop, &r->fs, fd, &buf, 1, file_pos, [](uv_fs_t* req) {
            auto* r = reinterpret_cast<Req*>(req);
            auto job = std::move(r->job);
            ssize_t n = req->result;
            uv_fs_req_cleanup(req);
            delete r;
            if (job->cancelled) return job->close_fd();
            job->step("make-torrent read", [&] { job->on_read(n); });
        });
    }

    void on_read(ssize_t n) {
        const SourceFile& f = files[file_index];
        if (n < 0) return fail(make_error("read " + f.disk_path, uv_strerror(static_cast<int>(n)), Errc::io));
        if (n == 0) return fail(make_error("read " + f.disk_path, "file shrank while hashing", Errc::changed_on_disk));
        int ready = reading;
        file_pos += n;
        bool file_done = file_pos >= f.length;
        if (file_done) {
            if (!still_as_listed()) return; // changed while we read it: these hashes are worthless
            close_fd();
        }
        // Start the next read before hashing this chunk so disk and SHA-1 overlap.
        reading ^= 1;
        auto keep = shared_from_this();
        if (!file_done) read_next();
        hash_bytes(std::string_view(buffers[ready].get(), static_cast<std::size_t>(n)));
        if (progress) progress(hashed, total);
        if (cancelled) return;
        if (file_done) {
            ++file_index;
            open_next();
        }
    }

    void hash_bytes(std::string_view data) {
        while (!data.empty()) {
            std::size_t take =
                static_cast<std::size_t>(std::min<std::int64_t>(opts.piece_length - piece_fill, data.size()));
            piece_hash.update(data.substr(0, take));
            piece_fill += take;
            hashed += take;
            data.remove_prefix(take);
            if (piece_fill == opts.piece_length) {
                hashes += piece_hash.finish();
                piece_hash = Sha1();
                piece_fill = 0;
            }
        }
    }

    void finish() {
        if (piece_fill > 0) hashes += piece_hash.finish();
        std::vector<TorrentFileInput> inputs;
        for (const auto& f : files) inputs.push_back(TorrentFileInput{f.path, f.length});
        std::string name = fs::path(opts.path).lexically_normal().filename().string();
        if (name.empty()) name = fs::path(opts.path).lexically_normal().parent_path().filename().string();
        name = torrent_safe_name(name);
        if (auto ok = check_path_component(name); !ok)
            return fail(make_error("make-torrent name", ok.error().what, ok.error().code));
        std::string info = build_info_dict(name, opts.piece_length, hashes, inputs, is_folder, opts.is_private);
        MadeTorrent made;
        made.torrent = build_torrent(info, opts.trackers);
        auto parsed = parse_torrent(made.torrent);
        if (!parsed) return fail(parsed.error());
        made.metainfo = std::move(*parsed);
        made.files = files;
        cancelled = true; // finished: no further callbacks
        done(std::move(made));
    }
};

std::unique_ptr<TorrentMaker> TorrentMaker::start(uv_loop_t* loop, MakeTorrentOptions opts, Progress progress,
                                                  Done done) {
    auto job = std::make_shared<Job>();
    job->loop = loop;
    job->opts = std::move(opts);
    job->progress = std::move(progress);
    job->done = std::move(done);
    std::unique_ptr<TorrentMaker> handle(new TorrentMaker(job));
    // Listing starts from the loop, so `done` never runs inside start() (a caller may be mid-update when it
    // starts a job). The lstat is a cheap first look at the path on libuv's threadpool.
    auto* r = new Job::Req{{}, job};
    const int rc = uv_fs_lstat(loop, &r->fs, job->opts.path.c_str(), [](uv_fs_t* req) {
        auto* r = reinterpret_cast<Job::Req*>(req);
        auto j = std::move(r->job);
        uv_fs_req_cleanup(req);
        delete r;
        if (!j->cancelled) j->step("make-torrent list", [&] { j->begin(); });
    });
    if (rc < 0) { // cannot happen with a valid loop; begin at once rather than never
        delete r;
        job->begin();
    }
    return handle;
}

TorrentMaker::~TorrentMaker() {
    // Some fs request is always in flight while the job runs; its callback sees `cancelled`, closes the file and
    // drops the last reference to the job.
    if (job_) job_->cancelled = true;
}

} // namespace p2p
