"""`ringhubctl dump` on a scribbled ring (issue #20 item 12): slots whose control word
says "being written" (a stuck or scribbled writer) used to cost the dump ~0.25 s each —
80 of them, 20 s. Every such slot was claimed before the first stall began, so one
abandon wait covers them all; slots with an undefined state or a sequence from the future
are skipped at once as corrupt. The records around them are still printed.
Usage: test_ring_dump.py RINGHUBCTL"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ringshm import Shm  # noqa: E402

CTL = sys.argv[1]
RING = f"test-hostile-dump-{os.getpid()}"
N, STUCK = (100, range(5, 85))
WRITING = 1


def main():
    args = [CTL, "--ring", RING, "inject", "--create"]
    for i in range(N):
        args += (["+"] if i else []) + ["system", f"hostname=h{i}"]
    subprocess.run(args, check=True, timeout=30)
    shm = Shm(RING)
    try:
        head = shm.head()
        first = head - N
        for i in STUCK:
            seq = first + i
            if i % 10 == 0:
                shm.ctl(seq, 3)  # the undefined state
            elif i % 10 == 5:
                shm.ctl(seq, ((seq + 2**40) << 2) | 2)  # committed from the future
            else:
                shm.ctl(seq, (seq << 2) | WRITING)  # a writer that never commits
    finally:
        shm.close()
    t0 = time.monotonic()
    out = subprocess.run([CTL, "--ring", RING, "dump"], capture_output=True, text=True,
                         timeout=120)
    took = time.monotonic() - t0
    lines = [ln for ln in out.stdout.splitlines() if "hostname=" in ln]
    print(f"dump of {N} records, {len(STUCK)} scribbled: {took:.2f} s, {len(lines)} printed; "
          f"{out.stderr.strip()}")
    if out.returncode != 0 or len(lines) != N - len(STUCK):
        raise SystemExit(f"FAIL: dump printed {len(lines)} records (want {N - len(STUCK)}), "
                         f"rc {out.returncode}: {out.stderr}")
    if took > 3.0:
        raise SystemExit(f"FAIL: dump took {took:.2f} s on a scribbled ring")
    print("PASS: ring-dump")


try:
    main()
finally:
    subprocess.run([CTL, "--ring", RING, "rm"], capture_output=True)
