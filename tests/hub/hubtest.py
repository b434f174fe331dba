"""hubtest.py — shared harness for the hub's integration tests (tests/hub/).

Starts the real ringhub on a private ring and a free loopback port, injects records with
the real ringhubctl, and talks to it with real clients (python3-websockets, urllib).
Every process it starts is stopped by PID; the ring is removed at the end.
Binaries come from the environment: RINGHUB, RINGHUBCTL, COLLECT_SYSTEM.
"""
import asyncio
import glob
import json
import os
import shutil
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


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Fail(Exception):
    pass


def wait_applied(ctl, ring, get, timeout=30):
    """Until the hub has applied every record in the ring (its applied and invalid
    counters on /metrics reach the ring's head), so what a test injected is in its state
    and published: True, or False after timeout seconds. Shared with tests/dialects."""
    end = time.time() + timeout
    while time.time() < end:
        p = subprocess.run([ctl, "--ring", ring, "stat", "--json"], capture_output=True,
                           text=True)
        try:
            head = json.loads(p.stdout)["head"]
        except (ValueError, KeyError):
            head = None
        got = 0
        for line in get("/metrics")[1].splitlines():
            if line.startswith(("ringhub_ring_records_total ",
                                "ringhub_ring_invalid_records_total ")):
                got += int(float(line.split()[1]))
        if head is not None and got >= head:
            return True
        time.sleep(0.05)
    return False


def switches(pid):
    """Context switches (voluntary + involuntary) of every thread of pid so far: its
    wake-ups, counted by the kernel."""
    n = 0
    for st in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(st) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        n += int(line.split()[1])
        except OSError:
            pass  # a thread that ended
    return n


def check(cond, what):
    if not cond:
        raise Fail(what)


class Env:
    def __init__(self, name):
        self.ringhub = os.environ["RINGHUB"]
        self.ctl = os.environ["RINGHUBCTL"]
        self.collect_system = os.environ.get("COLLECT_SYSTEM")
        self.ring = f"test-hub-{name}-{os.getpid()}"
        self.port = free_port()
        self.procs = []
        self.hub = None
        self.logs = []
        self._state_dir = None

    @property
    def state_dir(self):
        """A private [hub] state_dir (the history), removed at cleanup."""
        if not self._state_dir:
            self._state_dir = tempfile.mkdtemp(prefix=f"{self.ring}-state-")
        return self._state_dir

    # ---- processes ----
    def spawn(self, argv, **kw):
        log = open(f"/tmp/{self.ring}-{len(self.procs)}.log", "w+")
        self.logs.append(log)
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        p.log = log
        self.procs.append(p)
        return p

    def start_hub(self, *extra, wait=True):
        # A private state directory, unless the test names its own (a flag would override
        # the state_dir of a --config file).
        own = "--config" in extra or "--state-dir" in extra
        state = [] if own else ["--state-dir", self.state_dir]
        self.hub = self.spawn([self.ringhub, "--ring", self.ring, "--listen",
                               f"127.0.0.1:{self.port}", *state, *extra])
        if wait:
            self.wait_ready()
        return self.hub

    def wait_ready(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if self.hub and self.hub.poll() is not None:
                raise Fail(f"hub exited with {self.hub.returncode}: {self.hub_log()}")
            try:
                if self.get("/api/v1/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail("hub did not answer /api/v1/health in time")

    def hub_log(self):
        self.hub.log.flush()
        self.hub.log.seek(0)
        return self.hub.log.read()[-3000:]

    def stop(self, p, sig=signal.SIGTERM, timeout=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run([self.ctl, "--ring", self.ring, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if self._state_dir:
            shutil.rmtree(self._state_dir, ignore_errors=True)
        for log in self.logs:
            name = log.name
            log.close()
            try:
                os.unlink(name)
            except OSError:
                pass

    def start_system_collector(self, interval_ms=60000):
        """The real system collector on this ring, once the registry says it runs."""
        p = self.spawn([self.collect_system, "--ring", self.ring, "--interval", str(interval_ms)])
        end = time.time() + 15
        while time.time() < end:
            out = subprocess.run([self.ctl, "--ring", self.ring, "stat", "--json"],
                                 capture_output=True, text=True).stdout
            try:
                ps = json.loads(out)["producers"]
            except (ValueError, KeyError):
                ps = []
            if any(x["name"] == "system" and x["pid"] == p.pid and x["state"] == "running"
                   for x in ps):
                return p
            time.sleep(0.05)
        raise Fail("system collector did not register")

    # ---- ring ----
    def inject(self, *args, empty=False):
        argv = [self.ctl, "--ring", self.ring, "inject", "--create"] + (["--empty"] if empty else []) + list(args)
        subprocess.run(argv, check=True)

    def settle(self, timeout=30):
        """Until the hub has applied every record in the ring."""
        if not wait_applied(self.ctl, self.ring, self.get, timeout):
            raise Fail(f"the hub did not apply the ring's records within {timeout} s")

    # ---- HTTP ----
    def get(self, path, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def url(self, path="/api/v1/ws"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def rss_kb(self, field="VmRSS"):
        """The hub's VmRSS, or another /proc/PID/status field (RssAnon: without the ring's
        shared pages)."""
        with open(f"/proc/{self.hub.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self, pid=None):
        """utime + stime of pid (default: the hub) in seconds."""
        with open(f"/proc/{pid or self.hub.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metric(self, name):
        return self.metrics(name)[0]

    def metrics(self, *names):
        """Several counters from one /metrics page (one fetch, one moment)."""
        status, body = self.get("/metrics")
        vals = {}
        for line in body.splitlines():
            key = line.split(" ", 1)[0]
            if key in names:
                vals[key] = float(line.split()[1])
        return [vals.get(n) for n in names]


def run(name, coro_fn):
    env = Env(name)
    code = 0
    try:
        r = coro_fn(env)
        if asyncio.iscoroutine(r):
            asyncio.run(r)
        print(f"PASS: {name}")
    except Fail as e:
        print(f"FAIL: {name}: {e}", file=sys.stderr)
        if env.hub:
            print(env.hub_log(), file=sys.stderr)
        code = 1
    finally:
        env.cleanup()
    sys.exit(code)


async def recv_json(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def snapshot(ws, n=9, timeout=5):
    """The first n frames after connecting, by event name."""
    got = {}
    for _ in range(n):
        m = await recv_json(ws, timeout)
        got[m["event"]] = m
    return got


def classify_shape(data):
    """The seed's identification rules, in the seed's order."""
    if isinstance(data, list):
        data = data[0] if data else {}
    k = data.keys()
    if "hostname" in k and "cpu_usage_percent" in k:
        return "system_update"
    if "state" in k and "parity_check_status" in k and "num_disks" in k:
        return "array_status_update"
    if "device" in k and "mount_point" in k:
        return "disk_list_update"
    if "image" in k and "ports" in k and ("id" in k or "container_id" in k):
        return "container_list_update"
    if "state" in k and "vcpus" in k:
        return "vm_list_update"
    if "connected" in k and "battery_charge_percent" in k:
        return "ups_status_update"
    if "available" in k and "driver_version" in k and "utilization_gpu_percent" in k:
        return "gpu_metrics_update"
    if "mac_address" in k and "bytes_received" in k:
        return "network_list_update"
    if "name" in k and "path" in k and "size_bytes" in k:
        return "share_list_update"
    return "unknown"
