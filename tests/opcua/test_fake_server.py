#!/usr/bin/python3
# test_fake_server.py — ringhub-collect-opcua against a hostile server (fake_server.py).
#
# Garbage after HEL, ERR, invalid ACK, huge and tiny chunk sizes, endless 'C' chunks,
# truncated and malformed OPN, a HEL sent back: each must end in a disconnect with its
# own reason (one `disconnected` record for the outage, each new reason logged) and a
# reconnect — never a crash, a hang or growing memory (the sanitize
# suite runs this under ASan+UBSan). Then a good real server is not needed: we only
# check the collector is alive, kept reconnecting, and its RSS stayed bounded.
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Ring, binary, conn, fail, free_port, stop_collector  # noqa: E402

collector = binary("collectors/opcua/ringhub-collect-opcua")
port = free_port()
fake = subprocess.Popen(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          "fake_server.py"), str(port)],
                        stdout=subprocess.PIPE, text=True)
ring = Ring(f"test-opcua-fake-{os.getpid()}")
coll = None


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


try:
    if fake.stdout.readline().strip() != "READY":
        fail("fake server did not start")
    coll = subprocess.Popen([collector, "--ring", ring.name, "--endpoint", f"opc.tcp://127.0.0.1:{port}",
                             "--reconnect-max", "500", "--tag", "t=ns=1;s=Plant.Temperature"],
                            stderr=subprocess.PIPE, text=True)
    served = 0
    rss = []
    end = time.time() + 60
    rounds = 3
    while served < rounds * 9 and time.time() < end:
        line = fake.stdout.readline()
        if not line:
            break
        served += 1
        if served % 9 == 0:
            rss.append(rss_kb(coll.pid))
        if coll.poll() is not None:
            fail(f"collector died (exit {coll.returncode}) after {served} hostile connections")
    if served < rounds * 9:
        fail(f"only {served} hostile connections served in 60 s (collector stopped reconnecting?)")
    recs = ring.collect(1.0)
    downs = [r for r in recs if conn(r, "disconnected")]
    # The queue holds everything since the start: collect() only drained the rest.
    if len(downs) != 1:
        fail(f"one outage, {len(downs)} disconnected records: {[r['data']['reason'] for r in downs]}")
    err = stop_collector(coll)
    coll = None
    # The first reason is in the record and the log, each new one in the log.
    reasons = set(re.findall(r"disconnected: (.*)", err))
    if len(reasons) < 6:
        fail(f"expected a distinct reason per misbehaviour, got {sorted(reasons)}")
    for want in ("garbage", "too many sessions", "ACK", "chunk size", "chunks"):
        if not any(want in r for r in reasons):
            fail(f"no disconnect reason mentions '{want}': {sorted(reasons)}")
    limit = 120000 if os.environ.get("RINGHUB_SANITIZED") else 16000
    if max(rss) > limit or rss[-1] > rss[0] + 4096:
        fail(f"RSS per round {rss} kB (limit {limit}, growth ≤ 4096)")
    print(f"{served} hostile connections, reasons: {len(reasons)}, RSS per round {rss} kB")
    print("PASS")
finally:
    if coll and coll.poll() is None:
        coll.kill()
        coll.wait()
    fake.kill()
    fake.wait()
    ring.close()
