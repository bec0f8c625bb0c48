#!/usr/bin/env python3
"""Golden bytes for test/test_krpc.cpp: KRPC messages of the Mainline DHT (BEP 5) bencoded by libtorrent's own
encoder (python3-libtorrent, lt.bencode), independent of src/proto/krpc.cpp. The messages are BEP 5's examples with
their ids, tokens and transaction id; where the BEP gives a bencoded literal, the tool checks libtorrent's bytes
against it. Prints one hex line per message; rerun after changing a message and paste the output into the test.

Run with the system python (/usr/bin/python3), where Debian's python3-libtorrent is installed.
"""
import socket
import struct
import sys

import libtorrent as lt

T = b"aa"                       # BEP 5 examples: "t":"aa"
ID_A = b"abcdefghij0123456789"  # BEP 5: the querying node in the examples
ID_M = b"mnopqrstuvwxyz123456"  # BEP 5: target, info hash, or a responding node
ID_0 = b"0123456789abcdefghij"  # BEP 5: the responding node of the find_node example
TOKEN = b"aoeusnth"             # BEP 5: the get_peers / announce_peer token

# BEP 5's bencoded literals, as printed in the BEP.
BEP5 = {
    "ping query": b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
    "ping response": b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
    "find_node query": b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
    "get_peers query": b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
    "get_peers values": b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
    # The BEP's dictionary has "implied_port": 1 but its bencoded line leaves the key out: this is that line.
    "announce_peer query": b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:"
                           b"aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
    "error": b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
}


def peer4(ip, port):
    # BEP 5 "Compact IP-address/port info": 4 address bytes, then the port, both in network byte order.
    return socket.inet_pton(socket.AF_INET, ip) + struct.pack(">H", port)


def peer6(ip, port):
    # BEP 32: the same with a 16-byte address.
    return socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">H", port)


def query(method, args, top=None):
    return {b"t": T, b"y": b"q", b"q": method, b"a": args, **(top or {})}


def response(body, top=None):
    return {b"t": T, b"y": b"r", b"r": body, **(top or {})}


def main():
    # BEP 5's find_node and get_peers replies show "nodes" as the placeholder "def456..." (9 bytes, no whole
    # 26-byte entry); these two real contacts stand in for it (BEP 5 "Compact node info": id + compact address).
    nodes = ID_M + peer4("192.0.2.1", 6881) + ID_0 + peer4("198.51.100.7", 51413)
    nodes6 = ID_0 + peer6("2001:db8::1", 6881)
    ip42 = peer4("124.31.75.21", 6881)  # BEP 42's first test vector's address

    rows = [
        ("ping query", query(b"ping", {b"id": ID_A})),
        ("ping response", response({b"id": ID_M})),
        ("find_node query", query(b"find_node", {b"id": ID_A, b"target": ID_M})),
        ("find_node response", response({b"id": ID_0, b"nodes": nodes})),
        ("get_peers query", query(b"get_peers", {b"id": ID_A, b"info_hash": ID_M})),
        ("get_peers values", response({b"id": ID_A, b"token": TOKEN, b"values": [b"axje.u", b"idhtnm"]})),
        ("get_peers nodes", response({b"id": ID_A, b"token": TOKEN, b"nodes": nodes})),
        ("announce_peer implied", query(b"announce_peer", {b"id": ID_A, b"implied_port": 1, b"info_hash": ID_M,
                                                           b"port": 6881, b"token": TOKEN})),
        ("announce_peer query", query(b"announce_peer", {b"id": ID_A, b"info_hash": ID_M, b"port": 6881,
                                                         b"token": TOKEN})),
        ("error", {b"t": T, b"y": b"e", b"e": [201, b"A Generic Error Ocurred"]}),
        # BEP 42: a reply carries the requester's address in a top-level "ip"; "v" is BEP 5's client version.
        ("ping response ip v", response({b"id": ID_M}, {b"ip": ip42, b"v": b"LT\x02\x00"})),
        # BEP 43: a read-only node's queries carry "ro": 1.
        ("ping query ro", query(b"ping", {b"id": ID_A}, {b"ro": 1})),
        # BEP 32: IPv6 peers in "values" (18 bytes), IPv6 contacts in "nodes6" (38 bytes), beside IPv4 ones.
        ("get_peers v6", response({b"id": ID_A, b"nodes": nodes[:26], b"nodes6": nodes6, b"token": TOKEN,
                                   b"values": [peer6("2001:db8::2", 51413), b"axje.u"]})),
        ("error 204", {b"t": T, b"y": b"e", b"e": [204, b"Method Unknown"]}),  # BEP 5: Method Unknown
    ]
    failed = False
    for name, msg in rows:
        data = lt.bencode(msg)
        if name in BEP5 and data != BEP5[name]:
            print(f"{name}: libtorrent gives {data!r}, BEP 5 prints {BEP5[name]!r}", file=sys.stderr)
            failed = True
        print(f"{name:22} {data.hex()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
