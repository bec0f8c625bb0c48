#!/usr/bin/env python3
"""Golden bytes for test/test_utp_packet.cpp: uTP packets (BEP 29) built by an implementation independent of
src/proto/utp.cpp, from the BEP's text with struct.pack, plus libtorrent's close-reason extension (id 3: two
reserved bytes and a u16 close_reason_t). Prints one hex line per packet; rerun after changing a parameter and
paste the output into the test.
"""
import struct

ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = 0, 1, 2, 3, 4  # BEP 29 "type"
VERSION = 1                                                  # BEP 29 "version"
EXT_NONE, EXT_SACK, EXT_CLOSE_REASON = 0, 1, 3               # BEP 29; libtorrent utp_extensions_t


def header(ptype, first_ext, conn_id, ts, ts_diff, wnd, seq, ack):
    # BEP 29 "header format": type in the high nibble, version in the low one, then big-endian fields.
    return struct.pack(">BBHIIIHH", (ptype << 4) | VERSION, first_ext, conn_id, ts, ts_diff, wnd, seq, ack)


def packet(ptype, conn_id, ts, ts_diff, wnd, seq, ack, sack=None, close_reason=None, payload=b""):
    # Extensions are linked: each one starts with the id of the NEXT one and its length (BEP 29 "extension").
    exts = []
    if sack is not None:
        exts.append((EXT_SACK, sack))
    if close_reason is not None:
        exts.append((EXT_CLOSE_REASON, struct.pack(">HH", 0, close_reason)))
    first = exts[0][0] if exts else EXT_NONE
    out = header(ptype, first, conn_id, ts, ts_diff, wnd, seq, ack)
    for i, (_, body) in enumerate(exts):
        nxt = exts[i + 1][0] if i + 1 < len(exts) else EXT_NONE
        out += struct.pack(">BB", nxt, len(body)) + body
    return out + payload


def sack_mask(ack_nr, received, nbytes):
    # BEP 29 "Selective ACK": the first byte holds ack_nr + 2 .. ack_nr + 9, ack_nr + 2 in the least significant
    # bit; the next byte the next eight, and so on. Offsets from ack_nr, written as the BEP's diagram numbers them.
    mask = bytearray(nbytes)
    for seq in received:
        offset = (seq - ack_nr) % 65536  # the BEP's "offset to add to ack_nr"
        bit = offset - 2
        assert 0 <= bit < nbytes * 8
        mask[bit // 8] |= 0x80 >> (7 - bit % 8)  # reverse order within the byte: offset 2 is the lowest bit
    return bytes(mask)


def main():
    # The test's parameters (test/test_utp_packet.cpp uses the same).
    ts, diff, wnd = 0x01020304, 0x00000BB8, 0x00100000
    rows = []
    rows.append(("SYN", packet(ST_SYN, 0x1234, ts, 0, wnd, 0x4E21, 0)))
    received = [0x0012, 0x0013, 0x001B, 0x0031]  # ack_nr 0x0010: offsets 2, 3, 11, 33
    mask = sack_mask(0x0010, received, 4)
    rows.append(("SACK mask", mask))
    rows.append(("STATE+SACK", packet(ST_STATE, 0x1235, ts, diff, wnd, 0x4E22, 0x0010, sack=mask)))
    rows.append(("DATA", packet(ST_DATA, 0x1235, ts, diff, wnd, 0x4E22, 0x0011, payload=b"hello uTP")))
    rows.append(("FIN", packet(ST_FIN, 0x1235, ts, diff, 0, 0x4E23, 0x0011)))
    rows.append(("RESET", packet(ST_RESET, 0x1234, ts, 0, 0, 0xBEEF, 0x4E21)))
    rows.append(("STATE+SACK+close", packet(ST_STATE, 0x1235, ts, diff, wnd, 0x4E22, 0x0010, sack=mask,
                                            close_reason=0x0102)))
    # A close reason alone goes behind an all-zero SACK (libutp drops a packet whose first extension id is >= 3).
    rows.append(("FIN+close", packet(ST_FIN, 0x1235, ts, diff, 0, 0x4E23, 0x0011, sack=bytes(4), close_reason=2)))
    # The mask across the wrap: ack_nr 65534, so bit 0 is seq 0; received 0, 7, 8, 65 (offsets 2, 9, 10, 67).
    rows.append(("SACK wrap", sack_mask(65534, [0, 7, 8, 65], 12)))
    for name, data in rows:
        print(f"{name:18} {data.hex()}")


if __name__ == "__main__":
    main()
