#!/usr/bin/python3
# test_hub_carousel_js.py — the seed's own JavaScript client (class CarouselWebSocketClient,
# fixtures/carousel_client.js, verbatim) on node against the hub's server root "/".
#
# A carousel simulator, ringhub-collect-plc and ringhub (--control on). The client connects,
# subscribes to status_updates (the seed's onopen), sends a move (sendCommand, the nested
# form) and asks for the status (getStatus): command_result with command_sent/argument/
# result, machine_status with the seed's status map, status_broadcast at a 2 s period, and
# the simulator sees the move. Skips without node or the npm ws package (tests/dialects).
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from plclib import Carousel, cleanup, fail, skip  # noqa: E402
from hubplc import Hub  # noqa: E402

node = shutil.which("node")
if not node:
    skip("node is not installed")
MODULES = os.path.join(HERE, "..", "dialects", "node_modules")
if not os.path.isdir(os.path.join(MODULES, "ws")):
    skip("the npm package ws is not installed in tests/dialects/node_modules (npm ci there)")

sim = Carousel(move_time=1.0)
tmp = tempfile.mkdtemp(prefix="ringhub-plc-js-")
hub = coll = None
try:
    hub = Hub(tmp)
    coll = hub.collector(["--interval", "100", "--machine", f"machine_1=127.0.0.1:{sim.port},name=Carrusel Principal"],
                         tmp)
    hub.wait_machine("machine_1", lambda m: m.get("connected"), what="connected")
    env = dict(os.environ, NODE_PATH=MODULES)
    p = subprocess.run([node, os.path.join(HERE, "carousel_js_driver.js"), hub.url("/"), "machine_1", "25"],
                       capture_output=True, text=True, timeout=60, env=env, cwd=HERE)
    recs = [json.loads(ln[2:]) for ln in p.stdout.splitlines() if ln.startswith("@@")]
    if p.returncode != 0 or not any(r.get("done") for r in recs):
        fail(f"node exited {p.returncode}: {p.stderr[-1500:]} {recs[-5:]}")
    msgs = [(r["t"], r["data"]) for r in recs if "data" in r]
    by = {}
    for t, m in msgs:
        by.setdefault(m["type"], []).append((t, m))
    w = by["welcome"][0][1]
    if [m["id"] for m in w["machines"]] != ["machine_1"] or w["machines"][0]["port"] != sim.port:
        fail(f"welcome {w}")
    r = by["command_result"][0][1]
    if r["machine_id"] != "machine_1" or r["success"] is not True or r["data"]["command_sent"] != 1 or \
            r["data"]["argument"] != 25:
        fail(f"command_result {r}")
    s = by["machine_status"][0][1]
    if s["machine_id"] != "machine_1" or s["status"]["READY"] != "OK" or s["connection_status"] != "connected":
        fail(f"machine_status {s}")
    ts = [t for t, _ in by["status_broadcast"]]
    gaps = [(b - a) / 1000 for a, b in zip(ts, ts[1:])]
    if not gaps or any(abs(g - 2.0) > 0.2 for g in gaps):
        fail(f"status_broadcast gaps {gaps}")
    if (1, 25) not in sim.commands:
        fail(f"the simulator did not get the move: {sim.commands}")
    print(f"seed JS client: welcome, command_result {r['data']['result']!r}, machine_status, "
          f"broadcast gaps {gaps}")
    coll.stop()
    hub.stop()
    print("PASS")
finally:
    cleanup(coll, sim)
    if hub:
        hub.close()
