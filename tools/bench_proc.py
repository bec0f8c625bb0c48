#!/usr/bin/env python3
"""Runs one benchmark leecher and watches it and its seed (used by tools/bench-peer; not a test).

usage: bench_proc.py OUT TIMEOUT_S SEED_PID -- COMMAND...

Spawns COMMAND, waits for it (killing it after TIMEOUT_S), and every 50 ms samples:
  - open descriptors (entries of /proc/PID/fd) and resident set (VmRSS) of the leecher's process tree
    (the leecher may be a wrapper's child) and of the seed SEED_PID (0: no seed to watch);
  - the kernel's dirty page cache (/proc/meminfo Dirty + Writeback), to show how much written data waits for
    the disk while the transfer runs.
Writes one line to OUT:
  rc wall_s leech_user_s leech_sys_s leech_maxrss_kb leech_peak_fds seed_cpu_ticks seed_peak_fds
  seed_peak_rss_kb peak_dirty_kb
Leecher CPU and peak RSS come from wait4's rusage (exact, children included); the descriptor counts are peaks of
the samples, so a burst shorter than 50 ms can be missed. The seed's CPU is utime+stime ticks from
/proc/PID/stat between the spawn and the leecher's exit, so seed start-up is excluded.
"""
import os
import signal
import sys
import time


def children(pid):
    """PIDs of the direct children of pid (all threads' children lists)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def tree(pid):
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    return seen


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return 0


def dirty_kb():
    total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(("Dirty:", "Writeback:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit("usage: bench_proc.py OUT TIMEOUT_S SEED_PID -- COMMAND...")
    out, timeout, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    cmd = sys.argv[5:]
    s0 = cpu_ticks(seed) if seed else 0
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    peak_fds = seed_fds = seed_rss = peak_dirty = 0
    status = None
    killed = False
    while True:
        got, st, ru = os.wait4(pid, os.WNOHANG)
        if got == pid:
            status = st
            break
        n = sum(fd_count(p) for p in tree(pid))
        peak_fds = max(peak_fds, n)
        if seed:
            seed_fds = max(seed_fds, fd_count(seed))
            seed_rss = max(seed_rss, rss_kb(seed))
        peak_dirty = max(peak_dirty, dirty_kb())
        if not killed and time.monotonic() - t0 > timeout:
            for p in reversed(tree(pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            killed = True
        time.sleep(0.05)
    wall = time.monotonic() - t0
    s1 = cpu_ticks(seed) if seed else 0
    rc = 124 if killed else (os.waitstatus_to_exitcode(status))
    with open(out, "w") as f:
        f.write(f"{rc} {wall:.3f} {ru.ru_utime:.3f} {ru.ru_stime:.3f} {ru.ru_maxrss} {peak_fds} {s1 - s0} "
                f"{seed_fds} {seed_rss} {peak_dirty}\n")
    sys.exit(0 if rc == 0 else 1)


if __name__ == "__main__":
    main()
