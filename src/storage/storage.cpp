#include "storage/storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "base/assert.hpp"
#include "base/bytes.hpp"
#include "base/log.hpp"
#include "crypto/sha.hpp"
#include "storage/path_safety.hpp"
#include "storage/storage_impl.hpp"

// The I/O core of Storage: descriptors, bounded in-flight operations, reading and writing whole pieces, flushing.
// Opening, verifying and resume records are in storage_open.cpp, storage_verify.cpp and storage_resume.cpp.
namespace p2p {

Storage::Impl::Impl(uv_loop_t* l, const Metainfo& m, std::string r, StorageLimits lim, StoragePlacement pl)
    : loop(l), root(std::move(r)), limits(lim), placement(std::move(pl)),
      fds(lim.shared_fds ? lim.shared_fds : std::make_shared<FdCache>(l, lim.max_open_files)),
      cache(lim.shared_cache ? lim.shared_cache : std::make_shared<ReadCache>(lim.read_cache_bytes)), post_timer(l) {
    meta.info_hash = m.info_hash;
    meta.name = m.name;
    placement_name = m.name;
    meta.piece_length = m.piece_length;
    meta.piece_hashes = m.piece_hashes;
    meta.files = m.files;
    meta.multi_file = m.multi_file;
    meta.total_length = m.total_length;
    if (root.empty()) root = ".";
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    if (limits.max_inflight_ops == 0) limits.max_inflight_ops = 1;
    if (limits.verify_window == 0) limits.verify_window = 1;
    zeros_from.assign(meta.files.size() + 1, INT64_MAX); // + the side file
    written_now.assign(meta.files.size(), 0);
    wanted.assign(meta.files.size(), true);
    if (explicit_paths() && placement.disk_paths.size() != meta.files.size()) {
        mark_failed(make_error("storage",
                               "placement names " + std::to_string(placement.disk_paths.size()) + " paths for " +
                                   std::to_string(meta.files.size()) + " files",
                               Errc::bad_input));
        placement.disk_paths.assign(meta.files.size(), std::string());
    }
    compute_paths();
}

void Storage::Impl::compute_paths() {
    comps.clear();
    paths.clear();
    checked_parents.clear();
    for (std::size_t i = 0; i < meta.files.size(); ++i) {
        if (explicit_paths()) {
            comps.push_back(std::vector<std::string>{});
            paths.push_back(placement.disk_paths[i]);
            continue;
        }
        comps.push_back(file_components(meta, i));
        paths.push_back(comps.back() ? join_path(root, *comps.back()) : std::string());
        if (!comps.back()) mark_failed(comps.back().error());
    }
    if (explicit_paths()) return;
    // The side file of a download (file selection): one more "file" after the torrent's, in the state folder.
    comps.push_back(std::vector<std::string>{".p2pnode", to_hex(meta.info_hash) + ".parts"});
    paths.push_back(join_path(root, *comps.back()));
}

// Runs `job` once the descriptor cache lends us a slot for a descriptor the job opens and closes itself; the
// job calls its argument when that descriptor is closed. Counted in the same bound as the files' descriptors.
void Storage::Impl::with_fd_slot(std::function<void(std::function<void()> release)> job) {
    auto self = shared_from_this();
    fds->acquire_slot([self, job = std::move(job)]() { job([self] { self->fds->release_slot(); }); });
}

void Storage::Impl::mark_failed(const Error& e) {
    if (failed) return;
    failed = true;
    error = e;
    log_error("storage", e.str());
}

void Storage::Impl::post(std::function<void()> fn) {
    posted.push_back(std::move(fn));
    if (!post_timer.active()) post_timer.start(0, 0, [this] { drain_posted(); });
}

void Storage::Impl::drain_posted() {
    auto keep = shared_from_this(); // a callback may destroy the Storage; we finish the batch first
    auto batch = std::move(posted);
    posted.clear();
    for (auto& fn : batch)
        if (!closed) fn();
}

std::function<void(Status)> Storage::Impl::fan_in(std::size_t n, std::function<void(Status)> done) {
    struct Job {
        std::size_t remaining;
        Status st;
        std::function<void(Status)> done;
    };
    auto job = std::make_shared<Job>(Job{n, ok_status(), std::move(done)});
    auto self = shared_from_this();
    return [self, job](Status st) {
        fold(job->st, std::move(st));
        if (--job->remaining > 0) return;
        if (!job->st.ok()) self->mark_failed(job->st.error());
        self->deliver(std::move(job->done), std::move(job->st));
    };
}

void Storage::Impl::submit(std::function<void()> op) {
    if (inflight < limits.max_inflight_ops) {
        ++inflight;
        op();
    } else {
        pending_ops.push_back(std::move(op));
    }
}

void Storage::Impl::op_done() {
    // Each operation calls op_done once, after submit ran it: below zero would let the bound grow without limit.
    P2P_ASSERT(inflight > 0, "storage: an operation finished that was not in flight");
    if (inflight > 0) --inflight;
    while (inflight < limits.max_inflight_ops && !pending_ops.empty()) {
        auto op = std::move(pending_ops.front());
        pending_ops.pop_front();
        ++inflight;
        op();
    }
}

void Storage::Impl::open_file(std::size_t i, bool create, std::function<void(uv_file, Status)> cb, bool recheck) {
    const int access = read_only ? O_RDONLY : O_RDWR;
    // A shared item's own paths: the user chose them, there is no download folder to keep writes inside.
    if (explicit_paths()) return open_fd(i, false, O_RDONLY, std::move(cb));
    if (!comps[i]) return cb(-1, comps[i].error());
    auto self = shared_from_this();
    std::string parent = paths[i].substr(0, paths[i].rfind('/'));
    if (!recheck && checked_parents.count(parent)) {
        // Checked before. Should the folder be gone (the user removed it), forget it and walk again, which
        // re-creates it when creating, as the first open did.
        return open_fd(i, create, access, [self, i, create, parent, cb](uv_file fd, Status st) {
            if (st.ok() || !create || st.error().code != Errc::not_found) return cb(fd, std::move(st));
            self->checked_parents.erase(parent);
            self->open_file(i, create, cb, true);
        });
    }
    auto after_root = [self, i, create, access, parent, cb]() {
        ++self->stats.parent_walks;
        check_parents(self->loop, self->root, *self->comps[i], create,
                      [self, i, create, access, parent, cb](Status st) {
                          if (!st.ok()) return cb(-1, std::move(st));
                          self->checked_parents.insert(parent);
                          self->open_fd(i, create, access, cb);
                      });
    };
    if (create && !root_ready) {
        make_root_dirs(loop, root, [self, cb, after_root](Status st) {
            if (!st.ok()) return cb(-1, std::move(st));
            self->root_ready = true;
            after_root();
        });
    } else {
        after_root();
    }
}
void Storage::Impl::open_fd(std::size_t i, bool create, int access, std::function<void(uv_file, Status)> cb) {
    auto self = shared_from_this();
    const int flags = access | kFileOpenFlags | (create ? O_CREAT : 0);
    fsr::call([&](uv_fs_t* r, uv_fs_cb fcb) { return uv_fs_open(loop, r, paths[i].c_str(), flags, kFileMode, fcb); },
              [self, i, create, access, cb](uv_fs_t* r) {
                  const auto rc = r->result;
                  if (rc >= 0) return cb(static_cast<uv_file>(rc), ok_status());
                  if (rc == UV_ELOOP)
                      return cb(-1,
                                make_error("open " + self->paths[i],
                                           "refusing to follow a symlink inside the download folder", Errc::refused));
                  // Reading what is there (verifying a partial download) needs no write access.
                  if (!create && access == O_RDWR && (rc == UV_EACCES || rc == UV_EROFS || rc == UV_EPERM))
                      return self->open_fd(i, false, O_RDONLY, cb);
                  cb(-1, fsr::uv_error("open", self->paths[i], rc));
              });
}
FdCache::Opener Storage::Impl::opener(std::size_t i, bool create) {
    auto self = shared_from_this();
    return [self, i, create](std::function<void(uv_file, Status)> cb) { self->open_file(i, create, std::move(cb)); };
}

// One write at a time per file: a buffered write holds the file's inode lock, so concurrent writes to one file
// only make the threadpool's threads spin on it (8 % of a leecher's CPU with four in flight) while a hash could
// have used the thread. Writes to different files (and all reads) still run side by side.
void Storage::Impl::io_segment(bool write, Segment s, char* buf, std::function<void(Status)> done) {
    if (write) {
        auto [it, idle] = writing.try_emplace(s.file);
        if (!idle) {
            ++stats.writes_waited;
            return it->second.push_back(QueuedWrite{s, buf, std::move(done)}); // bounded by the write pool
        }
    }
    io_now(write, s, buf, std::move(done));
}

// A write that fails at once (a refused path) finishes inside io_now: such calls only queue the file here and
// the outermost call starts the next writes in a loop, so a long queue cannot recurse deeply.
void Storage::Impl::write_finished(std::size_t file) {
    finished_writes.push_back(file);
    if (starting_writes) return;
    starting_writes = true;
    while (!finished_writes.empty()) {
        const std::size_t f = finished_writes.front();
        finished_writes.pop_front();
        auto it = writing.find(f);
        if (it == writing.end()) continue;
        if (it->second.empty()) {
            writing.erase(it);
            continue;
        }
        QueuedWrite next = std::move(it->second.front());
        it->second.pop_front();
        io_now(true, next.s, next.buf, std::move(next.done));
    }
    starting_writes = false;
}

void Storage::Impl::io_now(bool write, Segment s, char* buf, std::function<void(Status)> done) {
    auto self = shared_from_this();
    submit([self, write, s, buf, done = std::move(done)]() mutable {
        self->fds->acquire(self->fkey(s.file), self->opener(s.file, write),
                           [self, write, s, buf, done = std::move(done)](uv_file fd, Status st) mutable {
                               if (!st.ok()) {
                                   self->op_done();
                                   if (write) self->write_finished(s.file);
                                   return done(std::move(st));
                               }
                               self->rw(write, fd, s, buf, 0, [self, write, fd, s, done = std::move(done)](Status st2) {
                                   auto finish = [self, write, s, done = std::move(done)](Status st3) {
                                       self->fds->release(self->fkey(s.file));
                                       self->op_done();
                                       if (write) self->write_finished(s.file);
                                       done(std::move(st3));
                                   };
                                   if (write && st2.ok()) return self->written(fd, s, std::move(done));
                                   // A sealed file is checked after the read, on the same descriptor: an edit
                                   // that changed these bytes changed the mtime before our fstat.
                                   if (!st2.ok() || write || self->sealed.empty()) return finish(std::move(st2));
                                   self->check_seal(fd, s.file, std::move(finish));
                               });
                           });
    });
}
void Storage::Impl::rw(bool write, uv_file fd, Segment s, char* buf, std::int64_t pos,
                       std::function<void(Status)> done) {
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
            if (rc < 0) return done(fsr::uv_error(write ? "write" : "read", path, rc));
            if (rc == 0)
                return done(
                    write ? make_error("write " + path, "wrote 0 bytes", Errc::io)
                          : make_error("read " + path, "file is shorter than the torrent says", Errc::short_read));
            if (pos + rc == s.length) return done(ok_status());
            self->rw(write, fd, s, buf, pos + rc, std::move(done)); // short transfer: continue where it stopped
        });
}

void Storage::Impl::check_seal(uv_file fd, std::size_t file, std::function<void(Status)> done) {
    auto self = shared_from_this();
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fstat(loop, r, fd, cb); },
              [self, file, done = std::move(done)](uv_fs_t* r) {
                  const std::string& path = self->paths[file];
                  if (r->result < 0) return done(fsr::uv_error("fstat", path, r->result));
                  if (file >= self->sealed.size() || (file < self->wanted.size() && !self->wanted[file]) ||
                      stamp_of(r->statbuf) == self->sealed[file])
                      return done(ok_status());
                  done(make_error(path, "changed on disk since it was hashed (size or modification time)",
                                  Errc::changed_on_disk));
              });
}

void Storage::Impl::read_whole(std::uint32_t index, ReadDone done) {
    auto segs = map_range(meta, index, 0, piece_bytes(meta, index));
    if (!segs) return done(segs.error(), nullptr);
    ++stats.pieces_read;
    struct Job {
        std::shared_ptr<std::string> buf;
        std::size_t remaining;
        Status st = ok_status();
        ReadDone done;
    };
    auto job = std::make_shared<Job>();
    const auto size = static_cast<std::size_t>(piece_bytes(meta, index));
    job->buf = cache->take_spare(size); // fully overwritten below, or dropped on error
    if (!job->buf) job->buf = std::make_shared<std::string>(size, '\0');
    job->remaining = segs->size();
    job->done = std::move(done);
    for (const auto& s : *segs)
        io_segment(false, locate(index, s), job->buf->data(), [job](Status st) {
            fold(job->st, std::move(st));
            if (--job->remaining == 0) {
                if (job->st.ok())
                    job->done(ok_status(), std::move(job->buf));
                else
                    job->done(std::move(job->st), nullptr);
            }
        });
}

Storage::Storage(uv_loop_t* loop, const Metainfo& meta, std::string root_dir, StorageLimits limits,
                 StoragePlacement placement)
    : impl_(std::make_shared<Impl>(loop, meta, std::move(root_dir), limits, std::move(placement))) {}

Storage::~Storage() {
    impl_->closed = true;
    impl_->reading.clear();
    impl_->cache->erase_owner(impl_->cache_owner);
}

void Storage::write_piece(std::uint32_t index, std::shared_ptr<std::string> data, std::function<void(Status)> done,
                          bool keep_cached) {
    auto self = impl_;
    if (self->failed) return self->deliver(std::move(done), self->error);
    if (self->read_only)
        return self->deliver(std::move(done),
                             make_error("write_piece", "storage opened for seeding only", Errc::refused));
    const std::int64_t want = piece_bytes(self->meta, index);
    if (!data || index >= self->meta.piece_count() || std::int64_t(data->size()) != want)
        return self->deliver(std::move(done), make_error("write_piece " + std::to_string(index),
                                                         "piece has " + std::to_string(data ? data->size() : 0) +
                                                             " bytes, expected " + std::to_string(want),
                                                         Errc::bad_input));
    auto segs = map_range(self->meta, index, 0, want);
    if (!segs) return self->deliver(std::move(done), segs.error());
    // The segments must cover the piece exactly: a gap would leave stale bytes on disk under a verified piece, an
    // overlap or overrun would write past the buffer.
    std::int64_t covered = 0;
    for (const auto& s : *segs) covered += s.length;
    P2P_ASSERT(covered == want, "storage: a piece's file segments do not add up to the piece");
    if (covered != want)
        return self->deliver(std::move(done),
                             make_error("write_piece " + std::to_string(index), "bad file layout", Errc::bad_input));
    struct Job {
        std::size_t remaining;
        Status st = ok_status();
        std::shared_ptr<std::string> data;
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
    char* buf = job->data->data(); // uv_fs_write only reads it
    for (auto s : *segs) {
        // File selection: an unwanted file's bytes go to the side file, never to the (uncreated) file.
        if (self->has_parts() && !self->wanted[s.file])
            self->in_parts.insert({s.file, index});
        else
            self->in_parts.erase({s.file, index});
        s = self->locate(index, s);
        self->dirty.insert(s.file);
        self->zeros_from[s.file] = INT64_MAX; // conservative: the whole file is no longer known
        self->io_segment(true, s, buf, [self, index, job, counted, keep_cached, file = s.file](Status st) {
            if (st.ok()) self->file_written(file); // may start a checkpoint (checkpoint.cpp)
            fold(job->st, std::move(st));
            if (--job->remaining > 0) return;
            if (self->limits.budget) self->limits.budget->release(MemPool::write, counted);
            if (!job->st.ok()) {
                self->mark_failed(job->st.error());
                return self->deliver(std::move(job->done), std::move(job->st));
            }
            ++self->stats.pieces_written;
            if (!self->closed) { // else the Storage is gone, and its entries of the cache with it
                if (keep_cached) {
                    self->cache->put(self->ckey(index), job->data, true); // handed over: recyclable
                } else {
                    self->cache->erase(self->ckey(index));      // a copy read before this write is stale now
                    self->cache->recycle(std::move(job->data)); // nobody will ask: its memory serves the next piece
                }
            }
            self->deliver(std::move(job->done), ok_status());
        });
    }
}

std::shared_ptr<std::string> Storage::spare_buffer(std::size_t size) { return impl_->cache->take_spare(size); }

std::shared_ptr<const std::string> Storage::cached_piece(std::uint32_t index) {
    auto hit = impl_->cache->get(impl_->ckey(index));
    if (hit) ++impl_->stats.cache_hits;
    return hit;
}

void Storage::uncache(std::uint32_t index) { impl_->cache->drop(impl_->ckey(index)); }

void Storage::read_piece(std::uint32_t index, PieceCb done) {
    auto self = impl_;
    if (auto hit = self->cache->get(self->ckey(index))) {
        ++self->stats.cache_hits;
        return self->post([done = std::move(done), hit]() { done(hit); });
    }
    if (index >= self->meta.piece_count()) {
        Error e = make_error("read_piece " + std::to_string(index), "no such piece", Errc::bad_input);
        return self->post([done = std::move(done), e]() { done(e); });
    }
    auto [it, fresh] = self->reading.try_emplace(index);
    it->second.push_back(std::move(done));
    if (!fresh) return; // a read of this piece is already in flight: share it
    self->read_whole(index, [self, index](Status st, std::shared_ptr<std::string> buf) {
        auto node = self->reading.extract(index);
        if (node.empty()) return; // Storage destroyed meanwhile
        std::shared_ptr<const std::string> piece = std::move(buf);
        if (st.ok())
            self->cache->put(self->ckey(index), piece, true); // read_whole's buffer: ours, so recyclable
        else
            self->mark_failed(st.error());
        for (auto& cb : node.mapped()) {
            if (st.ok())
                self->post([cb = std::move(cb), piece]() { cb(piece); });
            else
                self->post([cb = std::move(cb), e = st.error()]() { cb(e); });
        }
    });
}

void Storage::flush(std::function<void(Status)> done) {
    auto self = impl_;
    // A running checkpoint took its files out of `dirty` before they are on disk: this flush must not return
    // before they are, so it starts once the checkpoint ends (checkpoint.cpp).
    if (self->checkpointing)
        return self->after_checkpoint.push_back(
            [self, done = std::move(done)]() mutable { self->flush_dirty(std::move(done)); });
    self->flush_dirty(std::move(done));
}

void Storage::Impl::flush_dirty(std::function<void(Status)> done) {
    std::set<std::size_t> files = std::move(dirty);
    dirty.clear();
    flush_files(std::move(files), std::move(done));
}

void Storage::Impl::flush_files(std::set<std::size_t> files, std::function<void(Status)> done) {
    auto self = shared_from_this();
    if (files.empty()) return deliver(std::move(done), ok_status());
    if (flush_grouped(files, done)) return;
    auto all_done = fan_in(files.size(), std::move(done));
    for (std::size_t i : files) {
        submit([self, i, all_done]() {
            auto one_done = [self, i, all_done](Status st) {
                if (!st.ok()) self->dirty.insert(i); // still not known to be on disk
                all_done(std::move(st));
            };
            self->fds->acquire(self->fkey(i), self->opener(i, false), [self, i, one_done](uv_file fd, Status st) {
                if (!st.ok()) {
                    self->op_done();
                    return one_done(std::move(st));
                }
                fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fsync(self->loop, r, fd, cb); },
                          [self, i, one_done](uv_fs_t* r) {
                              Status st2 = r->result < 0 ? Status(fsr::uv_error("fsync", self->paths[i], r->result))
                                                         : ok_status();
                              self->fds->release(self->fkey(i));
                              self->op_done();
                              one_done(std::move(st2));
                          });
            });
        });
    }
}

bool Storage::is_failed() const { return impl_->failed; }
const Error& Storage::error() const { return impl_->error; }
void Storage::clear_error() {
    impl_->failed = false;
    impl_->error = {};
}
void Storage::unseal() { impl_->sealed.clear(); }
std::string Storage::file_path(std::size_t i) const {
    return i < impl_->paths.size() ? impl_->paths[i] : std::string();
}
std::size_t Storage::open_fds() const { return impl_->fds->slots_used(); }
std::size_t Storage::cache_bytes() const { return impl_->cache->bytes_of(impl_->cache_owner); }
const StorageStats& Storage::stats() const { return impl_->stats; }

} // namespace p2p
