#!/usr/bin/python3
"""The hub and its configuration file: [hub] keys are applied at start (flags win),
a bad file is refused with FILE:LINE, and SIGHUP applies reloadable keys at once,
reports the others as needing a restart, keeps the running configuration when the new
file is broken, and tells native /ws clients with one config.updated event.

usage: test_hubconf.py BUILD_DIR
"""
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import websockets
except ImportError:
    print("python3-websockets missing", file=sys.stderr)
    sys.exit(77)

BUILD = sys.argv[1]
HUB = os.path.join(BUILD, "hub", "ringhub")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
RING = "test-hubconf-%d" % os.getpid()


def fail(msg):
    raise AssertionError(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


PORT = free_port()
URL = "ws://127.0.0.1:%d" % PORT


def write(path, text):
    with open(path + ".new", "w") as f:
        f.write(text)
    os.rename(path + ".new", path)


async def connect_many(n):
    """Open n Unraid clients; return (open sockets, refusals)."""
    socks, refused = [], 0
    for _ in range(n):
        try:
            socks.append(await websockets.connect(URL + "/api/v1/ws", open_timeout=5))
        except (websockets.exceptions.InvalidStatusCode, websockets.exceptions.InvalidHandshake):
            refused += 1
    return socks, refused


async def config_event(ws, timeout=5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
        if m.get("type") == "config.updated":
            return m["data"]
    fail("no config.updated within %.0f s" % timeout)


async def scenario(hub, conf):
    socks, refused = await connect_many(3)
    if len(socks) != 2 or refused != 1:
        fail("max_clients = 2 from the file: %d open, %d refused" % (len(socks), refused))
    for s in socks:
        await s.close()
    await asyncio.sleep(0.3)

    native = await websockets.connect(URL + "/ws")
    await native.send(json.dumps({"type": "subscribe", "events": ["config.*"]}))
    # Reloadable: max_clients 2 → 4. Not reloadable: listen.
    write(conf, "[hub]\nmax_clients = 4\nlisten = 127.0.0.1:1\n")
    hub.send_signal(signal.SIGHUP)
    d = await config_event(native)
    ch = d.get("changes", {})
    mc = ch.get("hub.max_clients", {})
    if mc.get("old") != "2" or mc.get("new") != "4" or mc.get("applied") is not True:
        fail("config.updated max_clients: %r" % d)
    if ch.get("hub.listen", {}).get("needs_restart") is not True:
        fail("listen must need a restart: %r" % d)
    if d.get("status") != "partially_applied" or d.get("updated_by") != "SIGHUP":
        fail("config.updated: %r" % d)
    for k in ("config_id", "version", "updated_by", "changes", "status"):
        if k not in d:
            fail("config.updated lacks %s: %r" % (k, d))
    socks, refused = await connect_many(4)  # the native client is the fifth, /ws counts too
    if len(socks) < 3:
        fail("after reload max_clients = 4: only %d opened" % len(socks))
    for s in socks:
        await s.close()

    # A broken file: the running configuration stays, clients are told it was rejected.
    write(conf, "[hub]\nmax_clients = lots\n")
    hub.send_signal(signal.SIGHUP)
    d = await config_event(native)
    if d.get("status") != "rejected":
        fail("broken file: %r" % d)
    if hub.poll() is not None:
        fail("hub died on a broken config at reload")
    await native.close()


def main():
    if not os.access(HUB, os.X_OK):
        print("hub not built", file=sys.stderr)
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="ringhub-hubconf-")
    conf = os.path.join(tmp, "ringhub.conf")
    try:
        # Refused at start with file:line.
        write(conf, "[hub]\nmax_clients = 2\nping_intervall = 5s\n")
        p = subprocess.run([HUB, "--config", conf, "--ring", RING, "--listen",
                            "127.0.0.1:%d" % PORT], capture_output=True, text=True, timeout=20)
        if p.returncode != 2 or "ringhub.conf:3:" not in p.stderr:
            fail("bad file at start: exit %d, %r" % (p.returncode, p.stderr))

        write(conf, "[hub]\nmax_clients = 2\n")
        hub = subprocess.Popen([HUB, "--config", conf, "--ring", RING, "--listen",
                                "127.0.0.1:%d" % PORT], stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/api/v1/health" % PORT, timeout=1)
                    break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.05)
            asyncio.run(scenario(hub, conf))
        finally:
            hub.send_signal(signal.SIGTERM)
            _, err = hub.communicate(timeout=10)
        if hub.returncode != 0:
            fail("hub exit %d: %s" % (hub.returncode, err[-800:]))
        if "hub.max_clients = 4 (was 2), applied" not in err or "ringhub.conf:2:" not in err:
            fail("reloads must be logged: %s" % err[-800:])

        # A flag beats the file.
        write(conf, "[hub]\nmax_clients = 1\n")
        hub = subprocess.Popen([HUB, "--config", conf, "--ring", RING, "--max-clients", "3",
                                "--listen", "127.0.0.1:%d" % PORT], stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.5)

            async def three():
                socks, refused = await connect_many(3)
                for s in socks:
                    await s.close()
                return len(socks)
            n = asyncio.run(three())
            if n != 3:
                fail("--max-clients 3 must override the file's 1: %d opened" % n)
        finally:
            hub.terminate()
            hub.wait(timeout=10)
    finally:
        subprocess.run([CTL, "--ring", RING, "rm"], capture_output=True)
    print("ok")


main()
