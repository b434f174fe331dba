#!/usr/bin/python3
"""soak.py — the hub under churn, fuzz and collector kill -9 together, for a long time.

Not part of the test suites (it runs for minutes): see soak.sh, which runs it on the
ASan+UBSan build. One hub on a private ring and a free loopback port; real collectors
(system, network, gpu on fixtures) that one thread kills with SIGKILL and restarts; churn
threads (WebSocket clients of every dialect coming and going, REST keep-alive bursts over
the limits); fuzz threads (half-sent heads that close or reset, slowloris, random bytes,
bad frames, empty continuation floods, bad close codes, NaN, duplicate keys, tiny rates).
The hub's RSS and open fds are sampled; after the load stops its fds must come back to
the level of the warm-up and its RSS must stay flat (last quarter vs. second quarter).
Prints the figures; exits 1 on a crash, an ASan report, growth, or a hub that stops
answering.

usage: soak.py BUILD_DIR SECONDS
"""
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hostile import Fail, connect, free_port, read_response, ws_frame, ws_open  # noqa: E402

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build-asan")
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 600
SRC = os.path.dirname(os.path.dirname(HERE))
RING = f"soak-{os.getpid()}"
stop = threading.Event()
counts = {}
lock = threading.Lock()


def count(what):
    with lock:
        counts[what] = counts.get(what, 0) + 1


PORT = free_port()


class Target:  # what the hostile.py helpers need of an Env
    port = PORT


def sock(src="127.0.0.1", timeout=5):
    return connect(Target, src, timeout)


def ws_raw(path, src="127.0.0.1"):
    return ws_open(Target, path, src)


def drain(s, secs):
    end = time.time() + secs
    s.settimeout(0.2)
    while time.time() < end and not stop.is_set():
        try:
            if not s.recv(65536):
                return
        except socket.timeout:
            continue
        except OSError:
            return


def loop(fn):
    def run():
        while not stop.is_set():
            try:
                fn()
            except (OSError, ValueError, Fail) as e:
                count(f"{fn.__name__}: {type(e).__name__}")
    t = threading.Thread(target=run, name=fn.__name__, daemon=True)
    t.start()
    return t


# ---- churn ----
PATHS = ["/ws", "/api/v1/ws", "/api/websocket", "/socket.io/?EIO=4&transport=websocket"]


def churn_ws():
    s = ws_raw(random.choice(PATHS), f"127.0.0.{random.randint(2, 30)}")
    s.sendall(ws_frame(1, b'{"type":"subscribe","events":["*"],"rate":5}'))
    drain(s, random.uniform(0.2, 3))
    if random.random() < 0.5:
        s.sendall(ws_frame(8, (1000).to_bytes(2, "big")))
        drain(s, 0.5)
    s.close()
    count("ws sessions")


def churn_rest():
    socks = []
    src = f"127.0.0.{random.randint(31, 40)}"
    for _ in range(random.randint(1, 60)):
        s = sock(src)
        s.sendall(random.choice([b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
                                 b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                                 b"GET /api/v1/system HTTP/1.1\r\nHost: x\r\n\r\n"]))
        socks.append(s)
    for s in socks:
        count(f"rest {read_response(s)}")
    time.sleep(random.uniform(0, 1))
    for s in socks:
        s.close()


# ---- fuzz ----
def fuzz_heads():
    s = sock(f"127.0.0.{random.randint(41, 60)}")
    s.sendall(b"GET / HTTP/1.1\r\n" + os.urandom(random.randint(0, 64)))
    if random.random() < 0.5:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    count("half heads")
    time.sleep(0.01)


def fuzz_slowloris():
    s = sock(f"127.0.0.{random.randint(61, 70)}")
    s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
    drain(s, random.uniform(1, 15))
    s.close()
    count("slowloris")


BAD = [
    ws_frame(1, b"{", fin=False) + ws_frame(0, b"", fin=False) * 5000,
    ws_frame(8, (5000).to_bytes(2, "big")),
    ws_frame(8, b"\x01"),
    ws_frame(1, b'{"type":"ping","request_id":NaN}'),
    ws_frame(1, b'{"type":"ping","type":"emergency_stop"}'),
    ws_frame(1, b'{"type":"subscribe","events":["*"],"rate":1e-300}'),
    ws_frame(1, b'{"id":18446744073709551615,"type":"subscribe_event","event_type":"x"}'),
    ws_frame(2, b"\x00\x01"),
    ws_frame(1, b"\xff\xfe"),
    ws_frame(9, b"x" * 200),
]


def fuzz_frames():
    s = ws_raw(random.choice(PATHS), f"127.0.0.{random.randint(71, 90)}")
    for _ in range(random.randint(1, 4)):
        s.sendall(random.choice(BAD) if random.random() < 0.8 else os.urandom(random.randint(1, 300)))
    drain(s, random.uniform(0.1, 2))
    s.close()
    count("bad frame sessions")


# ---- collectors ----
def collectors():
    fx = os.path.join(SRC, "tests", "fixtures")
    col = lambda n: os.path.join(BUILD, "collectors", "ringhub-collect-" + n)  # noqa: E731
    argv = {
        "system": [col("system"), "--ring", RING, "--interval", "200"],
        "network": [col("network"), "--ring", RING, "--interval", "200"],
        "gpu": [col("gpu"), "--ring", RING, "--sysfs", os.path.join(fx, "gpu-amd", "sys"),
                "--procfs", os.path.join(fx, "gpu-amd", "proc")],
    }
    procs = {n: subprocess.Popen(a, stderr=subprocess.DEVNULL) for n, a in argv.items()}
    while not stop.is_set():
        time.sleep(random.uniform(0.1, 1.0))
        n = random.choice(list(procs))
        procs[n].send_signal(signal.SIGKILL)
        procs[n].wait()
        procs[n] = subprocess.Popen(argv[n], stderr=subprocess.DEVNULL)
        count("collector kill -9")
    for p in procs.values():
        p.kill()
        p.wait()


def sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def health():
    try:
        s = sock(timeout=10)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = read_response(s)
        s.close()
        return r
    except OSError as e:
        return str(e)


def main():
    log = open(f"/tmp/{RING}-hub.log", "w+")
    hub = subprocess.Popen([os.path.join(BUILD, "hub", "ringhub"), "--ring", RING, "--listen",
                            f"127.0.0.1:{PORT}", "--max-clients", "300", "--http-connections",
                            "100", "--rate-limit", "50", "--head-timeout", "5000"],
                           stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if health() == 200:
            break
        time.sleep(0.1)
    rc = 0
    try:
        threads = [threading.Thread(target=collectors, daemon=True)]
        threads[0].start()
        for fn, n in [(churn_ws, 12), (churn_rest, 2), (fuzz_heads, 2), (fuzz_slowloris, 6),
                      (fuzz_frames, 4)]:
            threads += [loop(fn) for _ in range(n)]
        samples = []
        t0 = time.time()
        while time.time() - t0 < SECONDS:
            time.sleep(5)
            if hub.poll() is not None:
                print(f"FAIL: the hub exited with {hub.returncode}")
                rc = 1
                break
            samples.append((time.time() - t0, *sample(hub.pid), health()))
            print("t=%4.0fs rss=%6d kB fds=%4d health=%s" % samples[-1], flush=True)
        stop.set()
        for t in threads:
            t.join(30)
        if rc == 0:
            time.sleep(8)  # heads time out (5 s), closes finish
            rss_end, fds_end = sample(hub.pid)
            q = max(1, len(samples) // 4)
            warm = [s for s in samples if s[0] >= 30][:q] or samples[:q]
            rss_q2 = sum(s[1] for s in samples[q:2 * q]) / max(1, len(samples[q:2 * q]))
            rss_q4 = sum(s[1] for s in samples[-q:]) / q
            fds_min = min(s[2] for s in warm)
            # Under load REST may be at its limit (503 busy); a reset or a timeout is a failure.
            bad_health = [s for s in samples if s[3] not in (200, 503)]
            after = health()
            if after != 200:
                bad_health.append(("after the load", rss_end, fds_end, after))
            print(f"figures: {SECONDS} s, {len(samples)} samples, rss 2nd quarter {rss_q2:.0f} kB, last quarter "
                  f"{rss_q4:.0f} kB ({(rss_q4 / rss_q2 - 1) * 100:+.1f} %), after the load "
                  f"{rss_end} kB; fds under load min {fds_min} max "
                  f"{max(s[2] for s in samples)}, after the load {fds_end}; health failures "
                  f"{len(bad_health)}, busy {sum(s[3] == 503 for s in samples)}")
            print("counts: " + json.dumps(dict(sorted(counts.items())), indent=None))
            if rss_q4 > rss_q2 * 1.15:
                print("FAIL: RSS grew by more than 15 %")
                rc = 1
            if fds_end > 40:
                print(f"FAIL: {fds_end} fds open after the load")
                rc = 1
            if bad_health:
                print(f"FAIL: health did not answer 200: {bad_health[:3]}")
                rc = 1
            hub.send_signal(signal.SIGTERM)
            hub.wait(20)
            if hub.returncode != 0:
                print(f"FAIL: SIGTERM: the hub exited with {hub.returncode}")
                rc = 1
    finally:
        stop.set()
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        subprocess.run([os.path.join(BUILD, "shm", "ringhubctl"), "--ring", RING, "rm"],
                       stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        log.seek(0)
        text = log.read()
        if "ERROR: AddressSanitizer" in text or "runtime error:" in text:
            print("FAIL: sanitizer report in the hub's log:\n" + text[-4000:])
            rc = 1
        elif rc:
            print("the hub's log ends:\n" + text[-2000:])
        log.close()
        os.unlink(log.name)
    print("PASS" if rc == 0 else "FAILED")
    return rc


sys.exit(main())
