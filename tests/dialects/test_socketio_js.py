"""test_socketio_js.py — the Socket.IO dialect with socket.io-client from npm (JavaScript).

The real JS client (transports: ["websocket"]) connects, receives on_connection with the
seven keys and the UPS state as an event, gets an ack for an emit, and disconnects; the
hub sees the disconnect. With auth on, a valid token connects and a forged one gets
connect_error with the hub's message. Skips when node or the npm peer is missing.
"""
import json
import os
import shutil
import subprocess
import time

from dtest import check, run, skip

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = {"tags", "alarms", "machines", "last_alarms", "last_active_alarms", "last_events",
        "last_logs"}

node = shutil.which("node")
if not node:
    skip("node is not installed")
if not os.path.isdir(os.path.join(HERE, "node_modules", "socket.io-client")):
    skip("socket.io-client is not installed (npm ci in tests/dialects)")


def js(env, token=None):
    argv = [node, os.path.join(HERE, "sio_client.js"), env.http_url()] + ([token] if token else [])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=HERE)
    lines = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    check(p.returncode == 0, f"node exited {p.returncode}: {p.stderr[-800:]} {lines}")
    return {m["ev"]: m for m in lines}


def count_clients(env):
    return len(json.loads(env.get("/api/clients", token=getattr(env, "token", None))[1]))


def main(env):
    env.start_hub()
    env.inject("ups", "connected=true", "battery_charge_percent=77.0")
    time.sleep(0.3)
    got = js(env)
    check("connect" in got, f"no connect: {got}")
    check(set(got["on_connection"]["data"]) == KEYS, f"on_connection {got['on_connection']}")
    check(got["ups_status_update"]["data"]["battery_charge_percent"] == 77.0, "ups event")
    check(got["ack"]["err"] is None and got["ack"]["res"]["pong"] is True, f"ack {got['ack']}")
    check(got["disconnect"]["reason"] == "io client disconnect", f"{got['disconnect']}")
    end = time.time() + 5
    while time.time() < end and count_clients(env):
        time.sleep(0.05)
    check(count_clients(env) == 0, "hub did not see the disconnect")
    env.stop_hub()

    # With auth: a good token connects, a forged one is refused with 44.
    secret = env.write("secret", "js-test-secret-0123456789abcdef\n")
    env.start_hub("--auth", "jwt", "--jwt-secret-file", secret)
    import jwt
    good = jwt.encode({"sub": "js", "role": "viewer", "exp": int(time.time()) + 60},
                      "js-test-secret-0123456789abcdef", algorithm="HS256")
    forged = jwt.encode({"sub": "js", "role": "admin", "exp": int(time.time()) + 60},
                        "not-the-secret-0123456789abcdef", algorithm="HS256")
    env.token = good
    got = js(env, good)
    check("connect" in got and "ack" in got, f"with token: {got}")
    got = js(env, forged)
    check("connect" not in got and "connect_error" in got, f"forged: {got}")
    check("Authentication failed" in got["connect_error"]["message"], f"{got['connect_error']}")
    env.stop_hub()


run("socketio-js", main)
