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
                       std::function<void(Status)> finish) {
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fstat(self->loop, r, fd, cb); },
              [self, i, fd, truncate_longer, finish](uv_fs_t* r) {
                  const std::string& path = self->paths[i];
                  if (r->result < 0) return finish(fsr::uv_error("fstat", path, r->result));
                  const std::int64_t want = self->meta.files[i].length;
                  const std::int64_t old_size = std::int64_t(r->statbuf.st_size);
                  // Never shrink a file we were not told to overwrite: its bytes past the torrent are not ours.
                  if (old_size == want || (old_size > want && !truncate_longer)) return finish(ok_status());
                  fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_ftruncate(self->loop, r2, fd, want, cb); },
                            [self, i, old_size, want, path, finish](uv_fs_t* r2) {
                                if (r2->result < 0) return finish(fsr::uv_error("truncate", path, r2->result));
                                if (old_size < want)
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
    if (self->meta.files.empty()) return self->deliver(std::move(done), ok_status());
    auto stamps = std::make_shared<std::vector<FileStamp>>(self->meta.files.size());
    auto after = [self, seed, stamps, done = std::move(done)](Status st) mutable {
        if (st && seed) self->seal(std::move(*stamps));
        if (done) done(std::move(st)); // already on a later loop turn (fan_in delivers through post)
    };
    auto one_done = self->fan_in(self->meta.files.size(), std::move(after));
    for (std::size_t i = 0; i < self->meta.files.size(); ++i) {
        self->submit([self, i, seed, truncate_longer, stamps, one_done]() {
            self->fds->acquire(
                self->fkey(i), self->opener(i, !seed),
                [self, i, seed, truncate_longer, stamps, one_done](uv_file fd, Status st) {
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
                        size_for_download(self, i, fd, truncate_longer, std::move(finish));
                });
        });
    }
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
    std::vector<std::string> paths = self->paths;
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
