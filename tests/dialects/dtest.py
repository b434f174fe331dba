"""dtest.py — shared harness for the dialect tests (tests/dialects/).

Starts the real ringhub on a private ring and a free loopback port, feeds it records with
the real ringhubctl, and talks to it with real clients (python3-websockets,
python3-socketio, socket.io-client from npm, urllib). Every process it starts is stopped
by PID; the ring is removed at the end. Binaries come from the environment: RINGHUB,
RINGHUBCTL, COLLECT_SYSTEM.
"""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}", file=sys.stderr)
    sys.exit(SKIP)


try:
    import websockets  # noqa: F401
except ImportError:
    skip("python3-websockets is not installed for /usr/bin/python3")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hub"))
from hubtest import wait_applied  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


class Env:
    def __init__(self, name):
        self.ringhub = os.environ["RINGHUB"]
        self.ctl = os.environ["RINGHUBCTL"]
        self.collect_system = os.environ.get("COLLECT_SYSTEM")
        self.name = name
        self.ring = f"test-dialects-{name}-{os.getpid()}"
        self.port = free_port()
        self.procs = []
        self.hub = None
        self.dir = tempfile.TemporaryDirectory(prefix=f"dialects-{name}-")

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def write(self, name, text, mode=0o600):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    # ---- processes ----
    def spawn(self, argv, **kw):
        log = open(self.path(f"proc-{len(self.procs)}.log"), "w+")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        p.log = log
        self.procs.append(p)
        return p

    def start_hub(self, *extra):
        self.hub = self.spawn([self.ringhub, "--ring", self.ring, "--listen",
                               f"127.0.0.1:{self.port}", *extra])
        end = time.time() + 15
        while time.time() < end:
            if self.hub.poll() is not None:
                raise Fail(f"hub exited with {self.hub.returncode}: {self.hub_log()}")
            try:
                if self.get("/api/v1/health")[0] == 200:
                    return self.hub
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail("hub did not answer /api/v1/health in time")

    def hub_log(self):
        self.hub.log.flush()
        self.hub.log.seek(0)
        return self.hub.log.read()

    def stop_hub(self):
        """SIGTERM the hub; a sanitizer report or a leak makes the exit code non-zero."""
        p = self.hub
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise Fail("hub did not stop on SIGTERM")
        log = self.hub_log()
        check("ERROR: AddressSanitizer" not in log and "runtime error:" not in log
              and "LeakSanitizer" not in log, "sanitizer report:\n" + log[-4000:])
        check(p.returncode == 0, f"hub exit code {p.returncode}")

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.log.close()
        subprocess.run([self.ctl, "--ring", self.ring, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.dir.cleanup()

    # ---- ring ----
    def inject(self, *args, empty=False):
        argv = [self.ctl, "--ring", self.ring, "inject", "--create"] + (["--empty"] if empty else []) + list(args)
        subprocess.run(argv, check=True)

    def settle(self, timeout=30):
        """Until the hub has applied every record in the ring (tests/hub/hubtest.py)."""
        if not wait_applied(self.ctl, self.ring, self.get, timeout):
            raise Fail(f"the hub did not apply the ring's records within {timeout} s")

    # ---- HTTP ----
    def request(self, path, method="GET", body=None, token=None):
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=data)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def get(self, path, token=None):
        return self.request(path, token=token)

    def url(self, path="/ws"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self):
        return f"http://127.0.0.1:{self.port}"


def run(name, fn):
    env = Env(name)
    code = 0
    try:
        r = fn(env)
        if asyncio.iscoroutine(r):
            asyncio.run(r)
        print(f"PASS: {name}")
    except Fail as e:
        print(f"FAIL: {name}: {e}", file=sys.stderr)
        if env.hub:
            print(env.hub_log()[-4000:], file=sys.stderr)
        code = 1
    finally:
        env.cleanup()
    sys.exit(code)


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws, pred, timeout=5, what="message"):
    """Messages until one satisfies pred; returns it (the others are dropped)."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise Fail(f"timed out waiting for {what}")
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            raise Fail(f"timed out waiting for {what}")
        if pred(m):
            return m


async def drain(ws, quiet=0.3):
    """Everything that arrives until the socket has been quiet for `quiet` seconds."""
    out = []
    while True:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except asyncio.TimeoutError:
            return out
