#include "storage/placement.hpp"

#include <algorithm>
#include <memory>

#include "base/log.hpp"

namespace p2p {

namespace {

constexpr unsigned kMaxFreeName = 999; // readme.999.txt is the last name tried
constexpr unsigned kProbeBatch = 16;   // names lstat'ed at once

struct Prepare : std::enable_shared_from_this<Prepare> {
    Storage& storage;
    const Metainfo& meta;
    bool overwrite;
    std::function<void(Result<PlacementOutcome>)> done;

    ResumeState resume;
    std::vector<FileStamp> on_disk; // per file, from inspect()
    std::vector<bool> have;
    bool foreign = false;    // what is there is not this torrent's data
    bool wrong_kind = false; // ... and not even of the right kind (a folder where a file goes): never overwritten
    std::string why;         // the first reason found
    PlacementOutcome outcome;
    unsigned next_name = 1;

    Prepare(Storage& s, const Metainfo& m, bool ow, std::function<void(Result<PlacementOutcome>)> d)
        : storage(s), meta(m), overwrite(ow), done(std::move(d)) {}

    void not_ours(std::string reason, bool kind = false) {
        if (!foreign) why = std::move(reason);
        foreign = true;
        wrong_kind = wrong_kind || kind;
    }

    void run() {
        auto job = shared_from_this();
        storage.load_resume([job](ResumeState rs) { job->resumed(std::move(rs)); });
    }

    void resumed(ResumeState rs) {
        resume = std::move(rs);
        if (resume.valid) return open(resume.have, false, false);
        auto job = shared_from_this();
        storage.inspect([job](std::vector<FileStamp> st) { job->inspected(std::move(st)); });
    }

    void inspected(std::vector<FileStamp> st) {
        const FileStamp top = st.back();
        st.pop_back();
        on_disk = std::move(st);
        const std::string name = storage.save_name();
        bool any = false;
        if (meta.multi_file && top.size >= 0) not_ours(name + " is a file; this torrent is a folder", true);
        for (std::size_t i = 0; i < on_disk.size(); ++i) {
            if (on_disk[i].size == kStampMissing) continue;
            any = true;
            if (on_disk[i].size == kStampNotRegular) not_ours(storage.file_path(i) + " is not a regular file", true);
        }
        have.assign(meta.piece_count(), false);
        if (foreign) return decide();
        if (!any) return open(have, true, false); // a fresh download (an existing empty folder is fine)
        auto job = shared_from_this();
        storage.verify_existing([job](std::uint32_t i, bool ok) { job->have[i] = ok; },
                                [job](Status s) { job->verified(std::move(s)); });
    }

    // Whether a verified piece covers any of file i's first `extent` bytes.
    bool overlaps_verified(std::size_t i, std::int64_t extent) const {
        std::int64_t off = 0;
        for (std::size_t k = 0; k < i; ++k) off += meta.files[k].length;
        extent = std::min(extent, meta.files[i].length);
        if (extent <= 0) return false;
        const auto first = static_cast<std::uint32_t>(off / meta.piece_length);
        const auto last = static_cast<std::uint32_t>((off + extent - 1) / meta.piece_length);
        for (std::uint32_t p = first; p <= last && p < have.size(); ++p)
            if (have[p]) return true;
        return false;
    }

    void verified(Status st) {
        if (!st) {
            not_ours("cannot check what is there: " + st.error().str(), st.error().code == Errc::refused);
            return decide();
        }
        for (std::size_t i = 0; i < on_disk.size(); ++i) {
            const std::int64_t size = on_disk[i].size, want = meta.files[i].length;
            if (size > want)
                not_ours(storage.file_path(i) + " is longer than the torrent's file (" + std::to_string(size) + " > " +
                         std::to_string(want) + " bytes)");
            // A non-empty file of ours may hold nothing verified yet (killed before its first piece landed).
            else if (!resume.found && size > 0 && !overlaps_verified(i, size))
                not_ours(storage.file_path(i) + " holds other data (no piece of the torrent matches it)");
        }
        decide();
    }

    void decide() {
        if (!foreign) {
            const auto kept = std::count(have.begin(), have.end(), true);
            if (kept > 0)
                outcome.note = "kept " + std::to_string(kept) + " of " + std::to_string(have.size()) +
                               " pieces already at " + storage.save_name();
            return open(have, true, false);
        }
        if (overwrite && !wrong_kind) {
            outcome.note = "overwriting " + storage.save_name() + " (--overwrite): " + why;
            return open(have, true, true);
        }
        have.assign(meta.piece_count(), false);
        probe();
    }

    void probe() {
        if (next_name > kMaxFreeName)
            return done(make_error("download " + meta.name,
                                   "no free name up to ." + std::to_string(kMaxFreeName) + " for it: " + why,
                                   Errc::refused));
        auto names = free_name_candidates(meta.name, meta.multi_file, next_name,
                                          std::min(kMaxFreeName, next_name + kProbeBatch - 1));
        next_name += kProbeBatch;
        auto job = shared_from_this();
        storage.probe_names(names, [job, names](std::vector<FileStamp> st) {
            for (std::size_t i = 0; i < st.size(); ++i) {
                if (st[i].size != kStampMissing) continue;
                job->outcome.renamed = true;
                job->outcome.note = job->why + " (--overwrite replaces it)";
                job->storage.set_save_name(names[i]);
                return job->open(job->have, true, false);
            }
            job->probe();
        });
    }

    void open(const std::vector<bool>& bits, bool record, bool truncate_longer) {
        outcome.have = bits;
        const bool complete = std::find(bits.begin(), bits.end(), false) == bits.end() && !bits.empty();
        auto job = shared_from_this();
        // A longer file being overwritten is cut to length by the download mode's open, even when complete.
        const OpenMode mode = complete && !truncate_longer ? OpenMode::seed : OpenMode::download;
        storage.open(
            mode,
            [job, record, complete](Status st) {
                if (!st) return job->done(st.error());
                if (!record || complete) return job->done(std::move(job->outcome));
                // The files are ours from now on: say so on disk before the first piece lands.
                job->storage.save_resume(job->outcome.have, [job](Status s2) {
                    if (!s2) log_warn("storage", job->meta.name + ": recording the download: " + s2.error().str());
                    job->done(std::move(job->outcome));
                });
            },
            truncate_longer);
    }
};

} // namespace

std::vector<std::string> free_name_candidates(const std::string& name, bool is_folder, unsigned first, unsigned last) {
    std::string stem = name, ext;
    const auto dot = name.rfind('.');
    if (!is_folder && dot != std::string::npos && dot > 0 && dot + 1 < name.size()) {
        stem = name.substr(0, dot);
        ext = name.substr(dot);
    }
    std::vector<std::string> out;
    for (unsigned n = first; n <= last; ++n) out.push_back(stem + "." + std::to_string(n) + ext);
    return out;
}

void prepare_download(Storage& storage, const Metainfo& meta, bool overwrite,
                      std::function<void(Result<PlacementOutcome>)> done) {
    std::make_shared<Prepare>(storage, meta, overwrite, std::move(done))->run();
}

} // namespace p2p
