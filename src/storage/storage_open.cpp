// Storage: opening a torrent's files for seeding (read-only, sealed) or downloading (created and extended), the
// save name, and looking at what is on disk before anything is written (inspect, probe_names).
#include <fcntl.h>
#include <sys/stat.h>

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
                  // Never shrink a file we were not told to overwrite: its bytes past the torrent are not ours.
                  if (old_size == want || (old_size > want && !truncate_longer)) return finish(ok_status());
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
