"""sio-poll-bench.py — the hub's cost of Socket.IO clients on Engine.IO long-polling.

Starts the real hub (BUILD/hub/ringhub) on a private ring and a free port, opens CLIENTS
(100) polling sessions with raw HTTP (a thread each, keep-alive connections, no client
library: the figure is the hub's), joins namespace "/" in each, answers the server's
pings, and drives system records through the ring at RATE (10) events/s with the paced
producer (BUILD/tests/bench/fanout-bench produce). Measures the hub's CPU % over SECS,
the events each client received per second, polls per second and the hub's RSS.
Prints one JSON object as its last line. Not a test; never fails on a figure.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

BUILD = os.environ.get("BUILD", "build")
HUB = os.path.join(BUILD, "hub", "ringhub")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
PRODUCER = os.path.join(BUILD, "tests", "bench", "fanout-bench")
CLIENTS = int(os.environ.get("CLIENTS", "100"))
RATE = float(os.environ.get("RATE", "10"))
SECS = float(os.environ.get("SECS", "10"))
RS = "\x1e"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class PollClient(threading.Thread):
    def __init__(self, port, stats, stop):
        super().__init__(daemon=True)
        self.port, self.stats, self.stop = port, stats, stop
        self.events = self.polls = self.errors = 0
        self.ready = False

    def call(self, c, method, query, body=None):
        c.request(method, "/socket.io/?EIO=4&transport=polling" + query, body=body)
        r = c.getresponse()
        return r.status, r.read().decode()

    def run(self):
        get = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        post = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            st, body = self.call(get, "GET", "")
            sid = json.loads(body[1:])["sid"]
            q = "&sid=" + sid
            self.call(post, "POST", q, b"40")
            while not self.stop.is_set():
                st, body = self.call(get, "GET", q)
                if st != 200:
                    self.errors += 1
                    return
                self.polls += 1
                for p in body.split(RS):
                    if p == "2":
                        self.call(post, "POST", q, b"3")
                    elif p.startswith("40"):
                        self.ready = True
                    elif p.startswith('42["system_update"') and self.stats["measuring"]:
                        self.events += 1
        except (OSError, http.client.HTTPException, ValueError):
            self.errors += 1


def main():
    ring = f"bench-sio-poll-{os.getpid()}"
    port = free_port()
    subprocess.run([CTL, "--ring", ring, "inject", "--create", "system", "uptime_seconds=1"],
                   check=True, stdout=subprocess.DEVNULL)
    hub = subprocess.Popen([HUB, "--ring", ring, "--listen", f"127.0.0.1:{port}",
                            "--max-clients", str(CLIENTS + 10), "--rate-limit", "1000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    stats = {"measuring": False}
    clients = []
    prod = None
    try:
        end = time.time() + 15
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        idle_rss = rss_kb(hub.pid)
        clients = [PollClient(port, stats, stop) for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        end = time.time() + 60
        while time.time() < end and sum(c.ready for c in clients) < CLIENTS:
            time.sleep(0.05)
        ready = sum(c.ready for c in clients)
        prod = subprocess.Popen([PRODUCER, "produce", "--ring", ring, "--count",
                                 str(int(RATE * (SECS + 3))), "--rate", str(RATE)])
        time.sleep(1.0)  # warm-up
        polls0 = sum(c.polls for c in clients)
        stats["measuring"] = True
        c0, t0 = cpu_ticks(hub.pid), time.monotonic()
        time.sleep(SECS)
        c1, t1 = cpu_ticks(hub.pid), time.monotonic()
        stats["measuring"] = False
        polls1 = sum(c.polls for c in clients)
        hz = os.sysconf("SC_CLK_TCK")
        got = [c.events / (t1 - t0) for c in clients]
        res = {
            "clients": CLIENTS, "connected": ready, "events_per_sec": RATE, "secs": SECS,
            "hub_cpu_percent": round((c1 - c0) / hz / (t1 - t0) * 100, 2),
            "events_per_client_per_sec_min": round(min(got), 2),
            "events_per_client_per_sec_avg": round(sum(got) / len(got), 2),
            "polls_per_sec": round((polls1 - polls0) / (t1 - t0), 1),
            "client_errors": sum(c.errors for c in clients),
            "rss_idle_kb": idle_rss, "rss_kb": rss_kb(hub.pid),
        }
    finally:
        stop.set()
        if prod:
            prod.kill()
            prod.wait()
        hub.terminate()
        try:
            hub.wait(20)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
        subprocess.run([CTL, "--ring", ring, "rm"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
