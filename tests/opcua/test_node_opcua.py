#!/usr/bin/python3
# test_node_opcua.py — our OPC UA client and ringhub-collect-opcua against a real node-opcua server.
#
# 1. ua-tool (the library): Read returns the right values and types, a missing node
#    gives BadNodeIdUnknown, Browse from Objects (85) finds the test folder (with
#    BrowseNext), Write to the Int32 is read back, the subscription delivers changes
#    within two sampling intervals and the absolute deadband suppresses small changes,
#    the secure channel is renewed before its lifetime ends.
# 2. The collector: tag records with the right types for every test node, a namespace-URI
#    tag resolved through the NamespaceArray, the bad NodeId reported while the others
#    flow; server stopped → `disconnected` record within the keep-alive time; server
#    back → `connected`, subscription re-created, values flow again.
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Ring, Server, binary, conn, fail, tag  # noqa: E402

tool = binary("collectors/opcua/ua-tool")
collector = binary("collectors/opcua/ringhub-collect-opcua")
srv = Server().start()
ring = None
coll = None


def ua(*args, timeout=20):
    p = subprocess.run([tool, *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"ua-tool {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return [line.split("\t") for line in p.stdout.splitlines()]


try:
    # ---- the library through ua-tool ----
    rows = ua("read", srv.url, "ns=1;s=Plant.Temperature", "ns=1;s=Plant.Running", "ns=1;s=Plant.Label",
              "ns=1;i=1001", "ns=1;s=Plant.Array", "ns=1;s=Plant.Missing", "i=2255")
    got = {r[0]: r[1:] for r in rows}
    t = got["ns=1;s=Plant.Temperature"]
    if t[0] != "Double" or not 14.9 <= float(t[1]) <= 25.1 or t[2] != "Good":
        fail(f"Temperature read {t}")
    if got["ns=1;s=Plant.Running"] != ["Boolean", "true", "Good"]:
        fail(f"Running read {got['ns=1;s=Plant.Running']}")
    if got["ns=1;s=Plant.Label"] != ["String", "Line 1", "Good"]:
        fail(f"Label read {got['ns=1;s=Plant.Label']}")
    if got["ns=1;i=1001"][0] != "Int32" or got["ns=1;i=1001"][2] != "Good":
        fail(f"Setpoint read {got['ns=1;i=1001']}")
    if got["ns=1;s=Plant.Array"] != ["Double[]", "[1.5,2.5,3.5]", "Good"]:
        fail(f"Array read {got['ns=1;s=Plant.Array']}")
    if got["ns=1;s=Plant.Missing"][2] != "BadNodeIdUnknown":
        fail(f"missing node read {got['ns=1;s=Plant.Missing']}")
    if "urn:ringhub-test:plant" not in got["i=2255"][1]:
        fail(f"NamespaceArray {got['i=2255']}")
    print("read: values and types ok")

    rows = ua("browse", srv.url, "i=85", "2")
    names = {r[1] for r in rows if r[0] != "pages"}
    pages = int([r for r in rows if r[0] == "pages"][0][1])
    if "Plant" not in names or "Server" not in names or pages < 2:
        fail(f"browse of Objects found {names} in {pages} pages")
    print(f"browse: {len(names)} references in {pages} pages (BrowseNext) ok")

    if ua("write", srv.url, "ns=1;i=1001", "Int32", "4242") != [["Good"]]:
        fail("write not Good")
    if ua("read", srv.url, "ns=1;i=1001")[0][1:3] != ["Int32", "4242"]:
        fail("written Int32 not read back")
    print("write: read back ok")

    rows = ua("subscribe", srv.url, "3", "ns=1;s=Plant.Temperature", "ns=1;s=Plant.Ramp@0.5",
              "ns=1;s=Plant.Ramp", "ns=1;s=Plant.Missing")
    items = {r[1]: r[2] for r in rows if r[0] == "item"}
    if items != {"1": "Good", "2": "Good", "3": "Good", "4": "BadNodeIdUnknown"}:
        fail(f"monitored item results {items}")
    data = [(int(r[0]), r[1], float(r[2])) for r in rows if r[0] != "item"]
    temp = [ms for ms, h, v in data if h == "1"]
    gaps = [b - a for a, b in zip(temp, temp[1:])]
    if len(temp) < 10 or max(gaps) > 2 * 100 + 50:
        fail(f"Temperature changes at {temp}: not within two 100 ms sampling intervals")
    raw = [v for ms, h, v in data if h == "3"]
    band = [v for ms, h, v in data if h == "2"]
    if len(raw) < 15 or not 2 <= len(band) <= len(raw) // 3:
        fail(f"deadband 0.5 on a 0.1/100 ms ramp: {len(band)} changes vs {len(raw)} without")
    if any(abs(b - a) < 0.5 - 1e-9 for a, b in zip(band, band[1:])):
        fail(f"deadband let a small change through: {band}")
    print(f"subscribe: {len(temp)} changes, max gap {max(gaps)} ms; deadband {len(band)} vs {len(raw)} ok")

    rows = ua("renew", srv.url, "2000", "3")
    if int(rows[0][1]) < 1 or rows[1][2] != "Good" and rows[1][3] != "Good":
        fail(f"secure channel renewal: {rows}")
    print(f"renew: {rows[0][1]} renewals, channel still usable ok")

    # ---- the collector ----
    ring = Ring(f"test-opcua-{os.getpid()}")
    coll = subprocess.Popen([collector, "--ring", ring.name, "--endpoint", srv.url, "--reconnect-max", "1000",
                             "--tag", "temp=ns=1;s=Plant.Temperature,interval=100,unit=°C,desc=Plant temperature",
                             "--tag", "running=ns=1;s=Plant.Running",
                             "--tag", "label=ns=1;s=Plant.Label",
                             "--tag", "setpoint=ns=1;i=1001",
                             "--tag", "array=ns=1;s=Plant.Array",
                             "--tag", "missing=ns=1;s=Plant.Missing",
                             "--tag", "pressure=nsu=urn:ringhub-test:plant;s=Plant.Pressure",
                             "--tag", "ramp=ns=1;s=Plant.Ramp,interval=100,deadband=0.5"])
    ring.wait(lambda r: conn(r, "connected") and r["data"]["server_uri"] == "urn:ringhub-test:opcua", 15,
              "connected record with the server URI")
    seen = {}
    end = time.time() + 10
    while time.time() < end and len(seen) < 8:
        r = ring.wait(lambda r: tag(r), 10, "tag record")
        seen.setdefault(r["data"]["name"], r["data"])
    want = {"temp": "Double", "running": "Boolean", "label": "String", "setpoint": "Int32",
            "array": "Double[]", "pressure": "Double", "ramp": "Double"}
    for name, dt in want.items():
        if name not in seen or seen[name].get("data_type") != dt or seen[name]["quality"] != "Good":
            fail(f"tag {name}: {seen.get(name)} (want {dt}, Good)")
    if seen["running"].get("value_bool") is not True or seen["label"]["value_string"] != "Line 1":
        fail(f"bool/string values: {seen['running']} {seen['label']}")
    if seen["setpoint"].get("value_int") != 4242 or seen["pressure"]["value"] != 3.25:
        fail(f"int/ns-uri values: {seen['setpoint']} {seen['pressure']}")
    if seen["temp"].get("description") != "Plant temperature" or seen["temp"].get("scan_time_ms") != 100:
        fail("tag configuration in the record: %r" % seen["temp"])
    if seen["temp"]["unit"] != "°C" or not seen["temp"].get("source_time"):
        fail(f"temp record {seen['temp']}")
    m = seen.get("missing")
    if not m or m["quality"] != "Bad" or m["status_code"] != 0x80340000:
        fail(f"missing node not reported as BadNodeIdUnknown: {m}")
    print("collector: every tag type ok, bad NodeId reported, namespace URI resolved")

    # ---- server stopped and back ----
    recs = ring.collect(1.0)
    if not any(tag(r, "temp") for r in recs):
        fail("temp values do not flow")
    t_stop = time.time()
    srv.stop()
    r = ring.wait(lambda r: conn(r, "disconnected"), 10, "disconnected record after the server stopped")
    print(f"disconnected after {time.time() - t_stop:.2f} s: {r['data']['reason']}")
    time.sleep(1.5)
    srv.start()
    t_start = time.time()
    ring.wait(lambda r: conn(r, "connected"), 20, "connected record after the server came back")
    ring.wait(lambda r: tag(r, "temp") and r["data"]["quality"] == "Good", 10, "temp values after reconnect")
    print(f"reconnected and values flow again {time.time() - t_start:.2f} s after the restart")
    if coll.poll() is not None:
        fail(f"collector exited {coll.returncode}")
    coll.send_signal(signal.SIGTERM)
    if coll.wait(10) != 0:
        fail(f"collector exit code {coll.returncode}")
    coll = None
    print("PASS")
finally:
    if coll and coll.poll() is None:
        coll.kill()
        coll.wait()
    if ring:
        ring.close()
    srv.cleanup()
