"""test_socketio.py — the Socket.IO v4 dialect with the real python3-socketio client.

python-socketio (transports=["websocket"]) connects, gets on_connection with PyAutomation's
seven keys, the NAS state as events, on.tag with rolling buffers and PyAutomation's
timestamp format, on.opcua.connected/disconnected, an acked emit, and the hub sees the
disconnect. A raw WebSocket client checks the wire itself: the open packet's five keys,
40 → 40{"sid"}, an unknown namespace refused with 44, 43 acks, the server's pings and the
close after pingTimeout without a pong, and a wrong EIO/transport refused.
"""
import asyncio
import json
import queue
import re
import time

import websockets

from dtest import Fail, check, run, skip

try:
    import socketio
except ImportError:
    skip("python3-socketio is not installed for /usr/bin/python3")

PYTIME = re.compile(r"^\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d\.\d{6}$")
KEYS = {"tags", "alarms", "machines", "last_alarms", "last_active_alarms", "last_events",
        "last_logs"}


def wait_for(q, name, timeout=5, pred=lambda d: True):
    end = time.time() + timeout
    while time.time() < end:
        try:
            ev, data = q.get(timeout=max(0.01, end - time.time()))
        except queue.Empty:
            break
        if ev == name and pred(data):
            return data
    raise Fail(f"no {name} event")


def python_client(env):
    q = queue.Queue()
    sio = socketio.Client(reconnection=False)
    for name in ("on_connection", "ups_status_update", "system_update", "on.tag",
                 "on.opcua.connected", "on.opcua.disconnected", "disk_list_update"):
        sio.on(name, (lambda n: lambda data: q.put((n, data)))(name))
    sio.on("disconnect", lambda: q.put(("disconnect", None)))
    sio.connect(env.http_url(), transports=["websocket"], wait_timeout=5)
    return sio, q


def clients(env):
    status, body = env.get("/api/clients")
    check(status == 200, f"/api/clients {status}")
    return json.loads(body)


async def raw_checks(env):
    url = env.url("/socket.io/?EIO=4&transport=websocket")
    async with websockets.connect(url) as ws:
        op = await asyncio.wait_for(ws.recv(), 5)
        check(op[0] == "0", f"open packet {op!r}")
        o = json.loads(op[1:])
        check(set(o) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"},
              f"open keys {sorted(o)}")
        check(o["upgrades"] == [] and o["pingInterval"] == 600 and o["pingTimeout"] == 500,
              f"open {o}")
        await ws.send("40/admin,")
        m = await asyncio.wait_for(ws.recv(), 5)
        check(m.startswith("44/admin,") and json.loads(m[9:])["message"], f"namespace {m!r}")
        await ws.send("40")
        m = await asyncio.wait_for(ws.recv(), 5)
        check(m.startswith("40") and json.loads(m[2:])["sid"], f"connect {m!r}")
        m = await asyncio.wait_for(ws.recv(), 5)
        check(m.startswith('42["on_connection",'), f"snapshot {m[:60]!r}")
        check(set(json.loads(m[2:])[1]) == KEYS, "on_connection keys")
        await ws.send('4217["ping",{}]')
        await ws.send('42["no.such.event"]')
        await ws.send('4218["no.such.event"]')
        await ws.send("42garbage")
        acks = {}
        t0 = time.monotonic()
        pinged = None
        # Answer nothing: acks arrive, then a ping, then the close after pingTimeout.
        try:
            while time.monotonic() - t0 < 5:
                m = await asyncio.wait_for(ws.recv(), 5)
                if m.startswith("43"):
                    n = re.match(r"43(\d+)", m).group(1)
                    acks[n] = json.loads(m[2 + len(n):])
                elif m == "2":
                    pinged = time.monotonic()
            raise Fail("not closed without a pong")
        except websockets.ConnectionClosed as e:
            closed = time.monotonic()
            check(e.rcvd is None or e.rcvd.code == 1008, f"close {e}")
        check(acks.get("17") and acks["17"][0]["pong"] is True, f"ack 17: {acks}")
        check(acks.get("18") and acks["18"][0]["success"] is False, f"ack 18: {acks}")
        check(pinged and 0.3 < closed - pinged < 2.0, f"closed {closed - (pinged or 0):.2f} s "
                                                       "after the ping")
    # A client that answers pings stays.
    async with websockets.connect(url) as ws:
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send("40")
        pings = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            try:
                m = await asyncio.wait_for(ws.recv(), 0.5)
            except asyncio.TimeoutError:
                continue
            if m == "2":
                pings += 1
                await ws.send("3")
        check(pings >= 2, f"{pings} pings in 2 s at pingInterval 600 ms")
        await ws.send("41")
    for bad in ("/socket.io/?EIO=3&transport=websocket", "/socket.io/?EIO=4&transport=polling"):
        try:
            async with websockets.connect(env.url(bad)) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                raise Fail(f"{bad} accepted")
        except websockets.ConnectionClosed as e:
            check(e.rcvd and e.rcvd.code == 1008, f"{bad}: {e}")


def main(env):
    env.start_hub("--sio-ping-interval", "600", "--sio-ping-timeout", "500")
    env.inject("ups", "connected=true", "battery_charge_percent=100.0", "model=Back-UPS")
    env.inject("tag", "name=Pressure_01", "value=45.1", "data_type=Double", "unit=bar",
               "endpoint=opc.tcp://localhost:4840", "node_id=ns=2;i=12", "quality=Good")
    env.inject("tag", "name=Level_02", "value_bool=true", "data_type=Boolean")
    time.sleep(0.3)
    before = clients(env)
    sio, q = python_client(env)
    snap = wait_for(q, "on_connection")
    check(set(snap) == KEYS, f"on_connection keys {sorted(snap)}")
    check(all(snap[k] == [] for k in KEYS - {"tags"}), "empty lists")
    check(sorted(t["name"] for t in snap["tags"]) == ["Level_02", "Pressure_01"],
          f"tags {snap['tags']}")
    check([t["value"] for t in snap["tags"] if t["name"] == "Level_02"] == [True],
          "a Boolean tag's value is a boolean")
    ups = wait_for(q, "ups_status_update")
    check(ups["connected"] is True and ups["battery_charge_percent"] == 100.0, f"ups {ups}")
    check(len(clients(env)) == len(before) + 1, "the client is listed in /api/clients")

    env.inject("system", "hostname=Tower", "cpu_usage_percent=5.0")
    s = wait_for(q, "system_update")
    check(s["hostname"] == "Tower", f"system_update {s}")
    env.inject("tag", "name=Pressure_01", "value=45.2", "data_type=Double", "unit=bar",
               "endpoint=opc.tcp://localhost:4840", "node_id=ns=2;i=12", "quality=Good",
               "description=Main Line Pressure", "scan_time_ms=1000", "dead_band=0.1")
    t = wait_for(q, "on.tag")
    check(t["name"] == "Pressure_01" and t["value"] == 45.2 and t["unit"] == "bar", f"tag {t}")
    check(t["description"] == "Main Line Pressure" and t["scan_time"] == 1000 and
          t["dead_band"] == 0.1, f"tag configuration fields {t}")
    check(t["values"][:2] == [45.2, 45.1], f"values newest first {t['values']}")
    check(len(t["timestamps"]) == len(t["values"]) and PYTIME.match(t["timestamp"]),
          f"timestamps {t['timestamp']!r}")
    for k in ("id", "display_name", "opcua_address", "node_namespace", "data_type", "dead_band",
              "scan_time", "segment", "manufacturer", "process_filter", "outlier_detection"):
        check(k in t, f"tag lacks {k}")
    for i in range(12):
        env.inject("tag", "name=Pressure_01", f"value={i}.5", "data_type=Double")
    t = wait_for(q, "on.tag", pred=lambda d: d["value"] == 11.5)
    check(len(t["values"]) == 10 and t["values"][0] == 11.5, f"rolling buffer {t['values']}")
    env.inject("opcua_conn", "endpoint=opc.tcp://plc:4840", "connected=true", "state=connected")
    o = wait_for(q, "on.opcua.connected")
    check(o["message"] == "Connected to opc.tcp://plc:4840", f"opcua {o}")
    env.inject("opcua_conn", "endpoint=opc.tcp://plc:4840", "connected=false",
               "state=disconnected", "reason=timeout")
    o = wait_for(q, "on.opcua.disconnected")
    check(o["message"].startswith("Disconnected from"), f"opcua {o}")

    r = sio.call("ping", {}, timeout=5)
    check(r["pong"] is True and PYTIME.match(r["timestamp"]), f"acked emit {r}")
    r = sio.call("get_snapshot", timeout=5)
    check(set(r) == KEYS, "acked snapshot")
    sio.disconnect()
    end = time.time() + 5
    while time.time() < end and len(clients(env)) != len(before):
        time.sleep(0.05)
    check(len(clients(env)) == len(before), "disconnect not seen by the hub")

    asyncio.run(raw_checks(env))
    env.stop_hub()


run("socketio", main)
