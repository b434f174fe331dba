"""Collectors stop at once with a hung peer (issue #20 item 14): a server that accepts and
never answers used to hold SIGTERM for the rest of the peer's timeout — ups 9.1 s with
both its servers hung, docker 4.1 s — close to the units' 10 s TimeoutStopSec. Now a
pending SIGTERM cuts the wait short: the collector exits cleanly within a second or two.
Usage: test_collect_stop_hung.py RINGHUBCTL COLLECT_UPS COLLECT_DOCKER"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CTL, UPS, DOCKER = sys.argv[1:4]
STOP_MAX_S = 2.5  # generous for a loaded machine; the peers' timeouts are 6 s each


class Hung:
    """A listener that accepts every connection and never says a word."""

    def __init__(self, family, addr):
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.bind(addr)
        self.s.listen(8)
        self.accepted = threading.Event()
        self.conns = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)
            self.accepted.set()

    def close(self):
        for c in self.conns:
            c.close()
        self.s.close()


def check_stop(name, argv, hung):
    ring = f"test-hostile-stop-{name}-{os.getpid()}"
    log = tempfile.TemporaryFile()
    p = subprocess.Popen(argv + ["--ring", ring], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not hung.accepted.wait(15):
            raise SystemExit(f"FAIL: {name}: the collector never connected to the hung peer")
        time.sleep(0.3)  # well inside its wait for an answer
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        log.seek(0)
        out = log.read().decode(errors="replace")
        if rc != 0 or took > STOP_MAX_S:
            print(out[-3000:], file=sys.stderr)
            raise SystemExit(f"FAIL: {name}: SIGTERM → exit {rc} after {took:.2f} s "
                             f"(want 0 within {STOP_MAX_S} s)")
        if "Operation canceled" in out:
            raise SystemExit(f"FAIL: {name}: a peer cut short by SIGTERM reported down:\n{out}")
        print(f"{name}: exit after SIGTERM with a hung peer in {took * 1000:.0f} ms")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run([CTL, "--ring", ring, "rm"], capture_output=True)


def main():
    nut = Hung(socket.AF_INET, ("127.0.0.1", 0))
    nis = Hung(socket.AF_INET, ("127.0.0.1", 0))
    try:
        check_stop("ups", [UPS, "--nut", "127.0.0.1:%d" % nut.s.getsockname()[1],
                           "--apcupsd", "127.0.0.1:%d" % nis.s.getsockname()[1],
                           "--interval", "20000", "--timeout", "6000"], nut)
    finally:
        nut.close()
        nis.close()
    with tempfile.TemporaryDirectory() as d:
        engine = Hung(socket.AF_UNIX, os.path.join(d, "docker.sock"))
        try:
            check_stop("docker", [DOCKER, "--socket", os.path.join(d, "docker.sock"),
                                  "--interval", "20000", "--timeout", "6000"], engine)
        finally:
            engine.close()
    print("PASS: collect-stop-hung")


main()
