#!/usr/bin/env bash
# Interop with transmission-daemon 3.00 set to require encryption, against p2pnode --encryption require (each
# refuses plaintext, so the transfers can only run RC4 over MSE), both directions across network namespaces:
# peer_interop_transmission_netns.sh run with TR_ENCRYPTION=2 and P2P_PEER_FLAGS="--encryption require".
# uTP stays off here as in that script: Transmission dials tracker peers over uTP first when it is on, and
# p2pnode has no uTP yet (issue 16's second half); the encryption is what this proves.
# Exit 0 pass, 77 skip (as that script skips), other fail. Limit 240 s.
set -uo pipefail
TR_ENCRYPTION=2 P2P_PEER_FLAGS="--encryption require" exec timeout 240 \
    "$(dirname "$0")/peer_interop_transmission_netns.sh" "$@"
