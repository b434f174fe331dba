# hubplc.py — the hub side of the PLC tests: ringhub on a private ring with
# ringhub-collect-plc feeding it, and the carousel simulator / pymodbus peers of plclib.py.
#
# Test support only. Hub starts the real ringhub (from $BUILD) on a free loopback port and
# waits for /api/v1/health; the collector runs on the hub's ring (the hub creates it).
# Every process is stopped by PID and the ring removed. Waits are conditions with generous
# deadlines, never counts of events in a time window. A missing binary or peer exits 77.
import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from plclib import Collector, binary, fail, free_port, skip  # noqa: F401

try:
    import websockets  # noqa: F401
except ImportError:
    skip("python3-websockets is not installed for /usr/bin/python3")

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


class Hub:
    """ringhub on its own ring; control on unless asked otherwise."""

    def __init__(self, tmp, control=True, extra=()):
        self.exe = binary("hub/ringhub")
        self.ctl = binary("shm/ringhubctl")
        self.name = f"test-plc-hub-{os.getpid()}-{time.monotonic_ns() % 100000}"
        self.port = free_port()
        self.log_path = os.path.join(tmp, f"hub.{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.exe, "--ring", self.name, "--listen", f"127.0.0.1:{self.port}", "--control",
             "on" if control else "off", *extra], stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                fail(f"hub exited {self.proc.returncode}: {self.output()[-2000:]}")
            try:
                if self.get("/api/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        fail("hub did not answer /api/v1/health within 30 s")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def request(self, path, method="GET", body=None, timeout=15):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read().decode()
                status = r.status
        except urllib.error.HTTPError as e:
            text, status = e.read().decode(), e.code
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            return status, text

    def get(self, path):
        return self.request(path)

    def post(self, path, body=None):
        return self.request(path, "POST", body)

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self):
        return f"http://127.0.0.1:{self.port}"

    def collector(self, args, tmp):
        return Collector(self, args, tmp)

    def wait_machine(self, mid, pred, timeout=30, what="state"):
        """The machine's REST object once pred holds."""
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            st, m = self.get(f"/api/v1/machines/{mid}")
            if st == 200 and isinstance(m, dict):
                last = m
                if pred(m):
                    return m
            time.sleep(0.1)
        fail(f"machine {mid}: no {what} within {timeout} s (last {last})")

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                if check:
                    fail("hub did not stop within 20 s of SIGTERM")
        self.log.close()
        out = self.output()
        if check and (self.proc.returncode != 0 or any(m in out for m in SANITIZER_MARKS)):
            fail(f"hub exit {self.proc.returncode}: {out[-4000:]}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()
        subprocess.run([self.ctl, "--ring", self.name, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


async def recv_until(ws, pred, timeout=15, what="message"):
    """Messages from ws until one satisfies pred (the others are dropped)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            fail(f"timed out waiting for {what}")
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            fail(f"timed out waiting for {what}")
        if pred(m):
            return m


def is_type(t, **kv):
    return lambda m: m.get("type") == t and all(m.get(k) == v for k, v in kv.items())
