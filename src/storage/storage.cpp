#include "storage/storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/sha.hpp"
#include "loop/fs_req.hpp"
#include "loop/timer.hpp"
#include "storage/fd_cache.hpp"
#include "storage/file_map.hpp"
#include "storage/path_safety.hpp"
#include "storage/read_cache.hpp"
#include "storage/resume.hpp"

namespace p2p {

using fsr::IoStatus;

namespace {

// Missing and short files are expected while verifying a partial download; everything else is a real failure.
bool soft_error(const IoStatus& st) { return st.code == UV_ENOENT || st.code == fsr::kShortRead; }

// Several segment results folded into one: a hard error wins over a soft one, the first of each kind is kept.
void fold(IoStatus& acc, IoStatus st) {
    if (st.ok()) return;
    if (acc.ok() || (soft_error(acc) && !soft_error(st))) acc = std::move(st);
}

// SHA-1 of a piece on libuv's threadpool, so a 4 MiB piece does not stall every connection on the loop.
// Owned by itself: freed in the after-work callback.
struct HashWork {
    uv_work_t req{};
    std::shared_ptr<const std::string> data;
    std::string digest;
    std::function<void(std::string)> done;
};

void hash_async(uv_loop_t* loop, std::shared_ptr<const std::string> data, std::function<void(std::string)> done) {
    auto* w = new HashWork;
    w->req.data = w;
    w->data = std::move(data);
    w->done = std::move(done);
    const int rc = uv_queue_work(
        loop, &w->req, [](uv_work_t* r) { auto* h = static_cast<HashWork*>(r->data); h->digest = sha1(*h->data); },
        [](uv_work_t* r, int) {
            auto* h = static_cast<HashWork*>(r->data);
            auto d = std::move(h->done);
            std::string digest = std::move(h->digest);
            delete h;
            d(std::move(digest));
        });
    if (rc < 0) { // cannot happen with a valid loop; hash here rather than lose the piece
        w->digest = sha1(*w->data);
        auto d = std::move(w->done);
        std::string digest = std::move(w->digest);
        delete w;
        d(std::move(digest));
    }
}

} // namespace

struct Storage::Impl : std::enable_shared_from_this<Impl> {
    using ReadDone = std::function<void(IoStatus, std::shared_ptr<std::string>)>;

    uv_loop_t* loop;
    Metainfo meta; // layout only (no info_bytes): operations may outlive the caller's Metainfo
    std::string root;
    StorageLimits limits;
    std::vector<Result<std::vector<std::string>>> comps; // per file: checked components, or why refused
    std::vector<std::string> paths;                      // per file: full path ("" when refused)
    std::shared_ptr<FdCache> fds;                    // limits.shared_fds, or one of our own
    std::shared_ptr<ReadCache> cache;                // limits.shared_cache, or one of our own
    const std::uint32_t cache_owner = ReadCache::next_owner(); // our id in both shared caches
    std::uint64_t ckey(std::uint32_t index) const { return ReadCache::key(cache_owner, index); }
    std::uint64_t fkey(std::size_t file) const { return FdCache::key(cache_owner, static_cast<std::uint32_t>(file)); }
    Timer post_timer;
    std::deque<std::function<void()>> posted;        // callbacks for the next loop turn; bounded by the calls made
    std::deque<std::function<void()>> pending_ops;   // waiting for an in-flight slot; bounded by callers' requests
    std::size_t inflight = 0;                        // <= limits.max_inflight_ops
    std::unordered_map<std::uint32_t, std::vector<PieceCb>> reading; // coalesced read_piece callers
    std::set<std::size_t> dirty;                     // files written since the last flush
    // Per file: bytes from here to the end are known to be zeros because open() extended the file (sparse) from
    // this size and nothing was written since; INT64_MAX when nothing is known. Lets verify_existing skip reading
    // and hashing pieces of a fresh download (a 1 GiB torrent otherwise hashes 1 GiB of zeros before starting).
    std::vector<std::int64_t> zeros_from;
    bool closed = false;                             // the Storage is gone: drop user callbacks
    bool failed = false;
    Error error;
    bool root_ready = false;
    StorageStats stats;

    Impl(uv_loop_t* l, const Metainfo& m, std::string r, StorageLimits lim)
        : loop(l), root(std::move(r)), limits(lim),
          fds(lim.shared_fds ? lim.shared_fds : std::make_shared<FdCache>(l, lim.max_open_files)),
          cache(lim.shared_cache ? lim.shared_cache : std::make_shared<ReadCache>(lim.read_cache_bytes)),
          post_timer(l) {
        meta.info_hash = m.info_hash;
        meta.name = m.name;
        meta.piece_length = m.piece_length;
        meta.piece_hashes = m.piece_hashes;
        meta.files = m.files;
        meta.multi_file = m.multi_file;
        meta.total_length = m.total_length;
        if (root.empty()) root = ".";
        while (root.size() > 1 && root.back() == '/') root.pop_back();
        if (limits.max_inflight_ops == 0) limits.max_inflight_ops = 1;
        if (limits.verify_window == 0) limits.verify_window = 1;
        zeros_from.assign(meta.files.size(), INT64_MAX);
        for (std::size_t i = 0; i < meta.files.size(); ++i) {
            comps.push_back(file_components(meta, i));
            paths.push_back(comps.back() ? join_path(root, *comps.back()) : std::string());
            if (!comps.back()) mark_failed(comps.back().error());
        }
    }

    // Every operation holds `self`, so none is running now: each descriptor of ours in a shared cache is idle.
    ~Impl() { fds->close_idle_of(cache_owner); }

    // Runs `job` once the descriptor cache lends us a slot for a descriptor the job opens and closes itself; the
    // job calls its argument when that descriptor is closed. Counted in the same bound as the files' descriptors.
    void with_fd_slot(std::function<void(std::function<void()> release)> job) {
        auto self = shared_from_this();
        fds->acquire_slot([self, job = std::move(job)]() { job([self] { self->fds->release_slot(); }); });
    }

    void mark_failed(const Error& e) {
        if (failed) return;
        failed = true;
        error = e;
        log_error("storage", e.str());
    }

    // --- delivery of user callbacks: always on a later loop turn, never after the Storage is destroyed ---
    void post(std::function<void()> fn) {
        posted.push_back(std::move(fn));
        if (!post_timer.active()) post_timer.start(0, 0, [this] { drain_posted(); });
    }
    void drain_posted() {
        auto keep = shared_from_this(); // a callback may destroy the Storage; we finish the batch first
        auto batch = std::move(posted);
        posted.clear();
        for (auto& fn : batch)
            if (!closed) fn();
    }
    void deliver(std::function<void(Status)> cb, Status st) {
        if (cb) post([cb = std::move(cb), st = std::move(st)]() mutable { cb(std::move(st)); });
    }

    // --- one user callback for a fan-out of n operations (one per file) ---
    // The returned function is called once per operation: results are folded (a hard error wins), and after the
    // n-th call the storage is marked failed on error and `done` is delivered, exactly once. Copies share state.
    std::function<void(IoStatus)> fan_in(std::size_t n, std::function<void(Status)> done) {
        struct Job {
            std::size_t remaining;
            IoStatus st;
            std::function<void(Status)> done;
        };
        auto job = std::make_shared<Job>(Job{n, fsr::io_ok(), std::move(done)});
        auto self = shared_from_this();
        return [self, job](IoStatus st) {
            fold(job->st, std::move(st));
            if (--job->remaining > 0) return;
            if (!job->st.ok()) {
                self->mark_failed(job->st.err);
                return self->deliver(std::move(job->done), job->st.err);
            }
            self->deliver(std::move(job->done), ok_status());
        };
    }

    // --- bounded in-flight operations ---
    void submit(std::function<void()> op) {
        if (inflight < limits.max_inflight_ops) {
            ++inflight;
            op();
        } else {
            pending_ops.push_back(std::move(op));
        }
    }
    void op_done() {
        --inflight;
        while (inflight < limits.max_inflight_ops && !pending_ops.empty()) {
            auto op = std::move(pending_ops.front());
            pending_ops.pop_front();
            ++inflight;
            op();
        }
    }

    // --- opening files safely ---
    void open_file(std::size_t i, bool create, std::function<void(uv_file, IoStatus)> cb) {
        if (!comps[i]) return cb(-1, fsr::io_fail(fsr::kRefused, comps[i].error()));
        auto self = shared_from_this();
        auto after_root = [self, i, create, cb]() {
            check_parents(self->loop, self->root, *self->comps[i], create, [self, i, create, cb](IoStatus st) {
                if (!st.ok()) return cb(-1, std::move(st));
                self->open_fd(i, create, O_RDWR, cb);
            });
        };
        if (create && !root_ready) {
            make_root_dirs(loop, root, [self, cb, after_root](IoStatus st) {
                if (!st.ok()) return cb(-1, std::move(st));
                self->root_ready = true;
                after_root();
            });
        } else {
            after_root();
        }
    }
    void open_fd(std::size_t i, bool create, int access, std::function<void(uv_file, IoStatus)> cb) {
        auto self = shared_from_this();
        const int flags = access | O_NOFOLLOW | O_CLOEXEC | (create ? O_CREAT : 0);
        fsr::call([&](uv_fs_t* r, uv_fs_cb fcb) { return uv_fs_open(loop, r, paths[i].c_str(), flags, 0644, fcb); },
                  [self, i, create, access, cb](uv_fs_t* r) {
                      const auto rc = r->result;
                      if (rc >= 0) return cb(static_cast<uv_file>(rc), fsr::io_ok());
                      if (rc == UV_ELOOP)
                          return cb(-1, fsr::io_fail(fsr::kRefused, make_error("open " + self->paths[i],
                                                                               "refusing to follow a symlink inside the download folder")));
                      // Seeding from read-only files: reading is enough when we are not creating anything.
                      if (!create && access == O_RDWR && (rc == UV_EACCES || rc == UV_EROFS || rc == UV_EPERM))
                          return self->open_fd(i, false, O_RDONLY, cb);
                      cb(-1, fsr::io_fail(int(rc), fsr::uv_error("open", self->paths[i], rc)));
                  });
    }
    FdCache::Opener opener(std::size_t i, bool create) {
        auto self = shared_from_this();
        return [self, i, create](std::function<void(uv_file, IoStatus)> cb) { self->open_file(i, create, std::move(cb)); };
    }

    // --- one segment: acquire the descriptor, pread/pwrite until done, release ---
    // `buf` points into a buffer kept alive by `done`'s captures.
    void io_segment(bool write, Segment s, char* buf, std::function<void(IoStatus)> done) {
        auto self = shared_from_this();
        submit([self, write, s, buf, done = std::move(done)]() mutable {
            self->fds->acquire(self->fkey(s.file), self->opener(s.file, write),
                              [self, write, s, buf, done = std::move(done)](uv_file fd, IoStatus st) mutable {
                                  if (!st.ok()) {
                                      self->op_done();
                                      return done(std::move(st));
                                  }
                                  self->rw(write, fd, s, buf, 0, [self, s, done = std::move(done)](IoStatus st2) {
                                      self->fds->release(self->fkey(s.file));
                                      self->op_done();
                                      done(std::move(st2));
                                  });
                              });
        });
    }
    void rw(bool write, uv_file fd, Segment s, char* buf, std::int64_t pos, std::function<void(IoStatus)> done) {
        auto self = shared_from_this();
        uv_buf_t b = uv_buf_init(buf + s.buf_offset + pos, static_cast<unsigned>(s.length - pos));
        const std::int64_t at = s.file_offset + pos;
        fsr::call(
            [&](uv_fs_t* r, uv_fs_cb cb) {
                return write ? uv_fs_write(loop, r, fd, &b, 1, at, cb) : uv_fs_read(loop, r, fd, &b, 1, at, cb);
            },
            [self, write, fd, s, buf, pos, done = std::move(done)](uv_fs_t* r) mutable {
                const auto rc = r->result;
                const std::string& path = self->paths[s.file];
                if (rc < 0) return done(fsr::io_fail(int(rc), fsr::uv_error(write ? "write" : "read", path, rc)));
                if (rc == 0)
                    return done(write ? fsr::io_fail(UV_EIO, make_error("write " + path, "wrote 0 bytes"))
                                      : fsr::io_fail(fsr::kShortRead, make_error("read " + path,
                                                                                 "file is shorter than the torrent says")));
                if (pos + rc == s.length) return done(fsr::io_ok());
                self->rw(write, fd, s, buf, pos + rc, std::move(done)); // short transfer: continue where it stopped
            });
    }

    // --- a whole piece read, one request per file segment, all in flight together ---
    void read_whole(std::uint32_t index, ReadDone done) {
        auto segs = map_range(meta, index, 0, piece_bytes(meta, index));
        if (!segs) return done(fsr::io_fail(UV_EINVAL, segs.error()), nullptr);
        ++stats.pieces_read;
        struct Job {
            std::shared_ptr<std::string> buf;
            std::size_t remaining;
            IoStatus st;
            ReadDone done;
        };
        auto job = std::make_shared<Job>();
        const auto size = static_cast<std::size_t>(piece_bytes(meta, index));
        job->buf = cache->take_spare(size); // fully overwritten below, or dropped on error
        if (!job->buf) job->buf = std::make_shared<std::string>(size, '\0');
        job->remaining = segs->size();
        job->done = std::move(done);
        for (const auto& s : *segs)
            io_segment(false, s, job->buf->data(), [job](IoStatus st) {
                fold(job->st, std::move(st));
                if (--job->remaining == 0) {
                    if (job->st.ok()) job->done(fsr::io_ok(), std::move(job->buf));
                    else job->done(std::move(job->st), nullptr);
                }
            });
    }
};

Storage::Storage(uv_loop_t* loop, const Metainfo& meta, std::string root_dir, StorageLimits limits)
    : impl_(std::make_shared<Impl>(loop, meta, std::move(root_dir), limits)) {}

Storage::~Storage() {
    impl_->closed = true;
    impl_->reading.clear();
    impl_->cache->erase_owner(impl_->cache_owner);
}

void Storage::open(std::function<void(Status)> done) {
    auto self = impl_;
    if (self->meta.files.empty()) return self->deliver(std::move(done), ok_status());
    auto one_done = self->fan_in(self->meta.files.size(), std::move(done));
    for (std::size_t i = 0; i < self->meta.files.size(); ++i) {
        self->submit([self, i, one_done]() {
            self->fds->acquire(self->fkey(i), self->opener(i, true), [self, i, one_done](uv_file fd, IoStatus st) {
                if (!st.ok()) {
                    self->op_done();
                    return one_done(std::move(st));
                }
                auto finish = [self, i, one_done](IoStatus st2) {
                    self->fds->release(self->fkey(i));
                    self->op_done();
                    one_done(std::move(st2));
                };
                fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fstat(self->loop, r, fd, cb); },
                          [self, i, fd, finish](uv_fs_t* r) {
                              const std::string& path = self->paths[i];
                              if (r->result < 0) return finish(fsr::io_fail(int(r->result), fsr::uv_error("fstat", path, r->result)));
                              const std::int64_t want = self->meta.files[i].length;
                              if (std::int64_t(r->statbuf.st_size) >= want) return finish(fsr::io_ok()); // never shrink
                              const std::int64_t old_size = std::int64_t(r->statbuf.st_size);
                              fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_ftruncate(self->loop, r2, fd, want, cb); },
                                        [self, i, old_size, path, finish](uv_fs_t* r2) {
                                            if (r2->result < 0)
                                                return finish(fsr::io_fail(int(r2->result), fsr::uv_error("truncate", path, r2->result)));
                                            self->zeros_from[i] = old_size; // ftruncate zero-fills the extension
                                            finish(fsr::io_ok());
                                        });
                          });
            });
        });
    }
}

void Storage::write_piece(std::uint32_t index, std::shared_ptr<const std::string> data, std::function<void(Status)> done) {
    auto self = impl_;
    if (self->failed) return self->deliver(std::move(done), self->error);
    const std::int64_t want = piece_bytes(self->meta, index);
    if (!data || index >= self->meta.piece_count() || std::int64_t(data->size()) != want)
        return self->deliver(std::move(done), make_error("write_piece " + std::to_string(index),
                                                         "piece has " + std::to_string(data ? data->size() : 0) +
                                                             " bytes, expected " + std::to_string(want)));
    auto segs = map_range(self->meta, index, 0, want);
    if (!segs) return self->deliver(std::move(done), segs.error());
    struct Job {
        std::size_t remaining;
        IoStatus st;
        std::shared_ptr<const std::string> data;
        std::function<void(Status)> done;
    };
    auto job = std::make_shared<Job>();
    job->remaining = segs->size();
    job->data = std::move(data);
    job->done = std::move(done);
    // A verified piece waiting for the disk counts against the write pool until its write returns, so a slow
    // disk makes the torrents request fewer blocks (torrent.cpp) instead of queueing pieces here without bound.
    const std::size_t counted = job->data->size();
    if (self->limits.budget) self->limits.budget->reserve(MemPool::write, counted);
    // uv_fs_write takes a non-const buffer but only reads it.
    char* buf = const_cast<char*>(job->data->data());
    for (const auto& s : *segs) {
        self->dirty.insert(s.file);
        self->zeros_from[s.file] = INT64_MAX; // conservative: the whole file is no longer known
        self->io_segment(true, s, buf, [self, index, job, counted](IoStatus st) {
            fold(job->st, std::move(st));
            if (--job->remaining > 0) return;
            if (self->limits.budget) self->limits.budget->release(MemPool::write, counted);
            if (!job->st.ok()) {
                self->mark_failed(job->st.err);
                return self->deliver(std::move(job->done), job->st.err);
            }
            ++self->stats.pieces_written;
            if (!self->closed) self->cache->put(self->ckey(index), job->data);
            self->deliver(std::move(job->done), ok_status());
        });
    }
}

std::shared_ptr<const std::string> Storage::cached_piece(std::uint32_t index) {
    auto hit = impl_->cache->get(impl_->ckey(index));
    if (hit) ++impl_->stats.cache_hits;
    return hit;
}

void Storage::read_piece(std::uint32_t index, PieceCb done) {
    auto self = impl_;
    if (auto hit = self->cache->get(self->ckey(index))) {
        ++self->stats.cache_hits;
        return self->post([done = std::move(done), hit]() { done(hit); });
    }
    if (index >= self->meta.piece_count()) {
        Error e = make_error("read_piece " + std::to_string(index), "no such piece");
        return self->post([done = std::move(done), e]() { done(e); });
    }
    auto [it, fresh] = self->reading.try_emplace(index);
    it->second.push_back(std::move(done));
    if (!fresh) return; // a read of this piece is already in flight: share it
    self->read_whole(index, [self, index](IoStatus st, std::shared_ptr<std::string> buf) {
        auto node = self->reading.extract(index);
        if (node.empty()) return; // Storage destroyed meanwhile
        std::shared_ptr<const std::string> piece = std::move(buf);
        if (st.ok()) self->cache->put(self->ckey(index), piece, true); // read_whole's buffer: ours, so recyclable
        else self->mark_failed(st.err);
        for (auto& cb : node.mapped()) {
            if (st.ok()) self->post([cb = std::move(cb), piece]() { cb(piece); });
            else self->post([cb = std::move(cb), e = st.err]() { cb(e); });
        }
    });
}

void Storage::verify_existing(std::function<void(std::uint32_t, bool)> per_piece, std::function<void(Status)> done) {
    struct Verify : std::enable_shared_from_this<Verify> {
        std::shared_ptr<Impl> self;
        std::uint32_t next = 0, count = 0;
        std::size_t inflight = 0;
        std::optional<Error> err;
        std::function<void(std::uint32_t, bool)> per_piece;
        std::function<void(Status)> done;

        void pump() {
            while (!self->closed && !err && inflight < self->limits.verify_window && next < count) {
                const std::uint32_t i = next++;
                if (known_zeros(i)) { // same verdict as reading and hashing it, without the I/O
                    report(i, zero_piece_ok(i));
                    continue;
                }
                ++inflight;
                auto v = shared_from_this();
                self->read_whole(i, [v, i](IoStatus st, std::shared_ptr<std::string> buf) {
                    if (!st.ok()) {
                        if (soft_error(st)) v->report(i, false);
                        else if (!v->err) v->err = st.err;
                        return v->finished_one();
                    }
                    hash_async(v->self->loop, std::move(buf), [v, i](std::string digest) {
                        v->report(i, digest == v->self->meta.piece_hash(i));
                        v->finished_one();
                    });
                });
            }
            if (inflight == 0 && done && (err || next >= count || self->closed)) {
                if (err) self->mark_failed(*err);
                auto d = std::move(done);
                done = nullptr;
                self->deliver(std::move(d), err ? Status(*err) : ok_status());
            }
        }
        void report(std::uint32_t i, bool ok) {
            if (per_piece) self->post([pp = per_piece, i, ok]() { pp(i, ok); });
        }
        bool known_zeros(std::uint32_t i) const {
            auto segs = map_range(self->meta, i, 0, piece_bytes(self->meta, i));
            if (!segs || segs->empty()) return false;
            for (const auto& s : *segs)
                if (s.file_offset < self->zeros_from[s.file]) return false;
            return true;
        }
        // A piece of zeros is still right if the torrent's data is zeros there: compare hashes, as reading would.
        std::map<std::int64_t, std::string> zero_hashes; // by piece size: at most 2 entries (full, last)
        bool zero_piece_ok(std::uint32_t i) {
            const std::int64_t len = piece_bytes(self->meta, i);
            auto it = zero_hashes.find(len);
            if (it == zero_hashes.end())
                it = zero_hashes.emplace(len, sha1(std::string(static_cast<std::size_t>(len), '\0'))).first;
            return it->second == self->meta.piece_hash(i);
        }
        void finished_one() {
            --inflight;
            pump();
        }
    };
    auto v = std::make_shared<Verify>();
    v->self = impl_;
    v->count = impl_->meta.piece_count();
    v->per_piece = std::move(per_piece);
    v->done = std::move(done);
    v->pump();
}

void Storage::flush(std::function<void(Status)> done) {
    auto self = impl_;
    std::set<std::size_t> files = std::move(self->dirty);
    self->dirty.clear();
    if (files.empty()) return self->deliver(std::move(done), ok_status());
    auto all_done = self->fan_in(files.size(), std::move(done));
    for (std::size_t i : files) {
        self->submit([self, i, all_done]() {
            auto one_done = [self, i, all_done](IoStatus st) {
                if (!st.ok()) self->dirty.insert(i); // still not known to be on disk
                all_done(std::move(st));
            };
            self->fds->acquire(self->fkey(i), self->opener(i, false), [self, i, one_done](uv_file fd, IoStatus st) {
                if (!st.ok()) {
                    self->op_done();
                    return one_done(std::move(st));
                }
                fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fsync(self->loop, r, fd, cb); },
                          [self, i, one_done](uv_fs_t* r) {
                              IoStatus st2 = r->result < 0 ? fsr::io_fail(int(r->result), fsr::uv_error("fsync", self->paths[i], r->result))
                                                           : fsr::io_ok();
                              self->fds->release(self->fkey(i));
                              self->op_done();
                              one_done(std::move(st2));
                          });
            });
        });
    }
}

std::string Storage::resume_path() const { return impl_->root + "/.p2pnode/" + to_hex(impl_->meta.info_hash) + ".resume"; }

void Storage::save_resume(std::vector<bool> have, std::function<void(Status)> done) {
    auto self = impl_;
    if (have.size() != self->meta.piece_count())
        return self->deliver(std::move(done), make_error("save_resume", "bitfield has " + std::to_string(have.size()) +
                                                                            " pieces, expected " +
                                                                            std::to_string(self->meta.piece_count())));
    const std::string dir = self->root + "/.p2pnode";
    const std::string name = to_hex(self->meta.info_hash) + ".resume";
    flush([self, have = std::move(have), done = std::move(done), dir, name](Status st) mutable {
        if (!st) return done(std::move(st)); // already on a later loop turn
        stat_files(self->loop, self->paths, [self, have = std::move(have), done = std::move(done), dir, name](std::vector<FileStamp> stamps) mutable {
            ResumeData rd{self->meta.info_hash, self->meta.piece_count(), std::move(have), std::move(stamps)};
            std::string text = encode_resume(rd);
            make_root_dirs(self->loop, dir, [self, text = std::move(text), done = std::move(done), dir, name](IoStatus st2) mutable {
                if (!st2.ok()) return self->deliver(std::move(done), st2.err);
                // The record folder must be a real folder, not a link planted to redirect our write.
                fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_lstat(self->loop, r, dir.c_str(), cb); },
                          [self, text = std::move(text), done = std::move(done), dir, name](uv_fs_t* r) mutable {
                              if (r->result < 0 || !S_ISDIR(r->statbuf.st_mode))
                                  return self->deliver(std::move(done), make_error("save_resume " + dir, "not a directory"));
                              self->with_fd_slot([self, text = std::move(text), done = std::move(done), dir,
                                                  name](std::function<void()> release) mutable {
                                  write_file_atomic(self->loop, dir, name, std::move(text),
                                                    [self, release, done = std::move(done)](IoStatus st3) mutable {
                                                        release();
                                                        self->deliver(std::move(done), st3.ok() ? ok_status() : Status(st3.err));
                                                    });
                              });
                          });
            });
        });
    });
}

void Storage::load_resume(std::function<void(ResumeState)> done) {
    auto self = impl_;
    auto finish = [self, done = std::move(done)](ResumeState rs) {
        self->post([done, rs = std::move(rs)]() mutable { done(std::move(rs)); });
    };
    self->with_fd_slot([self, path = resume_path(), finish](std::function<void()> release) {
        read_small_file(self->loop, path, kMaxResumeFileSize, [self, finish, release](IoStatus st, std::string text) {
            release();
            if (!st.ok()) return finish(ResumeState{false, {}, st.code == UV_ENOENT ? "no resume file" : st.err.str()});
            auto rd = decode_resume(text);
            if (!rd) return finish(ResumeState{false, {}, rd.error().str()});
            if (rd->info_hash != self->meta.info_hash || rd->piece_count != self->meta.piece_count() ||
                rd->files.size() != self->meta.files.size())
                return finish(ResumeState{false, {}, "resume file is for another torrent"});
            auto data = std::make_shared<ResumeData>(std::move(*rd));
            stat_files(self->loop, self->paths, [data, finish](std::vector<FileStamp> now) {
                for (std::size_t i = 0; i < now.size(); ++i) {
                    const FileStamp& was = data->files[i];
                    if (now[i] != was)
                        return finish(ResumeState{false, {}, "file " + std::to_string(i) + " changed: size " +
                                                                 std::to_string(was.size) + " -> " + std::to_string(now[i].size) +
                                                                 ", mtime_ns " + std::to_string(was.mtime_ns) + " -> " +
                                                                 std::to_string(now[i].mtime_ns)});
                }
                finish(ResumeState{true, std::move(data->have), {}});
            });
        });
    });
}

bool Storage::is_failed() const { return impl_->failed; }
const Error& Storage::error() const { return impl_->error; }
void Storage::clear_error() {
    impl_->failed = false;
    impl_->error = {};
}
std::string Storage::file_path(std::size_t i) const { return i < impl_->paths.size() ? impl_->paths[i] : std::string(); }
std::size_t Storage::open_fds() const { return impl_->fds->slots_used(); }
std::size_t Storage::cache_bytes() const { return impl_->cache->bytes_of(impl_->cache_owner); }
const StorageStats& Storage::stats() const { return impl_->stats; }

} // namespace p2p
