#!/usr/bin/python3
# test_carousel.py — `machine` records from ringhub-collect-plc.
#
# A carousel simulator (raw byte protocol) added with --machine, a second one from the map
# file that closes the connection after every reply (one-shot PLC), and a Modbus-mapped
# machine on a pymodbus server (status bits in a holding register, position in the next):
# connected records with the decoded bits, a move seen as RUN then the new position, the
# e-stop bit (active-low), and the periodic re-write of an unchanged machine.
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plclib import Carousel, Collector, ModbusServer, Ring, cleanup, fail, finish  # noqa: E402

sim = Carousel(move_time=1.0)
oneshot = Carousel(mode="oneshot")
srv = ModbusServer().start()
ring = Ring("carousel")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-")
coll = None


def machine(mid, pred, what, timeout=15, since=0):
    return ring.wait(lambda d: d.get("id") == mid and pred(d), timeout, f"{mid}: {what}", "machine", since)


try:
    with open(os.path.join(tmp, "map.ini"), "w") as f:
        f.write(f"""[defaults]
timeout = 2000

[device.press_plc]
host = 127.0.0.1
port = {srv.port}
timeout = 2000

[machine.c2]
type = carousel
name = Carrusel Secundario
host = 127.0.0.1
port = {oneshot.port}
scan_time = 100
estop_command = none

[machine.press]
type = modbus
device = press_plc
name = Press
status = 40011
position = holding:11
command = 40013
argument = 40014
estop = coil:0
scan_time = 100
""")
    srv.set("hr", 10, [0x15, 42])
    coll = Collector(ring, ["--map", os.path.join(tmp, "map.ini"), "--interval", "100",
                            "--machine", f"m1=127.0.0.1:{sim.port},name=Carrusel Principal"], tmp)

    d = machine("m1", lambda d: d.get("connected"), "connected")
    want = {"name": "Carrusel Principal", "type": "carousel", "ip": "127.0.0.1", "port": sim.port,
            "connection_status": "connected", "raw_status": 0x15, "ready": True, "running": False,
            "remote_mode": True, "alarm": False, "emergency_stop": False, "vfd_error": False,
            "position_error": False, "direction": False, "position": 0}
    for k, v in want.items():
        if d.get(k) != v:
            fail(f"m1 {k} = {d.get(k)!r}, want {v!r}: {d}")
    print(f"m1: {d['connection_status']}, raw {d['raw_status']}, position {d['position']}")

    mark = ring.mark()
    sim.start_move(7)
    machine("m1", lambda d: d.get("running") and d.get("raw_status") & 2, "RUN while moving", since=mark)
    d = machine("m1", lambda d: not d.get("running") and d.get("position") == 7, "stopped at 7", since=mark)
    print("m1: moved to 7 (RUN seen, then the position)")

    mark = ring.mark()
    sim.press_estop()
    d = machine("m1", lambda d: d.get("emergency_stop"), "e-stop pressed", since=mark)
    if d.get("raw_status") & 0x10:
        fail(f"e-stop record has bit 4 set: {d}")
    sim.release_estop()
    machine("m1", lambda d: not d.get("emergency_stop"), "e-stop released", since=ring.mark())
    print("m1: e-stop bit (active-low) both ways")

    # periodic: an unchanged machine is written again
    mark = ring.mark()
    first = machine("m1", lambda d: True, "a record", since=mark)
    again = machine("m1", lambda d: True, "a second, periodic record", since=ring.mark())
    if first != again:
        fail(f"periodic record differs from the previous one: {first} vs {again}")

    d = machine("c2", lambda d: d.get("connected"), "one-shot carousel connected")
    if d.get("name") != "Carrusel Secundario" or d.get("error"):
        fail(f"c2: {d}")
    mark = ring.mark()
    oneshot.start_move(3)
    machine("c2", lambda d: d.get("position") == 3 and not d.get("running"), "one-shot moved to 3", since=mark)
    if oneshot.connections < 5:
        fail(f"one-shot carousel saw only {oneshot.connections} connections")
    if any("disconnected" in ln for ln in coll.lines(f"carousel://127.0.0.1:{oneshot.port}")):
        fail("a one-shot PLC closing after each reply was reported as a disconnect")
    print(f"c2: one-shot PLC, {oneshot.connections} connections, no disconnect reported")

    d = machine("press", lambda d: d.get("connected") and d.get("position") == 42, "Modbus machine")
    if d.get("type") != "modbus" or d.get("raw_status") != 0x15 or not d.get("ready") or d.get("running") or \
            d.get("port") != srv.port or d.get("name") != "Press":
        fail(f"press: {d}")
    mark = ring.mark()
    srv.set("hr", 10, [0x17, 43])
    machine("press", lambda d: d.get("running") and d.get("position") == 43, "Modbus machine running", since=mark)
    srv.set("hr", 10, [0x05])
    machine("press", lambda d: d.get("emergency_stop"), "Modbus machine e-stop", since=mark)
    print("press: Modbus status bits and position")
    finish(coll)
finally:
    cleanup(coll, sim, oneshot, srv, ring)
