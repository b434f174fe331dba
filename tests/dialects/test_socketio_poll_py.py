"""test_socketio_poll_py.py — python-socketio with its default transports.

socketio.Client().connect(url) with no transports given opens over long-polling (it needs
python3-requests for that), upgrades to WebSocket, gets on_connection and live UPS events,
and after a hub restart reconnects by its own logic and gets events again. A client with
transports=["polling"] stays on polling and keeps receiving. Skips when python3-socketio
or python3-requests is missing.
"""
import json
import queue
import time

from dtest import Fail, check, run, skip

try:
    import requests  # noqa: F401  (python-engineio's polling needs it)
    import socketio
except ImportError as e:
    skip(f"{e.name} is not installed for /usr/bin/python3 (python3-socketio, python3-requests)")

KEYS = {"tags", "alarms", "machines", "last_alarms", "last_active_alarms", "last_events",
        "last_logs"}


def client(env, **connect):
    q = queue.Queue()
    sio = socketio.Client()  # reconnection on, as an application leaves it
    sio.on("connect", lambda: q.put(("connect", sio.transport())))
    sio.on("disconnect", lambda: q.put(("disconnect", None)))
    sio.on("on_connection", lambda d: q.put(("on_connection", d)))
    sio.on("ups_status_update", lambda d: q.put(("ups", d["battery_charge_percent"])))
    sio.connect(env.http_url(), wait_timeout=10, **connect)
    return sio, q


def wait_for(q, name, pred=lambda d: True, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            ev, data = q.get(timeout=max(0.01, end - time.time()))
        except queue.Empty:
            break
        if ev == name and pred(data):
            return data
    raise Fail(f"no {name} in {timeout} s")


def wait_transport(sio, name, timeout=10):
    end = time.time() + timeout
    while time.time() < end and sio.transport() != name:
        time.sleep(0.05)
    check(sio.transport() == name, f"transport {sio.transport()}, want {name}")


def ups(env, charge):
    env.inject("ups", "connected=true", f"battery_charge_percent={charge}")


def main(env):
    env.start_hub("--sio-ping-interval", "1000", "--sio-ping-timeout", "2000")
    ups(env, 71.0)
    sio, q = client(env)
    check(set(wait_for(q, "on_connection")) == KEYS, "on_connection keys")
    wait_transport(sio, "websocket")
    ups(env, 72.0)
    wait_for(q, "ups", lambda c: c == 72.0)

    poll, pq = client(env, transports=["polling"])
    wait_for(pq, "on_connection")
    for charge in (73.0, 74.0):
        ups(env, charge)
        wait_for(pq, "ups", lambda c: c == charge)
        wait_for(q, "ups", lambda c: c == charge)
        time.sleep(1.2)  # a server ping over polling each time
    check(poll.transport() == "polling", "the polling client upgraded")
    check(len(json.loads(env.get("/api/clients")[1])) == 2, "both clients listed")

    env.stop_hub()
    wait_for(q, "disconnect")
    env.start_hub("--sio-ping-interval", "1000", "--sio-ping-timeout", "2000")
    wait_for(q, "connect", timeout=40)
    wait_for(pq, "connect", timeout=40)
    wait_transport(sio, "websocket")
    ups(env, 75.0)
    wait_for(q, "ups", lambda c: c == 75.0)
    wait_for(pq, "ups", lambda c: c == 75.0)
    sio.disconnect()
    poll.disconnect()
    end = time.time() + 10
    while time.time() < end and json.loads(env.get("/api/clients")[1]):
        time.sleep(0.05)
    check(not json.loads(env.get("/api/clients")[1]), "the hub did not see the disconnects")
    env.stop_hub()


run("socketio-poll-py", main)
