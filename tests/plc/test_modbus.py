#!/usr/bin/python3
# test_modbus.py — ringhub-collect-plc against a real pymodbus TCP server.
#
# 1. Every type (int16 … float64) in every byte order (ABCD, CDAB, BADC, DCBA), plus a
#    register bit, a scaled value, input registers, coils and discrete inputs: the `tag`
#    records carry the exact values, twice (the registers change in between).
# 2. Merged reads: the server sees one request per planned block (≤ 125 registers), not
#    one per tag.
# 3. An address the server lacks (exception 2) makes that block's tag Bad, reported once
#    per block, while every other tag stays Good.
# 4. Deadband: moves within the deadband are not republished; a larger one is.
# 5. The server killed and restarted: tags go Bad, one "disconnected" log line however
#    many retries, then one "connected" line and Good values again.
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plclib import (Collector, ModbusServer, Ring, cleanup, fail, finish, regs_for,  # noqa: E402
                    wait_until, width)

TYPES = ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"]
ROUNDS = [
    {"int16": -12345, "uint16": 54321, "int32": -123456789, "uint32": 3000000000,
     "int64": -1234567890123456789, "uint64": 18000000000000000000, "float32": 3.25,
     "float64": -1234.5678},
    {"int16": 32767, "uint16": 1, "int32": 2147483647, "uint32": 1, "int64": 9007199254740993,
     "uint64": 5, "float32": -0.5, "float64": 1e300},
]
FILLER = 58  # uint16 tags after the typed ones: 82 + 58 = 140 registers → two reads

srv = ModbusServer().start()
ring = Ring("modbus")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-")
coll = None


def tag_name(typ, order):
    return f"{typ}_{order}"


def write_map(path, port):
    lines = ["[defaults]", "scan_time = 100ms", "timeout = 2000", "reconnect_max = 1000", "",
             "[device.plc1]", "host = 127.0.0.1", f"port = {port}", "slave_id = 1", ""]
    addr = 0
    layout = {}
    for order in ORDERS:
        for typ in TYPES:
            n = tag_name(typ, order)
            # every other tag in the vendor 1-based form, the rest 0-based with the area named
            a = f"register = holding\naddress = {addr}" if addr % 2 else f"address = {40001 + addr}"
            lines += [f"[tag.{n}]", a, f"type = {typ}", f"byte_order = {order}",
                      f"description = {typ} in {order}", "unit = u", ""]
            layout[n] = (addr, typ, order)
            addr += width(typ)
    lines += ["[tag.bit3]", "register = holding", "address = 80", "type = bit", "bit = 3", "",
              "[tag.scaled]", "address = 40082", "type = uint16", "scale = 0.1", "offset = -5",
              "unit = degC", ""]
    for k in range(FILLER):
        lines += [f"[tag.fill{k}]", "register = holding", f"address = {82 + k}", ""]
    lines += ["[tag.in_i32]", "address = 30001", "type = int32", "",
              "[tag.coil1]", "address = 00002", "",
              "[tag.di5]", "register = discrete", "address = 5", "",
              "[tag.missing]", "register = holding", "address = 250", "type = uint16", "",
              "[tag.db]", "register = holding", "address = 150", "type = uint16", "deadband = 5",
              "scan_time = 100", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return layout


def set_round(layout, values):
    for n, (addr, typ, order) in layout.items():
        srv.set("hr", addr, regs_for(values[typ], typ, order))


def matches(d, typ, want):
    if d is None or d.get("quality") != "Good":
        return False
    if typ.startswith("float"):
        return d.get("value") == want
    if want > 2**63 - 1:
        return "value_int" not in d and d.get("value") == float(want)
    return d.get("value_int") == want


try:
    layout = write_map(os.path.join(tmp, "map.ini"), srv.port)
    set_round(layout, ROUNDS[0])
    srv.set("hr", 80, [0b1000])
    srv.set("hr", 81, [1234])
    srv.set("ir", 0, regs_for(-7, "int32"))
    srv.set("co", 1, [1])
    srv.set("di", 5, [1])
    srv.set("hr", 150, [100])
    coll = Collector(ring, ["--map", os.path.join(tmp, "map.ini")], tmp)

    # 1. exact values, two rounds
    for rnd, values in enumerate(ROUNDS):
        if rnd:
            set_round(layout, values)
        for n, (addr, typ, order) in layout.items():
            d = ring.wait_latest("tag", n, lambda d, t=typ, w=values[typ]: matches(d, t, w), 20,
                                 f"round {rnd + 1}: tag {n} = {values[typ]}")
    d = ring.get("tag", tag_name("float64", "DCBA"))
    want = {"data_type": "Double", "description": "float64 in DCBA", "unit": "u",
            "endpoint": f"modbus://127.0.0.1:{srv.port}/1", "scan_time_ms": 100}
    for k, v in want.items():
        if d.get(k) != v:
            fail(f"float64_DCBA {k} = {d.get(k)!r}, want {v!r}")
    if ring.get("tag", "int16_ABCD")["data_type"] != "Int16":
        fail("int16 data_type is not Int16")
    ring.wait_latest("tag", "bit3", lambda d: d.get("value_bool") is True and d.get("data_type") == "Boolean",
                     10, "bit3 true")
    ring.wait_latest("tag", "scaled", lambda d: abs(d.get("value", 0) - 118.4) < 1e-9 and
                     d.get("data_type") == "Double" and d.get("unit") == "degC", 10, "scaled 118.4")
    ring.wait_latest("tag", "in_i32", lambda d: d.get("value_int") == -7, 10, "input register -7")
    ring.wait_latest("tag", "coil1", lambda d: d.get("value_bool") is True, 10, "coil 1 true")
    ring.wait_latest("tag", "di5", lambda d: d.get("value_bool") is True, 10, "discrete 5 true")
    srv.set("co", 1, [0])
    ring.wait_latest("tag", "coil1", lambda d: d.get("value_bool") is False, 10, "coil 1 false")
    print(f"exact values: {len(layout)} typed tags in 2 rounds, bit, scale, input, coil, discrete")

    # 2. merged reads: the requests of a steady state are exactly the planned blocks
    srv.clear()
    wait_until(lambda: len(srv.reads()) >= 60, 20, "60 reads seen by the server")
    seen = set(srv.reads())
    holding = sorted((a, n) for fc, a, n in seen if fc == 3 and a < 150)
    if len(holding) != 2 or any(n > 125 for _, n in holding) or holding[0][0] != 0 or \
            holding[0][0] + holding[0][1] != holding[1][0] or sum(n for _, n in holding) != 140:
        fail(f"holding 0-139 not read as two merged requests of ≤ 125: {holding}")
    want = {(3, 150, 1), (3, 250, 1), (4, 0, 2), (1, 1, 1), (2, 5, 1)} | set((3, a, n) for a, n in holding)
    if seen != want:
        fail(f"requests seen {sorted(seen)}, want {sorted(want)}")
    print(f"merged reads: {len(layout) + FILLER + 7} tags in {len(want)} requests per scan: {sorted(want)}")

    # 3. exception 2 on one block only
    d = ring.wait_latest("tag", "missing", lambda d: d.get("quality") == "Bad", 10, "tag 'missing' Bad")
    if d.get("status_code") != 0x80340000:
        fail(f"missing: status_code {d.get('status_code')!r}, want BadNodeIdUnknown")
    src = f"modbus://127.0.0.1:{srv.port}/1 holding 250-250"
    st = ring.wait_latest("source_status", src, lambda d: d.get("status") == "down", 10, "block status")
    if "exception 2" not in st["message"]:
        fail(f"block status message {st['message']!r}")
    if len(coll.lines("holding 250-250: read failed")) != 1:
        fail(f"the failing block was not logged exactly once: {coll.lines('250-250')}")
    for n in layout:
        if ring.get("tag", n)["quality"] != "Good":
            fail(f"{n} went Bad with the failing block")
    print(f"exception 2: one block Bad ({st['message']}), logged once, the others Good")

    # 4. deadband 5 around 100: 103, 104 are not published; 110 is
    ring.wait_latest("tag", "db", lambda d: d.get("value_int") == 100, 10, "db = 100")
    mark = ring.mark()
    for v in (103, 104):
        srv.set("hr", 150, [v])
        srv.clear()
        wait_until(lambda: sum(1 for r in srv.reads() if r[:2] == (3, 150)) >= 3, 10,
                   f"3 reads of db at {v}")
    srv.set("hr", 150, [110])
    ring.wait(lambda d: d.get("name") == "db" and d.get("value_int") == 110, 10, "db = 110", "tag", mark)
    small = [d.get("value_int") for d in ring.since(mark, "tag") if d.get("name") == "db" and d.get("value_int") in (103, 104)]
    if small:
        fail(f"moves within the deadband were published: {small}")
    print("deadband: 103 and 104 held back, 110 published")

    # 5. kill and restart
    port = srv.port
    srv.kill()
    src = f"modbus://127.0.0.1:{port}/1"
    ring.wait_latest("source_status", src, lambda d: d.get("status") == "down", 15, "device down")
    ring.wait_latest("tag", "int16_ABCD", lambda d: d.get("quality") == "Bad" and d.get("status_code") == 0x80310000,
                     10, "tags Bad after the kill")
    time.sleep(4)  # several reconnect attempts (0.5 s, 1 s, 1 s …)
    down = coll.lines(f"{src}: disconnected")
    if len(down) != 1:
        fail(f"want one 'disconnected' line, got {down}")
    srv = ModbusServer(port).start()
    set_round(layout, ROUNDS[1])
    ring.wait_latest("source_status", src, lambda d: d.get("status") == "up", 20, "device up again")
    ring.wait_latest("tag", "float32_CDAB", lambda d: matches(d, "float32", -0.5), 20, "values after restart")
    up = coll.lines(f"{src}: connected")
    down = coll.lines(f"{src}: disconnected")
    if len(up) != 2 or len(down) != 1:
        fail(f"want 2 'connected' and 1 'disconnected' lines, got {up} {down}")
    print("restart: one line each way, values back")
    finish(coll)
finally:
    cleanup(coll, srv, ring)
