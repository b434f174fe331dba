#!/usr/bin/python3
"""Restart drill, with the processes started directly as the units would start them.

1. hub + system, network and disks collectors on a private ring and a free port;
   a native /ws client (module events) and an Unraid /api/v1/ws client (data).
2. Each collector in turn: kill -9, then start it again. The native client sees
   module.status_change online → offline (process gone), then offline → online
   (restarted); the other collectors' data keeps flowing meanwhile.
3. kill -9 the hub and start it again on the same port: the collectors never notice
   (same pids, same registry generation) and a new client gets the full snapshot at
   once, rebuilt from the ring, long before any collector's next interval.

usage: test_restart.py BUILD_DIR
"""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

try:
    import websockets
except ImportError:
    print("python3-websockets missing", file=sys.stderr)
    sys.exit(77)

BUILD = sys.argv[1]
HUB = os.path.join(BUILD, "hub", "ringhub")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
RING = "test-restart-%d" % os.getpid()
# Long intervals for disks and network: after the hub restart their state can only come
# from the ring, not from a fresh cycle.
COLLECTORS = {"system": ["--interval", "300"], "network": ["--interval", "60000"],
              "disks": ["--interval", "60000", "--interval-array", "60000",
                        "--interval-shares", "60000", "--interval-smart", "3600000"]}


def fail(msg):
    raise AssertionError(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


PORT = free_port()
procs = {}


def start_hub():
    p = subprocess.Popen([HUB, "--ring", RING, "--listen", "127.0.0.1:%d" % PORT],
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    fail("hub did not listen")


def start_collector(name):
    exe = os.path.join(BUILD, "collectors", "ringhub-collect-" + name)
    procs[name] = subprocess.Popen([exe, "--ring", RING] + COLLECTORS[name],
                                   stderr=subprocess.DEVNULL)


def generations():
    out = subprocess.run([CTL, "--ring", RING, "stat", "--json"], capture_output=True, text=True)
    st = json.loads(out.stdout)
    return {p["name"]: (p["pid"], p["generation"]) for p in st["producers"]}


async def native_client():
    ws = await websockets.connect("ws://127.0.0.1:%d/ws" % PORT, max_size=None)
    await ws.send(json.dumps({"type": "subscribe", "events": ["module.*"]}))
    return ws


async def next_module_event(ws, name, want_new, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if m.get("type") == "module.status_change" and m["data"].get("module_id") == name \
                and m["data"].get("new_status") == want_new:
            return m["data"]
    fail("no module.status_change %s → %s within %.0f s" % (name, want_new, timeout))


async def unraid_collect(ws, seconds):
    """Events per topic received in the window, and the largest gap between system ones."""
    seen, last_sys, gap = {}, None, 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            m = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic())))
        except asyncio.TimeoutError:
            break
        seen[m["event"]] = seen.get(m["event"], 0) + 1
        if m["event"] == "system_update":
            now = time.monotonic()
            if last_sys is not None:
                gap = max(gap, now - last_sys)
            last_sys = now
    return seen, gap


async def drill():
    native = await native_client()
    data = await websockets.connect("ws://127.0.0.1:%d/api/v1/ws" % PORT, max_size=None)
    await unraid_collect(data, 1.0)  # snapshot and warm-up
    for name in COLLECTORS:
        procs[name].send_signal(signal.SIGKILL)
        procs[name].wait()
        d = await next_module_event(native, name, "offline", 5)
        if d.get("old_status") != "online" or d.get("error_code") != "MOD-001":
            fail("%s death: %r" % (name, d))
        if name != "system":
            # The others keep flowing while one is down: system every 300 ms.
            seen, gap = await unraid_collect(data, 1.5)
            if seen.get("system_update", 0) < 3 or gap > 1.0:
                fail("system data stalled while %s was down: %r, gap %.2f s" % (name, seen, gap))
        start_collector(name)
        d = await next_module_event(native, name, "online", 5)
        if d.get("old_status") != "offline":
            fail("%s back: %r" % (name, d))
        print("%s: killed, seen offline, restarted, seen online (%s)" %
              (name, d.get("error_description")))
    seen, gap = await unraid_collect(data, 1.0)
    if seen.get("system_update", 0) < 2:
        fail("system data after the drill: %r" % seen)
    await native.close()
    await data.close()


async def after_hub_restart(before):
    t0 = time.monotonic()
    ws = await websockets.connect("ws://127.0.0.1:%d/api/v1/ws" % PORT, max_size=None)
    seen = {}
    while len(seen) < 9 and time.monotonic() - t0 < 5:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        seen[m["event"]] = m["data"]
    took = time.monotonic() - t0
    await ws.close()
    for topic in ("system_update", "network_list_update", "disk_list_update",
                  "array_status_update", "share_list_update"):
        if topic not in seen:
            fail("snapshot after hub restart lacks %s (got %s)" % (topic, sorted(seen)))
    if not seen["network_list_update"]:
        fail("network list empty after hub restart: state was not rebuilt from the ring")
    if not seen["disk_list_update"]:
        fail("disk list empty after hub restart: state was not rebuilt from the ring")
    if took > 2.0:
        fail("snapshot took %.2f s" % took)
    after = generations()
    for name in COLLECTORS:
        if after.get(name) != before.get(name):
            fail("collector %s noticed the hub restart: %r → %r" % (name, before.get(name),
                                                                      after.get(name)))
        if procs[name].poll() is not None:
            fail("collector %s exited when the hub restarted" % name)
    print("hub restart: full snapshot (%d topics) in %.0f ms, collectors untouched" %
          (len(seen), took * 1000))


def main():
    for exe in [HUB, CTL] + [os.path.join(BUILD, "collectors", "ringhub-collect-" + n)
                             for n in COLLECTORS]:
        if not os.access(exe, os.X_OK):
            print("not built: " + exe, file=sys.stderr)
            sys.exit(77)
    hub = start_hub()
    try:
        for name in COLLECTORS:
            start_collector(name)
        time.sleep(1.5)  # every collector has written at least once
        asyncio.run(drill())
        before = generations()
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        time.sleep(0.3)
        hub = start_hub()
        asyncio.run(after_hub_restart(before))
    finally:
        for p in list(procs.values()) + [hub]:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run([CTL, "--ring", RING, "rm"], capture_output=True)
    print("ok")


main()
