// Storage: opening a torrent's files for seeding (read-only, sealed) or downloading (created and extended), the
// save name, and looking at what is on disk before anything is written (inspect, probe_names).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_map>

#include "loop/work_req.hpp"
#include "storage/path_safety.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// The open of one file for downloading: fstat, then extend (or, when asked, shrink) it to its torrent length.
void size_for_download(std::shared_ptr<Storage::Impl> self, std::size_t i, uv_file fd, bool truncate_longer,
                       bool initial, std::function<void(Status)> finish) {
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fstat(self->loop, r, fd, cb); },
              [self, i, fd, truncate_longer, initial, finish](uv_fs_t* r) {
                  const std::string& path = self->paths[i];
                  if (r->result < 0) return finish(fsr::uv_error("fstat", path, r->result));
                  const std::int64_t want = self->meta.files[i].length;
                  const std::int64_t old_size = std::int64_t(r->statbuf.st_size);
                  if (!needs_resize(old_size, want, truncate_longer)) return finish(ok_status());
                  fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_ftruncate(self->loop, r2, fd, want, cb); },
                            [self, i, old_size, want, path, initial, finish](uv_fs_t* r2) {
                                if (r2->result < 0) return finish(fsr::uv_error("truncate", path, r2->result));
                                // Only before any write: later a write may have landed between fstat and here.
                                if (old_size < want && initial)
                                    self->zeros_from[i] = old_size; // ftruncate zero-fills the extension
                                finish(ok_status());
                            });
              });
}

// The open of one file for seeding: it must have exactly its torrent length (and the stamp it was hashed at,
// when known). Its stamp now is recorded for the seal.
void check_for_seeding(std::shared_ptr<Storage::Impl> self, std::size_t i, uv_file fd,
                       std::shared_ptr<std::vector<FileStamp>> stamps, std::function<void(Status)> finish) {
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fstat(self->loop, r, fd, cb); },
              [self, i, stamps, finish](uv_fs_t* r) {
                  const std::string& path = self->paths[i];
                  if (r->result < 0) return finish(fsr::uv_error("fstat", path, r->result));
                  const FileStamp now = stamp_of(r->statbuf);
                  const auto& expected = self->placement.stamps;
                  const bool moved =
                      i < expected.size() ? !(expected[i] == now) : now.size != self->meta.files[i].length;
                  if (moved)
                      return finish(make_error(path, "changed on disk since it was hashed (size or modification time)",
                                               Errc::changed_on_disk));
                  (*stamps)[i] = now;
                  finish(ok_status());
              });
}

} // namespace

void Storage::open(OpenMode mode, std::function<void(Status)> done, bool truncate_longer) {
    auto self = impl_;
    const bool seed = mode == OpenMode::seed;
    self->read_only = seed;
    if (!seed && self->explicit_paths())
        return self->deliver(std::move(done),
                             make_error("storage.open", "a shared item is opened for seeding only", Errc::unsupported));
    // Unwanted files (file selection) are neither created nor opened.
    std::vector<std::size_t> files;
    for (std::size_t i = 0; i < self->meta.files.size(); ++i)
        if (self->wanted[i]) files.push_back(i);
    self->open_files(std::move(files), seed, truncate_longer, true,
                     [self, seed, done = std::move(done)](Status st) mutable {
                         if (st) self->opened = true;
                         // A wanted file whose bytes a record puts in the side file (the selection changed).
                         if (st && !seed) self->migrate_next([](Status) {});
                         if (done) done(std::move(st));
                     });
}

void Storage::Impl::open_files(std::vector<std::size_t> files, bool seed, bool truncate_longer, bool initial,
                               std::function<void(Status)> done) {
    if (!seed && initial && !explicit_paths()) return create_files(std::move(files), truncate_longer, std::move(done));
    open_each(std::move(files), seed, truncate_longer, initial, std::move(done));
}

// A download's files at its first open. Through the descriptor cache each file costs four threadpool round trips
// (open, fstat, ftruncate, the close of an evicted descriptor), ~0.3-0.5 ms a file on a small box: most of a
// second for a photo library of 2,000 files, against ~0.2 s for the same system calls in a row. So the first file
// of each folder goes the ordinary way (which walks and makes its folders: path_safety.hpp), then each folder's
// other files are made by one threadpool job, opened, sized and closed in a row. One job per folder, not several:
// creating files in one folder takes the folder's lock, and threads waiting for it spin (7 % of a leecher's CPU
// with consecutive files spread over the pool's threads). A big folder is made kCreateChunk files per job.
//
// The open returns after the first files: the jobs run behind it, one at a time (make_folders), while the
// download starts. Waiting for them put the whole making (0.3-1 s for 2,000 files, more after an rm -rf of the
// last ones: ext4's allocator skips recently deleted inodes) before the first block was asked for. One job at a
// time leaves the pool's other threads to writes and hashing. A write to a file the jobs have not reached makes
// it through its own open (O_CREAT, in a folder already checked); the job then finds it and only extends it,
// never cutting what was written (writes stay within the file's length). A file a job could not make goes the
// ordinary way again, which says why (a symlink, a permission) or walks its folders again (one removed
// meanwhile); an error stops the chain and fails the storage (when_files_made, and every later write, say why).
void Storage::Impl::create_files(std::vector<std::size_t> files, bool truncate_longer,
                                 std::function<void(Status)> done) {
    std::vector<std::size_t> first;
    auto rest = std::make_shared<std::vector<std::vector<std::size_t>>>(); // per folder, in the order first seen
    std::unordered_map<std::string, std::size_t> folders;
    for (std::size_t i : files) {
        if (!comps[i]) {
            first.push_back(i); // refused: the ordinary way says why
            continue;
        }
        auto [it, fresh] = folders.try_emplace(paths[i].substr(0, paths[i].rfind('/')), rest->size());
        if (fresh) {
            first.push_back(i);
            rest->emplace_back();
        } else {
            (*rest)[it->second].push_back(i);
        }
    }
    auto self = shared_from_this();
    open_each(std::move(first), false, truncate_longer, true,
              [self, rest, truncate_longer, done = std::move(done)](Status st) mutable {
                  if (!st) return done(std::move(st));
                  rest->erase(std::remove_if(rest->begin(), rest->end(), [](const auto& v) { return v.empty(); }),
                              rest->end());
                  if (!rest->empty()) {
                      for (const auto& part : *rest)
                          for (std::size_t i : part) self->zeros_from[i] = kZerosPending;
                      self->making = true;
                      self->make_folders(rest, 0, truncate_longer);
                  }
                  done(std::move(st)); // already on a later loop turn (fan_in delivers through post)
              });
}

// The chain of the folders' jobs behind the first open: folder k, then k + 1.
void Storage::Impl::make_folders(std::shared_ptr<std::vector<std::vector<std::size_t>>> rest, std::size_t k,
                                 bool truncate_longer) {
    auto self = shared_from_this();
    auto finish = [self](Status st) {
        if (!st) self->mark_failed(st.error());
        self->making = false;
        auto waiters = std::move(self->made_waiters);
        self->made_waiters.clear();
        for (auto& w : waiters) self->deliver(std::move(w), st);
    };
    if (k >= rest->size() || closed || failed) return finish(status());
    submit([self, rest, k, truncate_longer, finish]() mutable {
        self->create_batch(std::move((*rest)[k]), 0, truncate_longer, {},
                           [self, rest, k, truncate_longer, finish](Status st) {
                               if (!st) return finish(std::move(st));
                               self->make_folders(rest, k + 1, truncate_longer);
                           });
    });
}

void Storage::Impl::when_made(std::function<void(Status)> fn) {
    if (making) return made_waiters.push_back(std::move(fn));
    deliver(std::move(fn), status());
}

void Storage::when_files_made(std::function<void(Status)> done) { impl_->when_made(std::move(done)); }

// One threadpool job: open (O_NOFOLLOW, in folders already checked), fstat, extend (or, when asked, shrink) and
// close files [from, from + kCreateChunk) of `part`; the same sizing rule as size_for_download. Holds one
// descriptor at a time, in a slot of the descriptor cache. Then the next chunk, or, after the last, the files no
// chunk could make the ordinary way (`again`); the in-flight slot taken by submit() is given back once, at the end
// of the chain. A shrink (truncate_longer, --overwrite) cuts only past the torrent's length, where no write goes.
void Storage::Impl::create_batch(std::vector<std::size_t> part, std::size_t from, bool truncate_longer,
                                 std::vector<std::size_t> again, std::function<void(Status)> done) {
    static constexpr std::size_t kCreateChunk = 256;
    const std::size_t to = std::min(part.size(), from + kCreateChunk);
    struct Made {
        std::string path; // copied: the job must not touch the Impl from the threadpool
        std::int64_t want;
        std::int64_t old_size = -1;
        bool ok = false;
    };
    auto made = std::make_shared<std::vector<Made>>();
    made->reserve(to - from);
    for (std::size_t k = from; k < to; ++k) made->push_back(Made{paths[part[k]], meta.files[part[k]].length});
    auto self = shared_from_this();
    // The job's one descriptor counts in the descriptor bound like any other (a session shares one cache).
    with_fd_slot([self, part = std::move(part), from, to, made, truncate_longer, again = std::move(again),
                  done = std::move(done)](std::function<void()> release) mutable {
        work::queue(
            self->loop, "create files",
            [made, truncate_longer] {
                for (Made& m : *made) {
                    const int fd = ::open(m.path.c_str(), O_RDWR | O_CREAT | kFileOpenFlags, kFileMode);
                    if (fd < 0) continue;
                    struct stat st {};
                    if (::fstat(fd, &st) == 0) {
                        m.old_size = std::int64_t(st.st_size);
                        m.ok = !needs_resize(m.old_size, m.want, truncate_longer) || ::ftruncate(fd, m.want) == 0;
                    }
                    ::close(fd);
                }
            },
            [self, part = std::move(part), from, to, made, truncate_longer, again = std::move(again),
             done = std::move(done), release = std::move(release)](int status) mutable {
                release(); // the job closed its descriptor before it returned
                for (std::size_t k = from; k < to; ++k) {
                    const Made& m = (*made)[k - from];
                    if (status != 0 || !m.ok) {
                        again.push_back(part[k]);
                    } else {
                        ++self->stats.files_batched;
                        // Known only if no write has touched the file since the open (a write sets INT64_MAX); then
                        // ftruncate zero-filled it from its old size.
                        std::int64_t& z = self->zeros_from[part[k]];
                        if (z == kZerosPending) z = m.old_size < m.want ? m.old_size : INT64_MAX;
                    }
                }
                if (to < part.size() && status == 0)
                    return self->create_batch(std::move(part), to, truncate_longer, std::move(again), std::move(done));
                for (std::size_t k = to; k < part.size(); ++k) again.push_back(part[k]); // the pool refused: one by one
                self->op_done();
                if (again.empty()) return done(ok_status());
                // Not `initial`: writes may have landed since the open, so nothing is known of zeros there.
                self->open_each(std::move(again), false, truncate_longer, false, std::move(done));
            });
    });
}

void Storage::Impl::open_each(std::vector<std::size_t> files, bool seed, bool truncate_longer, bool initial,
                              std::function<void(Status)> done) {
    auto self = shared_from_this();
    if (files.empty()) return deliver(std::move(done), ok_status());
    auto stamps = std::make_shared<std::vector<FileStamp>>(meta.files.size());
    auto after = [self, seed, initial, stamps, done = std::move(done)](Status st) mutable {
        if (st && seed && initial) self->seal(std::move(*stamps));
        if (done) done(std::move(st)); // already on a later loop turn (fan_in delivers through post)
    };
    auto one_done = fan_in(files.size(), std::move(after));
    for (std::size_t i : files) {
        submit([self, i, seed, truncate_longer, initial, stamps, one_done]() {
            self->fds->acquire(
                self->fkey(i), self->opener(i, !seed),
                [self, i, seed, truncate_longer, initial, stamps, one_done](uv_file fd, Status st) {
                    if (!st.ok()) {
                        self->op_done();
                        if (seed && st.error().code ==
                                        Errc::not_found) // a shared file that is gone: changed, not an I/O failure
                            st = make_error(self->paths[i], "is gone", Errc::changed_on_disk);
                        return one_done(std::move(st));
                    }
                    auto finish = [self, i, one_done](Status st2) {
                        self->fds->release(self->fkey(i));
                        self->op_done();
                        one_done(std::move(st2));
                    };
                    if (seed)
                        check_for_seeding(self, i, fd, stamps, std::move(finish));
                    else
                        size_for_download(self, i, fd, truncate_longer, initial, std::move(finish));
                });
        });
    }
}

void Storage::set_wanted(std::vector<bool> wanted, std::function<void(Status)> done) {
    auto self = impl_;
    if (wanted.size() != self->meta.files.size() || self->explicit_paths())
        return self->deliver(std::move(done), make_error("set_wanted", "not a download's file list", Errc::bad_input));
    std::vector<std::size_t> fresh; // newly wanted files: created now when the files are open
    for (std::size_t i = 0; i < wanted.size(); ++i)
        if (wanted[i] && !self->wanted[i]) fresh.push_back(i);
    self->wanted = std::move(wanted);
    if (!self->opened) {
        self->selection_from_user = true;
        return self->deliver(std::move(done), ok_status());
    }
    if (self->read_only) // every piece was here at open: nothing to fetch, the side file stays where it is
        return self->deliver(std::move(done), ok_status());
    self->open_files(std::move(fresh), false, false, false, [self, done = std::move(done)](Status st) mutable {
        if (!st) return done(std::move(st));
        self->migrate_next(std::move(done));
    });
}

const std::vector<bool>& Storage::wanted() const { return impl_->wanted; }

std::string Storage::parts_path() const {
    return impl_->has_parts() ? impl_->paths[impl_->parts_index()] : std::string();
}

void Storage::Impl::migrate_next(std::function<void(Status)> done) {
    if (closed) return;
    if (migrating) return deliver(std::move(done), ok_status()); // the running chain takes these too
    auto it = std::find_if(in_parts.begin(), in_parts.end(), [this](const auto& e) { return wanted[e.first]; });
    if (it == in_parts.end()) return deliver(std::move(done), ok_status());
    const std::size_t file = it->first; // not a structured binding: clang 14 cannot capture those in lambdas
    const std::uint32_t piece = it->second;
    auto segs = map_range(meta, piece, 0, piece_bytes(meta, piece));
    auto seg = segs ? std::find_if(segs->begin(), segs->end(), [f = file](const Segment& x) { return x.file == f; })
                    : std::vector<Segment>::iterator();
    if (!segs || seg == segs->end()) { // cannot happen: the record was checked against the layout
        in_parts.erase(it);
        return migrate_next(std::move(done));
    }
    migrating = true;
    Segment dst = *seg;
    dst.buf_offset = 0;
    Segment src = locate(piece, dst);
    auto buf = std::make_shared<std::string>(static_cast<std::size_t>(dst.length), '\0');
    auto self = shared_from_this();
    auto fail = [self](std::function<void(Status)> d, Status st) {
        self->migrating = false;
        self->mark_failed(st.error());
        self->deliver(std::move(d), std::move(st));
    };
    io_segment(false, src, buf->data(), [self, dst, file, piece, buf, fail, done](Status st) mutable {
        if (!st) return fail(std::move(done), std::move(st));
        self->dirty.insert(dst.file);
        self->zeros_from[dst.file] = INT64_MAX;
        self->io_segment(true, dst, buf->data(), [self, file, piece, buf, fail, done](Status st2) mutable {
            if (!st2) return fail(std::move(done), std::move(st2));
            self->in_parts.erase({file, piece});
            self->migrating = false;
            self->migrate_next(std::move(done));
        });
    });
}

void Storage::set_save_name(const std::string& name) {
    if (impl_->explicit_paths() || name.empty() || name == impl_->meta.name) return;
    impl_->meta.name = name;
    impl_->fds->close_idle_of(impl_->cache_owner); // descriptors of the old paths (verify) must not be reused
    impl_->failed = false; // a refusal of the old name's components does not apply to the new one
    impl_->error = {};
    impl_->compute_paths();
}

const std::string& Storage::save_name() const { return impl_->meta.name; }

void Storage::inspect(std::function<void(std::vector<FileStamp>)> done) {
    auto self = impl_;
    std::vector<std::string> paths = self->file_paths();
    paths.push_back(join_path(self->root, {self->meta.name}));
    stat_files(self->loop, std::move(paths), [self, done = std::move(done)](std::vector<FileStamp> st) mutable {
        self->post([done = std::move(done), st = std::move(st)]() mutable { done(std::move(st)); });
    });
}

void Storage::probe_names(std::vector<std::string> names, std::function<void(std::vector<FileStamp>)> done) {
    auto self = impl_;
    for (auto& n : names) n = join_path(self->root, {n});
    stat_files(self->loop, std::move(names), [self, done = std::move(done)](std::vector<FileStamp> st) mutable {
        self->post([done = std::move(done), st = std::move(st)]() mutable { done(std::move(st)); });
    });
}

const std::vector<FileStamp>& Storage::sealed() const { return impl_->sealed; }

} // namespace p2p
