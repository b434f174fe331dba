#!/usr/bin/python3
# test_hub_carousel.py — the carousel server's protocol served by the hub, driven by the
# seed's own Python client (fixtures/carousel_client.py, class CarouselWebSocketClient,
# verbatim) connected to the server root "/".
#
# Two carousel simulators and a machine whose PLC never answers (nothing listens on its
# port), ringhub-collect-plc, ringhub with --control on. Checked: the welcome with every
# machine (id, name, ip, port, type); status_broadcast every 2 s (± 0.2 s between
# consecutive broadcasts) to a status_updates subscriber with the seed's status map;
# get_status → machine_status; send_command (the seed's nested form) → command_result to
# the sender and command_executed to the second client, seen by the simulator; BUSY while
# the carousel moves, MACHINE_NOT_FOUND, CONNECTION_ERROR for the dead PLC; an AGV-style
# native client's emergency_stop stops every simulator (each sees its e-stop command) and
# safety.estop counts them; machines as modules; GET / without an upgrade the dashboard;
# and, on a second hub with control off, send_command refused.
import asyncio
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "fixtures"))
from plclib import Carousel, cleanup, fail, free_port  # noqa: E402
from hubplc import Hub, is_type, recv_until  # noqa: E402
import websockets  # noqa: E402
from carousel_client import CarouselWebSocketClient  # noqa: E402  (the seed's, verbatim)


class Recorder(CarouselWebSocketClient):
    """The seed's client; every message it handles is also kept, with its arrival time."""

    def __init__(self, uri):
        super().__init__(uri)
        self.seen = []
        self.event = asyncio.Event()

    async def handle_message(self, data):
        self.seen.append((time.monotonic(), data))
        self.event.set()
        await super().handle_message(data)

    async def wait(self, pred, timeout=20, what="message", since=0):
        end = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.seen):
                t, m = self.seen[i]
                i += 1
                if pred(m):
                    return m
            left = end - time.monotonic()
            if left <= 0:
                fail(f"seed client: no {what} within {timeout} s; last {[m for _, m in self.seen[-5:]]}")
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), left)
            except asyncio.TimeoutError:
                pass

    def mark(self):
        return len(self.seen)


sim1 = Carousel(move_time=1.5)
sim2 = Carousel(move_time=1.5)
dead_port = free_port()
tmp = tempfile.mkdtemp(prefix="ringhub-plc-hub-")
hub = coll = hub_off = None


async def scenario():
    a = Recorder(hub.url("/"))
    b = Recorder(hub.url("/"))
    ta = asyncio.create_task(a.connect())
    tb = asyncio.create_task(b.connect())
    w = await a.wait(lambda m: m.get("type") == "welcome", what="welcome")
    await b.wait(lambda m: m.get("type") == "welcome", what="welcome (b)")
    ms = {m["id"]: m for m in w["machines"]}
    if set(ms) != {"m1", "m2", "dead"}:
        fail(f"welcome machines {w['machines']}")
    want = {"id": "m1", "name": "Carrusel Principal", "ip": "127.0.0.1", "port": sim1.port,
            "type": "carousel"}
    if any(ms["m1"].get(k) != v for k, v in want.items()) or not w.get("mode") or \
            "version" not in w.get("server_info", {}):
        fail(f"welcome {w}")
    print(f"welcome: mode {w['mode']}, machines {sorted(ms)}")

    # The seed client subscribed to status_updates on open: broadcasts every 2 s.
    await a.wait(lambda m: m.get("type") == "subscription_confirmed" and
                 m.get("subscription_type") == "status_updates", what="subscription_confirmed")
    first = a.mark()
    count = [0]

    def fourth(m):
        count[0] += m.get("type") == "status_broadcast"
        return count[0] >= 4

    await a.wait(fourth, timeout=20, what="four status_broadcasts", since=first)
    times = [t for t, m in a.seen[first:] if m.get("type") == "status_broadcast"]
    gaps = [round(y - x, 3) for x, y in zip(times, times[1:])]
    if any(abs(g - 2.0) > 0.2 for g in gaps[:3]):
        fail(f"status_broadcast gaps {gaps}, want 2 s ± 0.2")
    last = [m for _, m in a.seen if m.get("type") == "status_broadcast"][-1]
    st = last["status"]
    if set(st) != {"m1", "m2", "dead"} or st["m1"]["connection_status"] != "connected" or \
            st["m1"]["status"].get("READY") != "OK" or st["m1"]["status"].get("RUN") != "Detenido" or \
            st["m1"]["status"].get("MODO_OPERACION") != "Remoto" or \
            st["m1"]["status"].get("ALARMA") != "Desactivada" or st["m1"]["raw_status"] != 0x15 or \
            st["m1"]["position"] != 0 or st["dead"]["connection_status"] == "connected":
        fail(f"status_broadcast {last}")
    print(f"status_broadcast: gaps {gaps[:3]} s")

    # get_status
    mk = a.mark()
    await a.get_status("m1")
    m = await a.wait(lambda m: m.get("type") == "machine_status", since=mk, what="machine_status")
    if m.get("machine_id") != "m1" or m["status"].get("READY") != "OK" or m["position"] != 0 or \
            m["raw_status"] != 0x15 or m["connection_status"] != "connected" or "timestamp" not in m:
        fail(f"machine_status {m}")

    # send_command: result to the sender, command_executed to the other client.
    mk, mkb = a.mark(), b.mark()
    await a.send_command("m1", 1, 5)
    r = await a.wait(lambda m: m.get("type") in ("command_result", "error"), since=mk, what="command_result")
    if r["type"] != "command_result" or r.get("machine_id") != "m1" or r.get("success") is not True or \
            r["data"].get("command_sent") != 1 or r["data"].get("argument") != 5 or not r["data"].get("result"):
        fail(f"command_result {r}")
    e = await b.wait(lambda m: m.get("type") == "command_executed", since=mkb, what="command_executed")
    if e.get("machine_id") != "m1" or e["data"].get("argument") != 5:
        fail(f"command_executed {e}")
    if (1, 5) not in sim1.commands:
        fail(f"the simulator did not get the move: {sim1.commands}")
    if any(m.get("type") == "command_executed" for _, m in a.seen[mk:]):
        fail("the sender got command_executed too")
    print(f"send_command: {r['data']['result']!r}; command_executed to the other client")

    # BUSY while it moves; unknown machine; the dead PLC.
    mk = a.mark()
    await a.send_command("m1", 1, 9)
    r = await a.wait(lambda m: m.get("type") in ("command_result", "error"), since=mk, what="BUSY")
    if r.get("code") != "BUSY" or r.get("machine_id") != "m1":
        fail(f"move while moving: {r}")
    for mid, code in (("nosuch", "MACHINE_NOT_FOUND"), ("dead", "CONNECTION_ERROR")):
        mk = a.mark()
        await a.send_command(mid, 1, 1)
        r = await a.wait(lambda m: m.get("type") in ("command_result", "error"), since=mk, what=code,
                         timeout=30)
        if r.get("type") != "error" or r.get("code") != code or r.get("machine_id") != mid:
            fail(f"send_command {mid}: {r}, want {code}")
    mk = a.mark()
    await a.get_status("nosuch")
    r = await a.wait(lambda m: m.get("type") == "error", since=mk, what="get_status error")
    if r.get("code") != "MACHINE_NOT_FOUND":
        fail(f"get_status nosuch {r}")
    print("errors: BUSY, MACHINE_NOT_FOUND, CONNECTION_ERROR")
    hub.wait_machine("m1", lambda m: m.get("position") == 5 and not m.get("running"), what="m1 at 5")

    # An AGV-style native client: emergency_stop stops every machine.
    async with websockets.connect(hub.url("/ws")) as agv:
        await recv_until(agv, is_type("welcome"), what="native welcome")
        mods = []
        await agv.send(json.dumps({"type": "subscribe", "events": ["safety.estop", "machine.status"],
                                   "request_id": "s1"}))
        await recv_until(agv, lambda m: m.get("type") == "subscription_confirmed", what="subscribed")
        await recv_until(agv, is_type("machine.status"), what="machine.status")
        n1, n2 = len(sim1.commands), len(sim2.commands)
        await agv.send(json.dumps({"type": "emergency_stop", "reason": "manual_trigger",
                                   "request_id": "req-124"}))
        r = await recv_until(agv, lambda m: m.get("type") == "command_result" and
                             m.get("request_id") == "req-124", timeout=30, what="estop reply")
        ev = await recv_until(agv, is_type("safety.estop"), timeout=30, what="safety.estop")
        d = ev["data"]
        if d.get("machines_stopped") != 2 or d.get("machines_affected") != 3 or \
                d.get("machines_failed") != ["dead"] or d.get("reason") != "manual_trigger":
            fail(f"safety.estop {ev}")
        if r["data"].get("machines_stopped") != 2:
            fail(f"estop reply {r}")
        if (2, 0) not in sim1.commands[n1:] or (2, 0) not in sim2.commands[n2:]:
            fail(f"e-stop not seen by the simulators: {sim1.commands[n1:]} {sim2.commands[n2:]}")
        print(f"emergency_stop: {d['machines_stopped']} of {d['machines_affected']} stopped, "
              f"failed {d['machines_failed']}")
        hub.wait_machine("m1", lambda m: m.get("emergency_stop") is True, what="m1 e-stop")
    async with websockets.connect(hub.url("/ws")) as x:
        await recv_until(x, is_type("welcome"), what="welcome")
        got = set()
        while got != {"m1", "m2", "dead"}:
            m = await recv_until(x, is_type("module.discovered"), what=f"machines as modules (got {got})")
            if m["data"].get("module_type") == "plc_machine":
                got.add(m["data"]["module_id"])
    print("modules: every machine announced to a new native client")
    for c, t in ((a, ta), (b, tb)):
        await c.disconnect()
        await asyncio.wait_for(t, 10)


async def control_off():
    async with websockets.connect(hub_off.url("/")) as ws:
        await recv_until(ws, is_type("welcome"), what="welcome")
        await ws.send(json.dumps({"type": "send_command", "machine_id": "m1",
                                  "command": {"command": 1, "argument": 25}}))
        r = await recv_until(ws, is_type("error"), what="refusal")
        if r.get("code") != "WS-001" or "control is off" not in r.get("error", ""):
            fail(f"control off: {r}")
    print("control off: send_command refused (WS-001)")


try:
    with open(os.path.join(tmp, "map.ini"), "w") as f:
        f.write(f"""[defaults]
timeout = 2000

[machine.m2]
type = carousel
name = Carrusel Secundario
host = 127.0.0.1
port = {sim2.port}
scan_time = 100

[machine.dead]
host = 127.0.0.1
port = {dead_port}
timeout = 300
""")
    hub = Hub(tmp)
    coll = hub.collector(["--map", os.path.join(tmp, "map.ini"), "--interval", "100",
                          "--machine", f"m1=127.0.0.1:{sim1.port},name=Carrusel Principal"], tmp)
    hub.wait_machine("m1", lambda m: m.get("connected"), what="connected")
    hub.wait_machine("m2", lambda m: m.get("connected"), what="connected")
    st, body = hub.get("/")
    if st != 200 or "<!doctype html>" not in str(body):
        fail(f"GET / without an upgrade is the dashboard: {st} {str(body)[:200]}")
    asyncio.run(scenario())
    hub_off = Hub(tmp, control=False)
    asyncio.run(control_off())
    hub_off.stop()
    if not coll.alive():
        fail(f"collector died: {coll.output()[-2000:]}")
    coll.stop()
    hub.stop()
    print("PASS")
finally:
    cleanup(coll, sim1, sim2)
    for h in (hub, hub_off):
        if h:
            h.close()
