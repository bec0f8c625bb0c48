// Embedding p2pnode on the host's own libuv loop (include/p2pnode/node.hpp): two peers in one process. One seeds
// a folder; when its first item is shared, the other adds it by magnet link (x.pe: the seed's address, so no
// tracker is needed), downloads it, verifies it again, and both stop cleanly. Built against the installed headers
// with `pkg-config --cflags --libs p2pnode` (test/scripts/embed_example.sh).
//
// Usage: embed SHARE_DIR INTO_DIR     exit 0 once the download is complete and re-verified, 1 otherwise.
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>

#include <p2pnode/p2pnode.hpp>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: embed SHARE_DIR INTO_DIR\n");
        return 2;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);

    p2p::PeerNodeConfig cfg;
    cfg.listen_ip = "127.0.0.1";
    cfg.port = 0;      // any free port
    cfg.dht = false;   // offline: the peers find each other through the magnet's x.pe
    cfg.lsd = false;
    cfg.quiet = true;  // our stdout is our own
    p2p::PeerNodeConfig seed_cfg = cfg, leech_cfg = cfg;
    seed_cfg.share_dir = argv[1];
    leech_cfg.into_dir = argv[2];

    auto seed = p2p::Node::start(seed_cfg, &loop);
    if (!seed) {
        std::fprintf(stderr, "embed: seed: %s\n", seed.error().str().c_str());
        return 1;
    }
    auto leech = p2p::Node::start(leech_cfg, &loop);
    if (!leech) {
        std::fprintf(stderr, "embed: leecher: %s\n", leech.error().str().c_str());
        return 1;
    }
    p2p::Node& s = **seed;
    p2p::Node& l = **leech;

    int result = 1, completions = 0, stopped = 0;
    auto stop_both = [&] {
        auto done = [&](int) {
            if (++stopped == 2) uv_stop(&loop); // the nodes are destroyed below, outside their callbacks
        };
        s.stop(done);
        l.stop(done);
    };

    s.on_event([&](const p2p::NodeEvent& e) {
        if (e.kind != p2p::NodeEventKind::added) return;
        auto t = s.torrent(e.hash);
        if (!t) return;
        const std::string magnet = t->magnet + "&x.pe=127.0.0.1:" + std::to_string(s.port());
        std::printf("seeding %s %s\n", t->name.c_str(), t->hash.c_str());
        if (auto added = l.add(magnet); !added) {
            std::fprintf(stderr, "embed: add: %s\n", added.error().str().c_str());
            stop_both();
        }
    });
    l.on_event([&](const p2p::NodeEvent& e) {
        std::printf("event %s %s %s\n", p2p::event_name(e.kind), e.name.c_str(), e.message.c_str());
        if (e.kind == p2p::NodeEventKind::error) return stop_both();
        if (e.kind != p2p::NodeEventKind::complete) return;
        auto t = l.torrent(e.hash);
        auto files = l.files(e.hash);
        if (!t || !files) return stop_both();
        std::printf("complete %s %llu bytes, %zu file(s), state %s\n", t->name.c_str(),
                    static_cast<unsigned long long>(t->have_bytes), files->size(), p2p::state_name(t->state));
        if (++completions == 1) { // hash every piece on disk again: `complete` comes once more
            if (auto v = l.verify(e.hash); !v) {
                std::fprintf(stderr, "embed: verify: %s\n", v.error().str().c_str());
                return stop_both();
            }
            return;
        }
        result = t->progress == 1.0 ? 0 : 1;
        stop_both();
    });

    uv_run(&loop, UV_RUN_DEFAULT);
    seed->reset();
    leech->reset();
    uv_run(&loop, UV_RUN_DEFAULT); // the nodes' handles close here
    if (uv_loop_close(&loop) != 0) {
        std::fprintf(stderr, "embed: handles left open on the loop\n");
        return 1;
    }
    std::printf("%s\n", result == 0 ? "ok" : "failed");
    return result;
}
