#include "p2pnode/p2pnode.hpp"

namespace p2p {
const char* version() { return P2PNODE_VERSION; }
} // namespace p2p
