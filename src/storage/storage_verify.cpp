// Storage: hash-checking every piece of what is on disk (a download's existing data, a stale resume record).
#include <map>
#include <optional>

#include "crypto/sha.hpp"
#include "storage/piece_hash.hpp"
#include "storage/storage_impl.hpp"

namespace p2p {

namespace {

// One verify_existing run: verify_window pieces read and hashed at a time, each reported as it finishes; held by
// its pending reads and hashes, so it finishes (or stops quietly) even if the Storage is destroyed meanwhile.
struct Verify : std::enable_shared_from_this<Verify> {
    std::shared_ptr<Storage::Impl> self;
    std::uint32_t next = 0, count = 0;
    std::size_t inflight = 0;
    std::optional<Error> err;
    std::function<void(std::uint32_t, bool)> per_piece;
    std::function<void(Status)> done;

    void pump() {
        while (!self->closed && !err && inflight < self->limits.verify_window && next < count) {
            const std::uint32_t i = next++;
            if (known_zeros(i)) { // same verdict as reading and hashing it, without the I/O
                report(i, zero_piece_ok(i));
                continue;
            }
            ++inflight;
            auto v = shared_from_this();
            self->read_whole(i, [v, i](Status st, std::shared_ptr<std::string> buf) {
                if (!st.ok()) {
                    if (soft_error(st))
                        v->report(i, false);
                    else if (!v->err)
                        v->err = st.error();
                    return v->finished_one();
                }
                hash_piece_async(v->self->loop, std::move(buf), std::string(v->self->meta.piece_hash(i)),
                                 [v, i](bool ok) {
                                     v->report(i, ok);
                                     v->finished_one();
                                 });
            });
        }
        if (inflight == 0 && done && (err || next >= count || self->closed)) {
            if (err) self->mark_failed(*err);
            auto d = std::move(done);
            done = nullptr;
            self->deliver(std::move(d), err ? Status(*err) : ok_status());
        }
    }
    void report(std::uint32_t i, bool ok) {
        if (per_piece) self->post([pp = per_piece, i, ok]() { pp(i, ok); });
    }
    bool known_zeros(std::uint32_t i) const {
        auto segs = map_range(self->meta, i, 0, piece_bytes(self->meta, i));
        if (!segs || segs->empty()) return false;
        for (const auto& s : *segs)
            if (s.file_offset < self->zeros_from[s.file]) return false;
        return true;
    }
    // A piece of zeros is still right if the torrent's data is zeros there: compare hashes, as reading would.
    std::map<std::int64_t, std::string> zero_hashes; // by piece size: at most 2 entries (full, last)
    bool zero_piece_ok(std::uint32_t i) {
        const std::int64_t len = piece_bytes(self->meta, i);
        auto it = zero_hashes.find(len);
        if (it == zero_hashes.end())
            it = zero_hashes.emplace(len, sha1(std::string(static_cast<std::size_t>(len), '\0'))).first;
        return it->second == self->meta.piece_hash(i);
    }
    void finished_one() {
        --inflight;
        pump();
    }
};

} // namespace

void Storage::verify_existing(std::function<void(std::uint32_t, bool)> per_piece, std::function<void(Status)> done) {
    auto v = std::make_shared<Verify>();
    v->self = impl_;
    v->count = impl_->meta.piece_count();
    v->per_piece = std::move(per_piece);
    v->done = std::move(done);
    v->pump();
}

} // namespace p2p
