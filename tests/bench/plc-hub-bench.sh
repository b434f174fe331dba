#!/bin/bash
# plc-hub-bench.sh — 1,000 Modbus tags on 10 pymodbus devices at a 100 ms scan through
# ringhub-collect-plc → ringhub → 100 Socket.IO clients, and the carousel command round trip.
#
# Starts 10 pymodbus servers (tests/plc/modbus_server.py; each changes its 140 holding
# registers every second) with 100 tags each (as plc-bench.sh), a carousel simulator
# (tests/plc/plclib.py, moves at once), ringhub (--control on) and the collector on its
# ring, and 100 Socket.IO clients over $CLIENT_PROCS (default 4) node processes
# (plc_sio_clients.js: Engine.IO over ws). The hub runs with --queue 4096 (every register
# changes at the same instant: 1,000 on.tag a client in one burst, each second),
# --max-events 5000 and --rate-limit 1000 (the command loop below sends back to back).
# For $SECONDS_MEASURE (default 20) seconds: on.tag age at the client (receive time − the
# tag's timestamp, i.e. the collector's read) p50/p99, on.tag/s delivered, clients closed,
# hub CPU % (utime+stime, % of one core). Then
# $COMMANDS (default 200) send_command moves from a native client on "/" to the simulator
# and back (command_result), p50/p99. Env: BUILD (meson build dir). Last line: one JSON
# object. Exits 77 without pymodbus, node or the npm ws package (tests/dialects).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
exec /usr/bin/python3 - "$ROOT" "$BUILD" <<'PY'
import asyncio, json, os, shutil, subprocess, sys, tempfile, time
root, build = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "plc"))
os.environ["BUILD"] = build
from plclib import Carousel, Collector, ModbusServer, bench_map, skip  # noqa: E402
from hubplc import Hub  # noqa: E402
import websockets  # noqa: E402

DEVICES, PER_DEVICE, SCAN_MS, CLIENTS = 10, 100, 100, 100
PROCS = int(os.environ.get("CLIENT_PROCS", "4"))
MEASURE = int(os.environ.get("SECONDS_MEASURE", "20"))
COMMANDS = int(os.environ.get("COMMANDS", "200"))
node = shutil.which("node")
modules = os.path.join(root, "tests", "dialects", "node_modules")
if not node or not os.path.isdir(os.path.join(modules, "ws")):
    skip("node or the npm ws package (tests/dialects/node_modules) is missing")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-hub-bench-")
servers = [ModbusServer().start() for _ in range(DEVICES)]
for s in servers:
    s.cmd(op="bench", tags=140, period=1.0)
sim = Carousel(move_time=0.0)
mp = os.path.join(tmp, "bench.map")
with open(mp, "w") as f:
    f.write(bench_map([s.port for s in servers], PER_DEVICE, SCAN_MS))
hub = coll = None


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pct(a, p):
    a = sorted(a)
    return a[min(len(a) - 1, int(p / 100 * len(a)))] if a else None


async def round_trips():
    rtt = []
    async with websockets.connect(hub.url("/"), max_size=None) as ws:
        # Only what a carousel client needs: not the 1,000 tag updates a second.
        await ws.send(json.dumps({"type": "subscribe", "subscription_type": "command_results"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 15)).get("type") != "subscription_confirmed":
            pass
        for i in range(COMMANDS):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "send_command", "machine_id": "m1",
                                      "command": {"command": 1, "argument": i % 200},
                                      "request_id": i}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                if os.environ.get("BENCH_DEBUG"):
                    print(i, str(m)[:200], file=sys.stderr)
                if m.get("request_id") == i and m.get("type") in ("command_result", "error"):
                    break
            if m["type"] == "command_result":
                rtt.append((time.perf_counter() - t0) * 1e3)
    return rtt


try:
    hub = Hub(tmp, extra=("--max-clients", "256", "--max-events", "5000", "--rate-limit", "1000",
                         "--queue", "4096"))
    coll = Collector(hub, ["--map", mp, "--machine", f"m1=127.0.0.1:{sim.port}"], tmp)
    hub.wait_machine("m1", lambda m: m.get("connected"), timeout=60, what="connected")
    hz = os.sysconf("SC_CLK_TCK")
    env = dict(os.environ, NODE_PATH=modules)
    # The clients spread over PROCS node processes (one node thread cannot read 100,000
    # messages a second); each runs CLIENTS / PROCS Engine.IO connections.
    procs = [subprocess.Popen([node, os.path.join(root, "tests", "bench", "plc_sio_clients.js"),
                               hub.http_url(), str(CLIENTS // PROCS), str(MEASURE)],
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(PROCS)]
    time.sleep(3)
    t0, c0 = time.time(), ticks(hub.proc.pid)
    outs = [json.loads(p.communicate(timeout=MEASURE + 60)[0].strip().splitlines()[-1]) for p in procs]
    elapsed, c1 = time.time() - t0, ticks(hub.proc.pid)
    ages = sorted(a for o in outs for a in o["ages"] if a is not None)
    res = {"clients": sum(o["clients"] for o in outs), "closed": sum(o["closed"] for o in outs),
           "events_per_s": sum(o["events_per_s"] for o in outs),
           "age_p50_ms": pct(ages, 50), "age_p99_ms": pct(ages, 99)}
    print(f"clients: {res}", file=sys.stderr)
    cpu = (c1 - c0) / hz / elapsed * 100
    rtt = asyncio.run(round_trips())
    print(f"{DEVICES * PER_DEVICE} tags on {DEVICES} devices at {SCAN_MS} ms → {res['clients']} Socket.IO "
          f"clients ({res['closed']} closed as slow): {res['events_per_s']} on.tag/s delivered, age p50 {res['age_p50_ms']:.1f} ms p99 "
          f"{res['age_p99_ms']:.1f} ms, hub {cpu:.1f} % CPU; command round trip ({len(rtt)}) p50 "
          f"{pct(rtt, 50):.2f} ms p99 {pct(rtt, 99):.2f} ms")
    print(json.dumps({"tags": DEVICES * PER_DEVICE, "devices": DEVICES, "scan_ms": SCAN_MS,
                      "clients": res["clients"], "clients_closed": res["closed"], "seconds": round(elapsed, 1),
                      "events_per_s": res["events_per_s"], "tag_age_p50_ms": round(res["age_p50_ms"], 2),
                      "tag_age_p99_ms": round(res["age_p99_ms"], 2), "hub_cpu_pct": round(cpu, 2),
                      "commands": len(rtt), "command_rtt_p50_ms": round(pct(rtt, 50), 3),
                      "command_rtt_p99_ms": round(pct(rtt, 99), 3)}))
finally:
    if coll:
        coll.stop(check=False)
    if hub:
        hub.close()
    sim.close()
    for s in servers:
        s.kill()
PY
