"""test_socketio_poll.py — unchanged socket.io-client (npm) over Engine.IO long-polling.

io(url) with default options opens over long-polling, upgrades to WebSocket, gets
on_connection and live UPS events, and reconnects on its own after the hub restarts. A
client forced to transports:["polling"] never upgrades and keeps receiving events across
several server pings (short pingInterval), counted in /api/clients and the metrics like a
WebSocket client; killed, its session ends by pingTimeout. With auth on, a token in the
connect packet's auth connects over polling, a forged one gets connect_error. Skips
when node or the npm peer is missing.
"""
import json
import os
import queue
import shutil
import subprocess
import threading
import time

from dtest import Fail, check, run, skip

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = ["alarms", "last_active_alarms", "last_alarms", "last_events", "last_logs", "machines",
        "tags"]
SECRET = "poll-test-secret-0123456789abcdef"

node = shutil.which("node")
if not node:
    skip("node is not installed")
if not os.path.isdir(os.path.join(HERE, "node_modules", "socket.io-client")):
    skip("socket.io-client is not installed (npm ci in tests/dialects)")


class Client:
    """node sio_poll.js, its JSON lines read as they come."""

    def __init__(self, env, mode, token=None):
        argv = [node, os.path.join(HERE, "sio_poll.js"), env.http_url(), mode]
        self.p = subprocess.Popen(argv + ([token] if token else []), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, cwd=HERE)
        env.procs.append(self.p)
        self.p.log = open(os.devnull, "w")
        self.q = queue.Queue()
        self.backlog = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            if line.startswith("{"):
                self.q.put(json.loads(line))

    def wait(self, ev, pred=lambda m: True, timeout=20):
        """The first event ev (pred true) not taken yet. What does not match stays for a
        later wait: the order of events on different transports is the client's (under
        load the connect can come over polling before the upgrade)."""
        match = lambda m: m["ev"] == ev and pred(m)  # noqa: E731
        for m in self.backlog:
            if match(m):
                self.backlog.remove(m)
                return m
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if match(m):
                return m
            self.backlog.append(m)
        raise Fail(f"client saw no {ev} in {timeout} s (saw {[m['ev'] for m in self.backlog]})")

    def pending(self):
        """Every event not taken by a wait yet."""
        return self.backlog + list(self.q.queue)

    def stop(self):
        self.p.terminate()
        self.p.wait(10)


def clients(env, token=None):
    return len(json.loads(env.get("/api/clients", token=token)[1]))


def wait_clients(env, n, token=None, timeout=20):
    end = time.time() + timeout
    while time.time() < end and clients(env, token) != n:
        time.sleep(0.05)
    check(clients(env, token) == n, f"{clients(env, token)} clients, want {n}")


def ups(env, charge):
    env.inject("ups", "connected=true", f"battery_charge_percent={charge}")


def main(env):
    env.start_hub("--sio-ping-interval", "1000", "--sio-ping-timeout", "2000")
    ups(env, 61.0)

    # io(url): polling first, then the upgrade; snapshot and live events.
    c = Client(env, "default")
    check(c.wait("open")["transport"] == "polling", "default client did not start polling")
    c.wait("upgrade", lambda m: m["transport"] == "websocket")
    c.wait("connect")
    check(c.wait("on_connection")["keys"] == KEYS, "on_connection keys")
    ups(env, 62.0)
    check(c.wait("ups", lambda m: m["charge"] == 62.0)["transport"] == "websocket", "ups event")

    # Polling only: no upgrade, several pings go by, events keep coming.
    p = Client(env, "polling")
    check(p.wait("connect")["transport"] == "polling", "polling client")
    p.wait("on_connection")
    wait_clients(env, 2)
    for charge in (63.0, 64.0, 65.0):
        ups(env, charge)
        p.wait("ups", lambda m: m["charge"] == charge)
        time.sleep(1.2)  # past a pingInterval each time: pings and pongs over polling
    check(all(m["ev"] != "disconnect" for m in p.pending()), "the polling client dropped")
    status, metrics = env.get("/metrics")
    check(status == 200 and "ringhub_clients 2" in metrics, "clients gauge")
    check("ringhub_socketio_poll_requests_total" in metrics, "poll requests counter")

    # The hub restarts: both clients reconnect by themselves.
    env.stop_hub()
    c.wait("disconnect")
    p.wait("disconnect")
    env.start_hub("--sio-ping-interval", "1000", "--sio-ping-timeout", "2000")
    c.wait("connect", timeout=30)
    p.wait("connect", timeout=30)
    ups(env, 66.0)
    c.wait("ups", lambda m: m["charge"] == 66.0)
    p.wait("ups", lambda m: m["charge"] == 66.0 and m["transport"] == "polling")
    wait_clients(env, 2)

    # A polling client that vanishes: its session ends by pingTimeout.
    p.p.kill()
    p.p.wait()
    wait_clients(env, 1)
    c.stop()
    wait_clients(env, 0)
    env.stop_hub()

    # Auth over polling: the token in the connect packet's auth, as on the WebSocket.
    import jwt
    secret = env.write("secret", SECRET + "\n")
    env.start_hub("--auth", "jwt", "--jwt-secret-file", secret)
    good = jwt.encode({"sub": "js", "role": "viewer", "exp": int(time.time()) + 60}, SECRET,
                      algorithm="HS256")
    forged = jwt.encode({"sub": "js", "role": "admin", "exp": int(time.time()) + 60},
                        "not-the-secret-0123456789abcdef", algorithm="HS256")
    a = Client(env, "polling", good)
    a.wait("connect")
    a.wait("on_connection")
    b = Client(env, "polling", forged)
    check("Authentication failed" in b.wait("connect_error")["message"], "forged token")
    b.stop()
    a.stop()
    env.stop_hub()


run("socketio-poll", main)
