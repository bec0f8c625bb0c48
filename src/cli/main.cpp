// p2pnode entry point: parse flags, dispatch to a mode. Every mode builds its own objects on one p2p::Loop.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/make_torrent_cmd.hpp"
#include "crypto/random.hpp"

int main(int argc, char** argv) {
    using namespace p2p;
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_args(args);
    if (!parsed) {
        std::fprintf(stderr, "p2pnode: %s\n", parsed.error().str().c_str());
        return 2;
    }
    if (!crypto_init()) {
        std::fprintf(stderr, "p2pnode: libsodium failed to initialise\n");
        return 1;
    }
    const CliOptions& o = *parsed;
    switch (o.mode) {
    case Mode::help: std::fputs(usage_text().c_str(), stdout); return 0;
    case Mode::version: std::printf("p2pnode %s\n", P2PNODE_VERSION); return 0;
    case Mode::make_torrent: return run_make_torrent(o);
    default: break;
    }
    std::fprintf(stderr, "p2pnode: this mode is not available in this build\n");
    return 2;
}
