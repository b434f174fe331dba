# harness.py — shared helpers of the OPC UA tests: the node-opcua peer, the ring, skips.
#
# Test support only. Starts tests/opcua/server.js on a free loopback port with its PKI in
# a temp dir, runs ringhub binaries from $BUILD, follows a ring with `ringhubctl tail -f
# --json`, and cleans up every process it started (by PID) and the ring.
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BUILD", "")


def skip(why):
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(77)


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


def binary(rel):
    p = os.path.join(BUILD, rel)
    if not BUILD or not os.access(p, os.X_OK):
        skip(f"{rel} not built (BUILD={BUILD!r})")
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """node-opcua peer; start() waits for READY."""

    def __init__(self, port=None, bench=0):
        if not shutil.which("node"):
            skip("node is not installed")
        if not os.path.isdir(os.path.join(HERE, "node_modules", "node-opcua")):
            skip("node-opcua is not installed (npm ci in tests/opcua)")
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="ringhub-opcua-")
        self.bench = bench
        self.proc = None

    def start(self, timeout=60):
        args = ["node", os.path.join(HERE, "server.js"), str(self.port), self.tmp]
        if self.bench:
            args += ["--bench", str(self.bench)]
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, cwd=HERE)
        end = time.time() + timeout
        line = b""
        while time.time() < end:
            line = self.proc.stdout.readline()
            if line.startswith(b"READY"):
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        fail(f"node-opcua server did not start (see {self.tmp}/server.log)")

    @property
    def url(self):
        return f"opc.tcp://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Ring:
    """Polls a ring's records (`ringhubctl dump --from N --json`) in a thread."""

    def __init__(self, name):
        self.name = name
        self.ctl = binary("shm/ringhubctl")
        subprocess.run([self.ctl, "--ring", name, "create"], check=True, stdout=subprocess.DEVNULL)
        self.q = queue.Queue()
        self.next = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self):
        while not self.stopping:
            p = subprocess.run([self.ctl, "--ring", self.name, "dump", "--from", str(self.next), "--json"],
                               capture_output=True, text=True)
            for line in p.stdout.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("seq", -1) >= self.next:
                    self.next = rec["seq"] + 1
                    self.q.put(rec)
            time.sleep(0.05)

    def wait(self, pred, timeout, what):
        """Return the first record for which pred(rec) holds, else fail."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                rec = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if pred(rec):
                return rec
        fail(f"no {what} within {timeout} s")

    def collect(self, seconds):
        out, end = [], time.time() + seconds
        while time.time() < end:
            try:
                out.append(self.q.get(timeout=max(0.01, end - time.time())))
            except queue.Empty:
                pass
        return out

    def close(self):
        self.stopping = True
        self.thread.join(5)
        subprocess.run([self.ctl, "--ring", self.name, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def stop_collector(coll):
    """SIGTERM the collector; fail unless it stops within 10 s with exit 0 and no sanitizer
    report. Returns its stderr (it was started with stderr=PIPE, text=True)."""
    coll.send_signal(signal.SIGTERM)
    try:
        rc = coll.wait(10)
    except subprocess.TimeoutExpired:
        fail("collector did not stop on SIGTERM")
    err = coll.stderr.read()
    if rc != 0 or "ERROR: AddressSanitizer" in err or "runtime error" in err:
        fail(f"collector exit {rc}: {err[-2000:]}")
    return err


def tag(rec, name=None):
    return rec.get("type") == "tag" and (name is None or rec["data"]["name"] == name)


def conn(rec, state):
    return rec.get("type") == "opcua_conn" and rec["data"]["state"] == state
