#!/usr/bin/env python3
"""Golden bytes for test/test_mse.cpp: an independent implementation of the MSE/PE handshake (the "Message
Stream Encryption" spec of Azureus, as libtorrent, Transmission and aria2 implement it) in plain Python, with
fixed private keys and pads. Prints the values the unit test compares against; rerun after changing a parameter
and paste the output into the test.
"""
import hashlib

# MSE spec: the 768-bit prime P and the generator G.
P = int("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22"
        "514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F4"
        "4C42E9A63A36210000000000090563", 16)
G = 2
VC = bytes(8)

# The test's parameters (test/test_mse.cpp uses the same).
XA = bytes(range(0x01, 0x15))  # initiator's private key, 20 bytes
XB = bytes(range(0xA1, 0xB5))  # responder's private key
SKEY = b"infohash-infohash-20"
PAD = 3                        # every pad: 3 zero bytes
IA = b"initial payload IA"
PROVIDE = 0x03                 # initiator offers plaintext and RC4
SELECT = 0x02                  # responder (both allowed, prefers RC4) selects RC4
PAYLOAD_A = b"hello from A"
PAYLOAD_B = b"hello from B"


class RC4:
    def __init__(self, key, discard):
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) % 256
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0
        self.crypt(bytes(discard))

    def crypt(self, data):
        out = bytearray()
        s = self.s
        for b in data:
            self.i = (self.i + 1) % 256
            self.j = (self.j + s[self.i]) % 256
            s[self.i], s[self.j] = s[self.j], s[self.i]
            out.append(b ^ s[(s[self.i] + s[self.j]) % 256])
        return bytes(out)


def sha1(*parts):
    return hashlib.sha1(b"".join(parts)).digest()


def be(n, size):
    return n.to_bytes(size, "big")


def main():
    # RC4 self-check against the classic test vector (key "Key", plaintext "Plaintext").
    assert RC4(b"Key", 0).crypt(b"Plaintext") == bytes.fromhex("bbf316e8d940af0ad3")
    xa, xb = int.from_bytes(XA, "big"), int.from_bytes(XB, "big")
    ya, yb = pow(G, xa, P), pow(G, xb, P)
    s_a, s_b = pow(yb, xa, P), pow(ya, xb, P)
    assert s_a == s_b
    S = be(s_a, 96)
    req1 = sha1(b"req1", S)
    req2 = sha1(b"req2", SKEY)
    req3 = sha1(b"req3", S)
    xored = bytes(a ^ b for a, b in zip(req2, req3))
    key_a = sha1(b"keyA", S, SKEY)
    key_b = sha1(b"keyB", S, SKEY)
    enc_a = RC4(key_a, 1024)  # A's bytes
    enc_b = RC4(key_b, 1024)  # B's bytes

    pad = bytes(PAD)
    msg1 = be(ya, 96) + pad
    msg2 = be(yb, 96) + pad
    msg3 = req1 + xored + enc_a.crypt(VC + be(PROVIDE, 4) + be(PAD, 2) + pad + be(len(IA), 2)) + enc_a.crypt(IA)
    msg4 = enc_b.crypt(VC + be(SELECT, 4) + be(PAD, 2) + pad)
    pay_a = enc_a.crypt(PAYLOAD_A)
    pay_b = enc_b.crypt(PAYLOAD_B)
    # The same handshake with plaintext selected: message 4 differs only in crypto_select.
    enc_b_plain = RC4(key_b, 1024)
    msg4_plain = enc_b_plain.crypt(VC + be(0x01, 4) + be(PAD, 2) + pad)

    values = [
        ("kYa", be(ya, 96)), ("kYb", be(yb, 96)), ("kS", S),
        ("kReq1", req1), ("kReq2", req2), ("kReq2XorReq3", xored), ("kKeyA", key_a), ("kKeyB", key_b),
        ("kMsg1", msg1), ("kMsg2", msg2), ("kMsg3", msg3), ("kMsg4", msg4), ("kMsg4Plain", msg4_plain),
        ("kPayloadA", pay_a), ("kPayloadB", pay_b),
    ]
    for name, v in values:
        h = v.hex()
        lines = [h[i:i + 96] for i in range(0, len(h), 96)]
        print(f"const std::string {name} = hex(\"" + "\"\n    \"".join(lines) + "\");")


if __name__ == "__main__":
    main()
