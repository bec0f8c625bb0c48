#include "storage/resume.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/bytes.hpp"
#include "loop/fs_req.hpp"
#include "loop/work_req.hpp"
#include "proto/metainfo.hpp"

namespace p2p {

std::string encode_resume(const ResumeData& r) {
    std::string bits((r.have.size() + 7) / 8, '\0');
    for (std::size_t i = 0; i < r.have.size(); ++i)
        if (r.have[i]) bits[i / 8] = static_cast<char>(static_cast<unsigned char>(bits[i / 8]) | (0x80u >> (i % 8)));
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r.files) files.push_back({f.size, f.mtime_ns});
    nlohmann::json j = {{"p2pnode_resume", 1},
                        {"info_hash", to_hex(r.info_hash)},
                        {"piece_count", r.piece_count},
                        {"have", to_hex(bits)},
                        {"files", std::move(files)}};
    if (!r.save_name.empty()) j["save_name_hex"] = to_hex(r.save_name);
    if (!r.wanted.empty()) {
        std::string w;
        for (bool b : r.wanted) w += b ? '1' : '0';
        j["wanted"] = w;
    }
    if (!r.parts.empty()) {
        nlohmann::json parts = nlohmann::json::array();
        for (const auto& [f, p] : r.parts) parts.push_back({f, p});
        j["parts"] = std::move(parts);
    }
    return j.dump();
}

Result<ResumeData> decode_resume(std::string_view text) {
    auto bad = [](std::string what) { return make_error("resume.decode", std::move(what), Errc::bad_input); };
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    auto ver = j.find("p2pnode_resume");
    if (ver == j.end() || !ver->is_number_integer() || ver->get<std::int64_t>() != 1) return bad("unknown version");
    auto ih = j.find("info_hash");
    auto pc = j.find("piece_count");
    auto have = j.find("have");
    auto files = j.find("files");
    if (ih == j.end() || !ih->is_string() || pc == j.end() || !pc->is_number_unsigned() || have == j.end() ||
        !have->is_string() || files == j.end() || !files->is_array())
        return bad("missing or mistyped field");
    ResumeData r;
    if (!from_hex(ih->get_ref<const std::string&>(), r.info_hash) || r.info_hash.size() != 20)
        return bad("bad info_hash");
    const auto count = pc->get<std::uint64_t>();
    if (count > 0xffffffffu) return bad("piece_count too large");
    r.piece_count = static_cast<std::uint32_t>(count);
    std::string bits;
    if (!from_hex(have->get_ref<const std::string&>(), bits) || bits.size() != (count + 7) / 8)
        return bad("have bitfield has the wrong size");
    r.have.resize(count);
    for (std::size_t i = 0; i < count; ++i) r.have[i] = (static_cast<unsigned char>(bits[i / 8]) >> (7 - i % 8)) & 1u;
    for (const auto& f : *files) {
        if (!f.is_array() || f.size() != 2 || !f[0].is_number_integer() || !f[1].is_number_integer())
            return bad("bad file entry");
        r.files.push_back(FileStamp{f[0].get<std::int64_t>(), f[1].get<std::int64_t>()});
    }
    if (auto sn = j.find("save_name_hex"); sn != j.end()) {
        if (!sn->is_string() || !from_hex(sn->get_ref<const std::string&>(), r.save_name) || r.save_name.empty())
            return bad("bad save_name_hex");
        if (auto ok = check_path_component(r.save_name); !ok) return bad("save name: " + ok.error().what);
    }
    if (auto w = j.find("wanted"); w != j.end()) {
        if (!w->is_string() || w->get_ref<const std::string&>().size() != r.files.size()) return bad("bad wanted");
        for (char c : w->get_ref<const std::string&>()) {
            if (c != '0' && c != '1') return bad("bad wanted");
            r.wanted.push_back(c == '1');
        }
    }
    if (auto parts = j.find("parts"); parts != j.end()) {
        if (!parts->is_array()) return bad("bad parts");
        for (const auto& e : *parts) {
            if (!e.is_array() || e.size() != 2 || !e[0].is_number_unsigned() || !e[1].is_number_unsigned() ||
                e[0].get<std::uint64_t>() >= r.files.size() || e[1].get<std::uint64_t>() >= count)
                return bad("bad parts entry");
            r.parts.emplace_back(e[0].get<std::uint32_t>(), e[1].get<std::uint32_t>());
        }
    }
    return r;
}

namespace {

struct AtomicWrite : std::enable_shared_from_this<AtomicWrite> {
    uv_loop_t* loop;
    std::string dir, tmp, final_path, bytes;
    std::size_t written = 0;
    uv_file fd = -1;
    std::function<void(Status)> done;

    // `done` runs once our descriptor is closed: a caller counting descriptors (FdCache::acquire_slot) may hand
    // the slot on at once.
    void fail(const char* op, const std::string& path, long code) {
        auto d = std::move(done);
        Status st = fsr::uv_error(op, path, code);
        if (fd < 0) return d(std::move(st));
        const uv_file f = fd;
        fd = -1;
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_close(loop, r, f, cb); },
                  [d = std::move(d), st = std::move(st)](uv_fs_t*) mutable { d(std::move(st)); });
    }
    void start() {
        auto self = shared_from_this();
        fsr::call(
            [&](uv_fs_t* r, uv_fs_cb cb) {
                return uv_fs_open(loop, r, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644,
                                  cb);
            },
            [self](uv_fs_t* r) {
                if (r->result < 0) return self->fail("open", self->tmp, r->result);
                self->fd = static_cast<uv_file>(r->result);
                self->write_more();
            });
    }
    void write_more() {
        auto self = shared_from_this();
        if (written == bytes.size()) return sync_file();
        uv_buf_t b = uv_buf_init(bytes.data() + written, static_cast<unsigned>(bytes.size() - written));
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_write(loop, r, fd, &b, 1, std::int64_t(written), cb); },
                  [self](uv_fs_t* r) {
                      if (r->result < 0) return self->fail("write", self->tmp, r->result);
                      if (r->result == 0) return self->fail("write", self->tmp, UV_EIO);
                      self->written += static_cast<std::size_t>(r->result);
                      self->write_more();
                  });
    }
    void sync_file() {
        auto self = shared_from_this();
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_fsync(loop, r, fd, cb); },
                  [self](uv_fs_t* r) {
                      if (r->result < 0) return self->fail("fsync", self->tmp, r->result);
                      const uv_file f = self->fd;
                      self->fd = -1;
                      fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_close(self->loop, r2, f, cb); },
                                [self](uv_fs_t* r2) {
                                    if (r2->result < 0) return self->fail("close", self->tmp, r2->result);
                                    self->rename();
                                });
                  });
    }
    void rename() {
        auto self = shared_from_this();
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_rename(loop, r, tmp.c_str(), final_path.c_str(), cb); },
                  [self](uv_fs_t* r) {
                      if (r->result < 0) return self->fail("rename", self->final_path, r->result);
                      self->sync_dir();
                  });
    }
    // The rename is durable only once the folder itself is synced.
    void sync_dir() {
        auto self = shared_from_this();
        fsr::call(
            [&](uv_fs_t* r, uv_fs_cb cb) {
                return uv_fs_open(loop, r, dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, cb);
            },
            [self](uv_fs_t* r) {
                if (r->result < 0) return self->fail("open", self->dir, r->result);
                self->fd = static_cast<uv_file>(r->result);
                fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_fsync(self->loop, r2, self->fd, cb); },
                          [self](uv_fs_t* r2) {
                              if (r2->result < 0) return self->fail("fsync", self->dir, r2->result);
                              const uv_file f = self->fd;
                              self->fd = -1;
                              fsr::call([&](uv_fs_t* r3, uv_fs_cb cb) { return uv_fs_close(self->loop, r3, f, cb); },
                                        [self](uv_fs_t*) {
                                            auto d = std::move(self->done);
                                            d(ok_status());
                                        });
                          });
            });
    }
};

struct SmallRead : std::enable_shared_from_this<SmallRead> {
    uv_loop_t* loop;
    std::string path;
    std::size_t max_size;
    uv_file fd = -1;
    std::string data;
    std::size_t got = 0;
    std::function<void(Status, std::string)> done;

    // `done` runs once the descriptor is closed (see AtomicWrite::fail).
    void finish(Status st) {
        auto d = std::move(done);
        std::string out = st.ok() ? std::move(data) : std::string();
        if (fd < 0) return d(std::move(st), std::move(out));
        const uv_file f = fd;
        fd = -1;
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_close(loop, r, f, cb); },
                  [d = std::move(d), st = std::move(st), out = std::move(out)](uv_fs_t*) mutable {
                      d(std::move(st), std::move(out));
                  });
    }
    void start() {
        auto self = shared_from_this();
        fsr::call(
            [&](uv_fs_t* r, uv_fs_cb cb) {
                return uv_fs_open(loop, r, path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0, cb);
            },
            [self](uv_fs_t* r) {
                if (r->result < 0) return self->finish(fsr::uv_error("open", self->path, r->result));
                self->fd = static_cast<uv_file>(r->result);
                fsr::call([&](uv_fs_t* r2, uv_fs_cb cb) { return uv_fs_fstat(self->loop, r2, self->fd, cb); },
                          [self](uv_fs_t* r2) {
                              if (r2->result < 0) return self->finish(fsr::uv_error("fstat", self->path, r2->result));
                              if (r2->statbuf.st_size > self->max_size)
                                  return self->finish(make_error("read " + self->path, "file too large", Errc::io));
                              self->data.resize(r2->statbuf.st_size);
                              self->read_more();
                          });
            });
    }
    void read_more() {
        if (got == data.size()) return finish(ok_status());
        auto self = shared_from_this();
        uv_buf_t b = uv_buf_init(data.data() + got, static_cast<unsigned>(data.size() - got));
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_read(loop, r, fd, &b, 1, std::int64_t(got), cb); },
                  [self](uv_fs_t* r) {
                      if (r->result < 0) return self->finish(fsr::uv_error("read", self->path, r->result));
                      if (r->result == 0) { // shrank while we read: use what is there
                          self->data.resize(self->got);
                          return self->finish(ok_status());
                      }
                      self->got += static_cast<std::size_t>(r->result);
                      self->read_more();
                  });
    }
};

// lstat's the paths kChunk at a time in threadpool jobs, at most kJobs of them at once. One libuv request per
// path cost a loop wake-up and a thread hand-off each: for a folder of 2,000 files ~0.2 s before a download
// could start (placement's inspect), and again at every resume save (its stamps), for what are ~2 ms of system
// calls in a row.
struct StatMany : std::enable_shared_from_this<StatMany> {
    static constexpr std::size_t kChunk = 256; // paths per job
    static constexpr std::size_t kJobs = 2;    // jobs in flight at once (the pool is shared with reads and writes)
    uv_loop_t* loop;
    std::vector<std::string> paths;
    std::vector<FileStamp> out;
    std::size_t next = 0, pending = 0;
    std::function<void(std::vector<FileStamp>)> done;

    void pump() {
        while (pending < kJobs && next < paths.size()) {
            const std::size_t from = next, to = std::min(paths.size(), from + kChunk);
            next = to;
            ++pending;
            // The job's own copies: it runs on another thread while the loop may look at this object.
            auto part = std::make_shared<std::vector<std::string>>(paths.begin() + std::ptrdiff_t(from),
                                                                   paths.begin() + std::ptrdiff_t(to));
            auto got = std::make_shared<std::vector<FileStamp>>(to - from); // kStampMissing until found
            auto self = shared_from_this();
            work::queue(
                loop, "stat files",
                [part, got] {
                    for (std::size_t k = 0; k < part->size(); ++k) {
                        struct stat st {};
                        if (::lstat((*part)[k].c_str(), &st) != 0) continue;
                        if (S_ISREG(st.st_mode))
                            (*got)[k] = stamp_of(st);
                        else
                            (*got)[k].size = kStampNotRegular;
                    }
                },
                [self, from, got](int status) {
                    // A job the pool refused (a closing loop) reports its paths missing, as a failed lstat did.
                    if (status == 0) std::copy(got->begin(), got->end(), self->out.begin() + std::ptrdiff_t(from));
                    --self->pending;
                    self->pump();
                });
        }
        if (pending == 0 && next == paths.size() && done) {
            auto d = std::move(done);
            done = nullptr;
            d(std::move(out));
        }
    }
};

} // namespace

void write_file_atomic(uv_loop_t* loop, std::string dir, std::string name, std::string bytes,
                       std::function<void(Status)> done) {
    auto w = std::make_shared<AtomicWrite>();
    w->loop = loop;
    w->final_path = dir + "/" + name;
    w->tmp = w->final_path + ".tmp";
    w->dir = std::move(dir);
    w->bytes = std::move(bytes);
    w->done = std::move(done);
    w->start();
}

void read_small_file(uv_loop_t* loop, std::string path, std::size_t max_size,
                     std::function<void(Status, std::string)> done) {
    auto r = std::make_shared<SmallRead>();
    r->loop = loop;
    r->path = std::move(path);
    r->max_size = max_size;
    r->done = std::move(done);
    r->start();
}

void stat_files(uv_loop_t* loop, std::vector<std::string> paths, std::function<void(std::vector<FileStamp>)> done) {
    auto s = std::make_shared<StatMany>();
    s->loop = loop;
    s->out.resize(paths.size());
    s->paths = std::move(paths);
    s->done = std::move(done);
    s->pump();
}

} // namespace p2p
