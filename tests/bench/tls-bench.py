"""tls-bench.py — what TLS on the hub's port costs: handshakes and relayed throughput.

Starts the real hub (BUILD/hub/ringhub) on a private ring and a free port with a fresh
self-signed certificate (openssl command) and tls_only off, so plain and TLS are served by
the same process. Measures, plain against TLS 1.3:
  - connections: CONNS fresh connections, each one GET /api/v1/health then close
    (per second, and the hub's CPU milliseconds per connection);
  - throughput: one keep-alive connection fetching /metrics ROUNDS times (MB/s, and the
    hub's CPU seconds per MB).
Python clients (their own cost is in the wall time, not in the hub's CPU figures).
Prints one JSON object as its last line. Not a test; never fails on a figure.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("BUILD", "build")
HUB = os.path.join(BUILD, "hub", "ringhub")
CTL = os.path.join(BUILD, "shm", "ringhubctl")
CONNS = int(os.environ.get("CONNS", "300"))
ROUNDS = int(os.environ.get("ROUNDS", "2000"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def conn(port, ctx):
    if ctx:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10)


def connections(pid, port, ctx):
    c0, t0 = cpu_secs(pid), time.perf_counter()
    for _ in range(CONNS):
        c = conn(port, ctx)
        c.request("GET", "/api/v1/health", headers={"Connection": "close"})
        c.getresponse().read()
        c.close()
    wall, cpu = time.perf_counter() - t0, cpu_secs(pid) - c0
    return {"per_sec": round(CONNS / wall, 1), "hub_cpu_ms_per_conn": round(cpu * 1000 / CONNS, 3)}


def throughput(pid, port, ctx):
    c = conn(port, ctx)
    total = 0
    c0, t0 = cpu_secs(pid), time.perf_counter()
    for _ in range(ROUNDS):
        c.request("GET", "/metrics")
        total += len(c.getresponse().read())
    wall, cpu = time.perf_counter() - t0, cpu_secs(pid) - c0
    c.close()
    mb = total / 1e6
    return {"mb_per_sec": round(mb / wall, 2), "requests_per_sec": round(ROUNDS / wall, 1),
            "hub_cpu_s_per_mb": round(cpu / mb, 4), "body_bytes": total // ROUNDS}


def main():
    openssl = shutil.which("openssl")
    if not openssl:
        print("tls-bench: the openssl command is missing", file=sys.stderr)
        print(json.dumps({"bench": "tls", "skipped": "no openssl"}))
        return
    d = tempfile.mkdtemp(prefix="tls-bench-")
    ring, port = f"tls-bench-{os.getpid()}", free_port()
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    hub = subprocess.Popen([HUB, "--ring", ring, "--listen", f"127.0.0.1:{port}", "--tls-cert",
                            cert, "--tls-key", key, "--tls-only", "off", "--rest-rate", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.create_default_context(cafile=cert)
        end = time.time() + 15
        while time.time() < end:
            try:
                c = conn(port, None)
                c.request("GET", "/api/v1/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        subprocess.run([CTL, "--ring", ring, "inject", "system", "cpu_usage_percent=1.0"],
                       check=True)
        out = {"bench": "tls", "conns": CONNS, "rounds": ROUNDS}
        for name, c in (("plain", None), ("tls13", ctx)):
            out[name] = {"connections": connections(hub.pid, port, c),
                         "throughput": throughput(hub.pid, port, c)}
        print(json.dumps(out))
    finally:
        hub.terminate()
        hub.wait(10)
        subprocess.run([CTL, "--ring", ring, "rm"], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


main()
