#!/usr/bin/python3
# test_reconnect.py — while the server is down, ringhub-collect-opcua keeps retrying but
# writes one `disconnected` opcua_conn record per outage, not one (plus a `connecting`)
# per attempt: clients see on.opcua.disconnected once (issue 19, item 7).
#
# The "server" accepts each TCP connection and closes it at once, so every reconnect
# attempt is counted and fails the same way; then nothing listens at all (refused).
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Ring, binary, fail, stop_collector  # noqa: E402

collector = binary("collectors/opcua/ringhub-collect-opcua")
ring = Ring(f"test-opcua-reconnect-{os.getpid()}")
coll = None
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind(("127.0.0.1", 0))
lsock.listen(16)
port = lsock.getsockname()[1]
accepted = 0
closing = False


def serve():
    global accepted
    while not closing:
        try:
            c, _ = lsock.accept()
        except OSError:
            return
        accepted += 1
        c.close()


def conn_recs(recs):
    return [r for r in recs if r.get("type") == "opcua_conn"]


try:
    threading.Thread(target=serve, daemon=True).start()
    coll = subprocess.Popen([collector, "--ring", ring.name, "--endpoint", f"opc.tcp://127.0.0.1:{port}",
                             "--reconnect-max", "500", "--tag", "t=ns=1;s=Plant.Temperature"],
                            stderr=subprocess.PIPE, text=True)
    end = time.time() + 30
    while accepted < 5 and time.time() < end:
        time.sleep(0.05)
    if accepted < 5:
        fail(f"only {accepted} connection attempts in 30 s (collector exit {coll.poll()})")
    recs = conn_recs(ring.collect(1.0))
    states = [r["data"]["state"] for r in recs]
    down = [r for r in recs if r["data"]["connected"] is False]
    # One "connecting" at start, then one "disconnected" for the whole outage.
    if states.count("disconnected") != 1 or states.count("connecting") > 1 or len(down) > 2:
        fail(f"{accepted} attempts wrote {len(recs)} opcua_conn records: {states}")

    # Still down, now refused: the same outage, no record at all.
    closing = True
    lsock.close()
    recs = conn_recs(ring.collect(2.0))
    states = [r["data"]["state"] for r in recs]
    if recs:
        fail(f"refused attempts wrote {len(recs)} opcua_conn records: {states}")
    if coll.poll() is not None:
        fail(f"collector died (exit {coll.returncode})")
    err = stop_collector(coll)
    coll = None
    warnings = err.count(": disconnected:")
    if warnings != 1:
        fail(f"'disconnected' warned {warnings} times for one outage:\n{err[-2000:]}")
    print(f"{accepted} attempts while down: one disconnected record, one warning")
    print("PASS")
finally:
    closing = True
    try:
        lsock.close()
    except OSError:
        pass
    if coll and coll.poll() is None:
        coll.kill()
        coll.wait()
    ring.close()
