#!/usr/bin/python3
# test_hostile.py — ringhub-collect-plc against PLCs that misbehave.
#
# Carousels that never answer, answer 3 bytes, or 1 byte and then nothing; Modbus servers
# that accept and never answer, or answer garbage. Each is reported (a disconnected
# machine with the reason, a source_status down, one log line), none crashes or stalls the
# collector, and a good carousel and a good Modbus device beside them keep being polled at
# their own pace: a change on them shows up well inside the hostile peers' timeout.
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plclib import (Carousel, Collector, ModbusServer, RawServer, Ring, cleanup,  # noqa: E402
                    fail)

SLOW_MS = 8000  # the hostile peers' timeout: a stall would show as a delay this long


good = Carousel(move_time=0.2)
silent = Carousel(mode="silent")
garbage = Carousel(mode="garbage")
short = Carousel(mode="short")
mute, junk = RawServer("mute"), RawServer("junk")
srv = ModbusServer().start()
ring = Ring("hostile")
tmp = tempfile.mkdtemp(prefix="ringhub-plc-")
coll = None

try:
    with open(os.path.join(tmp, "map.ini"), "w") as f:
        f.write(f"""[defaults]
scan_time = 100
timeout = 2000
reconnect_max = 1000

[device.ok]
host = 127.0.0.1
port = {srv.port}

[device.mute]
host = 127.0.0.1
port = {mute.port}
timeout = {SLOW_MS}

[device.junk]
host = 127.0.0.1
port = {junk.port}
timeout = 500

[tag.ok]
device = ok
address = 40001

[tag.mute]
device = mute
address = 40001

[tag.junk]
device = junk
address = 40001

[machine.silent]
host = 127.0.0.1
port = {silent.port}
timeout = {SLOW_MS}

[machine.garbage]
host = 127.0.0.1
port = {garbage.port}
timeout = 500

[machine.short]
host = 127.0.0.1
port = {short.port}
timeout = 500
""")
    coll = Collector(ring, ["--map", os.path.join(tmp, "map.ini"), "--interval", "100",
                            "--machine", f"good=127.0.0.1:{good.port}"], tmp)

    # reported, with a reason
    for mid, words in (("garbage", "wrong length"), ("short", "short reply")):
        d = ring.wait(lambda d, m=mid: d.get("id") == m and d.get("connection_status") == "disconnected",
                      20, f"{mid} disconnected", "machine")
        if words not in d.get("error"):
            fail(f"{mid}: error {d['error']!r} does not say '{words}'")
        print(f"{mid}: {d['error']}")
    src = f"modbus://127.0.0.1:{junk.port}/1"
    d = ring.wait(lambda d: d.get("source") == src and d.get("status") == "down", 20, "junk device down",
                  "source_status")
    print(f"junk Modbus server: {d['message']}")
    ring.wait(lambda d: d.get("name") == "junk" and d.get("quality") == "Bad", 20, "junk tag Bad", "tag")

    # the good ones are not held up by the silent ones (SLOW_MS timeouts)
    ring.wait(lambda d: d.get("id") == "good" and d.get("connected"), 20, "good carousel", "machine")
    ring.wait(lambda d: d.get("name") == "ok" and d.get("quality") == "Good", 20, "ok tag", "tag")
    for k in range(3):
        mark = ring.mark()
        t0 = time.monotonic()
        good.start_move(10 + k)
        srv.set("hr", 0, [1000 + k])
        ring.wait(lambda d: d.get("id") == "good" and d.get("position") == 10 + k and not d.get("running"),
                  SLOW_MS / 2000, f"good carousel at {10 + k} while peers are silent", "machine", mark)
        ring.wait(lambda d: d.get("name") == "ok" and d.get("value_int") == 1000 + k, SLOW_MS / 2000,
                  f"ok tag = {1000 + k} while peers are silent", "tag", mark)
        print(f"round {k}: good carousel and ok device updated in {time.monotonic() - t0:.2f} s")

    # the silent ones time out in the end, and are reported
    d = ring.wait(lambda d: d.get("id") == "silent" and d.get("connection_status") == "disconnected",
                  SLOW_MS / 1000 + 20, "silent carousel disconnected", "machine")
    print(f"silent carousel: {d['error']}")
    src = f"modbus://127.0.0.1:{mute.port}/1"
    d = ring.wait(lambda d: d.get("source") == src and d.get("status") == "down", SLOW_MS / 1000 + 20,
                  "mute device down", "source_status")
    print(f"mute Modbus server: {d['message']}")

    # one line per change, not per retry (the junk peers were retried many times by now)
    time.sleep(3)
    for name, port in (("garbage", garbage.port), ("short", short.port)):
        lines = coll.lines(f"carousel://127.0.0.1:{port}: disconnected")
        if len(lines) != 1:
            fail(f"{name}: want one disconnected line, got {lines}")
        peer = {"garbage": garbage, "short": short}[name]
        if peer.connections < 3:
            fail(f"{name}: only {peer.connections} connection attempts (no retries?)")
    if junk.connections < 3 or len(coll.lines(f"127.0.0.1:{junk.port}/1: disconnected")) != 1:
        fail(f"junk: {junk.connections} connections, lines "
             f"{coll.lines(f'127.0.0.1:{junk.port}/1')}")
    if not coll.alive():
        fail("collector died")
    t0 = time.monotonic()
    coll.stop()
    print(f"stopped cleanly in {time.monotonic() - t0:.1f} s")
    print("PASS")
finally:
    cleanup(coll, good, silent, garbage, short, mute, junk, srv, ring)
