#!/usr/bin/python3
"""tools/ledbat_plot.py: the Python side of tools/bench-ledbat (read that script first).

Subcommands (bench-ledbat runs each inside a network namespace with `ip netns exec`):

  sample     count the bytes that cross the bottleneck, per protocol, every --interval seconds, into a CSV.
             An AF_PACKET socket on the receiver's interface sees every frame the bottleneck let through; a frame
             is counted by its IP protocol (17 = UDP = the uTP flow, 6 = TCP = the bulk flow) when its source is the
             sender. Nothing is asked of the applications. Frame lengths include the 14-byte Ethernet header, which
             is what tc's tbf charges, so 100 % of the link is reachable. Each row also has the tbf's backlog
             (bytes queued -> queueing delay) and drop count, read with `tc -s -j`.
  tcp-sink   accept TCP connections and discard what arrives.
  tcp-bulk   one TCP connection sending as fast as it can for --seconds, with the congestion control named by --cc
             (set on the socket: the machine's default may be BBR, which keeps queues short; LEDBAT's promise is
             about loss-based TCP such as CUBIC or Reno).
  udp-sink   the receiver of the UDP stand-in: echoes every datagram's sequence number and send time, with the time
             it arrived (both CLOCK_MONOTONIC, which every namespace shares).
  udp-send   the UDP stand-in for p2pnode's uTP (UTP_STANDIN in bench-ledbat): --mode ledbat is a minimal RFC 6817
             LEDBAT sender (100 ms target, gain 1, halve on loss, no retransmission), --mode blast sends at a fixed
             --rate and never backs off (it must fail the "<= 20 % beside TCP" target: a self-test of the verdict).
  report     read the CSV, print the figures and the pass/fail lines, write a JSON summary and an SVG plot
             (written by hand: matplotlib is not installed on the machines this runs on). Exit 0 if every
             target is met, 1 if one is missed, 2 if the data cannot be judged (too few samples).

Re-plot or re-judge a kept run: tools/ledbat_plot.py report OUT/rates.csv --link-bps 2500000 --tcp-start 20
--tcp-stop 50 --svg /tmp/x.svg (see --help of each subcommand).
"""
import argparse
import json
import math
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from xml.sax.saxutils import escape

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6
TCP_CONGESTION = 13


class Stop(Exception):
    pass


def _on_term(_signum, _frame):
    raise Stop()


def _mono_us():
    return time.monotonic_ns() // 1000


# ----------------------------------------------------------------------------------------------------------------
# sample

def tbf_stats(ns, dev):
    """(sent bytes, backlog bytes, drops, rate bytes/s) of the root tbf on dev in namespace ns, or None."""
    try:
        r = subprocess.run(["tc", "-s", "-j", "-n", ns, "qdisc", "show", "dev", dev], capture_output=True,
                           text=True, timeout=5)
        for q in json.loads(r.stdout or "[]"):
            if q.get("kind") == "tbf" and q.get("root"):
                return q.get("bytes", 0), q.get("backlog", 0), q.get("drops", 0), q["options"]["rate"]
    except (OSError, ValueError, KeyError, subprocess.SubprocessError):
        pass
    return None


def cmd_sample(a):
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    src = socket.inet_aton(a.src)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind((a.iface, 0))
    s.setblocking(False)
    buf = bytearray(64)
    udp = tcp = other = 0          # cumulative bytes from the sender, by protocol
    t0 = a.t0 if a.t0 else time.time()
    first = tbf_stats(a.tc_ns, a.tc_dev) if a.tc_ns else None
    sent0 = first[0] if first else 0
    drops0 = first[2] if first else 0
    rate = first[3] if first else 0
    out = open(a.out, "w", buffering=1)
    out.write("t,udp_bytes,tcp_bytes,other_bytes,udp_mbit,tcp_mbit,other_mbit,total_mbit,backlog_bytes,queue_ms,"
              "tbf_drops,tbf_sent_bytes\n")
    prev = (time.time() - t0, 0, 0, 0)
    next_tick = time.time() + a.interval
    try:
        while True:
            now = time.time()
            if now >= next_tick:
                t = now - t0
                st = tbf_stats(a.tc_ns, a.tc_dev) if a.tc_ns else None
                dt = t - prev[0]
                mb = [(c - p) * 8 / dt / 1e6 if dt > 0 else 0.0 for c, p in zip((udp, tcp, other), prev[1:])]
                backlog = st[1] if st else 0
                qms = backlog / rate * 1000 if rate else 0.0
                out.write(f"{t:.3f},{udp},{tcp},{other},{mb[0]:.3f},{mb[1]:.3f},{mb[2]:.3f},{sum(mb):.3f},"
                          f"{backlog},{qms:.1f},{(st[2] - drops0) if st else 0},{(st[0] - sent0) if st else 0}\n")
                prev = (t, udp, tcp, other)
                next_tick += a.interval
                if next_tick < now:   # fell behind (a stalled tc): skip ticks rather than burst
                    next_tick = now + a.interval
                continue
            r, _, _ = select.select([s], [], [], max(0.0, next_tick - now))
            if not r:
                continue
            while True:
                try:
                    n, addr = s.recvfrom_into(buf, 64, socket.MSG_TRUNC)
                except BlockingIOError:
                    break
                # n is the whole frame's length (MSG_TRUNC); buf holds its first 64 bytes.
                if addr[2] == PACKET_OUTGOING or n < 34 or buf[12:14] != b"\x08\x00" or buf[26:30] != src:
                    continue
                proto = buf[23]
                if proto == 17:
                    udp += n
                elif proto == 6:
                    tcp += n
                else:
                    other += n
    except Stop:
        pass
    try:
        pk, dr = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        print(f"sample: packet socket saw {pk} frames since the last read of its statistics, dropped {dr}",
              file=sys.stderr)
    except OSError:
        pass
    out.close()


# ----------------------------------------------------------------------------------------------------------------
# TCP bulk flow

def cmd_tcp_sink(a):
    signal.signal(signal.SIGTERM, _on_term)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.bind, a.port))
    ls.listen(4)
    total = 0
    buf = bytearray(1 << 20)
    conns = []
    try:
        while True:
            r, _, _ = select.select([ls] + conns, [], [])
            for c in r:
                if c is ls:
                    cc, _ = ls.accept()
                    conns.append(cc)
                    continue
                try:
                    n = c.recv_into(buf)
                except OSError:
                    n = 0
                if not n:
                    conns.remove(c)
                    c.close()
                total += n
    except Stop:
        pass
    print(f"tcp-sink: received {total} bytes", flush=True)


def cmd_tcp_bulk(a):
    signal.signal(signal.SIGTERM, _on_term)
    s = socket.socket()
    if a.cc:
        try:
            s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, a.cc.encode())
        except OSError as e:
            sys.exit(f"tcp-bulk: congestion control {a.cc!r} not available: {e}")
    cc = s.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16).rstrip(b"\0").decode()
    for i in range(50):
        try:
            s.connect((a.to, a.port))
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    else:
        sys.exit("tcp-bulk: the sink never accepted")
    print(f"tcp-bulk: connected, congestion control {cc}", flush=True)
    print(f"tcp-bulk: start {time.time():.3f}", flush=True)
    block = os.urandom(1 << 20)
    sent = 0
    end = a.until if a.until else time.time() + a.seconds
    try:
        while time.time() < end:
            s.settimeout(max(0.01, end - time.time()))
            try:
                sent += s.send(block)
            except socket.timeout:
                pass
    except Stop:
        pass
    # Stop at once: a reset, not a FIN after the send queue drains (that would keep the flow going).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print(f"tcp-bulk: stop {time.time():.3f}", flush=True)
    print(f"tcp-bulk: handed {sent} bytes to the kernel ({cc})", flush=True)


# ----------------------------------------------------------------------------------------------------------------
# UDP stand-in for uTP

HDR = struct.Struct("!IQ")        # seq, send time (us, CLOCK_MONOTONIC)
ACK = struct.Struct("!IQQ")       # seq, echoed send time, arrival time


def cmd_udp_sink(a):
    signal.signal(signal.SIGTERM, _on_term)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.bind, a.port))
    total = 0
    buf = bytearray(65536)
    try:
        while True:
            n, peer = s.recvfrom_into(buf)
            if n < HDR.size:
                continue
            seq, ts = HDR.unpack_from(buf)
            total += n
            s.sendto(ACK.pack(seq, ts, _mono_us()), peer)
    except Stop:
        pass
    print(f"udp-sink: received {total} bytes", flush=True)


def cmd_udp_send(a):
    signal.signal(signal.SIGTERM, _on_term)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect((a.to, a.port))
    s.setblocking(False)
    mss = a.size
    pad = b"\0" * (mss - HDR.size)
    seq = 0
    sent = 0
    log_every, next_log = 1.0, time.monotonic() + 1.0

    def send_one():
        nonlocal seq, sent
        try:
            s.send(HDR.pack(seq, _mono_us()) + pad)
        except (BlockingIOError, ConnectionRefusedError):
            return False
        seq += 1
        sent += mss
        return True

    try:
        if a.mode == "blast":
            # Fixed rate, paced in 1 ms steps; never reacts to anything.
            per_s = a.rate / 8 / mss
            start = time.monotonic()
            while True:
                due = int((time.monotonic() - start) * per_s)
                while seq < due:
                    if not send_one():
                        break
                time.sleep(0.001)
        # LEDBAT (RFC 6817): cwnd += GAIN * off_target * bytes_acked * MSS / cwnd, off_target = (TARGET -
        # queuing_delay) / TARGET, queuing_delay = current one-way delay (min of the last 4 samples) - base delay
        # (the minimum seen); cwnd <= flight + ALLOWED_INCREASE * MSS; halve on loss (once per RTT); 1 s without
        # an ack resets cwnd to the minimum.
        target = a.target_ms * 1000.0
        gain, min_cwnd = 1.0, 2 * mss
        cwnd = float(min_cwnd)
        flight = {}                  # seq -> send time (us); dicts keep insertion order = seq order
        base = math.inf
        recent = []
        srtt = 100000.0
        last_loss = 0
        last_ack = _mono_us()
        abuf = bytearray(64)
        while True:
            now = _mono_us()
            while len(flight) * mss + mss <= cwnd:
                t = _mono_us()
                if not send_one():
                    break
                flight[seq - 1] = t
            r, _, _ = select.select([s], [], [], 0.005)
            if r:
                # RFC 6817's flightsize is what was outstanding before the ACK came; acks are read in batches
                # here, so take it before the batch (after a pop it would shrink with every ack of the batch).
                flightsize = len(flight) * mss
                while True:
                    try:
                        n = s.recv_into(abuf)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    if n < ACK.size:
                        continue
                    aseq, ts, arr = ACK.unpack_from(abuf)
                    now = _mono_us()
                    last_ack = now
                    owd = arr - ts
                    base = min(base, owd)
                    recent = (recent + [owd])[-4:]
                    qd = min(recent) - base
                    if aseq in flight:
                        srtt = 0.875 * srtt + 0.125 * (now - flight.pop(aseq))
                        cwnd += gain * (target - qd) / target * mss * mss / cwnd
                        cwnd = min(cwnd, flightsize + mss)
                        cwnd = max(cwnd, min_cwnd)
                    # The path is FIFO: what was sent 3+ packets before an acked one is lost.
                    lost = [q for q in flight if q < aseq - 3]
                    for q in lost:
                        del flight[q]
                    if lost and now - last_loss > srtt:
                        cwnd = max(min_cwnd, cwnd / 2)
                        last_loss = now
            now = _mono_us()
            if flight and now - last_ack > 1000000:
                flight.clear()
                cwnd = float(min_cwnd)
                last_ack = now
            if a.verbose and time.monotonic() >= next_log:
                next_log += log_every
                print(f"udp-send: cwnd {cwnd:.0f} B, queuing delay {(min(recent) - base) / 1000 if recent else 0:.1f} "
                      f"ms, srtt {srtt / 1000:.1f} ms", flush=True)
    except Stop:
        pass
    print(f"udp-send: sent {sent} bytes ({a.mode})", flush=True)


# ----------------------------------------------------------------------------------------------------------------
# report

def read_csv(path):
    rows = []
    with open(path) as f:
        head = f.readline().strip().split(",")
        for line in f:
            parts = line.strip().split(",")
            if len(parts) != len(head):
                continue
            rows.append({k: float(v) for k, v in zip(head, parts)})
    return rows


def mean_in(rows, key, lo, hi):
    """Byte-weighted mean rate (Mbit/s) of `key` over rows whose interval lies in [lo, hi)."""
    cum = key.replace("_mbit", "_bytes")
    sel = [r for r in rows if lo <= r["t"] <= hi]
    if len(sel) < 2:
        return None
    dt = sel[-1]["t"] - sel[0]["t"]
    return (sel[-1][cum] - sel[0][cum]) * 8 / dt / 1e6 if dt > 0 else None


def avg(vals):
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def cmd_report(a):
    rows = [r for r in read_csv(a.csv) if a.end is None or r["t"] <= a.end + 0.01]
    link = a.link_bps * 8 / 1e6           # Mbit/s
    tcp_on, tcp_off = a.tcp_start, a.tcp_stop
    end = rows[-1]["t"] if rows else 0
    w1 = (a.settle, tcp_on)
    w2 = (tcp_on + a.adapt, tcp_off)
    w3 = (tcp_off + a.recover_skip, end)
    res = {"link_mbit": link, "windows": {"alone": w1, "beside_tcp": w2, "after_tcp": w3}, "label": a.label}
    if len(rows) < 4 or any(w[1] - w[0] < 2 for w in (w1, w2, w3)):
        print("report: too few samples or a phase window shorter than 2 s; cannot judge", file=sys.stderr)
        return 2
    u1 = mean_in(rows, "udp_mbit", *w1)
    u2 = mean_in(rows, "udp_mbit", *w2)
    t2 = mean_in(rows, "tcp_mbit", *w2)
    u3 = mean_in(rows, "udp_mbit", *w3)
    if None in (u1, u2, t2, u3):
        print(f"report: no samples in a phase window (the CSV ends at t={end:.1f} s); cannot judge", file=sys.stderr)
        return 2
    tot2 = (u2 or 0) + (t2 or 0)
    q = {name: avg([r["queue_ms"] for r in rows if w[0] <= r["t"] <= w[1]]) for name, w in
         (("alone", w1), ("beside_tcp", w2), ("after_tcp", w3))}
    # Recovery time: the first moment after the TCP flow stopped from which the uTP rate, averaged over the
    # next 2 s, reaches RECOVER of the link.
    rec_t = None
    for r in rows:
        if r["t"] < tcp_off:
            continue
        m = mean_in(rows, "udp_mbit", r["t"], r["t"] + 2.0)
        if m is not None and m >= a.recover * link and r["t"] + 2.0 <= end:
            rec_t = r["t"] - tcp_off
            break
    # Yield time: the first moment after the TCP flow started from which the uTP rate, averaged over the next
    # 2 s, is at most BESIDE of the link.
    yield_t = None
    for r in rows:
        if tcp_on <= r["t"] <= tcp_off - 2.0:
            m = mean_in(rows, "udp_mbit", r["t"], r["t"] + 2.0)
            if m is not None and m <= a.beside * link:
                yield_t = r["t"] - tcp_on
                break
    # Peaks beside TCP: the highest 2-s mean of uTP inside the settled phase-2 window.
    peak2 = max([m for m in (mean_in(rows, "udp_mbit", r["t"], r["t"] + 2.0) for r in rows
                             if w2[0] <= r["t"] <= w2[1] - 2.0) if m is not None] or [0.0])
    drops = {name: (max([r["tbf_drops"] for r in rows if r["t"] <= w[1]] or [0]) -
                    max([r["tbf_drops"] for r in rows if r["t"] <= w[0]] or [0])) for name, w in
             (("alone", w1), ("beside_tcp", w2), ("after_tcp", w3))}
    counted = rows[-1]["udp_bytes"] + rows[-1]["tcp_bytes"] + rows[-1]["other_bytes"]
    tbf_sent = rows[-1]["tbf_sent_bytes"]
    checks = [
        ("uTP alone fills the link", u1 is not None and u1 >= a.alone * link,
         f"{u1 / link * 100:.1f} % ({u1:.2f} of {link:g} Mbit/s, t={w1[0]:g}..{w1[1]:g} s)", f">= {a.alone * 100:g} %"),
        ("uTP yields to TCP", u2 is not None and u2 <= a.beside * link,
         f"{u2 / link * 100:.1f} % ({u2:.2f} Mbit/s; TCP {t2:.2f} Mbit/s = {t2 / link * 100:.1f} %; "
         f"t={w2[0]:g}..{w2[1]:g} s)", f"<= {a.beside * 100:g} %"),
        ("uTP recovers after TCP stops", u3 is not None and u3 >= a.recover * link,
         f"{u3 / link * 100:.1f} % ({u3:.2f} Mbit/s, t={w3[0]:g}..{w3[1]:.4g} s); back to "
         f"{a.recover * 100:g} % {'%.1f s' % rec_t if rec_t is not None else 'never'} after TCP stopped",
         f">= {a.recover * 100:g} %"),
    ]
    res.update({
        "utp_alone_mbit": u1, "utp_alone_share": u1 / link, "utp_beside_tcp_mbit": u2, "utp_beside_tcp_share": u2 / link,
        "utp_beside_tcp_peak_2s_mbit": peak2, "tcp_mbit": t2, "tcp_share": t2 / link,
        "link_use_beside_tcp": tot2 / link, "utp_after_tcp_mbit": u3, "utp_after_tcp_share": u3 / link,
        "recovery_s": rec_t, "yield_s": yield_t, "mean_queue_ms": q, "tbf_drops": drops, "counted_bytes": counted,
        "tbf_sent_bytes": tbf_sent, "targets": {"alone": a.alone, "beside": a.beside, "recover": a.recover},
        "pass": {c[0]: bool(c[1]) for c in checks}, "all_pass": all(c[1] for c in checks),
    })
    lab = f"{a.label}: " if a.label else ""
    print(f"{lab}link {link:g} Mbit/s (tbf rate; rates below count Ethernet+IP+UDP/TCP headers, as the tbf does)")
    print(f"{lab}mean queueing delay in the tbf: alone {q['alone']:.0f} ms, beside TCP {q['beside_tcp']:.0f} ms, "
          f"after TCP {q['after_tcp']:.0f} ms; tbf drops: alone {drops['alone']:.0f}, beside TCP "
          f"{drops['beside_tcp']:.0f}, after {drops['after_tcp']:.0f}")
    print(f"{lab}beside TCP: link use {tot2 / link * 100:.1f} %; uTP down to {a.beside * 100:g} % of the link "
          f"{'%.1f s' % yield_t if yield_t is not None else 'never'} after TCP started; uTP's highest 2-s mean in "
          f"the settled window {peak2:.2f} Mbit/s ({peak2 / link * 100:.1f} %)")
    if tbf_sent:
        print(f"{lab}counter check: the sniffer counted {counted / 1e6:.1f} MB, the tbf sent {tbf_sent / 1e6:.1f} MB "
              f"({counted / tbf_sent * 100:.1f} %)")
    for name, ok, got, want in checks:
        print(f"{lab}{'PASS' if ok else 'FAIL'} {name}: {got}; target {want}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.svg:
        write_svg(a.svg, rows, res, a)
        print(f"{lab}plot: {a.svg}")
    return 0 if res["all_pass"] else 1


# ----------------------------------------------------------------------------------------------------------------
# SVG

W, H = 980, 600
LEFT, RIGHT, TOP = 70, 30, 62
P1_H, GAP, P2_H = 300, 56, 120


def _ticks(hi, want=8):
    if hi <= 0:
        return [0]
    raw = hi / want
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if raw <= m * mag)
    return [i * step for i in range(int(hi / step + 1e-9) + 1)]


def _wrap(text, width):
    """Split text at '; ' into lines of at most about width characters."""
    lines, cur = [], ""
    for part in text.split("; ") if text else []:
        if cur and len(cur) + 2 + len(part) > width:
            lines.append(cur + ";")
            cur = part
        else:
            cur = f"{cur}; {part}" if cur else part
    return lines + ([cur] if cur else [])


def write_svg(path, rows, res, a):
    link = res["link_mbit"]
    note_lines = _wrap(a.note, 165)
    extra = 12 * max(0, len(note_lines) - 1)
    H, TOP = globals()["H"] + extra, globals()["TOP"] + extra
    t_hi = max(r["t"] for r in rows)
    pw = W - LEFT - RIGHT
    x = lambda t: LEFT + pw * max(0.0, t) / t_hi
    r_hi = max([link] + [r["total_mbit"] for r in rows]) * 1.12
    y1 = lambda v: TOP + P1_H * (1 - min(v, r_hi) / r_hi)
    top2 = TOP + P1_H + GAP
    q_hi = max([a.target_ms * 1.5] + [r["queue_ms"] for r in rows]) * 1.1
    y2 = lambda v: top2 + P2_H * (1 - min(v, q_hi) / q_hi)
    verdict = "all targets met" if res["all_pass"] else "MISSED: " + ", ".join(k for k, v in res["pass"].items()
                                                                                if not v)
    title = (a.label + ": " if a.label else "") + f"LEDBAT over a {link:g} Mbit/s tbf bottleneck ({verdict})"
    sub = (f"uTP alone {res['utp_alone_share'] * 100:.1f} % (target >= {a.alone * 100:g} %), "
           f"beside TCP {res['utp_beside_tcp_share'] * 100:.1f} % (<= {a.beside * 100:g} %; TCP "
           f"{res['tcp_share'] * 100:.1f} %), after TCP {res['utp_after_tcp_share'] * 100:.1f} % "
           f"(>= {a.recover * 100:g} %, back in {'%.1f s' % res['recovery_s'] if res['recovery_s'] is not None else 'never'})")
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
         'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{LEFT}" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
         f'<text x="{LEFT}" y="38" fill="#444">{escape(sub)}</text>']
    for i, line in enumerate(note_lines):
        o.append(f'<text x="{LEFT}" y="{53 + 12 * i}" fill="#666" font-size="10">{escape(line)}</text>')
    # The TCP phase, shaded, and the settled windows the figures average over, as bars under the top axis.
    o.append(f'<rect x="{x(a.tcp_start):.1f}" y="{TOP}" width="{x(a.tcp_stop) - x(a.tcp_start):.1f}" '
             f'height="{P1_H}" fill="#fff1e0"/>')
    o.append(f'<rect x="{x(a.tcp_start):.1f}" y="{top2}" width="{x(a.tcp_stop) - x(a.tcp_start):.1f}" '
             f'height="{P2_H}" fill="#fff1e0"/>')
    for name, (lo, hi) in res["windows"].items():
        o.append(f'<line x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{TOP + 4}" y2="{TOP + 4}" stroke="#999" '
                 'stroke-width="3"/>')
    for v in _ticks(r_hi, 6):
        o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y1(v):.1f}" y2="{y1(v):.1f}" stroke="#e4e4e4"/>')
        o.append(f'<text x="{LEFT - 6}" y="{y1(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for v in _ticks(q_hi, 4):
        o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y2(v):.1f}" y2="{y2(v):.1f}" stroke="#e4e4e4"/>')
        o.append(f'<text x="{LEFT - 6}" y="{y2(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for t in _ticks(t_hi, 10):
        for yt, hh in ((TOP, P1_H), (top2, P2_H)):
            o.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{yt}" y2="{yt + hh}" stroke="#eee"/>')
            o.append(f'<text x="{x(t):.1f}" y="{yt + hh + 15}" text-anchor="middle">{t:g}</text>')
    # Reference lines: the link rate and the share targets.
    for v, c, lab in ((link, "#000", f"link {link:g} Mbit/s"), (a.alone * link, "#1f5fbf", f"{a.alone * 100:g} %"),
                      (a.beside * link, "#c0392b", f"{a.beside * 100:g} %")):
        o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y1(v):.1f}" y2="{y1(v):.1f}" stroke="{c}" '
                 'stroke-dasharray="5,4" stroke-width="1"/>')
        o.append(f'<text x="{LEFT + pw - 4}" y="{y1(v) - 3:.1f}" text-anchor="end" fill="{c}" font-size="10">'
                 f'{escape(lab)}</text>')
    series = (("total_mbit", "#aaa", 1.0, "both"), ("tcp_mbit", "#e67e22", 1.8, "bulk TCP"),
              ("udp_mbit", "#1f5fbf", 1.8, "uTP (UDP)"))
    for key, c, wdt, _ in series:
        pts = " ".join(f"{x(r['t']):.1f},{y1(r[key]):.1f}" for r in rows)
        o.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="{wdt}"/>')
    o.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{P1_H}" fill="none" stroke="#000"/>')
    o.append(f'<text transform="translate(20,{TOP + P1_H / 2}) rotate(-90)" text-anchor="middle">Mbit/s on the '
             'bottleneck</text>')
    # Legend, top left inside the panel.
    # Legend: left, a third of the way down (phase 1 has lines at the link rate and at 0 only).
    lx, ly = LEFT + 10, TOP + P1_H * 0.3
    o.append(f'<rect x="{lx - 6}" y="{ly - 10:.1f}" width="190" height="{5 * 15 + 6}" fill="white" '
             'fill-opacity="0.85" stroke="#ccc"/>')
    for i, (_, c, wdt, lab) in enumerate(series[::-1] + (("", "#fff1e0", 8, "TCP flow running"),
                                                         ("", "#999", 3, "settled windows averaged"))):
        yy = ly + i * 15
        o.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{yy}" y2="{yy}" stroke="{c}" stroke-width="{wdt}"/>')
        o.append(f'<text x="{lx + 26}" y="{yy + 4}" font-size="11">{escape(lab)}</text>')
    # Panel 2: queueing delay in the tbf.
    o.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y2(a.target_ms):.1f}" y2="{y2(a.target_ms):.1f}" '
             'stroke="#c0392b" stroke-dasharray="5,4"/>')
    o.append(f'<text x="{LEFT + pw - 4}" y="{y2(a.target_ms) - 3:.1f}" text-anchor="end" fill="#c0392b" '
             f'font-size="10">LEDBAT target {a.target_ms:g} ms</text>')
    pts = " ".join(f"{x(r['t']):.1f},{y2(r['queue_ms']):.1f}" for r in rows)
    o.append(f'<polyline points="{pts}" fill="none" stroke="#333" stroke-width="1.4"/>')
    o.append(f'<rect x="{LEFT}" y="{top2}" width="{pw}" height="{P2_H}" fill="none" stroke="#000"/>')
    o.append(f'<text transform="translate(20,{top2 + P2_H / 2}) rotate(-90)" text-anchor="middle">queue ms</text>')
    o.append(f'<text x="{LEFT + pw / 2}" y="{top2 + P2_H + 32}" text-anchor="middle">seconds since the uTP flow '
             'started (bottom: queueing delay in the tbf = backlog / rate)</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


# ----------------------------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(prog="tools/ledbat_plot.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sample", help="per-protocol byte counts on an interface into a CSV")
    p.add_argument("--iface", required=True)
    p.add_argument("--src", required=True, help="the sender's IPv4 address (frames from it are counted)")
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--t0", type=float, default=0.0, help="time.time() of t=0 (default: now)")
    p.add_argument("--tc-ns", help="namespace of the bottleneck tbf")
    p.add_argument("--tc-dev", help="interface of the bottleneck tbf")
    p = sub.add_parser("tcp-sink")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("tcp-bulk")
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--seconds", type=float, help="send for this long after connecting")
    g.add_argument("--until", type=float, help="send until this time.time()")
    p.add_argument("--cc", default="cubic", help="TCP congestion control ('' = the system default)")
    p = sub.add_parser("udp-sink")
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p = sub.add_parser("udp-send")
    p.add_argument("--to", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["ledbat", "blast"], default="ledbat")
    p.add_argument("--rate", type=float, default=30e6, help="blast: bits/s")
    p.add_argument("--size", type=int, default=1400, help="datagram payload bytes")
    p.add_argument("--target-ms", type=float, default=100.0)
    p.add_argument("-v", "--verbose", action="store_true", help="ledbat: print cwnd and delay every second")
    p = sub.add_parser("report", help="figures, verdict, JSON and SVG from a sample CSV")
    p.add_argument("csv")
    p.add_argument("--link-bps", type=float, required=True, help="bottleneck rate in BYTES per second")
    p.add_argument("--tcp-start", type=float, required=True)
    p.add_argument("--tcp-stop", type=float, required=True)
    p.add_argument("--settle", type=float, default=5.0, help="seconds skipped at the start of phase 1")
    p.add_argument("--adapt", type=float, default=5.0, help="seconds skipped after TCP starts")
    p.add_argument("--recover-skip", type=float, default=5.0, help="seconds skipped after TCP stops")
    p.add_argument("--end", type=float, help="ignore samples after this time (default: the last sample)")
    p.add_argument("--alone", type=float, default=0.90, help="target: uTP alone >= this share")
    p.add_argument("--beside", type=float, default=0.20, help="target: uTP beside TCP <= this share")
    p.add_argument("--recover", type=float, default=0.90, help="target: uTP after TCP >= this share")
    p.add_argument("--target-ms", type=float, default=100.0, help="LEDBAT target (drawn on the plot)")
    p.add_argument("--label", default="")
    p.add_argument("--note", default="", help="a small line under the title of the plot")
    p.add_argument("--json")
    p.add_argument("--svg")
    a = ap.parse_args()
    return {"sample": cmd_sample, "tcp-sink": cmd_tcp_sink, "tcp-bulk": cmd_tcp_bulk, "udp-sink": cmd_udp_sink,
            "udp-send": cmd_udp_send, "report": cmd_report}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
