#include "cli/make_torrent_cmd.hpp"

#include <cstdio>
#include <fstream>

#include "base/bytes.hpp"
#include "cli/progress.hpp"
#include "loop/loop.hpp"
#include "maker/torrent_maker.hpp"

namespace p2p {

int run_make_torrent(const CliOptions& opts) {
    if (opts.tracker_urls.empty()) {
        std::fprintf(stderr, "p2pnode: --make-torrent needs at least one --tracker URL\n");
        return 2;
    }
    Loop loop;
    MakeTorrentOptions mo{opts.make_path, opts.tracker_urls, opts.piece_size, opts.is_private};
    ProgressPrinter printer(!opts.quiet, stderr_is_terminal());
    std::string label = "hashing";
    int rc = 1;
    auto job = TorrentMaker::start(
        loop.get(), mo,
        [&](std::int64_t done, std::int64_t total) {
            printer.update(ProgressInfo{label, done, total}, uv_now(loop.get()));
        },
        [&](Result<MadeTorrent> r) {
            if (!r) {
                std::fprintf(stderr, "p2pnode: %s\n", r.error().str().c_str());
                return;
            }
            const Metainfo& m = r->metainfo;
            printer.finish(ProgressInfo{label, m.total_length, m.total_length});
            std::string out = opts.output.empty() ? m.name + ".torrent" : opts.output;
            // Write to a temporary name and rename, so an interrupted run never leaves a half .torrent.
            std::string tmp = out + ".part";
            {
                std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
                f.write(r->torrent.data(), static_cast<std::streamsize>(r->torrent.size()));
                f.flush();
                if (!f) {
                    std::fprintf(stderr, "p2pnode: write %s: failed\n", tmp.c_str());
                    std::remove(tmp.c_str());
                    return;
                }
            }
            if (std::rename(tmp.c_str(), out.c_str()) != 0) {
                std::perror(("p2pnode: rename " + tmp).c_str());
                return;
            }
            Magnet mag{m.info_hash, m.name, opts.tracker_urls};
            std::printf("torrent:   %s\n", out.c_str());
            std::printf("name:      %s\n", m.name.c_str());
            std::printf("size:      %lld bytes in %u pieces of %lld\n", static_cast<long long>(m.total_length),
                        m.piece_count(), static_cast<long long>(m.piece_length));
            std::printf("info hash: %s\n", to_hex(m.info_hash).c_str());
            std::printf("magnet:    %s\n", make_magnet(mag).c_str());
            rc = 0;
        });
    loop.run();
    return rc;
}

} // namespace p2p
