#include "storage/path_safety.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <memory>

#include "loop/fs_req.hpp"

namespace p2p {

Result<std::vector<std::string>> file_components(const Metainfo& m, std::size_t i) {
    if (i >= m.files.size()) return make_error("storage.path", "no file " + std::to_string(i), Errc::bad_input);
    std::vector<std::string> comps;
    comps.push_back(m.name);
    if (m.multi_file) {
        if (m.files[i].path.empty())
            return make_error("storage.path", "file " + std::to_string(i) + " has an empty path", Errc::refused);
        for (const auto& c : m.files[i].path) comps.push_back(c);
    }
    for (const auto& c : comps)
        if (auto st = check_path_component(c); !st)
            return make_error("storage.path",
                              "unsafe path component \"" + c + "\" in file " + std::to_string(i) + ": " +
                                  st.error().what,
                              Errc::refused);
    return comps;
}

std::string join_path(const std::string& root, const std::vector<std::string>& comps, std::size_t n) {
    std::string out = root;
    if (n > comps.size()) n = comps.size();
    for (std::size_t k = 0; k < n; ++k) {
        if (out.empty() || out.back() != '/') out += '/';
        out += comps[k];
    }
    return out;
}

namespace {

// Walks the prefixes of a path one async step at a time. Owned by the shared_ptr captured in each request's
// completion; freed when the last step finishes.
struct MkdirWalk : std::enable_shared_from_this<MkdirWalk> {
    uv_loop_t* loop;
    std::vector<std::string> prefixes;
    std::size_t at = 0;
    std::function<void(Status)> done;

    void step() {
        if (at == prefixes.size()) return done(ok_status());
        auto self = shared_from_this();
        const std::string& p = prefixes[at];
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_mkdir(loop, r, p.c_str(), 0755, cb); },
                  [self](uv_fs_t* r) {
                      if (r->result < 0 && r->result != UV_EEXIST)
                          return self->done(fsr::uv_error("mkdir", self->prefixes[self->at], r->result));
                      ++self->at;
                      self->step();
                  });
    }
};

struct ParentWalk : std::enable_shared_from_this<ParentWalk> {
    uv_loop_t* loop;
    std::string root;
    std::vector<std::string> comps;
    bool create = false;
    std::size_t at = 1; // number of components in the prefix being checked
    std::function<void(Status)> done;

    void step() {
        if (at >= comps.size()) return done(ok_status()); // the last component is the file: O_NOFOLLOW covers it
        auto self = shared_from_this();
        std::string p = join_path(root, comps, at);
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_lstat(loop, r, p.c_str(), cb); },
                  [self, p](uv_fs_t* r) {
                      if (r->result == UV_ENOENT) {
                          if (!self->create) return self->done(fsr::uv_error("open", p, UV_ENOENT));
                          return self->make(p);
                      }
                      if (r->result < 0) return self->done(fsr::uv_error("lstat", p, r->result));
                      const auto mode = r->statbuf.st_mode;
                      if (S_ISLNK(mode))
                          return self->done(make_error(
                              "open " + p, "refusing to follow a symlink inside the download folder", Errc::refused));
                      if (!S_ISDIR(mode)) return self->done(make_error("open " + p, "not a directory", Errc::refused));
                      ++self->at;
                      self->step();
                  });
    }
    void make(const std::string& p) {
        auto self = shared_from_this();
        fsr::call([&](uv_fs_t* r, uv_fs_cb cb) { return uv_fs_mkdir(loop, r, p.c_str(), 0755, cb); },
                  [self, p](uv_fs_t* r) {
                      // EEXIST: someone created it meanwhile; re-check it with lstat (it could be a link).
                      if (r->result < 0 && r->result != UV_EEXIST)
                          return self->done(fsr::uv_error("mkdir", p, r->result));
                      if (r->result == 0) ++self->at; // we made it ourselves: a real directory
                      self->step();
                  });
    }
};

} // namespace

void make_root_dirs(uv_loop_t* loop, std::string root, std::function<void(Status)> done) {
    auto w = std::make_shared<MkdirWalk>();
    w->loop = loop;
    w->done = std::move(done);
    for (std::size_t i = 1; i <= root.size(); ++i)
        if (i == root.size() || root[i] == '/')
            if (root[i - 1] != '/') w->prefixes.push_back(root.substr(0, i));
    w->step();
}

void check_parents(uv_loop_t* loop, std::string root, std::vector<std::string> comps, bool create,
                   std::function<void(Status)> done) {
    auto w = std::make_shared<ParentWalk>();
    w->loop = loop;
    w->root = std::move(root);
    w->comps = std::move(comps);
    w->create = create;
    w->done = std::move(done);
    w->step();
}

} // namespace p2p
