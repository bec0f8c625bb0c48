#include <doctest/doctest.h>

#include <cstring>

#include "p2pnode/p2pnode.hpp"

TEST_CASE("public api: the embedding header is self-contained and reports the version") {
    CHECK(std::strcmp(p2p::version(), P2PNODE_VERSION) == 0);
    p2p::PeerNodeConfig peer;
    CHECK(peer.port == 6881);
    p2p::TrackerConfig tracker;
    CHECK(tracker.port == 6969);
}
