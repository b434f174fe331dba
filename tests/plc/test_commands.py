#!/usr/bin/python3
# test_commands.py — commands to ringhub-collect-plc through `ringhubctl send`.
#
# move (OK, seen by the carousel simulator; BUSY while it moves; INVALID_COMMAND out of
# range; NOT_FOUND for an unknown machine; CONNECTION_ERROR for a dead PLC), the generic
# command (flat and the seed's nested form), tag writes round-tripped through pymodbus
# (type, byte order and scale reversed, range-checked, read-only areas refused), a
# Modbus-mapped machine's move (argument then command register), and estop of every
# machine (seen by the simulator and the coil) with {"stopped":N,"failed":[ids]}.
# Skips (77) until `ringhubctl send` exists.
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plclib import (Carousel, Collector, ModbusServer, Ring, cleanup, fail, finish,  # noqa: E402
                    free_port, have_send, regs_for, send, skip)

if not have_send():
    skip("ringhubctl send not available")

sim = Carousel(move_time=1.5)
srv = ModbusServer().start()
ring = Ring("commands")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-")
dead_port = free_port()  # nothing listens there
coll = None


def expect(got, status, what):
    if got[0] != status:
        fail(f"{what}: got {got}, want {status}")
    print(f"{what}: {got[0]} {got[2]!r}")
    return got


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
byte_order = CDAB

[tag.i64]
address = 40003
type = int64
byte_order = DCBA

[tag.scaled]
address = 40007
type = uint16
scale = 0.1

[tag.i16]
address = 40008
type = int16

[tag.flag]
address = 40009
type = bit
bit = 2

[tag.coil]
address = 00004

[tag.in]
address = 30001

[machine.press]
type = modbus
status = 40021
command = 40022
argument = 40023
estop = coil:9
scan_time = 100

[machine.dead]
host = 127.0.0.1
port = {dead_port}
timeout = 300
""")
    srv.set("hr", 8, [0b1000_0001])
    srv.set("hr", 20, [0x15])
    coll = Collector(ring, ["--map", os.path.join(tmp, "map.ini"), "--interval", "100",
                            "--machine", f"m1=127.0.0.1:{sim.port}"], tmp)
    ring.wait(lambda d: d.get("id") == "m1" and d.get("connected"), 20, "m1 connected", "machine")
    ring.wait(lambda d: d.get("id") == "press" and d.get("connected"), 20, "press connected", "machine")

    # move on the carousel
    s, data, _ = expect(send(ring, "move", "m1", {"argument": 7}), "OK", "move m1 7")
    if (1, 7) not in sim.commands or not data or data.get("raw_status", 0) & 2 == 0:
        fail(f"the simulator did not start moving: {sim.commands}, reply data {data}")
    expect(send(ring, "move", "m1", {"argument": 9}), "BUSY", "move m1 9 while moving")
    expect(send(ring, "move", "m1", {"argument": 256}), "INVALID_COMMAND", "move m1 256")
    expect(send(ring, "move", "m1", {}), "INVALID_COMMAND", "move m1 without an argument")
    expect(send(ring, "move", "nosuch", {"argument": 1}), "NOT_FOUND", "move nosuch")
    expect(send(ring, "move", "dead", {"argument": 1}), "CONNECTION_ERROR", "move on a dead PLC")
    ring.wait(lambda d: d.get("id") == "m1" and d.get("position") == 7 and not d.get("running") and
              d.get("last_command") == "move" and d.get("last_argument") == 7 and d.get("last_result") == "OK",
              20, "m1 at 7 with last_command move", "machine")
    expect(send(ring, "command", "m1", {"command": {"command": 1, "argument": 4}}), "OK",
           "command m1 (nested form) 1/4")
    if (1, 4) not in sim.commands:
        fail(f"nested command not seen: {sim.commands}")
    ring.wait(lambda d: d.get("id") == "m1" and d.get("position") == 4 and not d.get("running"), 20, "m1 at 4",
              "machine")
    expect(send(ring, "command", "m1", {"command": 0}), "OK", "command m1 0 (status)")
    expect(send(ring, "jump", "m1", {}), "INVALID_COMMAND", "unknown action")

    # tag writes, read back from the server and from the ring
    expect(send(ring, "write", "f32", {"value": 12.5}), "OK", "write f32 12.5")
    if srv.get("hr", 0, 2) != regs_for(12.5, "float32", "CDAB"):
        fail(f"f32 registers {srv.get('hr', 0, 2)}, want {regs_for(12.5, 'float32', 'CDAB')}")
    ring.wait(lambda d: d.get("name") == "f32" and d.get("value") == 12.5, 10, "f32 read back", "tag")
    big = -1234567890123456789
    expect(send(ring, "write", "i64", {"value": big}), "OK", "write i64")
    if srv.get("hr", 2, 4) != regs_for(big, "int64", "DCBA"):
        fail(f"i64 registers {srv.get('hr', 2, 4)}")
    ring.wait(lambda d: d.get("name") == "i64" and d.get("value_int") == big, 10, "i64 read back", "tag")
    expect(send(ring, "write", "scaled", {"value": 12.3}), "OK", "write scaled 12.3")
    if srv.get("hr", 6) != [123]:
        fail(f"scaled register {srv.get('hr', 6)}, want [123]")
    expect(send(ring, "write", "i16", {"value": 40000}), "INVALID_COMMAND", "write i16 40000")
    expect(send(ring, "write", "i16", {"value": "x"}), "INVALID_COMMAND", "write i16 'x'")
    expect(send(ring, "write", "i16", {"value": -2}), "OK", "write i16 -2")
    if srv.get("hr", 7) != [0xFFFE]:
        fail(f"i16 register {srv.get('hr', 7)}")
    expect(send(ring, "write", "flag", {"value": True}), "OK", "write flag (bit 2)")
    if srv.get("hr", 8) != [0b1000_0101]:
        fail(f"bit write changed other bits: {bin(srv.get('hr', 8)[0])}")
    expect(send(ring, "write", "coil", {"value": True}), "OK", "write coil")
    if srv.get("co", 3) != [1]:
        fail(f"coil 3 = {srv.get('co', 3)}")
    expect(send(ring, "write", "in", {"value": 1}), "INVALID_COMMAND", "write an input register")
    expect(send(ring, "write", "nosuch", {"value": 1}), "NOT_FOUND", "write nosuch")

    # the Modbus-mapped machine
    expect(send(ring, "move", "press", {"argument": 5}), "OK", "move press 5")
    if srv.get("hr", 21, 2) != [1, 5]:
        fail(f"press command/argument registers {srv.get('hr', 21, 2)}, want [1, 5]")
    srv.set("hr", 20, [0x17])
    ring.wait(lambda d: d.get("id") == "press" and d.get("running"), 10, "press running", "machine")
    expect(send(ring, "move", "press", {"argument": 6}), "BUSY", "move press while running")
    srv.set("hr", 20, [0x15])

    # estop everything: two stop, the dead one fails
    s, data, _ = expect(send(ring, "estop", ""), "FAILED", "estop all")
    if data != {"stopped": 2, "failed": ["dead"]}:
        fail(f"estop data {data}")
    if sim.commands[-1] != (2, 0) or srv.get("co", 9) != [1]:
        fail(f"estop not seen: carousel {sim.commands[-1]}, coil {srv.get('co', 9)}")
    ring.wait(lambda d: d.get("id") == "m1" and d.get("emergency_stop") and d.get("last_command") == "estop",
              10, "m1 e-stop record", "machine")
    sim.release_estop()
    s, data, _ = expect(send(ring, "estop", "m1"), "OK", "estop m1")
    if data != {"stopped": 1, "failed": []}:
        fail(f"estop m1 data {data}")
    expect(send(ring, "estop", "nosuch"), "NOT_FOUND", "estop nosuch")
    expect(send(ring, "refresh"), "OK", "refresh")
    finish(coll)
finally:
    cleanup(coll, sim, srv, ring)
