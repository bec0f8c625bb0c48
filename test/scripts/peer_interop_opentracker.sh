#!/usr/bin/env bash
# Interop through a third-party tracker: the p2pnode peer and python3-libtorrent exchange files both
# ways (p2pnode seeds -> libtorrent downloads; libtorrent seeds -> p2pnode --exit-when-done downloads), finding
# each other only through Debian's opentracker (UDP, whitelist mode: the script writes both info hashes to the
# whitelist before opentracker starts, on a port picked in advance, bound to 127.0.0.1). This checks that
# p2pnode's BEP 15 announces and its use of the answers work against a tracker other than its own.
# The exchange itself is peer_interop_libtorrent.sh; this runs it with TRACKER_IMPL=opentracker.
# Exit 0 pass, 77 skip (opentracker, libtorrent or $P2PNODE missing), other fail.
set -euo pipefail
command -v opentracker >/dev/null || { echo "SKIP: opentracker not installed"; exit 77; }
export TRACKER_IMPL=opentracker
exec "$(dirname "$0")/peer_interop_libtorrent.sh" "$@"
