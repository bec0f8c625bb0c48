// Storage: making a download's finished files durable while it runs ("checkpoints"), not all at its end.
//
// Why: flush (every resume save, so the end of every download) returns only once each written file is on disk.
// What it waits for then is the metadata of every file written since the last flush and the device's cache flush,
// and that cost grows with what was written since the previous sync: on a virtual disk, one syncfs after 650 MB
// in 2,000 files took 0.33-0.39 s, five syncs after 130 MB each took the same in total. At the end of a download
// into a folder of 2,000 photos (tools/bench-peer DISK=1 CASE=many) that was 0.4 s of a 1.75 s run, with the
// network idle. A checkpoint pays it in parts on the threadpool while blocks still arrive, so the final flush
// has only the last files left.
//
// How many bytes (StorageLimits::checkpoint_bytes, 16 MiB): pieces arrive in random order, so a file is whole
// late; with 64 MiB the first checkpoint came ~70 % into that download, and the rest of the disk's work waited for
// the end. With 16 MiB (tools/bench-peer's case, six rounds each, the same hour): 1.83 s -> 1.60 s; 4 and 8 MiB
// were no faster than 16, and each checkpoint costs a journal commit and a device cache flush (on a hard disk
// ~10-20 ms of its time), so the smaller sizes would only add those.
//
// What: a file is a candidate once this Storage has written all its bytes (written_now, writeback.cpp: the write
// that made it whole also started its writeback, unless another kick was running) and no write to it runs or
// waits. When the candidates hold limits.checkpoint_bytes, those still in `dirty` are taken out of it and flushed
// as flush does them (flush_files: one syncfs per filesystem after waiting for each file's writes, or an fsync
// each). On success they stay out of `dirty`: they are on disk. On failure flush_files puts them back and fails
// the storage, as a flush does. A later write to such a file puts it back in `dirty`, as every write does.
//
// Safety: flush waits for a running checkpoint before it takes `dirty` (storage.cpp), so when a flush returns,
// every file written before it is on disk, whether the checkpoint or the flush did it. One checkpoint at a time:
// files that become whole meanwhile gather for the next one. A torrent of one large file has no checkpoint
// before its end (its file is whole only then), which is what the writeback kicks are for.
#include "storage/storage_impl.hpp"

namespace p2p {

void Storage::Impl::file_written(std::size_t file) {
    if (closed || limits.checkpoint_bytes == 0 || file >= written_now.size()) return; // the side file: never whole
    if (written_now[file] < meta.files[file].length || writing.count(file) || !dirty.count(file)) return;
    if (!whole_files.insert(file).second) return;
    whole_bytes += static_cast<std::uint64_t>(meta.files[file].length);
    if (!checkpointing && whole_bytes >= limits.checkpoint_bytes) start_checkpoint();
}

void Storage::Impl::start_checkpoint() {
    std::set<std::size_t> files;
    for (std::size_t f : whole_files)
        if (!writing.count(f) && dirty.erase(f)) files.insert(f); // a flush may have taken it; a write may wait
    whole_files.clear();
    whole_bytes = 0;
    if (files.empty()) return;
    checkpointing = true;
    ++stats.checkpoints;
    stats.checkpoint_files += files.size();
    auto self = shared_from_this();
    flush_files(std::move(files), [self](Status) { // an error failed the storage already (flush_files)
        self->checkpointing = false;
        auto waiting = std::move(self->after_checkpoint);
        self->after_checkpoint.clear();
        for (auto& flush : waiting) flush(); // each only takes `dirty` and queues its syncs
        if (self->whole_bytes >= self->limits.checkpoint_bytes) self->start_checkpoint();
    });
}

} // namespace p2p
