#include "tracker/state_saver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "loop/fs_req.hpp"
#include "tracker/state_file.hpp"

namespace p2p {

namespace {
Error fs_error(const char* op, const std::string& path, long code) { return fsr::uv_error(op, path, code); }
} // namespace

// One save: every libuv callback holds it (shared_from_this), so it lives until the last one has run.
struct StateSaver::Job : std::enable_shared_from_this<Job> {
    uv_loop_t* loop = nullptr;
    std::string path, tmp, dir;
    std::unique_ptr<StateWriter> writer;
    std::function<void(Status)> done;
    std::string part; // the bytes being written; not touched while a write is in flight
    std::size_t part_off = 0;
    std::int64_t file_off = 0;
    uv_file fd = -1;
    bool more = true; // the writer has more parts
    bool cancelled = false, finished = false;

    void open_tmp();
    void write_next();
    void sync_and_close();
    void rename_into_place();
    void sync_dir();
    // Ends the job: closes our descriptor, removes the temporary file if asked, then reports (unless cancelled).
    void end(Status st, bool remove_tmp);
    bool stop_if_cancelled();
};

StateSaver::StateSaver(uv_loop_t* loop, std::string path)
    : loop_(loop), path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid()) + ".bg") {}

StateSaver::~StateSaver() { cancel(); }

bool StateSaver::start(std::unique_ptr<StateWriter> writer, std::function<void(Status)> done) {
    if (busy()) return false;
    job_ = std::make_shared<Job>();
    job_->loop = loop_;
    job_->path = path_;
    job_->tmp = tmp_;
    job_->dir = folder_of(path_);
    job_->writer = std::move(writer);
    job_->done = std::move(done);
    job_->open_tmp();
    return true;
}

bool StateSaver::busy() const { return job_ && !job_->finished; }

void StateSaver::cancel() {
    if (!job_) return;
    job_->cancelled = true; // the next callback closes and removes; the writer is not used again
    job_.reset();
}

bool StateSaver::Job::stop_if_cancelled() {
    if (!cancelled) return false;
    end(ok_status(), true);
    return true;
}

void StateSaver::Job::end(Status st, bool remove_tmp) {
    finished = true;
    writer.reset();
    auto self = shared_from_this();
    auto report = [self, st = std::move(st), remove_tmp]() mutable {
        if (remove_tmp)
            fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_unlink(self->loop, r, self->tmp.c_str(), cb); },
                      [](uv_fs_t*) {});
        if (self->cancelled || !self->done) return;
        auto d = std::move(self->done);
        d(std::move(st));
    };
    if (fd < 0) return report();
    const uv_file f = fd;
    fd = -1;
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_close(loop, r, f, cb); },
              [report = std::move(report)](uv_fs_t*) mutable { report(); });
}

void StateSaver::Job::open_tmp() {
    auto self = shared_from_this();
    fsr::call(
        [&](uv_fs_t* r, uv_fs_cb cb) {
            return uv_fs_open(loop, r, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, cb);
        },
        [self](uv_fs_t* r) {
            if (r->result >= 0) self->fd = static_cast<uv_file>(r->result);
            if (self->stop_if_cancelled()) return;
            if (r->result < 0) return self->end(fs_error("open", self->tmp, r->result), false);
            self->write_next();
        });
}

// One part per loop turn: produce (bounded CPU), then write it (threadpool), then the next from its callback.
void StateSaver::Job::write_next() {
    if (part_off == part.size()) {
        if (!more) return sync_and_close();
        part.clear();
        part_off = 0;
        more = writer->next(part, kStateChunk);
        if (part.empty()) return write_next();
    }
    auto self = shared_from_this();
    uv_buf_t b = uv_buf_init(part.data() + part_off, static_cast<unsigned>(part.size() - part_off));
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_write(loop, r, fd, &b, 1, file_off, cb); },
              [self](uv_fs_t* r) {
                  if (self->stop_if_cancelled()) return;
                  if (r->result <= 0)
                      return self->end(
                          fs_error("write", self->tmp, r->result < 0 ? static_cast<long>(r->result) : long{UV_EIO}),
                          true);
                  self->part_off += static_cast<std::size_t>(r->result);
                  self->file_off += r->result;
                  self->write_next();
              });
}

void StateSaver::Job::sync_and_close() {
    writer.reset(); // done with the store and catalog
    part = std::string();
    auto self = shared_from_this();
    fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fsync(loop, r, fd, cb); },
              [self](uv_fs_t* r) {
                  if (self->stop_if_cancelled()) return;
                  if (r->result < 0) return self->end(fs_error("fsync", self->tmp, r->result), true);
                  const uv_file f = self->fd;
                  self->fd = -1;
                  fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_close(self->loop, r2, f, cb); },
                            [self](uv_fs_t* r2) {
                                if (self->stop_if_cancelled()) return;
                                if (r2->result < 0) return self->end(fs_error("close", self->tmp, r2->result), true);
                                self->rename_into_place();
                            });
              });
}

// On the loop thread, not the threadpool: a synchronous save() (exit) cancels this job and renames its own file;
// a rename of ours still in flight on the pool could then land after it and put the older document back. A
// rename is one metadata update; the slow part, the folder's fsync, stays on the pool.
void StateSaver::Job::rename_into_place() {
    if (stop_if_cancelled()) return;
    uv_fs_t req;
    const int rc = uv_fs_rename(loop, &req, tmp.c_str(), path.c_str(), nullptr);
    uv_fs_req_cleanup(&req);
    if (rc < 0) return end(fs_error("rename", tmp, rc), true);
    sync_dir();
}

// The rename is durable only once the folder itself is synced.
void StateSaver::Job::sync_dir() {
    auto self = shared_from_this();
    fsr::call([&](uv_fs_t* r,
                  uv_fs_cb cb) { return uv_fs_open(loop, r, dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, cb); },
              [self](uv_fs_t* r) {
                  if (r->result < 0) return self->end(fs_error("open", self->dir, r->result), false);
                  self->fd = static_cast<uv_file>(r->result);
                  fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_fsync(self->loop, r2, self->fd, cb); },
                            [self](uv_fs_t* r2) {
                                self->end(r2->result < 0 ? Status(fs_error("fsync", self->dir, r2->result))
                                                         : ok_status(),
                                          false);
                            });
              });
}

} // namespace p2p
