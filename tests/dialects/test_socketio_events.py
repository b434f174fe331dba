"""test_socketio_events.py — the hub's own events reach Socket.IO and LedFx clients.

An emergency stop requested by a native /ws client and a configuration reload (the file
changed, then SIGHUP) are published once through the hub's one publish path and reach:
the real socket.io-client from npm (events `safety_estop` and `config_updated`,
docs/wire-socketio.md), a LedFx client subscribed to both by event type, and the native
client itself (safety.estop, config.updated). Skips when node or the npm peer is missing.
"""
import asyncio
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

import websockets

from dtest import Fail, check, recv_until, run, skip

HERE = os.path.dirname(os.path.abspath(__file__))

node = shutil.which("node")
if not node:
    skip("node is not installed")
if not os.path.isdir(os.path.join(HERE, "node_modules", "socket.io-client")):
    skip("socket.io-client is not installed (npm ci in tests/dialects)")


def start_js(env):
    p = subprocess.Popen([node, os.path.join(HERE, "sio_events.js"), env.http_url()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE)
    env.procs.append(p)
    p.log = open(os.devnull, "w")
    lines = queue.Queue()

    def reader():
        for line in p.stdout:
            if line.startswith("{"):
                lines.put(json.loads(line))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    return p, lines


def js_wait(lines, ev, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            m = lines.get(timeout=max(0.01, end - time.time()))
        except queue.Empty:
            break
        if m is None:
            break
        if m["ev"] == ev:
            return m
        check(m["ev"] not in ("timeout", "connect_error"), f"socket.io-client: {m}")
    raise Fail(f"socket.io-client got no {ev}")


async def scenario(env, conf, lines):
    async with websockets.connect(env.url("/ws")) as native, \
            websockets.connect(env.url("/api/websocket")) as ledfx:
        await recv_until(native, lambda m: m.get("type") == "welcome", what="welcome")
        await recv_until(ledfx, lambda m: m.get("event_type") == "client_id", what="client_id")
        for i, name in ((1, "safety_estop"), (2, "config_updated")):
            await ledfx.send(json.dumps({"id": i, "type": "subscribe_event", "event_type": name}))
            m = await recv_until(ledfx, lambda m: m.get("id") == i, what=f"subscribe {name}")
            check(m["success"] is True, f"LedFx subscribe {name}: {m}")

        # An emergency stop from the native client: one event, every dialect that names it.
        await native.send(json.dumps({"type": "emergency_stop", "reason": "sio_test",
                                      "request_id": "e1"}))
        m = await recv_until(native, lambda m: m.get("type") == "command_result", what="estop")
        check(m["success"] is True and m["request_id"] == "e1", f"estop reply {m}")
        estop_id = m["data"]["estop_id"]
        got = js_wait(lines, "safety_estop")["data"]
        check(got["estop_id"] == estop_id and got["reason"] == "sio_test"
              and got["trigger_type"] == "remote" and got["auto_recovery"] is False,
              f"Socket.IO safety_estop {got}")
        m = await recv_until(ledfx, lambda m: m.get("event_type") == "safety_estop",
                             what="LedFx safety_estop")
        check(m["id"] == 1 and m["estop_id"] == estop_id, f"LedFx safety_estop {m}")

        # A reload: the file changed, then SIGHUP.
        with open(conf + ".new", "w") as f:
            f.write("[hub]\nmax_clients = 60\ncontrol = on\n")
        os.rename(conf + ".new", conf)
        env.hub.send_signal(signal.SIGHUP)
        got = js_wait(lines, "config_updated")["data"]
        mc = got["changes"].get("hub.max_clients", {})
        check(got["updated_by"] == "SIGHUP" and got["status"] == "applied"
              and mc.get("old") == "50" and mc.get("new") == "60" and mc.get("applied") is True,
              f"Socket.IO config_updated {got}")
        m = await recv_until(ledfx, lambda m: m.get("event_type") == "config_updated",
                             what="LedFx config_updated")
        check(m["id"] == 2 and m["version"] == got["version"], f"LedFx config_updated {m}")
        m = await recv_until(native, lambda m: m.get("type") == "config.updated",
                             what="native config.updated")
        check(m["data"]["version"] == got["version"], f"native config.updated {m}")


def main(env):
    conf = env.write("ringhub.conf", "[hub]\nmax_clients = 50\ncontrol = on\n")
    env.start_hub("--config", conf)
    p, lines = start_js(env)
    js_wait(lines, "connect")
    asyncio.run(scenario(env, conf, lines))
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        raise Fail("socket.io-client did not finish")
    check(p.returncode == 0, f"socket.io-client exited {p.returncode}")
    env.stop_hub()


run("socketio-events", main)
