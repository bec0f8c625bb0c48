// The RPC port in a build configured with -Drpc=false (meson_options.txt), for the smallest boxes: this file
// stands in for peer_node_rpc.cpp and names nothing of rpc_server.cpp, rpc_methods.cpp, rpc_torrent_fields.cpp or
// web_page.cpp, so none of them is linked (docs/cross.md has the bytes). --rpc-port fails at start with one line
// naming the option; the console, the public API (p2p::Node) and the tracker's HTTP port are unaffected.
#include "node/peer_node_impl.hpp"
#include "p2pnode/p2pnode.hpp"

namespace p2p {

bool rpc_available() { return false; }

Status PeerNode::start_rpc() {
    return make_error("--rpc-port", "this p2pnode was built without the RPC port (meson -Drpc=false)",
                      Errc::unsupported);
}

void PeerNode::rpc_close() {}

// Never called: no server is made in this build.
void PeerNode::RpcServerDelete::operator()(RpcServer*) const {}

} // namespace p2p
