# The loop of tracker_state_kill_loop.sh: LOOPS times start `P2PNODE --tracker --state FILE`, wait (bounded) for
# its listening line, SIGTERM (starts the exit save), SIGKILL after a random 0-20 ms, then check FILE: it parses
# as JSON, is a state object holding exactly the swarms FILE held at the start (old or new, never truncated),
# and no FILE.corrupt appeared.
#   state_kill_loop.py P2PNODE FILE SWARMS LOOPS BUDGET_SECS   (SWARMS: announced; FILE must hold >= 90 %)
# Fails when BUDGET_SECS run out before LOOPS loops ran.
# Prints a summary: loops, how many exited by themselves (save done before the kill), how many kills left a
# FILE.tmp.PID behind (killed mid-write), how many were killed otherwise.
import json, os, random, select, signal, subprocess, sys, time
p2pnode, path, swarms, loops, budget = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
child = None
def on_term(sig, frame):
    raise SystemExit(124)
signal.signal(signal.SIGTERM, on_term)

def check(i):
    if os.path.exists(path + '.corrupt'):
        sys.exit('loop %d: %s.corrupt appeared (a run found the state unreadable)' % (i, path))
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit('loop %d: %s does not parse: %s (size %s)' % (i, path, e, os.path.getsize(path) if os.path.exists(path) else 'missing'))
    if not isinstance(doc, dict) or not isinstance(doc.get('swarms'), list):
        sys.exit('loop %d: %s is JSON but not a state object' % (i, path))
    if len(doc['swarms']) != swarms:
        sys.exit('loop %d: %s holds %d swarms, want %d' % (i, path, len(doc['swarms']), swarms))

# The populated file is the reference: every later version must hold the same swarms (no announces in between).
with open(path) as f:
    have = len(json.load(f).get('swarms', []))
if have < swarms * 9 // 10:
    sys.exit('the populated state holds %d swarms, want about %d' % (have, swarms))
swarms = have
t0 = time.monotonic()
done = clean_exit = mid_write = other_kill = 0
try:
    for i in range(loops):
        if time.monotonic() - t0 > budget:
            sys.exit('time budget of %.0f s used up after %d of %d loops' % (budget, done, loops))
        child = subprocess.Popen([p2pnode, '--tracker', '--bind', '127.0.0.1', '--port', '0', '--state', path,
                                  '--no-console'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        buf, deadline = b'', time.monotonic() + 10
        while b'tracker listening' not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([child.stdout], [], [], left)[0]:
                sys.exit('loop %d: no "tracker listening" line within 10 s: %r' % (i, buf))
            chunk = os.read(child.stdout.fileno(), 4096)
            if not chunk:
                sys.exit('loop %d: tracker exited before listening: %r' % (i, buf))
            buf += chunk
        child.send_signal(signal.SIGTERM)
        time.sleep(random.uniform(0, 0.020))
        child.kill()
        rc = child.wait(timeout=10)
        rest = child.stdout.read()
        child.stdout.close()
        child = None
        if b'corrupt' in buf + rest or b'warn' in (buf + rest).lower():
            sys.exit('loop %d: the tracker warned: %r' % (i, buf + rest))
        done += 1
        if rc == 0:
            clean_exit += 1
        elif rc == -signal.SIGKILL:
            leftovers = [n for n in os.listdir(os.path.dirname(path) or '.')
                         if n.startswith(os.path.basename(path) + '.tmp.')]
            if leftovers:
                mid_write += 1
                for n in leftovers:
                    os.unlink(os.path.join(os.path.dirname(path) or '.', n))
            else:
                other_kill += 1
        else:
            sys.exit('loop %d: tracker exited %d (want 0 or SIGKILL)' % (i, rc))
        check(i)
finally:
    if child is not None:
        child.kill()
        child.wait()
print('loops=%d exited_after_save=%d killed_mid_write=%d killed_otherwise=%d secs=%.1f' %
      (done, clean_exit, mid_write, other_kill, time.monotonic() - t0))
