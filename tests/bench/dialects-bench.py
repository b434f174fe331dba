"""dialects-bench.py — throughput and latency of the native, Socket.IO and LedFx dialects.

Starts the real hub (BUILD/hub/ringhub) on a private ring and a free port, connects
python3-websockets clients to every dialect (native "*", Socket.IO after "40", LedFx
subscribed to system_update, Unraid for comparison), drives system records through the
ring with the paced producer (BUILD/tests/bench/fanout-bench produce) and measures per
dialect: frames delivered per second and end-to-end latency (record written → frame
parsed by the client; Python clients, so an upper bound). Then request/reply round trips:
native get_system_status, Socket.IO acked emit, LedFx unknown-request error; and hub CPU.
Prints one JSON object as its last line. Not a test; never fails on a figure.
"""
import asyncio
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import websockets

BUILD = os.environ.get("BUILD", "build")
HUB = os.path.join(BUILD, "hub", "ringhub")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
PRODUCER = os.path.join(BUILD, "tests", "bench", "fanout-bench")
CLIENTS = int(os.environ.get("CLIENTS", "10"))  # per dialect
RATE = float(os.environ.get("RATE", "200"))      # events/s
SECS = float(os.environ.get("SECS", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "2000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rfc3339_ns(ts):
    """Seconds since the epoch from '2026-11-22T03:36:42.386346342+00:00'."""
    base, frac = ts[:19], ts[20:29]
    off = ts[29:]
    dt = datetime.datetime.fromisoformat(base + off)
    return dt.timestamp() + int(frac) / 1e9


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


DIALECTS = {
    "native": ("/ws", None, lambda m: m.get("type") == "system.status", lambda m: m["data"]),
    "socketio": ("/socket.io/?EIO=4&transport=websocket", "40",
                 lambda m: isinstance(m, list) and m[0] == "system_update", lambda m: m[1]),
    "ledfx": ("/api/websocket",
              '{"id":1,"type":"subscribe_event","event_type":"system_update"}',
              lambda m: m.get("event_type") == "system_update", lambda m: m),
    "unraid": ("/api/v1/ws", '{"subscribe":["system_update"]}',
               lambda m: m.get("event") == "system_update", lambda m: m["data"]),
}


def decode(dialect, text):
    if dialect == "socketio":
        if not text.startswith("42"):
            return None
        return json.loads(text[2:])
    return json.loads(text)


async def client(port, dialect, stats, stop):
    path, hello, is_sys, data_of = DIALECTS[dialect]
    async with websockets.connect(f"ws://127.0.0.1:{port}{path}", max_queue=None) as ws:
        if hello:
            await ws.send(hello)
        stats["ready"] += 1
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.2)
            except asyncio.TimeoutError:
                continue
            now = time.time()
            m = decode(dialect, text)
            if m is None or not is_sys(m):
                continue
            if stats["measuring"]:
                stats["frames"] += 1
                stats["lat"].append(now - rfc3339_ns(data_of(m)["timestamp"]))


async def round_trips(port):
    out = {}
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send('{"type":"subscribe","events":["hub.diag"]}')
        await asyncio.sleep(0.3)
        rt = []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "get_system_status", "request_id": i}))
            while True:
                m = json.loads(await ws.recv())
                if m.get("request_id") == i:
                    break
            rt.append(time.perf_counter() - t0)
        out["native_request_p50_ms"], out["native_request_p99_ms"] = pct(rt, .5), pct(rt, .99)
    async with websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
        await ws.recv()
        await ws.send("40")
        await asyncio.sleep(0.3)
        rt = []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            await ws.send(f'42{i}["ping",{{}}]')
            while not (await ws.recv()).startswith(f"43{i}["):
                pass
            rt.append(time.perf_counter() - t0)
        out["sio_ack_p50_ms"], out["sio_ack_p99_ms"] = pct(rt, .5), pct(rt, .99)
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/websocket") as ws:
        await ws.recv()
        rt = []
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            await ws.send(f'{{"id":{i},"type":"nope"}}')
            while f'"id":{i},' not in await ws.recv():
                pass
            rt.append(time.perf_counter() - t0)
        out["ledfx_request_p50_ms"], out["ledfx_request_p99_ms"] = pct(rt, .5), pct(rt, .99)
    return out


async def bench(port, hub_pid, ring):
    stop = asyncio.Event()
    stats = {d: {"frames": 0, "lat": [], "ready": 0, "measuring": False} for d in DIALECTS}
    tasks = [asyncio.create_task(client(port, d, stats[d], stop))
             for d in DIALECTS for _ in range(CLIENTS)]
    while sum(s["ready"] for s in stats.values()) < len(tasks):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    count = int(RATE * SECS)
    prod = await asyncio.create_subprocess_exec(PRODUCER, "produce", "--ring", ring,
                                                "--count", str(count), "--rate", str(RATE))
    await asyncio.sleep(0.5)  # warm-up
    for s in stats.values():
        s["measuring"] = True
    c0, t0 = cpu_ticks(hub_pid), time.monotonic()
    await asyncio.sleep(SECS - 1.0)
    for s in stats.values():
        s["measuring"] = False
    c1, t1 = cpu_ticks(hub_pid), time.monotonic()
    await prod.wait()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    hz = os.sysconf("SC_CLK_TCK")
    res = {"clients_per_dialect": CLIENTS, "events_per_sec": RATE,
           "hub_cpu_percent": round((c1 - c0) / hz / (t1 - t0) * 100, 1)}
    for d, s in stats.items():
        res[f"{d}_frames_per_sec"] = round(s["frames"] / (t1 - t0), 1)
        res[f"{d}_lat_p50_ms"] = pct(s["lat"], .5)
        res[f"{d}_lat_p99_ms"] = pct(s["lat"], .99)
    res.update(await round_trips(port))
    return res


def main():
    for p in (HUB, CTL, PRODUCER):
        if not os.access(p, os.X_OK):
            print(f"missing {p} (set BUILD)", file=sys.stderr)
            return 77
    ring = f"bench-dialects-{os.getpid()}"
    port = free_port()
    log = open(f"/tmp/{ring}.log", "w+")
    hub = subprocess.Popen([HUB, "--ring", ring, "--listen", f"127.0.0.1:{port}",
                            "--max-clients", "1000", "--rate-limit", "100000"],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        res = asyncio.run(bench(port, hub.pid, ring))
    finally:
        hub.send_signal(signal.SIGTERM)
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            hub.kill()
        subprocess.run([CTL, "--ring", ring, "rm"], stderr=subprocess.DEVNULL)
        log.close()
        os.unlink(log.name)
    for k, v in res.items():
        print(f"{k:28} {v}")
    print(json.dumps(res))
    return 0


sys.exit(main())
