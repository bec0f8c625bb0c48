// A torrent's files as a whole: per-file progress, and deleting a download's files. See torrent_files.hpp.
#include "session/torrent_files.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include "loop/fs_req.hpp"

namespace p2p {

std::vector<FileProgress> file_progress(const Metainfo& m, const swarm::Bitfield& have) {
    std::vector<FileProgress> out;
    const std::uint64_t plen = static_cast<std::uint64_t>(m.piece_length);
    for (std::size_t i = 0; i < m.files.size(); ++i) {
        const FileEntry& f = m.files[i];
        FileProgress p;
        p.index = i;
        for (const auto& c : f.path) p.path += (p.path.empty() ? "" : "/") + c;
        p.size = static_cast<std::uint64_t>(f.length);
        const std::uint64_t begin = static_cast<std::uint64_t>(f.offset), end = begin + p.size;
        if (p.size > 0 && plen > 0) {
            // Each piece overlapping [begin, end) adds its overlap when we have it.
            for (std::uint64_t piece = begin / plen; piece * plen < end && piece < have.size(); ++piece) {
                if (!have.get(static_cast<std::uint32_t>(piece))) continue;
                const std::uint64_t pb = piece * plen, pe = pb + plen;
                p.done += std::min(end, pe) - std::max(begin, pb);
            }
        }
        out.push_back(std::move(p));
    }
    return out;
}

Result<std::vector<bool>> select_files(const Metainfo& m, const std::vector<std::string>& specs) {
    std::vector<bool> out(m.files.size(), false);
    auto path_of = [&m](std::size_t i) {
        std::string p;
        for (const auto& c : m.files[i].path) p += (p.empty() ? "" : "/") + c;
        return p;
    };
    for (const std::string& spec : specs) {
        const bool numeric = !spec.empty() && spec.find_first_not_of("0123456789,") == std::string::npos;
        if (!numeric) {
            bool found = false;
            for (std::size_t i = 0; i < m.files.size(); ++i)
                if (path_of(i) == spec) out[i] = found = true;
            if (!found) return make_error("--select-file " + spec, m.name + " has no such file", Errc::bad_input);
            continue;
        }
        std::size_t at = 0;
        while (at <= spec.size()) {
            const std::size_t comma = std::min(spec.find(',', at), spec.size());
            const std::string num = spec.substr(at, comma - at);
            if (num.empty() || num.size() > 9)
                return make_error("--select-file " + spec, "not a file index list", Errc::bad_input);
            const std::size_t i = std::stoul(num);
            if (i >= m.files.size())
                return make_error("--select-file " + spec,
                                  m.name + " has " + std::to_string(m.files.size()) + " file(s): indices 0-" +
                                      std::to_string(m.files.size() - 1),
                                  Errc::bad_input);
            out[i] = true;
            at = comma + 1;
        }
    }
    return out;
}

std::vector<std::string> folders_of(const std::string& top, const std::vector<std::string>& files) {
    std::set<std::string> dirs;
    const std::string prefix = top + "/";
    for (const auto& f : files) {
        if (f.compare(0, prefix.size(), prefix) != 0) continue;
        dirs.insert(top);
        for (std::size_t at = f.find('/', prefix.size()); at != std::string::npos; at = f.find('/', at + 1))
            dirs.insert(f.substr(0, at));
    }
    std::vector<std::string> out(dirs.begin(), dirs.end());
    // Deepest first: a longer path under the same prefix sorts after its parent, so reverse order works.
    std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
        return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
    });
    return out;
}

namespace {
struct Removal {
    uv_loop_t* loop;
    TorrentFiles what;
    std::size_t next = 0; // files first, then dirs
    Status first_error = ok_status();
    std::function<void(Status)> done;
};

void step(std::shared_ptr<Removal> r) {
    const std::size_t nf = r->what.files.size();
    if (r->next >= nf + r->what.dirs.size()) return r->done(r->first_error);
    const std::size_t i = r->next++;
    const bool is_file = i < nf;
    const std::string path = is_file ? r->what.files[i] : r->what.dirs[i - nf];
    fsr::call(
        [&](uv_fs_t* req, uv_fs_cb cb) {
            return is_file ? uv_fs_unlink(r->loop, req, path.c_str(), cb) : uv_fs_rmdir(r->loop, req, path.c_str(), cb);
        },
        [r, path, is_file](uv_fs_t* req) {
            const long res = static_cast<long>(req->result);
            // A file already gone is fine; a folder that is not empty holds something of the user's: kept.
            if (res < 0 && res != UV_ENOENT && !(res == UV_ENOTEMPTY || res == UV_EEXIST) && r->first_error)
                r->first_error = fsr::uv_error(is_file ? "unlink" : "rmdir", path, res);
            step(r);
        });
}
} // namespace

void remove_torrent_files(uv_loop_t* loop, TorrentFiles what, std::function<void(Status)> done) {
    auto r = std::make_shared<Removal>(Removal{loop, std::move(what), 0, ok_status(), std::move(done)});
    step(std::move(r));
}

} // namespace p2p
