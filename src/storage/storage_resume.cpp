// Storage: the resume record (resume.hpp) — saved as a chain of named steps, loaded and checked against the
// files. A record also says the files are ours: a download only ever repairs or extends files it has a record
// for (placement.hpp), and it remembers the free name a download was given.
#include <sys/stat.h>

#include "base/bytes.hpp"
#include "storage/path_safety.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// One save: flush the written files, stat them, make the record folder (a real folder, not a planted link),
// then write the record atomically within a descriptor slot. Each step runs when the one before succeeded; any
// failure ends the save with its error. Held by the pending libuv requests; the user callback goes through the
// storage's post, so it never runs after the Storage is destroyed.
struct SaveResume : std::enable_shared_from_this<SaveResume> {
    std::shared_ptr<Storage::Impl> self;
    std::vector<bool> have;
    bool complete = false; // every piece: the record seals the files
    std::function<void(Status)> done;
    std::string dir, name, text;

    void fail(Error e) { self->deliver(std::move(done), std::move(e)); }

    void stamp_files() {
        auto job = shared_from_this();
        stat_files(self->loop, self->file_paths(),
                   [job](std::vector<FileStamp> stamps) { job->encode(std::move(stamps)); });
    }
    void encode(std::vector<FileStamp> stamps) {
        if (complete) self->seal(stamps); // what we serve from now on must still look like this
        ResumeData rd{self->meta.info_hash, self->meta.piece_count(), std::move(have), std::move(stamps), {}, {}, {}};
        if (self->meta.name != self->placement_name) rd.save_name = self->meta.name;
        if (std::find(self->wanted.begin(), self->wanted.end(), false) != self->wanted.end()) rd.wanted = self->wanted;
        for (const auto& [f, p] : self->in_parts) rd.parts.emplace_back(static_cast<std::uint32_t>(f), p);
        text = encode_resume(rd);
        auto job = shared_from_this();
        make_root_dirs(self->loop, dir, [job](Status st) {
            if (!st.ok()) return job->fail(st.error());
            job->check_folder();
        });
    }
    void check_folder() {
        auto job = shared_from_this();
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_lstat(self->loop, r, dir.c_str(), cb); },
                  [job](uv_fs_t* r) {
                      if (r->result < 0 || !S_ISDIR(r->statbuf.st_mode))
                          return job->fail(make_error("save_resume " + job->dir, "not a directory", Errc::refused));
                      job->write();
                  });
    }
    void write() {
        auto job = shared_from_this();
        self->with_fd_slot([job](std::function<void()> release) {
            write_file_atomic(job->self->loop, job->dir, job->name, std::move(job->text), [job, release](Status st) {
                release();
                job->self->deliver(std::move(job->done), std::move(st));
            });
        });
    }
};

} // namespace

std::string Storage::resume_path() const {
    return impl_->root + "/.p2pnode/" + to_hex(impl_->meta.info_hash) + ".resume";
}

void Storage::save_resume(std::vector<bool> have, std::function<void(Status)> done) {
    auto self = impl_;
    if (self->explicit_paths())
        return self->deliver(std::move(done),
                             make_error("save_resume", "a shared item keeps no resume record", Errc::unsupported));
    if (have.size() != self->meta.piece_count())
        return self->deliver(std::move(done),
                             make_error("save_resume",
                                        "bitfield has " + std::to_string(have.size()) + " pieces, expected " +
                                            std::to_string(self->meta.piece_count()),
                                        Errc::bad_input));
    auto job = std::make_shared<SaveResume>();
    job->self = self;
    job->complete = std::find(have.begin(), have.end(), false) == have.end();
    job->have = std::move(have);
    job->done = std::move(done);
    job->dir = self->root + "/.p2pnode";
    job->name = to_hex(self->meta.info_hash) + ".resume";
    auto start = [this, job]() {
        flush([job](Status st) {
            if (!st) return job->done(std::move(st)); // already on a later loop turn
            job->stamp_files();
        });
    };
    // A complete download's record seals its files, so each must exist first: open() returned before the folders'
    // later files were made (storage_open.cpp). An earlier record needs no wait: any stamp it holds of a file
    // not yet made only makes a load re-check the pieces, as any write since the save would.
    if (job->complete && self->making)
        return self->when_made([start, job](Status st) {
            if (!st) return job->done(std::move(st)); // already on a later loop turn (delivered)
            start();
        });
    start();
}

void Storage::load_resume(std::function<void(ResumeState)> done) {
    auto self = impl_;
    auto finish = [self, done = std::move(done)](ResumeState rs) {
        self->post([done, rs = std::move(rs)]() mutable { done(std::move(rs)); });
    };
    if (self->explicit_paths()) return finish(ResumeState{false, false, {}, "a shared item keeps no resume record"});
    self->with_fd_slot([self, path = resume_path(), finish](std::function<void()> release) {
        read_small_file(self->loop, path, kMaxResumeFileSize, [self, finish, release](Status st, std::string text) {
            release();
            if (!st.ok())
                return finish(ResumeState{
                    false, false, {}, st.error().code == Errc::not_found ? "no resume file" : st.error().str()});
            auto rd = decode_resume(text);
            if (!rd) return finish(ResumeState{false, false, {}, rd.error().str()});
            if (rd->info_hash != self->meta.info_hash || rd->piece_count != self->meta.piece_count() ||
                rd->files.size() != self->meta.files.size())
                return finish(ResumeState{false, false, {}, "resume file is for another torrent"});
            // The selection it recorded (unless the user gave one now) and where the side file's bytes belong.
            if (!self->selection_from_user && !rd->wanted.empty()) self->wanted = rd->wanted;
            self->in_parts.clear();
            for (const auto& [f, p] : rd->parts) self->in_parts.insert({f, p});
            // Our files are where the record says: under the free name a download was given, if it was.
            if (!rd->save_name.empty() && self->meta.name != rd->save_name) {
                self->meta.name = rd->save_name;
                self->compute_paths();
            }
            auto data = std::make_shared<ResumeData>(std::move(*rd));
            stat_files(self->loop, self->file_paths(), [self, data, finish](std::vector<FileStamp> now) {
                for (std::size_t i = 0; i < now.size(); ++i) {
                    const FileStamp& was = data->files[i];
                    if (now[i] != was)
                        return finish(ResumeState{false,
                                                  true,
                                                  {},
                                                  "file " + std::to_string(i) + " changed: size " +
                                                      std::to_string(was.size) + " -> " + std::to_string(now[i].size) +
                                                      ", mtime_ns " + std::to_string(was.mtime_ns) + " -> " +
                                                      std::to_string(now[i].mtime_ns)});
                }
                const bool complete = std::find(data->have.begin(), data->have.end(), false) == data->have.end();
                if (complete) self->seal(data->files);
                finish(ResumeState{true, true, std::move(data->have), {}});
            });
        });
    });
}

} // namespace p2p
