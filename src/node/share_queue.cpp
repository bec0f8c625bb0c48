#include "node/share_queue.hpp"

#include "base/log.hpp"

namespace p2p {

ShareQueue::ShareQueue(Loop& loop, std::vector<std::string> trackers, Ready ready, Failed failed, Skip skip,
                       std::shared_ptr<FdCache> fds)
    : loop_(loop), trackers_(std::move(trackers)), ready_(std::move(ready)), failed_(std::move(failed)),
      skip_(std::move(skip)), fds_(std::move(fds)) {}

ShareQueue::~ShareQueue() { clear(); }

bool ShareQueue::push(ShareJob job) {
    if (queue_.size() >= kMaxQueued) return false;
    queue_.push_back(std::move(job));
    if (!maker_) schedule(); // else the maker's end picks it up
    return true;
}

void ShareQueue::clear() {
    queue_.clear();
    ++generation_;
    awaiting_slot_ = false;
    loop_.defer_delete(std::move(maker_)); // cancels it; we may be inside its callback
    release_slot();
}

void ShareQueue::release_slot() {
    if (!holding_slot_) return;
    holding_slot_ = false;
    fds_->release_slot();
}

void ShareQueue::schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    auto alive = life_.watch();
    loop_.defer([this, alive] {
        if (!alive) return;
        scheduled_ = false;
        work();
    });
}

void ShareQueue::work() {
    if (maker_ || awaiting_slot_) return;
    auto alive = life_.watch();
    for (std::size_t n = 0; n < kPerTurn; ++n) {
        if (queue_.empty()) return;
        ShareJob job = std::move(queue_.front());
        queue_.pop_front();
        if (skip_ && skip_(job)) continue;
        auto cached = load_cached_share(job.root, job.name, trackers_);
        if (!cached) return make(job);
        ready_(job, std::move(*cached));
        if (!alive || maker_ || awaiting_slot_) return;
    }
    schedule();
}

void ShareQueue::make(const ShareJob& job) {
    if (!fds_) return start_maker(job);
    awaiting_slot_ = true;
    auto alive = life_.watch();
    auto fds = fds_;
    fds_->acquire_slot([this, alive, fds, job, gen = generation_] {   // maybe at once
        if (!alive || gen != generation_) return fds->release_slot(); // cleared meanwhile: give it back
        awaiting_slot_ = false;
        holding_slot_ = true;
        start_maker(job);
    });
}

void ShareQueue::start_maker(const ShareJob& job) {
    MakeTorrentOptions mo{job.path(), trackers_, 0, false};
    auto alive = life_.watch();
    maker_ = TorrentMaker::start(loop_.get(), mo, nullptr, [this, alive, job](Result<MadeTorrent> r) {
        if (!alive) return;
        loop_.defer_delete(std::move(maker_)); // we run inside it; its file is closed already
        release_slot();
        schedule(); // the next item, from the next turn
        if (!r) return failed_(job, r.error());
        if (auto st = save_cached_share(job.root, job.name, r->torrent, r->files); !st)
            log_debug("share", "not caching " + job.name + ": " + st.error().str());
        ready_(job, ShareSource{std::move(r->metainfo), std::move(r->files)});
    });
}

} // namespace p2p
