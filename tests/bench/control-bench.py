#!/usr/bin/python3
"""control-bench — the command path through the hub, as clients see it.

Starts the hub (--control on, no inbound rate limit) and the system collector on a private ring and measures,
per repetition (default 3):
  * REST  POST /api/v1/collectors/system/ping   N times on one keep-alive connection;
  * /ws   {"type":"command","target":"collectors","id":"system","action":"ping"} N times;
  * with podman's Docker-compatible service (when it can run here): REST pause then
    unpause of a busybox container N/10 times each — a no-op-fast action with a real peer.
For each: the client's round trip p50/p99, and from the hub's own answer the split into
hub + mailbox (duration_ms − collector_ms: parse, gate, post, wake, result through the
ring, reply) and the collector's time (collector_ms: for docker, the Engine API call).
Prints the medians over the repetitions with their ranges; last line one JSON object.

Env: BUILD (build dir, default ./build), N (default 1000), REPS (default 3).
"""
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import websockets

BUILD = os.path.abspath(os.environ.get("BUILD", "build"))
N = int(os.environ.get("N", "1000"))
REPS = int(os.environ.get("REPS", "3"))
HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))]


class Stack:
    def __init__(self):
        self.ring = f"bench-control-{os.getpid()}"
        self.port = free_port()
        self.procs = []

    def spawn(self, argv):
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start(self):
        self.spawn([f"{BUILD}/hub/ringhub", "--ring", self.ring, "--listen",
                    f"127.0.0.1:{self.port}", "--control", "on", "--rate-limit", "1000000",
                    "--rest-rate", "0"])
        self.spawn([f"{BUILD}/collectors/ringhub-collect-system", "--ring", self.ring,
                    "--interval", "60000"])
        end = time.time() + 20
        while time.time() < end:
            try:
                st, r = self.post("/api/v1/collectors/system/ping")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("control-bench: the stack did not come up")

    def post(self, path, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", path, body=b"", headers={"Content-Length": "0"})
        r = c.getresponse()
        body = json.loads(r.read())
        if conn is None:
            c.close()
        return r.status, body

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run([f"{BUILD}/shm/ringhubctl", "--ring", self.ring, "rm"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rest_series(stack, paths, n):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    rtt, hub, coll = [], [], []
    for i in range(n):
        path = paths[i % len(paths)]
        t0 = time.perf_counter()
        st, r = stack.post(path, conn)
        rtt.append((time.perf_counter() - t0) * 1e3)
        if st != 200:
            raise SystemExit(f"control-bench: {path}: {st} {r}")
        hub.append(r["duration_ms"] - r["collector_ms"])
        coll.append(r["collector_ms"])
    conn.close()
    return rtt, hub, coll


async def ws_series(stack, n):
    rtt, hub, coll = [], [], []
    async with websockets.connect(f"ws://127.0.0.1:{stack.port}/ws") as ws:
        for i in range(n):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "command", "target": "collectors", "id": "system",
                                      "action": "ping", "request_id": i}))
            while True:
                m = json.loads(await ws.recv())
                if m.get("type") == "command.result" and m.get("request_id") == i:
                    break
                if m.get("type") == "error":
                    raise SystemExit(f"control-bench: /ws: {m}")
            rtt.append((time.perf_counter() - t0) * 1e3)
            d = m["data"]
            if d["status"] != "OK":
                raise SystemExit(f"control-bench: /ws ping: {m}")
            hub.append(d["duration_ms"] - d["collector_ms"])
            coll.append(d["collector_ms"])
    return rtt, hub, coll


def summary(series):
    rtt, hub, coll = series
    return {"rtt_p50_ms": pct(rtt, 0.5), "rtt_p99_ms": pct(rtt, 0.99),
            "hub_mailbox_p50_ms": pct(hub, 0.5), "hub_mailbox_p99_ms": pct(hub, 0.99),
            "collector_p50_ms": pct(coll, 0.5), "collector_p99_ms": pct(coll, 0.99)}


def podman_setup(stack, d):
    sys.path.insert(0, os.path.join(HERE, "..", "docker"))
    try:
        from podman import Podman
    except ImportError:
        return None
    if os.geteuid() != 0 or not shutil.which("podman") or not os.path.exists("/bin/busybox"):
        return None
    pm = Podman(d)
    pm.import_image()
    pm.start()
    pm.create("bench1", ["sleep", "100000"])
    pm.post("/containers/bench1/start")
    stack.spawn([f"{BUILD}/collectors/ringhub-collect-docker", "--ring", stack.ring,
                 "--interval", "60000", "--no-stats", "--socket", pm.sock])
    end = time.time() + 30
    while time.time() < end:
        c = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
        c.request("GET", "/api/v1/docker/bench1")
        if c.getresponse().status == 200:
            return pm
        time.sleep(0.2)
    return pm


def main():
    stack = Stack()
    d = tempfile.mkdtemp(prefix="ringhub-ctlbench-")
    pm = None
    results = {"rest_ping": [], "ws_ping": [], "rest_docker_pause_unpause": []}
    try:
        stack.start()
        try:
            pm = podman_setup(stack, d)
        except Exception as e:  # a peer that cannot run here: say so, measure the rest
            print(f"podman: {e}", file=sys.stderr)
        for rep in range(REPS):
            results["rest_ping"].append(summary(rest_series(
                stack, ["/api/v1/collectors/system/ping"], N)))
            results["ws_ping"].append(summary(asyncio.run(ws_series(stack, N))))
            if pm:
                results["rest_docker_pause_unpause"].append(summary(rest_series(
                    stack, ["/api/v1/docker/bench1/pause", "/api/v1/docker/bench1/unpause"],
                    max(20, N // 10) * 2)))
            print(f"rep {rep + 1}: " + json.dumps({k: v[-1] for k, v in results.items() if v}),
                  file=sys.stderr)
    finally:
        stack.stop()
        if pm:
            pm.cleanup()
        shutil.rmtree(d, ignore_errors=True)
    out = {"bench": "control", "n": N, "reps": REPS}
    for name, reps in results.items():
        if not reps:
            out[name] = "skipped: podman cannot run here"
            continue
        out[name] = {k: {"median": round(statistics.median(r[k] for r in reps), 3),
                         "min": round(min(r[k] for r in reps), 3),
                         "max": round(max(r[k] for r in reps), 3)} for k in reps[0]}
    print(json.dumps(out))


main()
