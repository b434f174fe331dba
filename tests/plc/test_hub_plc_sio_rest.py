#!/usr/bin/python3
# test_hub_plc_sio_rest.py — PLC tags and machines through the hub to Socket.IO and REST.
#
# A pymodbus server (tags and a Modbus-mapped machine), a carousel simulator,
# ringhub-collect-plc and ringhub (--control on). Socket.IO (python-socketio): on_connection
# carries the PLC tags and machines; on.tag for PLC tags with PyAutomation's data_type words
# (float, int, bool); on.machine with state, actions, name, description, interval and the
# process variables {tag, value, read_only} (the machine's fields and the tags on its
# device); on.machine.property when one property changes. REST: GET /api/v1/machines,
# /machines/{id}, /tags, /tags/{name}; POST /api/v1/tags/{name} (read back from the
# pymodbus server and from GET), POST /api/v1/machines/{id}/command in both body forms
# (seen by the simulator), 404 for an unknown machine. /metrics: gauges for the numeric
# tags and machine bits (promtool check metrics when installed).
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from plclib import Carousel, ModbusServer, cleanup, fail, regs_for, skip, wait_until  # noqa: E402
from hubplc import Hub  # noqa: E402

try:
    import socketio
except ImportError:
    skip("python3-socketio is not installed for /usr/bin/python3")

sim = Carousel(move_time=1.0)
srv = ModbusServer().start()
tmp = tempfile.mkdtemp(prefix="ringhub-plc-sio-")
hub = coll = None
q = queue.Queue()


def wait_for(name, pred=lambda d: True, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            n, d = q.get(timeout=max(0.05, end - time.monotonic()))
        except queue.Empty:
            break
        if n == name and pred(d):
            return d
    fail(f"no {name} within {timeout} s")


try:
    with open(os.path.join(tmp, "map.ini"), "w") as f:
        f.write(f"""[defaults]
scan_time = 100
timeout = 2000

[device.plc]
host = 127.0.0.1
port = {srv.port}

[tag.f32]
address = 40001
type = float32
unit = bar
description = Line pressure

[tag.i16]
address = 40003
type = int16

[tag.flag]
address = 40004
type = bit
bit = 0

[tag.in]
address = 30001

[machine.press]
type = modbus
device = plc
name = Press
status = 40011
position = holding:11
command = 40013
argument = 40014
scan_time = 100
""")
    srv.set("hr", 0, regs_for(1.5, "float32"))
    srv.set("hr", 2, [7, 1])
    srv.set("hr", 10, [0x15, 42])
    hub = Hub(tmp)
    coll = hub.collector(["--map", os.path.join(tmp, "map.ini"), "--interval", "100",
                          "--machine", f"m1=127.0.0.1:{sim.port},name=Carrusel Principal"], tmp)
    hub.wait_machine("press", lambda m: m.get("connected") and m.get("position") == 42, what="press")
    hub.wait_machine("m1", lambda m: m.get("connected"), what="m1")
    wait_until(lambda: hub.get("/api/v1/tags/f32")[1].get("value") == 1.5, 20, "tag f32 in REST")

    # REST reads.
    st, ms = hub.get("/api/v1/machines")
    if st != 200 or sorted(m["id"] for m in ms) != ["m1", "press"]:
        fail(f"GET machines {st} {ms}")
    st, m = hub.get("/api/v1/machines/press")
    if st != 200 or m["type"] != "modbus" or m["raw_status"] != 0x15 or m["ready"] is not True:
        fail(f"GET machines/press {st} {m}")
    st, tags = hub.get("/api/v1/tags")
    if st != 200 or {t["name"] for t in tags} != {"f32", "i16", "flag", "in"}:
        fail(f"GET tags {st} {tags}")
    st, _ = hub.get("/api/v1/machines/nosuch")
    if st != 404:
        fail(f"GET machines/nosuch {st}")
    print("REST: machines, machines/{id}, tags, tags/{name}")

    # Socket.IO.
    sio = socketio.Client(reconnection=False)
    for name in ("on_connection", "on.tag", "on.machine", "on.machine.property"):
        sio.on(name, (lambda n: lambda data: q.put((n, data)))(name))
    sio.connect(hub.http_url(), transports=["websocket"], wait_timeout=10)
    snap = wait_for("on_connection")
    if {t["name"] for t in snap["tags"]} < {"f32", "i16", "flag"} or \
            {m["identifier"] for m in snap["machines"]} != {"m1", "press"}:
        fail(f"on_connection tags {[t['name'] for t in snap['tags']]} machines {snap['machines']}")
    words = {t["name"]: t["data_type"] for t in snap["tags"]}
    if words.get("f32") != "float" or words.get("i16") != "int" or words.get("flag") != "bool":
        fail(f"data_type words {words}")
    press = [m for m in snap["machines"] if m["identifier"] == "press"][0]
    for k in ("state", "actions", "name", "description", "interval", "machine_interval"):
        if k not in press:
            fail(f"on.machine lacks {k}: {press}")
    if press["state"] != "Wait" or "move" not in press["actions"] or press["name"] != "Press":
        fail(f"press machine {press}")
    pv = press.get("position")
    if not pv or pv["value"] != 42 or pv["read_only"] is not True or "tag" not in pv:
        fail(f"process variable position {pv}")
    if press.get("f32", {}).get("read_only") is not False or press["f32"]["tag"]["name"] != "f32" or \
            press.get("in", {}).get("read_only") is not True:
        fail(f"tags as process variables: f32 {press.get('f32')} in {press.get('in')}")
    srv.set("hr", 0, regs_for(2.25, "float32"))
    t = wait_for("on.tag", lambda d: d["name"] == "f32" and d["value"] == 2.25)
    if t["data_type"] != "float" or t["unit"] != "bar" or t["values"][:2] != [2.25, 1.5]:
        fail(f"on.tag f32 {t}")
    srv.set("hr", 11, [43])
    p = wait_for("on.machine.property", lambda d: d.get("machine_id") == "press")
    if p != {"machine_name": "Press", "machine_id": "press", "property": "position", "value": 43}:
        fail(f"on.machine.property {p}")
    srv.set("hr", 10, [0x17, 44])
    mm = wait_for("on.machine", lambda d: d["identifier"] == "press" and d["state"] == "Run")
    if mm["actions"] != ["estop"] or mm["position"]["value"] != 44:
        fail(f"on.machine running {mm}")
    srv.set("hr", 10, [0x15])
    print("Socket.IO: on_connection, on.tag (float/int/bool), on.machine, on.machine.property")

    # REST writes: a tag, the carousel in both body forms.
    st, r = hub.post("/api/v1/tags/f32", {"value": 12.5})
    if st != 200 or r.get("success") is not True:
        fail(f"POST tags/f32 {st} {r}")
    if srv.get("hr", 0, 2) != regs_for(12.5, "float32"):
        fail(f"f32 registers {srv.get('hr', 0, 2)}")
    wait_until(lambda: hub.get("/api/v1/tags/f32")[1].get("value") == 12.5, 20, "f32 = 12.5 read back")
    st, r = hub.post("/api/v1/tags/in", {"value": 1})
    if st != 400 or r.get("code") != "INVALID_COMMAND":
        fail(f"POST tags/in (read-only) {st} {r}")
    st, r = hub.post("/api/v1/machines/m1/command", {"command": 1, "argument": 3})
    if st != 200 or r.get("success") is not True or (1, 3) not in sim.commands:
        fail(f"POST machines/m1/command {st} {r} {sim.commands}")
    hub.wait_machine("m1", lambda m: m.get("position") == 3 and not m.get("running"), what="m1 at 3")
    st, r = hub.post("/api/v1/machines/m1/command", {"action": "move", "argument": 4})
    if st != 200 or (1, 4) not in sim.commands:
        fail(f"POST machines/m1/command move {st} {r}")
    st, r = hub.post("/api/v1/machines/m1/command", {"action": "jump"})
    if st != 400:
        fail(f"POST unknown action {st} {r}")
    st, r = hub.post("/api/v1/machines/nosuch/command", {"command": 1, "argument": 1})
    if st != 404:
        fail(f"POST machines/nosuch {st} {r}")
    print("REST: tag write read back, machine command (both forms), errors")

    # /metrics
    st, text = hub.get("/metrics")
    # (machines are labelled by id and, where they have one, by name)
    for needle in ('ringhub_tag_value{name="f32"}', 'ringhub_machine_ready{id="press"',
                   'ringhub_machine_position{id="m1"',
                   'ringhub_machine_connection_status{id="m1"'):
        if needle not in text:
            fail(f"/metrics lacks {needle}")
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        if p.returncode != 0:
            fail(f"promtool check metrics: {p.stdout}{p.stderr}")
        print("/metrics: promtool check metrics clean")
    sio.disconnect()
    coll.stop()
    hub.stop()
    print("PASS")
finally:
    cleanup(coll, sim, srv)
    if hub:
        hub.close()
