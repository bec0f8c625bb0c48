// Saving the tracker's state while it serves: the document (state_writer.hpp) is produced one part per loop turn
// and written with libuv's filesystem requests, so a tracker with millions of peers keeps answering while it
// saves (the old one-shot save stopped the loop for seconds and held the whole document, and a DOM of it, in
// memory: ~430 MB and 4.5 s at a million peers).
//
// Crash-safe like save_state: PATH.tmp.<pid>.bg, fsync, rename over PATH, fsync the folder; PATH is always the
// old document or the new one. One save at a time: start() refuses while one runs. The rename alone is done on
// the loop thread (see rename_into_place), so a later synchronous save_state always has the last word.
//
// Ownership: the saver owns the running job through a shared_ptr that every libuv callback also holds; the
// writer (and its references to the store and catalog) is only used while the job is not cancelled. cancel()
// or destroying the saver stops the job at its next callback: its descriptor is closed, its temporary file
// removed, and `done` is not called. So the saver must go before the store and catalog its writer reads.
#pragma once
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "tracker/state_writer.hpp"

namespace p2p {

class StateSaver {
public:
    StateSaver(uv_loop_t* loop, std::string path);
    ~StateSaver();
    StateSaver(const StateSaver&) = delete;
    StateSaver& operator=(const StateSaver&) = delete;

    // Starts writing what `writer` produces; `done` runs on a later loop turn with the outcome (errors name the
    // operation and path). Returns false, and starts nothing, while a save is running.
    bool start(std::unique_ptr<StateWriter> writer, std::function<void(Status)> done);
    bool busy() const;
    void cancel();
    const std::string& temp_path() const { return tmp_; }

private:
    struct Job; // state_saver.cpp
    uv_loop_t* loop_;
    std::string path_, tmp_;
    std::shared_ptr<Job> job_;
};

} // namespace p2p
